"""Turn a canonical :class:`~data_prep.order.Sequence` into the model's step targets.

The model factorises a tile as a chain of decisions per node step ``t`` (and a final END):

1. the step *type*: ``BORDER`` (border nodes come first), ``CHILD`` (an interior node whose
   BFS parent is an earlier node), ``ROOT`` (an interior node with no earlier neighbour: the
   start of a component) or ``END``;
2. its *position*: a border node by its gap ``s - s_prev`` along the perimeter after the
   previous border node (perimeter coordinate ``s`` in ``[0, 4)``, ``s_prev = 0`` for the
   first; log-spaced bins, truncated where the perimeter ends); a child by the pointer to its parent, then the angle of
   ``pos - parent`` relative to the parent's reference direction (the street that led to the
   parent, or the inward normal for a border parent) and the log-distance; a root by its
   absolute position on a coarse grid. (``position="absolute"`` replaces angle/distance by
   x then y bins; kept for comparison.) Bins are uniform within, so the density is exact;
3. its *edges* to earlier nodes in a window of ``window`` steps: the parent edge is implied by
   the pointer; every other candidate (for a child: nodes after the parent, since the parent
   is the smallest-index neighbour in BFS order; for a border node: earlier border nodes) is a
   Bernoulli decision, and each edge has a road class.

A split model (``ModelConfig.split``) has a fifth type, ``SPLIT``: the node is placed on an
earlier street, which it cuts (:mod:`citygen.model.split`); ``encode(..., split_window=)``
builds that chain.

Because the parent is the smallest-index earlier neighbour in the canonical BFS order, this is
a bijection: every tile has exactly one decision chain, and the chain's log-probability is the
tile's exact log-likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from citygen.model.split import split_chain, split_coords
from data_prep.order import Sequence, perimeter_coordinate

BORDER, CHILD, ROOT, END = 0, 1, 2, 3
SPLIT = 4  # a node placed on an earlier street, cutting it (models with ``split``)
N_TYPES = 4  # step types of a plain model; a split model has N_TYPES + 1
N_SECTORS = 12  # parent context: histogram of the parent's street directions
N_STATE = 5  # step-state features (see citygen.model.batch.step_state)


@dataclass(frozen=True)
class Binning:
    """Discretisation of positions (all lengths normalised by the tile size).

    Attributes
    ----------
    gap_bins, gap_min
        Bins over the perimeter gap between consecutive border nodes: ``[0, gap_min]``, then
        log-spaced from ``gap_min`` to 4 (the whole perimeter).
    angle_bins
        Bins over the relative angle ``[0, 2 pi)`` of a child to its parent.
    dist_bins
        Log-spaced bins over the child-parent distance ``[r_min, r_max]``.
    r_min, r_max
        Distance range (normalised); values outside are clamped into the end bins.
    root_grid
        Roots (and, with absolute positions, x and y) use ``root_grid`` bins per axis.
    xy_bins
        Bins per axis for ``position="absolute"``.
    """

    gap_bins: int = 96
    gap_min: float = 1e-4
    angle_bins: int = 180
    dist_bins: int = 64
    r_min: float = 0.0005
    r_max: float = 1.5
    root_grid: int = 32
    xy_bins: int = 256
    split_t_bins: int = 64
    split_f_bins: int = 24
    split_f_min: float = 1e-3

    @property
    def log_r_min(self) -> float:
        """Natural log of ``r_min``."""
        return math.log(self.r_min)

    @property
    def dlogr(self) -> float:
        """Width of one distance bin in log-distance."""
        return (math.log(self.r_max) - math.log(self.r_min)) / self.dist_bins

    @property
    def dtheta(self) -> float:
        """Width of one angle bin in radians."""
        return 2.0 * math.pi / self.angle_bins

    def angle_bin(self, theta: np.ndarray) -> np.ndarray:
        """Bin of angles in radians (any range)."""
        t = np.mod(theta, 2.0 * math.pi)
        return np.minimum((t / self.dtheta).astype(np.int64), self.angle_bins - 1)

    def dist_bin(self, r: np.ndarray) -> np.ndarray:
        """Bin of normalised distances (clamped to the range)."""
        k = np.floor((np.log(np.maximum(r, 1e-12)) - self.log_r_min) / self.dlogr)
        return np.clip(k, 0, self.dist_bins - 1).astype(np.int64)

    def gap_edges(self) -> np.ndarray:
        """Edges of the gap bins, ``(gap_bins + 1,)``: 0, then log-spaced ``gap_min`` .. 4."""
        return np.concatenate([[0.0], np.geomspace(self.gap_min, 4.0, self.gap_bins)])

    def gap_bin(self, gap: np.ndarray) -> np.ndarray:
        """Bin of perimeter gaps in ``[0, 4]``."""
        k = np.searchsorted(self.gap_edges(), np.asarray(gap), side="right") - 1
        return np.clip(k, 0, self.gap_bins - 1).astype(np.int64)

    def split_f_edges(self) -> np.ndarray:
        """Edges of the offset bins on one side, ``(split_f_bins + 1,)``: 0, then log-spaced
        ``split_f_min`` .. 1. Bin ``k < F`` is ``f`` in that interval, bin ``F + k`` is ``-f``."""
        return np.concatenate([[0.0], np.geomspace(self.split_f_min, 1.0, self.split_f_bins)])

    def split_f_bin(self, f: np.ndarray) -> np.ndarray:
        """Bin of split offsets ``f`` in ``[-1, 1]``."""
        f = np.asarray(f, np.float64)
        k = np.searchsorted(self.split_f_edges(), np.abs(f), side="right") - 1
        k = np.clip(k, 0, self.split_f_bins - 1)
        return np.where(f < 0, self.split_f_bins + k, k).astype(np.int64)

    def split_f_width(self, k: np.ndarray) -> np.ndarray:
        """Width of offset bins ``k``."""
        e = self.split_f_edges()
        k = np.asarray(k) % self.split_f_bins
        return e[k + 1] - e[k]

    def split_t_bin(self, t: np.ndarray) -> np.ndarray:
        """Bin of positions ``t`` in ``(0, 1)`` along a split street."""
        return np.clip(np.floor(np.asarray(t) * self.split_t_bins), 0, self.split_t_bins - 1).astype(np.int64)

    def grid_bin(self, xy: np.ndarray, bins: int) -> np.ndarray:
        """Per-axis bins of normalised coordinates in ``[0, 1]``, shape like ``xy``."""
        return np.clip(np.floor(np.asarray(xy) * bins), 0, bins - 1).astype(np.int64)


def inward_normal_angle(x: float, y: float) -> float:
    """Angle (radians) of the inward normal at a border point (normalised coordinates)."""
    s = perimeter_coordinate(x, y)
    side = int(s) % 4  # 0 west, 1 south, 2 east, 3 north
    return (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)[side]


def center_angle(x: float, y: float) -> float:
    """Angle from a point toward the tile centre (reference direction of a root)."""
    return math.atan2(0.5 - y, 0.5 - x)


@dataclass(frozen=True)
class Encoded:
    """Model targets of one tile (``n`` nodes, ``n + 1`` steps including END).

    Attributes
    ----------
    pos
        ``(n, 2)`` normalised positions.
    types
        ``(n + 1,)`` step types, the last one ``END``.
    parent
        ``(n,)`` parent index of child steps, -1 otherwise.
    ref_angle
        ``(n,)`` reference direction (radians) of each node, used when it is a parent.
    gap, remaining
        ``(n,)`` border nodes' perimeter gap after the previous border node, and the perimeter
        left after that node (``4 - s_prev``); 0 for other nodes.
    gap_bin, angle_bin, dist_bin, root_bin
        ``(n,)`` position bins (0 where not applicable); ``root_bin`` is ``gx * G + gy``.
    xy_bin
        ``(n, 2)`` absolute x and y bins (for ``position="absolute"``).
    rel
        ``(n, 2)`` child position minus parent position (zeros elsewhere).
    edges, classes
        Back edges ``(i, j)``, ``j < i``, and their road classes (as in the sequence).
    parent_class
        ``(n,)`` class of the parent edge of a child, -1 elsewhere.
    implied, removed
        Per edge: implied by a split (the halves of a cut street: no street decision), and the
        split step that cuts it (``n`` if none); see :mod:`citygen.model.split`. Without
        splits ``edges`` are the tile's streets, none implied or cut.
    split_v
        ``(n,)`` for a split node the far end ``v`` of the street it cuts (``u`` is its
        parent), -1 elsewhere.
    split_t_bin, split_f_bin, split_within
        ``(n,)`` a split node's position bins along and across the street, and its exact
        density term ``log dt + log df + log(L^2 s(t))`` (0 elsewhere).
    """

    pos: np.ndarray
    types: np.ndarray
    parent: np.ndarray
    ref_angle: np.ndarray
    gap: np.ndarray
    remaining: np.ndarray
    gap_bin: np.ndarray
    angle_bin: np.ndarray
    dist_bin: np.ndarray
    root_bin: np.ndarray
    xy_bin: np.ndarray
    rel: np.ndarray
    edges: np.ndarray
    classes: np.ndarray
    parent_class: np.ndarray
    implied: np.ndarray
    removed: np.ndarray
    split_v: np.ndarray
    split_t_bin: np.ndarray
    split_f_bin: np.ndarray
    split_within: np.ndarray

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.pos.shape[0])


def parents_of(n: int, border: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Parent (smallest-index earlier neighbour) of each interior node, -1 for none."""
    parent = np.full(n, -1, dtype=np.int64)
    if edges.shape[0]:
        i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
        best = np.full(n, n, dtype=np.int64)
        np.minimum.at(best, i, j)
        has = (best < n) & ~border
        parent[has] = best[has]
    return parent


def reference_angles(pos: np.ndarray, border: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Reference direction of each node: incoming street, inward normal, or toward centre."""
    ref = np.empty(pos.shape[0], dtype=np.float64)
    for t in range(pos.shape[0]):
        if border[t]:
            ref[t] = inward_normal_angle(*pos[t])
        elif parent[t] >= 0:
            d = pos[t] - pos[parent[t]]
            ref[t] = math.atan2(d[1], d[0])
        else:
            ref[t] = center_angle(*pos[t])
    return ref


def encode(seq: Sequence, binning: Binning, split_window: int | None = None) -> Encoded:
    """Compute the decision chain of a canonical sequence (see the module docstring).

    ``split_window``: the candidate window of a split model (its nodes on earlier streets are
    split steps, :mod:`citygen.model.split`); None for the plain chain.

    Raises
    ------
    ValueError
        If border nodes do not all come first (not a canonical sequence).
    """
    n = seq.n_nodes
    border = seq.border.astype(bool)
    nb = int(border.sum())
    if not border[:nb].all():
        msg = "border nodes must come first in a canonical sequence"
        raise ValueError(msg)
    pos = seq.pos.astype(np.float64)
    real = seq.edges.astype(np.int64).reshape(-1, 2)
    parent = parents_of(n, border, real)
    chain = split_chain(pos, border, real, seq.classes, split_window)
    edges, classes = chain.edges, chain.classes
    is_split = chain.split_u >= 0
    types = np.where(border, BORDER, np.where(is_split, SPLIT, np.where(parent >= 0, CHILD, ROOT)))
    types = np.append(types, END).astype(np.int64)
    is_child = types[:n] == CHILD
    ref = reference_angles(pos, border, parent)
    has_parent = parent >= 0
    rel = np.zeros_like(pos)
    rel[has_parent] = pos[has_parent] - pos[parent[has_parent]]
    theta = np.arctan2(rel[:, 1], rel[:, 0]) - np.where(has_parent, ref[np.maximum(parent, 0)], 0.0)
    r = np.hypot(rel[:, 0], rel[:, 1])
    perim = np.array([perimeter_coordinate(*p) if b else 0.0 for p, b in zip(pos, border, strict=True)])
    s_prev = np.concatenate([[0.0], perim[: max(nb - 1, 0)]]) if nb else np.zeros(0)
    gap = np.zeros(n)
    remaining = np.zeros(n)
    gap[:nb] = perim[:nb] - s_prev
    remaining[:nb] = 4.0 - s_prev
    g = binning.root_grid
    gxy = binning.grid_bin(pos, g)
    parent_class = np.full(n, -1, dtype=np.int64)
    if edges.shape[0]:
        is_parent_edge = (parent[edges[:, 0]] == edges[:, 1]) & is_child[edges[:, 0]]
        parent_class[edges[is_parent_edge, 0]] = classes[is_parent_edge]
    t_bin, f_bin, within = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n)
    for w in np.flatnonzero(is_split):
        u, v = int(chain.split_u[w]), int(chain.split_v[w])
        assert parent[w] == u, "a split node's parent is the near end of its street"
        tt, ff, log_jac = split_coords(pos[u], pos[v], pos[w])
        t_bin[w], f_bin[w] = binning.split_t_bin(tt), binning.split_f_bin(ff)
        within[w] = math.log(1.0 / binning.split_t_bins) + math.log(float(binning.split_f_width(f_bin[w]))) + log_jac
    return Encoded(
        pos=pos,
        types=types,
        parent=parent,
        ref_angle=ref,
        gap=gap,
        remaining=remaining,
        gap_bin=np.where(border, binning.gap_bin(gap), 0),
        angle_bin=np.where(is_child, binning.angle_bin(theta), 0),
        dist_bin=np.where(is_child, binning.dist_bin(r), 0),
        root_bin=gxy[:, 0] * g + gxy[:, 1],
        xy_bin=binning.grid_bin(pos, binning.xy_bins),
        rel=rel,
        edges=edges,
        classes=classes.astype(np.int64),
        parent_class=parent_class,
        implied=chain.implied,
        removed=chain.removed,
        split_v=chain.split_v,
        split_t_bin=t_bin,
        split_f_bin=f_bin,
        split_within=within,
    )
