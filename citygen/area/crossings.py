"""Join the real streets that cross a site's boundary to the new streets inside it (infill).

Each crossing street ends at the boundary in a *fixed* node. :func:`join_fixed` gives it the
shortest straight joining street inside the site that keeps every hard rule (no crossing,
``clearance``, ``min_angle`` at both ends, ``min_dist`` between nodes), to one of:

- a point on a new street, which is split there (a T-junction, as a real street meets
  another): in Milan (1 km2 site, seed 2) 1 of 43 crossings had no rule-keeping join to a
  *node*, its nearest new nodes all at too sharp an angle, and the candidate had to be drawn
  again;
- a new node, else another fixed node.

Joining streets are flagged ``generated=True, connector=True``.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import shapely
import shapely.prepared

from citygen.area.connect import _angle_ok, _Index, _segment_ok
from citygen.layout import MAX_DEGREE, add_street

#: Longest street that joins a fixed node to the new streets, metres.
JOIN_M = 500.0
#: Nearest new streets tried for a T-junction, per fixed node.
STREETS_TRIED = 12


def local_graph(M: nx.Graph, site: shapely.Geometry, margin: float) -> nx.Graph:
    """Return the streets of ``M`` that come within ``margin`` of the site's box.

    Every join lies inside the site, so its rule tests need no street farther away; a copy this
    small is cheap to index again after a street is split.
    """
    edges = list(M.edges)
    if not edges:
        return nx.Graph(M.subgraph([]))
    ends = np.array(
        [[(M.nodes[n]["x"], M.nodes[n]["y"]) for n in e] for e in edges], dtype=np.float64
    )
    box = shapely.box(*site.bounds).buffer(margin, join_style="mitre")
    hit = shapely.intersects(shapely.linestrings(ends), box)
    H = nx.Graph()
    for (u, v), keep in zip(edges, hit, strict=True):
        if keep:
            H.add_node(u, x=M.nodes[u]["x"], y=M.nodes[u]["y"])
            H.add_node(v, x=M.nodes[v]["x"], y=M.nodes[v]["y"])
            H.add_edge(u, v)
    return H


def _sharp(at: np.ndarray, towards: np.ndarray, others: list[np.ndarray], min_angle: float) -> bool:
    """Whether the direction ``at -> towards`` lies within ``min_angle`` of one to ``others``."""
    a = math.atan2(towards[1] - at[1], towards[0] - at[0])
    lim = math.radians(min_angle)
    for o in others:
        b = math.atan2(o[1] - at[1], o[0] - at[0])
        if abs((a - b + math.pi) % (2 * math.pi) - math.pi) < lim:
            return True
    return False


def _t_join_ok(
    M: nx.Graph, ix: _Index, f: int, edge: tuple[int, int], p: np.ndarray, q: np.ndarray, cfg: Any
) -> bool:
    """Whether ``f -> q``, ``q`` a point inside ``edge``, keeps the rules (see module)."""
    a, b = edge
    pa, pb = ix.xy[ix.pos[a]], ix.xy[ix.pos[b]]
    if min(np.linalg.norm(q - pa), np.linalg.norm(q - pb)) < cfg.min_dist:
        return False  # a node join does this
    if any(ix.nodes[i] != f for i in ix.node_tree.query_ball_point(q, cfg.min_dist)):
        return False
    for k in ix.tree.query(shapely.points(q), predicate="dwithin", distance=cfg.clearance):
        if set(ix.edges[int(k)]) != {a, b}:
            return False  # the new node would lie too close to another street
    if _sharp(q, p, [pa, pb], cfg.min_angle) or not _angle_ok(M, f, q, cfg.min_angle):
        return False
    seg = shapely.linestrings([p, q])
    for k in ix.tree.query(seg, predicate="intersects"):
        u, v = ix.edges[int(k)]
        if {u, v} == {a, b}:
            continue
        if f not in (u, v) or shapely.intersection(seg, ix.lines[int(k)]).geom_type != "Point":
            return False
    for u, v, pu, pv in ix.added:
        if f not in (u, v) and seg.intersects(shapely.linestrings([pu, pv])):
            return False
    reach = float(np.linalg.norm(q - p)) / 2 + cfg.clearance
    near = ix.node_tree.query_ball_point((p + q) / 2, reach)
    near = [i for i in near if ix.nodes[i] not in (f, a, b)]
    dist = shapely.distance(seg, shapely.points(ix.xy[near])) if near else np.zeros(0)
    return bool(np.all(dist >= cfg.clearance))


def _t_options(
    M: nx.Graph, ix: _Index, f: int, gen: set, cfg: Any, region: Any
) -> list[tuple[float, tuple[int, int], np.ndarray]]:
    """Rule-keeping T-junction joins of ``f`` onto the nearest new streets, shortest first."""
    p = ix.xy[ix.pos[f]]
    point = shapely.points(p)
    hits = [
        int(k)
        for k in ix.tree.query(point, predicate="dwithin", distance=JOIN_M)
        if ix.edges[int(k)][0] in gen and ix.edges[int(k)][1] in gen
    ]
    dist = shapely.distance(point, ix.lines[hits]) if hits else np.zeros(0)
    out = []
    for k in [hits[int(i)] for i in np.argsort(dist)[:STREETS_TRIED]]:
        line = ix.lines[k]
        q = np.asarray(shapely.get_coordinates(line.interpolate(line.project(point)))[0])
        d = float(np.linalg.norm(q - p))
        if d < cfg.min_dist or not region.covers(shapely.linestrings([p, q])):
            continue
        if _t_join_ok(M, ix, f, ix.edges[k], p, q, cfg):
            out.append((d, ix.edges[k], q))
    return out


def _split(M: nx.Graph, edge: tuple[int, int], q: np.ndarray) -> int:
    """Split street ``edge`` at ``q`` by a new node (in place); return the node."""
    a, b = edge
    data = dict(M.edges[a, b])
    g = max(M.nodes) + 1
    M.add_node(g, x=float(q[0]), y=float(q[1]), border=False, real=False, seam=False)
    M.remove_edge(a, b)
    for u in (a, b):
        M.add_edge(u, g, **{**data, "length": math.dist(q, (M.nodes[u]["x"], M.nodes[u]["y"]))})
    return g


def _node_target(
    M: nx.Graph, ix: _Index, f: int, fixed: list[int], gen: set, cfg: Any, region: Any
) -> tuple[float, int] | None:
    """Shortest rule-keeping join of ``f`` to a new node, else to another fixed node."""
    p = ix.xy[ix.pos[f]]
    targets = [n for n in gen if n in ix.pos]
    txy = ix.xy[[ix.pos[n] for n in targets]].reshape(-1, 2)
    order = np.argsort(np.hypot(*(txy - p).T)) if len(txy) else []
    others = sorted(
        (o for o in fixed if o != f), key=lambda o: float(np.linalg.norm(ix.xy[ix.pos[o]] - p))
    )
    for n in [targets[int(i)] for i in order] + others:
        q = ix.xy[ix.pos[n]]
        dist = float(np.linalg.norm(q - p))
        if dist > JOIN_M and n not in gen:
            return None
        if dist > JOIN_M or dist < cfg.min_dist or M.degree(n) >= MAX_DEGREE or M.has_edge(f, n):
            continue
        if not region.covers(shapely.LineString([p, q])):
            continue
        if not (_angle_ok(M, f, q, cfg.min_angle) and _angle_ok(M, n, p, cfg.min_angle)):
            continue
        if _segment_ok(ix, f, n, p, q, cfg.clearance):
            return dist, n
    return None


def join_fixed(
    M: nx.Graph, fixed: list[int], gen: set, site: shapely.Geometry, cfg: Any
) -> list[int]:
    """Join each fixed node to the new streets by a straight street inside the site (in place).

    Parameters
    ----------
    M
        Merged graph: real streets, fixed nodes and new streets (node ``x``, ``y`` metres).
    fixed
        Fixed nodes, in order.
    gen
        New nodes; nodes that split a new street are added to it.
    site
        Site polygon.
    cfg
        A :class:`citygen.sampling.loop.SampleConfig` (the hard rules).

    Returns
    -------
    list of int
        Fixed nodes that could not be joined (and have no other street inside).
    """
    region = shapely.prepared.prep(site.buffer(1e-6))
    H = local_graph(M, site, cfg.min_dist + cfg.clearance + 1.0)
    H.add_nodes_from((f, {"x": M.nodes[f]["x"], "y": M.nodes[f]["y"]}) for f in fixed)
    ix = _Index(H)
    left = []
    for f in fixed:
        tees = _t_options(M, ix, f, gen, cfg, region)
        node = _node_target(M, ix, f, fixed, gen, cfg, region)
        p = ix.xy[ix.pos[f]]
        if tees and (node is None or tees[0][0] < node[0]):
            _, edge, q = tees[0]
            n = _split(M, edge, q)
            H.remove_edge(*edge)
            H.add_node(n, x=float(q[0]), y=float(q[1]))
            H.add_edges_from([(edge[0], n), (n, edge[1])])
            gen.add(n)
        elif node is not None:
            n = node[1]
        else:
            if M.degree(f) < 2:
                left.append(f)
            continue
        highway = next(iter(M.edges(f, data="highway")), (0, 0, "residential"))[2]
        add_street(M, f, n, highway)
        M.edges[f, n].update(generated=True, connector=True)
        H.add_edge(f, n)
        if n in ix.pos:
            ix.added.append((f, n, p, ix.xy[ix.pos[n]]))
        else:
            ix = _Index(H)  # a street was split: index the local streets again
    return left
