"""Join the pieces of an area into one network with short straight connector streets.

Tiles of the shipped model are poorly connected on their own (16 unconditioned tiles, seed 1:
1 to 17 components each, the largest holding 28-100% of the street length), so an area of them
is many pieces: 38% of the street length in the largest piece of a 3 x 3 km area, seed 0.
:func:`connect_pieces` joins every piece to another one by the shortest straight street that
keeps all the hard rules (no crossing, ``min_dist``, ``clearance``, ``min_angle`` at both ends,
at most :data:`~citygen.layout.MAX_DEGREE` streets), up to ``max_len`` metres long, node to
node, shortest first. Connectors are flagged ``connector=True`` and have the class of the street
they leave (``residential`` if that is an access road). Pieces that no such street can join stay
as they are.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import shapely
import shapely.prepared
from scipy.spatial import cKDTree

from citygen.layout import MAX_DEGREE, add_street


def _dirs(A: nx.Graph, n: int) -> list[float]:
    x, y = A.nodes[n]["x"], A.nodes[n]["y"]
    return [math.atan2(A.nodes[m]["y"] - y, A.nodes[m]["x"] - x) for m in A.neighbors(n)]


def _angle_ok(A: nx.Graph, n: int, towards: np.ndarray, min_angle: float) -> bool:
    x, y = A.nodes[n]["x"], A.nodes[n]["y"]
    a = math.atan2(towards[1] - y, towards[0] - x)
    lim = math.radians(min_angle)
    return all(abs((a - b + math.pi) % (2 * math.pi) - math.pi) >= lim for b in _dirs(A, n))


class _Index:
    """Streets and nodes of the area, for the rule tests of a candidate connector."""

    def __init__(self, A: nx.Graph) -> None:
        self.nodes = list(A.nodes)
        self.pos = {n: i for i, n in enumerate(self.nodes)}
        self.xy = np.array([(A.nodes[n]["x"], A.nodes[n]["y"]) for n in self.nodes]).reshape(-1, 2)
        self.edges = list(A.edges)
        pts = {n: (A.nodes[n]["x"], A.nodes[n]["y"]) for n in self.nodes}
        self.lines = shapely.linestrings([[pts[u], pts[v]] for u, v in self.edges])
        self.tree = shapely.STRtree(self.lines)
        self.node_tree = cKDTree(self.xy)
        self.added: list[tuple[object, object, np.ndarray, np.ndarray]] = []


def _segment_ok(
    ix: _Index, u: object, v: object, p: np.ndarray, q: np.ndarray, clearance: float
) -> bool:
    seg = shapely.linestrings([p, q])
    for k in ix.tree.query(seg, predicate="intersects"):
        a, b = ix.edges[int(k)]
        if u not in (a, b) and v not in (a, b):
            return False
        if shapely.intersection(seg, ix.lines[int(k)]).geom_type != "Point":
            return False  # overlaps a street at its own end node
    for a, b, pa, qa in ix.added:
        other = shapely.linestrings([pa, qa])
        if seg.intersects(other) and not ({u, v} & {a, b}):
            return False
    near = ix.node_tree.query_ball_point((p + q) / 2, float(np.linalg.norm(q - p)) / 2 + clearance)
    seg_d = shapely.distance(seg, shapely.points(ix.xy[near])) if near else np.zeros(0)
    return all(ix.nodes[i] in (u, v) or d >= clearance for i, d in zip(near, seg_d, strict=True))


def connect_pieces(
    A: nx.Graph,
    max_len: float = 150.0,
    min_dist: float = 10.0,
    clearance: float = 2.0,
    min_angle: float = 10.0,
    within: shapely.Geometry | None = None,
    eligible: set | None = None,
) -> int:
    """Add connector streets in place until no further piece can be joined; count them.

    Parameters
    ----------
    A
        Area graph (node ``x``, ``y`` metres; edge ``highway``).
    max_len
        Longest connector, metres.
    min_dist
        Least connector length, metres (nodes are at least this far apart anyway).
    clearance, min_angle
        Least street-node distance (m) and least angle between streets (degrees).
    within
        If given, connectors lie inside this polygon (site infill).
    eligible
        If given, only these nodes may end a connector.
    """
    added = 0
    ix = _Index(A)
    comp = {n: i for i, c in enumerate(nx.connected_components(A)) for n in c}
    pos = {n: i for i, n in enumerate(ix.nodes)}
    ends = (
        np.arange(len(ix.nodes))
        if eligible is None
        else np.array(sorted(pos[n] for n in eligible if n in pos), dtype=int)
    )
    local = cKDTree(ix.xy[ends]) if len(ends) else None
    found = local.query_pairs(max_len) if local is not None else set()
    pairs = sorted(
        (float(np.linalg.norm(ix.xy[i] - ix.xy[j])), i, j)
        for i, j in ((int(ends[a]), int(ends[b])) for a, b in found)
        if comp[ix.nodes[i]] != comp[ix.nodes[j]]
    )
    region = shapely.prepared.prep(within.buffer(1e-6)) if within is not None else None
    uf = {c: c for c in set(comp.values())}

    def root(c: int) -> int:
        while uf[c] != c:
            uf[c] = uf[uf[c]]
            c = uf[c]
        return c

    for dist, i, j in pairs:
        u, v = ix.nodes[i], ix.nodes[j]
        if dist < min_dist or root(comp[u]) == root(comp[v]):
            continue
        if A.degree(u) >= MAX_DEGREE or A.degree(v) >= MAX_DEGREE:
            continue
        if A.nodes[u].get("border") or A.nodes[v].get("border"):
            continue
        p, q = ix.xy[i], ix.xy[j]
        if not (_angle_ok(A, u, q, min_angle) and _angle_ok(A, v, p, min_angle)):
            continue
        if region is not None and not region.covers(shapely.linestrings([p, q])):
            continue
        if not _segment_ok(ix, u, v, p, q, clearance):
            continue
        highway = next(iter(A.edges(u, data="highway")), (None, None, "residential"))[2]
        if highway in ACCESS_CLASSES or not highway:
            highway = "residential"  # a connector is a through road
        add_street(A, u, v, highway)
        A.edges[u, v]["connector"] = True
        ix.added.append((u, v, p, q))
        uf[root(comp[u])] = root(comp[v])
        added += 1
    return added


#: Road classes that SUMO's default OSM type map closes to passenger cars (access roads).
ACCESS_CLASSES = ("service",)


def open_through_access_roads(A: nx.Graph, to_class: str = "residential") -> int:
    """Reclass access-road pieces that are the only link between parts of the network.

    A connected piece of ``service`` streets that touches two or more parts of the network
    that are connected without it is a through road, not a driveway: SUMO (netconvert's default
    type map) closes ``service`` to passenger cars, which cut the passenger network of a 5 x 5
    km area (seed 0) into 15 pieces and left 42.5% of random trips routable; reclassed, 99.7%.
    Such pieces become ``to_class`` (edge attribute ``reclassed=True``); in place.

    Returns
    -------
    int
        Streets reclassed.
    """
    service = [(u, v) for u, v, c in A.edges(data="highway") if c in ACCESS_CLASSES]
    if not service:
        return 0
    rest = nx.Graph()
    rest.add_nodes_from(A.nodes)
    rest.add_edges_from((u, v) for u, v, c in A.edges(data="highway") if c not in ACCESS_CLASSES)
    part = {n: i for i, c in enumerate(nx.connected_components(rest)) for n in c}
    pieces = nx.Graph(service)
    changed = 0
    for nodes in nx.connected_components(pieces):
        touched = {part[n] for n in nodes if rest.degree(n) > 0}
        if len(touched) < 2:
            continue
        for u, v in pieces.subgraph(nodes).edges:
            A.edges[u, v]["highway"] = to_class
            A.edges[u, v]["reclassed"] = True
            changed += 1
    return changed
