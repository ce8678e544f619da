"""Street splits: a node placed *on* an earlier street, which it cuts in two (a T junction).

In the plain chain every street is decided when its later end node is added, so a street that
was drawn as one straight edge can never gain a junction later: a street heading for it stops
short. A *split* step instead puts the new node ``w`` on an existing street ``(u, v)``
(``u < v``), replacing it by ``(u, w)`` and ``(w, v)``; its other streets are decided as a
child's are. The chain is canonical (one chain per tile, so the loss stays the exact NLL):

- :func:`split_chain` decides, for a real tile in canonical order, which nodes are split
  nodes, walking the nodes from last to first: ``w`` is one when its smallest earlier neighbour
  ``u`` (its BFS parent) and another earlier neighbour ``v`` form a near-straight street through
  ``w`` (the angle ``u - w - v`` at least ``180 - SPLIT_BEND`` degrees), both streets have the
  same road class, ``u`` and ``v`` are not joined already, both lie in ``w``'s candidate window,
  and ``v`` could have taken the street to ``u`` when it was added (``v`` a border node, or an
  interior node whose own parent comes before ``u``). Then ``w``'s two streets are contracted
  into one street ``(u, v)``, decided at ``v``'s step, and the walk goes on (so a street with
  several T junctions becomes one street split several times).
- A split node's position is ``w = u + t (v - u) + f s(t) L n``, with ``L = |v - u|``, ``n``
  the left normal of ``u -> v``, ``t`` in ``(0, 1)`` and ``f`` in ``(-1, 1)``; ``s(t)`` is the
  largest offset that keeps the angle at ``w`` within ``SPLIT_BEND`` of straight
  (:func:`max_offset`). So every ``(t, f)`` is a canonical split, and the area element is
  ``dw = L^2 s(t) dt df`` (:func:`split_coords` returns its log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Largest bend (degrees) of the street through a split node, away from straight.
SPLIT_BEND = 30.0
_K = math.tan(math.radians(SPLIT_BEND))


def max_offset(t: np.ndarray | float | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Largest normalised offset ``s(t)`` from the line ``u -> v`` (``|u v| = 1``) at which the
    angle ``u - w - v`` is still ``180 - SPLIT_BEND`` degrees (a tensor for a tensor ``t``).

    With ``q = t (1 - t)``, ``atan(s / t) + atan(s / (1 - t)) = bend`` gives
    ``k s^2 + s - k q = 0`` (``k = tan(bend)``), so ``s = (sqrt(1 + 4 k^2 q) - 1) / (2 k)``.
    """
    if isinstance(t, torch.Tensor):
        q = (t * (1.0 - t)).clamp(min=0.0)
        return (torch.sqrt(1.0 + 4.0 * _K * _K * q) - 1.0) / (2.0 * _K)
    q = np.asarray(t, dtype=np.float64) * (1.0 - np.asarray(t, dtype=np.float64))
    return (np.sqrt(1.0 + 4.0 * _K * _K * np.maximum(q, 0.0)) - 1.0) / (2.0 * _K)


def split_coords(pu: np.ndarray, pv: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """``(t, f, log_jac)`` of point ``w`` on the street ``pu -> pv`` (2-vectors).

    ``log_jac = log(L^2 s(t))``: the log of the area element ``dw / (dt df)``.
    """
    d = np.asarray(pv, np.float64) - np.asarray(pu, np.float64)
    L = float(np.hypot(*d))
    rel = np.asarray(w, np.float64) - np.asarray(pu, np.float64)
    t = float(rel @ d) / (L * L)
    s = float(d[0] * rel[1] - d[1] * rel[0]) / (L * L)  # left of u -> v is positive
    smax = float(max_offset(t))
    f = s / smax if smax > 0 else 0.0
    return t, f, 2.0 * math.log(L) + math.log(max(smax, 1e-300))


def split_point(pu: np.ndarray, pv: np.ndarray, t: float, f: float) -> np.ndarray:
    """Inverse of :func:`split_coords`: the point at ``(t, f)`` on the street ``pu -> pv``."""
    pu, pv = np.asarray(pu, np.float64), np.asarray(pv, np.float64)
    d = pv - pu
    normal = np.array([-d[1], d[0]])
    return pu + t * d + f * float(max_offset(t)) * normal


def bend_ok(pu: np.ndarray, pw: np.ndarray, pv: np.ndarray) -> bool:
    """Whether the street ``u - w - v`` bends at most ``SPLIT_BEND`` degrees at ``w``."""
    return _angle_at(pu, pw, pv) >= math.radians(180.0 - SPLIT_BEND) - 1e-12


@dataclass(frozen=True)
class SplitChain:
    """The chain's streets of a tile with split steps.

    Attributes
    ----------
    split_u, split_v
        ``(n,)`` the street each split node cuts (``u < v``), -1 for other nodes.
    edges, classes
        ``(m, 2)`` chain streets ``(i, j)``, ``j < i``, each decided (or implied) at step
        ``i``, and their classes: the real streets, the streets later split, and the two halves
        of every split street (decided at the split step).
    implied
        ``(m,)`` True for the halves of split streets: implied by the split decision, not by a
        street decision.
    removed
        ``(m,)`` the split step at which a street is cut (it is present while deciding steps
        ``i < t <= removed``), ``n`` for streets that stay.
    """

    split_u: np.ndarray
    split_v: np.ndarray
    edges: np.ndarray
    classes: np.ndarray
    implied: np.ndarray
    removed: np.ndarray


def _angle_at(pu: np.ndarray, pw: np.ndarray, pv: np.ndarray) -> float:
    """The angle ``u - w - v`` at ``w`` in radians (0 if an end coincides with ``w``)."""
    a, b = np.asarray(pu, np.float64) - pw, np.asarray(pv, np.float64) - pw
    na, nb = float(np.hypot(*a)), float(np.hypot(*b))
    if na == 0 or nb == 0:
        return 0.0
    return float(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0)))


def split_chain(
    pos: np.ndarray, border: np.ndarray, edges: np.ndarray, classes: np.ndarray, window: int | None
) -> SplitChain:
    """The canonical chain streets of a tile (see the module docstring).

    ``window=None`` gives the plain chain (no split nodes).
    """
    n = pos.shape[0]
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    classes = np.asarray(classes, np.int64).reshape(-1)
    split_u = np.full(n, -1, np.int64)
    split_v = np.full(n, -1, np.int64)
    if window is None or edges.shape[0] == 0:
        return SplitChain(split_u, split_v, edges, classes, np.zeros(len(edges), bool), np.full(len(edges), n, np.int64))
    adj: list[dict[int, int]] = [{} for _ in range(n)]
    for (a, b), c in zip(edges, classes, strict=True):
        adj[a][int(b)] = adj[b][int(a)] = int(c)
    straight = math.radians(180.0 - SPLIT_BEND)
    for w in range(n - 1, -1, -1):
        if border[w]:
            break  # border nodes come first
        earlier = sorted(j for j in adj[w] if j < w)
        if len(earlier) < 2:
            continue
        u = earlier[0]
        if w - 1 - u >= window:
            continue
        best, best_angle = -1, straight - 1e-12
        for v in earlier[1:]:
            if adj[w][v] != adj[w][u] or v in adj[u] or v - 1 - u >= window:
                continue
            if not border[v]:
                parent_v = min((j for j in adj[v] if j < v), default=-1)
                if parent_v < 0 or parent_v >= u:
                    continue
            angle = _angle_at(pos[u], pos[w], pos[v])
            if angle > best_angle:
                best, best_angle = v, angle
        if best < 0:
            continue
        v, c = best, adj[w][u]
        split_u[w], split_v[w] = u, v
        for x in (u, v):
            del adj[w][x], adj[x][w]
        adj[u][v] = adj[v][u] = c
    # forward: the base streets at their later end's step, the halves at each split step
    base = [(max(a, b), min(a, b), c) for a in range(n) for b, c in adj[a].items() if a > b]
    made: dict[int, list[tuple[int, int, int, bool]]] = {}
    for i, j, c in base:
        made.setdefault(i, []).append((i, j, c, False))
    out_e, out_c, out_i, out_r = [], [], [], []
    live: dict[tuple[int, int], int] = {}  # (low, high) -> index in out
    for t in range(n):
        if split_u[t] >= 0:
            u, v = int(split_u[t]), int(split_v[t])
            k = live.pop((u, v))
            out_r[k] = t
            c = out_c[k]
            made.setdefault(t, [])
            made[t] = [(t, u, c, True), (t, v, c, True), *made[t]]
        for i, j, c, imp in made.get(t, []):
            live[(min(i, j), max(i, j))] = len(out_e)
            out_e.append((i, j))
            out_c.append(c)
            out_i.append(imp)
            out_r.append(n)
    return SplitChain(
        split_u,
        split_v,
        np.asarray(out_e, np.int64).reshape(-1, 2),
        np.asarray(out_c, np.int64),
        np.asarray(out_i, bool),
        np.asarray(out_r, np.int64),
    )


def final_edges(chain: SplitChain, n: int) -> set[tuple[int, int]]:
    """The streets of the tile the chain builds (those never cut), as ``(high, low)`` pairs."""
    keep = chain.removed >= n
    return {(int(a), int(b)) for (a, b), k in zip(chain.edges, keep, strict=True) if k}
