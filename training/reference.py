"""Reference models for the validation NLL: what the learned model must beat clearly.

Both are proper probability models of a tile over the same space and base measure as
:mod:`citygen.model.likelihood` (border positions on the perimeter, interior positions in the unit
square, edges as subsets of earlier nodes, one road class per edge), fitted by counting on the
training tiles:

- :class:`UniformReference`: step types from their frequencies, positions uniform (border
  nodes uniform on the perimeter after the previous one), each earlier node joined with the
  probability the data shows at that distance, classes from their frequencies.
- :class:`MarginalReference`: ignores history: positions from the data's marginal position
  histograms, the number of back edges of a node from the data's distribution, the partners
  uniform among the earlier nodes, classes from their frequencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from citygen.layout import ROAD_CLASSES
from citygen.model.encode import BORDER, END, N_TYPES
from data_prep.order import Sequence, perimeter_coordinate

DIST_EDGES = np.concatenate([[0.0], np.geomspace(0.002, 1.5, 40), [np.inf]])


def _types(seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Step types (with END) and whether each step is still in the border phase."""
    n = seq.n_nodes
    has_back = np.zeros(n, dtype=bool)
    if seq.edges.shape[0]:
        has_back[seq.edges[:, 0]] = True
    types = np.where(seq.border, BORDER, np.where(has_back, 1, 2))
    types = np.append(types, END)
    phase = np.concatenate([[True], np.cumprod(seq.border).astype(bool)])
    return types, phase


@dataclass
class _Counts:
    """Shared counts: type frequencies per phase and class frequencies (add-one smoothed)."""

    type_counts: np.ndarray = field(default_factory=lambda: np.ones((2, N_TYPES)))
    class_counts: np.ndarray = field(default_factory=lambda: np.ones(len(ROAD_CLASSES)))

    def add(self, seq: Sequence) -> None:
        types, phase = _types(seq)
        np.add.at(self.type_counts, (1 - phase.astype(int), types), 1)
        np.add.at(self.class_counts, seq.classes.astype(int), 1)

    def nll(self, seq: Sequence) -> float:
        types, phase = _types(seq)
        tc = self.type_counts.copy()
        tc[1, BORDER] = 0.0  # no border node after the border phase
        p = tc / tc.sum(1, keepdims=True)
        cls = self.class_counts / self.class_counts.sum()
        return float(-np.log(p[1 - phase.astype(int), types]).sum() - np.log(cls[seq.classes.astype(int)]).sum())


def _border_uniform_nll(seq: Sequence) -> float:
    s_prev, total = 0.0, 0.0
    for p in seq.pos[seq.border]:
        s = perimeter_coordinate(*p)
        total += math.log(max(4.0 - s_prev, 1e-12))
        s_prev = s
    return total


class UniformReference:
    """Uniform positions, distance-dependent independent edges (see module docstring)."""

    def __init__(self) -> None:
        self.counts = _Counts()
        self.pairs = np.ones(len(DIST_EDGES) - 1)
        self.links = np.ones(len(DIST_EDGES) - 1) * 0.01

    def _pairs(self, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
        """Distance bin and edge flag of every (node, earlier candidate) pair."""
        n = seq.n_nodes
        i, j = np.tril_indices(n, -1)
        types, _ = _types(seq)
        cand = (seq.border[i] & seq.border[j]) | (~seq.border[i])
        i, j = i[cand], j[cand]
        d = np.hypot(*(seq.pos[i] - seq.pos[j]).T)
        adj = np.zeros((n, n), dtype=bool)
        adj[seq.edges[:, 0], seq.edges[:, 1]] = True
        return np.digitize(d, DIST_EDGES) - 1, adj[i, j]

    def fit(self, seqs: list[Sequence]) -> UniformReference:
        for s in seqs:
            self.counts.add(s)
            b, e = self._pairs(s)
            np.add.at(self.pairs, b, 1)
            np.add.at(self.links, b[e], 1)
        return self

    def nll(self, seq: Sequence) -> float:
        """Exact NLL of one tile in nats."""
        b, e = self._pairs(seq)
        p = np.clip(self.links / self.pairs, 1e-9, 1 - 1e-9)[b]
        edge = -np.where(e, np.log(p), np.log1p(-p)).sum()
        return self.counts.nll(seq) + _border_uniform_nll(seq) + float(edge)


class MarginalReference:
    """History-free: marginal positions and back-degree, uniform partners."""

    G = 32

    def __init__(self) -> None:
        self.counts = _Counts()
        self.perim = np.ones(1024)
        self.grid = np.ones((self.G, self.G))
        self.backdeg = np.ones(12)

    def fit(self, seqs: list[Sequence]) -> MarginalReference:
        for s in seqs:
            self.counts.add(s)
            for p, b in zip(s.pos, s.border, strict=True):
                if b:
                    self.perim[min(int(perimeter_coordinate(*p) / 4 * 1024), 1023)] += 1
                else:
                    gx, gy = np.minimum((p * self.G).astype(int), self.G - 1)
                    self.grid[gx, gy] += 1
            k = np.bincount(s.edges[:, 0], minlength=s.n_nodes) if s.edges.shape[0] else np.zeros(s.n_nodes, int)
            np.add.at(self.backdeg, np.minimum(k[~s.border], 11), 1)
        return self

    def nll(self, seq: Sequence) -> float:
        """Exact NLL of one tile in nats."""
        dens_p = self.perim / self.perim.sum() / (4 / 1024)
        cdf = np.concatenate([[0.0], np.cumsum(self.perim / self.perim.sum())])
        dens_g = self.grid / self.grid.sum() * self.G**2
        pk = self.backdeg / self.backdeg.sum()
        total, s_prev_bin = 0.0, 0
        k = np.bincount(seq.edges[:, 0], minlength=seq.n_nodes) if seq.edges.shape[0] else np.zeros(seq.n_nodes, int)
        for t, (p, b) in enumerate(zip(seq.pos, seq.border, strict=True)):
            if b:
                bin_ = min(int(perimeter_coordinate(*p) / 4 * 1024), 1023)
                total -= math.log(dens_p[bin_] / max(1.0 - cdf[s_prev_bin], 1e-12))
                s_prev_bin = bin_
                n_cand = int(seq.border[:t].sum())
                total += self._partners(int(k[t]), n_cand, None)
            else:
                gx, gy = np.minimum((p * self.G).astype(int), self.G - 1)
                total -= math.log(dens_g[gx, gy])
                total += self._partners(int(k[t]), t, pk)
        return self.counts.nll(seq) + total

    @staticmethod
    def _partners(k: int, m: int, pk: np.ndarray | None) -> float:
        """NLL of choosing ``k`` partners uniformly among ``m`` (and of ``k`` itself)."""
        log_choose = gammaln(m + 1) - gammaln(k + 1) - gammaln(max(m - k, 0) + 1)
        nll = float(log_choose)
        if pk is not None:
            nll -= math.log(pk[min(k, len(pk) - 1)])
        else:  # border-to-border edges: Bernoulli 1/2 per earlier border node
            nll = m * math.log(2.0)
        return nll


def nats_per_node(model, seqs: list[Sequence]) -> float:  # noqa: ANN001
    """Mean NLL per node of a reference over tiles."""
    return sum(model.nll(s) for s in seqs) / max(sum(s.n_nodes for s in seqs), 1)
