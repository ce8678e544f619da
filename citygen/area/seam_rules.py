"""Judge a sampled tile against the finished area around it, and repair what breaks a rule.

The sampler enforces the hard rules inside a tile but cannot see its neighbours. Before a
sampled tile joins the area, :func:`assess` lists what would break at its seams:

- ``loose``: a fixed border node (a street of a neighbour ending at the shared side) that the
  tile left without a street;
- ``extra``: a border node the tile added on a fixed side (it would end at a finished tile);
- ``along``: a street between two border nodes on the same side, lying on the tile's border
  (it would lie on a seam, with nothing on one side of it);
- ``near``: a new node closer than ``min_dist`` to a node of the area;
- ``clear_node`` / ``clear_edge``: a new node within ``clearance`` of a street of the area, or a
  new street within ``clearance`` of a node of the area;
- ``angle`` / ``degree``: at a fixed node, a new street less than ``min_angle`` from a street of
  the neighbour, or more than :data:`~citygen.layout.MAX_DEGREE` streets in all.

:func:`repair` removes the offending new nodes and streets; a fixed node left without a street
is then dropped on both sides (the neighbour's street ends short of the seam instead).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from citygen.area.frame import TileSlot
from citygen.layout import MAX_DEGREE

ISSUE_KINDS = ("loose", "extra", "along", "near", "clear_node", "clear_edge", "angle", "degree")


@dataclass
class Issues:
    """What would break if a sampled tile joined the area (ids are the tile's node ids)."""

    loose: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    along: list[tuple[int, int]] = field(default_factory=list)
    near: list[int] = field(default_factory=list)
    clear_node: list[int] = field(default_factory=list)
    clear_edge: list[tuple[int, int]] = field(default_factory=list)
    angle: list[tuple[int, int]] = field(default_factory=list)
    degree: list[tuple[int, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of issues of all kinds."""
        return sum(len(getattr(self, k)) for k in ISSUE_KINDS)

    def counts(self) -> dict[str, int]:
        """Issues per kind."""
        return {k: len(getattr(self, k)) for k in ISSUE_KINDS}


@dataclass(frozen=True)
class Context:
    """The finished area next to a tile: its nodes and streets within reach, area metres."""

    ids: list
    xy: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_ids: list


def context(A: nx.Graph, nodes: set, slot: TileSlot, reach: float) -> Context:
    """Nodes of ``nodes`` (ids in ``A``) and their streets near the tile, within ``reach`` m."""
    lo, hi = slot.origin - reach, slot.origin + slot.size + reach
    ids = [n for n in nodes if n in A]
    xy = np.array([(A.nodes[n]["x"], A.nodes[n]["y"]) for n in ids], dtype=float).reshape(-1, 2)
    segs = {tuple(sorted((u, v))) for u in ids for v in A.neighbors(u)}
    seg_ids = []
    for u, v in segs:
        a = np.array([A.nodes[u]["x"], A.nodes[u]["y"]])
        b = np.array([A.nodes[v]["x"], A.nodes[v]["y"]])
        if (np.minimum(a, b) <= hi).all() and (np.maximum(a, b) >= lo).all():
            seg_ids.append((u, v))
    sa = np.array([(A.nodes[u]["x"], A.nodes[u]["y"]) for u, _ in seg_ids]).reshape(-1, 2)
    sb = np.array([(A.nodes[v]["x"], A.nodes[v]["y"]) for _, v in seg_ids]).reshape(-1, 2)
    near = ((xy >= lo) & (xy <= hi)).all(-1)
    return Context([ids[i] for i in np.nonzero(near)[0]], xy[near], sa, sb, seg_ids)


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances ``(n, m)`` from points ``p (n, 2)`` to segments ``a-b (m, 2)``."""
    e = b - a
    t = ((p[:, None] - a[None]) * e[None]).sum(-1) / np.maximum((e * e).sum(-1), 1e-18)[None]
    proj = a[None] + np.clip(t, 0, 1)[..., None] * e[None]
    return np.linalg.norm(p[:, None] - proj, axis=-1)


def assess(
    G: nx.Graph,
    area_xy: dict[int, np.ndarray],
    k: int,
    fixed_ids: list,
    A: nx.Graph,
    ctx: Context,
    slot: TileSlot,
    cfg: object,
) -> Issues:
    """List the issues of sampled tile ``G`` (nodes ``0..k-1`` are the fixed border nodes).

    Parameters
    ----------
    G
        The sampled tile (frame metres).
    area_xy
        Area position of each node of ``G``, metres.
    k, fixed_ids
        Number of fixed border nodes and their ids in the area graph ``A``.
    A, ctx
        The area so far and its part near the tile.
    slot
        The tile.
    cfg
        The :class:`citygen.sampling.loop.SampleConfig` (``min_dist``, ``clearance``, ``min_angle``).
    """
    out = Issues()
    out.loose = [i for i in range(k) if G.degree(i) == 0]
    new = [n for n in G.nodes if n >= k]
    new_xy = np.array([area_xy[n] for n in new]).reshape(-1, 2)
    on_fixed = slot.on_fixed_side(new_xy) if len(new) else np.zeros(0, dtype=bool)
    out.extra = [n for n, f in zip(new, on_fixed, strict=True) if f and G.nodes[n]["border"]]
    border = [n for n in G.nodes if G.nodes[n]["border"]]
    side = dict(zip(border, slot.side_of(np.array([area_xy[n] for n in border])), strict=True))
    out.along = [
        (u, v) for u, v in G.edges if side.get(u) is not None and side.get(u) == side.get(v)
    ]
    if len(new) and len(ctx.xy):
        d = np.linalg.norm(new_xy[:, None] - ctx.xy[None], axis=-1).min(-1)
        out.near = [n for n, dd in zip(new, d, strict=True) if dd < cfg.min_dist]
    if cfg.clearance > 0 and len(ctx.seg_ids):
        if len(new):
            d = point_segment_distance(new_xy, ctx.seg_a, ctx.seg_b).min(-1)
            out.clear_node = [n for n, dd in zip(new, d, strict=True) if dd < cfg.clearance]
        _clear_edges(G, area_xy, k, fixed_ids, ctx, cfg.clearance, out)
    for i in range(k):
        _at_fixed(G, A, area_xy, i, fixed_ids[i], cfg.min_angle, out)
    return out


def _clear_edges(G, area_xy, k, fixed_ids, ctx, clearance, out) -> None:
    edges = list(G.edges)
    if not edges or not len(ctx.xy):
        return
    a = np.array([area_xy[u] for u, _ in edges])
    b = np.array([area_xy[v] for _, v in edges])
    d = point_segment_distance(ctx.xy, a, b)  # (context nodes, tile edges)
    ends = {i: fixed_ids[i] for i in range(k)}
    for ci, ei in zip(*np.nonzero(d < clearance), strict=True):
        u, v = edges[ei]
        if ctx.ids[ci] not in (ends.get(u), ends.get(v)):
            out.clear_edge.append((u, v))


def _at_fixed(G, A, area_xy, i, aid, min_angle, out) -> None:
    if G.degree(i) == 0:
        return
    p = area_xy[i]
    theirs = [math.atan2(A.nodes[m]["y"] - p[1], A.nodes[m]["x"] - p[0]) for m in A.neighbors(aid)]
    mine = list(G.neighbors(i))
    for m in mine:
        q = area_xy[m]
        a = math.atan2(q[1] - p[1], q[0] - p[0])
        diff = [abs((a - b + math.pi) % (2 * math.pi) - math.pi) for b in theirs]
        if diff and min(diff) < math.radians(min_angle):
            out.angle.append((i, m))
    over = len(theirs) + len(mine) - MAX_DEGREE
    if over > 0:
        out.degree += [(i, m) for m in mine[-over:]]


def repair(G: nx.Graph, issues: Issues, k: int) -> list[int]:
    """Remove the offending new nodes and streets of ``G`` in place.

    Returns
    -------
    list of int
        Fixed border nodes (``< k``) left without a street: their crossing must be dropped.
    """
    G.remove_nodes_from(issues.extra + issues.near + issues.clear_node)
    G.remove_edges_from(issues.along + issues.clear_edge + issues.angle + issues.degree)
    G.remove_nodes_from([n for n in list(G.nodes) if n >= k and G.degree(n) == 0])
    return [i for i in range(k) if G.degree(i) == 0]


def drop_crossing(A: nx.Graph, node: object) -> int:
    """Remove a seam node from the area, and neighbours left without a street; count removed.

    A neighbour that is itself a seam node stays, even without a street: it may be a crossing
    that a tile of the same wavefront still has to continue (its fixed node; a street cutting a
    tile's corner joins two tiles' crossings, and removing it here failed that tile with a
    KeyError). Dangling seam nodes are removed once every tile has joined
    (:func:`drop_dangling_seams`).
    """
    nbrs = list(A.neighbors(node))
    A.remove_node(node)
    lonely = [m for m in nbrs if A.degree(m) == 0 and not A.nodes[m].get("seam", False)]
    A.remove_nodes_from(lonely)
    return 1 + len(lonely)


def drop_dangling_seams(A: nx.Graph) -> int:
    """Remove seam nodes left with one street once every tile has joined, along the chain.

    A street cutting a tile's corner joins two seam nodes; when the tile beyond one of them
    dropped that crossing, the other is left as a street that stops at the seam (seed 0 of a
    10 x 10 km area had one). Such a node is dropped (:func:`drop_crossing`), then any seam
    node its removal leaves with one street or none. Returns the number of seam nodes removed.
    """
    todo = [n for n, d in A.nodes(data=True) if d.get("seam", False) and A.degree(n) <= 1]
    removed = 0
    while todo:
        n = todo.pop()
        if n not in A or A.degree(n) > 1:
            continue
        nbrs = list(A.neighbors(n))
        drop_crossing(A, n)
        removed += 1
        todo += [m for m in nbrs if m in A and A.nodes[m].get("seam", False) and A.degree(m) <= 1]
    return removed


def carry_class(G: nx.Graph, start: int, highway: str, fixed: Collection[int] = ()) -> int:
    """Give the street from fixed node ``start`` the class of the street it continues.

    A fixed node's prefix holds its position only, so the tile draws the class of the street it
    continues afresh (in 5 x 5 km areas, seeds 0 and 1, only 10 of 59 and 19 of 95 crossings
    kept their class across the seam). The class is carried along the new street up to its
    first junction or end (the chain of degree-2 nodes), in place. Where that chain ends at
    another of the tile's ``fixed`` nodes (one street from one crossing to another), only the
    half next to ``start`` is relabelled, so each crossing keeps the class of its own street
    (carrying the whole chain gave the second crossing's class to the first one's seam).

    Returns
    -------
    int
        Streets relabelled.
    """
    if G.degree(start) != 1:
        return 0
    chain, prev, node = [], start, next(iter(G.neighbors(start)))
    while True:
        chain.append((prev, node))
        nxt = [m for m in G.neighbors(node) if m != prev]
        if G.degree(node) != 2 or G.nodes[node].get("border") or len(nxt) != 1:
            break
        prev, node = node, nxt[0]
    if node in fixed:  # start has degree 1, so the chain never ends at start itself
        chain = chain[: (len(chain) + 1) // 2]
    changed = 0
    for u, v in chain:
        if G.edges[u, v]["highway"] != highway:
            G.edges[u, v]["highway"] = highway
            changed += 1
    return changed
