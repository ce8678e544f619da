"""Draw sampled streets the way prepared data draws real ones: bends within a tolerance dropped.

Prepare draws each real street polyline as straight segments with Douglas-Peucker at
``bend_tolerance`` metres (5 m, :func:`data_prep.clean.straighten`): a bend is kept only where
the street runs more than 5 m off the chord. Sampled streets have no such step, and the model
draws many short, slightly bent hops (the median edge of sampled tiles was 35 m against 60 m in
real tiles). :func:`simplify_bends` applies the same Douglas-Peucker to every chain of bends
(interior degree-2 nodes whose two streets have the same class) between junctions, dead ends
and border nodes, so a generated layout is in the representation the model learned from and a
user's file holds the street, not its sampling noise.

A chord replaces a run of bends only if the layout keeps every rule of the sampler: it crosses
no street, passes no node within ``clearance``, keeps ``min_angle`` to the other streets at its
ends, and is not a second street between the same two nodes. Where it would not, the run is cut
at its farthest bend and each half tried again, exactly as Douglas-Peucker recurses.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from citygen.layout import add_street
from citygen.sampling.snap import _angle_ok, _Layout, _seg_dist_many, _street_clear, copy_layout

_EPS = 1e-9


def _chains(G: nx.Graph) -> list[list[int]]:
    """Maximal runs ``[a, b1, ..., bk, c]`` through bends ``b`` (interior, degree 2, both streets
    of one class); ``a`` and ``c`` are other nodes (a closed loop of bends is skipped)."""

    adj, attrs = G._adj, G._node  # read directly: this runs for every node, often twice

    def is_bend(n: int) -> bool:
        if len(adj[n]) != 2 or attrs[n].get("border", False):
            return False
        d1, d2 = adj[n].values()
        same = d1.get("highway") == d2.get("highway")
        return same and not d1.get("connector") and not d2.get("connector")

    bends = {n: is_bend(n) for n in G}
    bend = bends.__getitem__

    seen: set[int] = set()
    out = []
    for start in sorted(G.nodes):
        if bend(start):
            continue
        for nxt in sorted(G.neighbors(start)):
            if nxt in seen or not bend(nxt):
                continue
            path, prev, cur = [start], start, nxt
            while bend(cur) and cur not in seen:
                seen.add(cur)
                path.append(cur)
                a, b = G.neighbors(cur)
                prev, cur = cur, (b if a == prev else a)
            path.append(cur)
            if path[0] != path[-1] and len(path) > 2:
                out.append(path)
    return out


def _farthest(xy: np.ndarray) -> tuple[int, float]:
    """Index (1 .. k-2) and distance of the point of a polyline farthest from its chord."""
    d = _seg_dist_many(xy[1:-1], xy[0], xy[-1])
    k = int(np.argmax(d))
    return k + 1, float(d[k])


def simplify_bends(G: nx.Graph, tolerance: float = 5.0, clearance: float = 2.0, min_angle: float = 10.0) -> nx.Graph:
    """Return a copy of layout ``G`` with bends within ``tolerance`` metres dropped.

    Parameters
    ----------
    G
        A layout (node ``x``, ``y`` in metres, ``border``; edge ``highway``, ``length``).
    tolerance
        Douglas-Peucker tolerance in metres (prepare's ``bend_tolerance``); 0 returns ``G``.
    clearance, min_angle
        The sampler's rules (metres, degrees), kept by every chord.
    """
    if tolerance <= 0:
        return G
    H = copy_layout(G)
    ang = math.radians(min_angle)
    L = _Layout(H)  # arrays for the rule checks, updated after a run is redrawn
    for path in _chains(H):
        xy = np.array([(H.nodes[n]["x"], H.nodes[n]["y"]) for n in path])
        cls = H.edges[path[0], path[1]]["highway"]
        keep = _douglas_peucker(H, L, path, xy, tolerance, clearance, ang)
        if len(keep) == len(path):
            continue
        removed = list(zip(path[:-1], path[1:], strict=True))
        for a, b in removed:
            H.remove_edge(a, b)
        dropped = [n for n in path[1:-1] if n not in keep]
        H.remove_nodes_from(dropped)
        kept = [n for n in path if n in keep]
        added = list(zip(kept[:-1], kept[1:], strict=True))
        for a, b in added:
            add_street(H, a, b, cls)
        L.redraw(removed, dropped, added)
    return H


def _douglas_peucker(
    H: nx.Graph, L: _Layout, path: list[int], xy: np.ndarray, tol: float, clearance: float, ang: float
) -> set[int]:
    """Nodes of ``path`` to keep: its ends, and bends farther than ``tol`` from the chord or
    needed to keep a rule."""
    keep = {path[0], path[-1]}
    stack = [(0, len(path) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        k, dist = _farthest(xy[i : j + 1])
        if dist <= tol and _chord_ok(H, L, path, i, j, clearance, ang):
            continue
        keep.add(path[i + k])
        stack += [(i, i + k), (i + k, j)]
    return keep


def _chord_ok(H: nx.Graph, L: _Layout, path: list[int], i: int, j: int, clearance: float, ang: float) -> bool:
    """Whether the straight street ``path[i] - path[j]`` in place of the run between keeps the
    rules against every street and node outside the run (``L``: the layout's arrays)."""
    u, v = path[i], path[j]
    if H.has_edge(u, v):
        return False
    p = np.array([H.nodes[u]["x"], H.nodes[u]["y"]])
    q = np.array([H.nodes[v]["x"], H.nodes[v]["y"]])
    if np.linalg.norm(q - p) < _EPS:
        return False
    # the run's own streets touch its nodes, so they are exempt with them
    if not _street_clear(L, p, q, set(), set(path[i : j + 1]), clearance):
        return False
    for end, to, nxt in ((u, q, path[i + 1]), (v, p, path[j - 1])):
        at = p if end == u else q
        nbrs = [np.array([H.nodes[w]["x"], H.nodes[w]["y"]]) for w in H.neighbors(end) if w != nxt]
        if not _angle_ok(H, at, nbrs, to, ang):
            return False
    return True
