"""Street segments: the unit every export format shares.

A layout draws a curved street as a chain of straight edges through degree-2 "bend" nodes. The
exports describe *street segments* instead, as GIS users and osmnx expect: one segment is a
maximal chain of straight edges between two **junctions**, with its bends as interior points.

A node is a junction (a chain end) when its degree is not 2, when it is a border node, or when
its two edges differ in road class or in a flag of :data:`EDGE_FLAGS`. A chain that would start
and end at the same junction (a loop), and an isolated ring with no junction at all, is split at
its middle point, which becomes a junction of degree 2: so no segment is closed, no two points
of a segment coincide, and the osmnx graph has no self-loops. Nodes without edges are not
streets and are left out.

Before that, nodes closer than :data:`MERGE_TOLERANCE_M` are merged into one (the smallest id
keeps its place; the border flag is kept if either had it) and the edges that then coincide
are kept once (with the more important road class). Such nodes are drawing artefacts: a street
that runs out and back over the same line ("spike"), or a street drawn twice. Merging them
keeps the drawing exactly as it is, and makes every export valid and free of duplicate points.

Each segment keeps the sum of its straight edges' lengths (``length_m``, metres in the tile
frame), so the total street length is the layout's total length, less any street that was
drawn twice (see :func:`merge_coincident`).

:class:`StreetNetwork` holds a layout's segments and junctions placed on Earth (WGS84); the
GeoJSON, GraphML and OSM XML writers all read it, so the formats say the same thing.

**Flags.** Areas and infill candidates mark streets and nodes: edge ``generated`` (a new street
of an infill candidate, False for the real ones), ``connector`` (a straight street added to
join pieces), ``reclassed`` (an access road opened to through traffic), and node ``seam`` (a
street crossing an inner tile border of an area). A segment is split where an edge flag
changes, so each flag holds for the whole segment (:attr:`Street.flags`); a segment is
``seam`` if one of its points is a seam node, a junction if it is one. Only the flags a layout
carries at all (on any edge or node, true or false) are written
(:attr:`StreetNetwork.street_flags`, :attr:`StreetNetwork.junction_flags`), so a single
generated tile exports as before.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

from citygen.layout import CLASS_ID
from export.geo import Placement

log = logging.getLogger(__name__)

#: Nodes closer than this (metres) are one point of the drawing and get merged.
MERGE_TOLERANCE_M = 1e-3
#: Boolean edge attributes carried to street segments (a segment never mixes values).
EDGE_FLAGS: tuple[str, ...] = ("generated", "connector", "reclassed")
#: Boolean node attributes carried to junctions, and to the segments through such a node.
NODE_FLAGS: tuple[str, ...] = ("seam",)


@dataclass(frozen=True)
class Chain:
    """A street segment in the tile frame.

    Attributes
    ----------
    nodes
        Layout node ids from one junction to the other, bends in between (at least two).
    highway
        Road class of all its edges (see :data:`citygen.layout.ROAD_CLASSES`).
    length_m
        Sum of the straight edges' lengths, metres.
    flags
        Names of the flags (:data:`EDGE_FLAGS`, :data:`NODE_FLAGS`) true for the segment.
    """

    nodes: tuple[int, ...]
    highway: str
    length_m: float
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Street:
    """A street segment placed on Earth.

    Attributes
    ----------
    id
        Index of the segment in its network (0, 1, ...).
    u, v
        Layout node ids of its first and last junction.
    highway
        Road class.
    length_m
        Length in metres (metric, from the layout).
    coords
        ``(longitude, latitude)`` points from ``u`` to ``v``, degrees.
    flags
        Names of the flags true for the segment (see the module docstring).
    """

    id: int
    u: int
    v: int
    highway: str
    length_m: float
    coords: tuple[tuple[float, float], ...]
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Junction:
    """A street-segment end placed on Earth.

    Attributes
    ----------
    id
        Layout node id.
    lon, lat
        Position, degrees.
    degree
        Number of street segment ends that meet here (the layout degree).
    border
        True where a street leaves the tile.
    flags
        Names of the node flags (:data:`NODE_FLAGS`) true here.
    """

    id: int
    lon: float
    lat: float
    degree: int
    border: bool
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StreetNetwork:
    """One layout's street segments and junctions in WGS84, plus its export metadata.

    Attributes
    ----------
    streets
        Segments, in a deterministic order.
    junctions
        Segment ends, sorted by id.
    metadata
        JSON-serialisable facts about the layout (model, seed, objective, citygen version,
        centre, tile size, ...).
    street_flags, junction_flags
        The flags the layout carries, written for every street (junction) as true or false.
    """

    streets: tuple[Street, ...]
    junctions: tuple[Junction, ...]
    metadata: dict[str, Any]
    street_flags: tuple[str, ...] = ()
    junction_flags: tuple[str, ...] = ()

    def total_length_m(self) -> float:
        """Total metric street length, metres."""
        return float(sum(s.length_m for s in self.streets))

    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of every point, degrees."""
        pts = np.array([c for s in self.streets for c in s.coords], dtype=np.float64)
        if pts.size == 0:
            return (0.0, 0.0, 0.0, 0.0)
        return (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
        )


def _coincident_groups(G: nx.Graph, tol: float) -> dict[int, int]:
    """Map every node that lies within ``tol`` of a smaller-id node to that group's keeper."""
    nodes = sorted(G.nodes)
    if len(nodes) < 2:
        return {}
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes], dtype=np.float64)
    pairs = cKDTree(xy).query_pairs(r=tol, output_type="ndarray")
    if pairs.size == 0:
        return {}
    links = nx.Graph()
    links.add_edges_from((nodes[a], nodes[b]) for a, b in pairs)
    out = {}
    for group in nx.connected_components(links):
        keep = min(group)
        out.update({n: keep for n in group if n != keep})
    return out


def merge_coincident(G: nx.Graph, tol: float = MERGE_TOLERANCE_M) -> nx.Graph:
    """Merge nodes closer than ``tol`` metres and drop the edges that then coincide.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`); not modified.
    tol
        Distance in metres under which two nodes are the same point.

    Returns
    -------
    networkx.Graph
        ``G`` itself if nothing is merged, else a merged copy: the smallest id of a group keeps
        its position, border and node flags are or-ed, a doubled edge keeps the more important
        class (and that edge's attributes) and its length is recomputed from the kept positions.
    """
    merge = _coincident_groups(G, tol)
    if not merge:
        return G
    H = nx.Graph(**G.graph)
    H.add_nodes_from((n, dict(d)) for n, d in G.nodes(data=True) if n not in merge)
    for n, keep in merge.items():
        for flag in ("border", *NODE_FLAGS):
            if G.nodes[n].get(flag):
                H.nodes[keep][flag] = True
    for u, v, d in G.edges(data=True):
        a, b = merge.get(u, u), merge.get(v, v)
        cls = d.get("highway", "other")
        if a == b:
            continue
        if H.has_edge(a, b) and CLASS_ID.get(H.edges[a, b]["highway"], 99) <= CLASS_ID.get(cls, 99):
            continue
        length = math.hypot(H.nodes[a]["x"] - H.nodes[b]["x"], H.nodes[a]["y"] - H.nodes[b]["y"])
        H.add_edge(a, b, **{**d, "highway": cls, "length": length})
    removed = sum(d["length"] for *_, d in G.edges(data=True)) - sum(
        d["length"] for *_, d in H.edges(data=True)
    )
    log.info("merged %d coincident node(s); %.1f m of doubled street dropped", len(merge), removed)
    return H


def _edge_length(G: nx.Graph, u: int, v: int) -> float:
    data = G.edges[u, v]
    if "length" in data:
        return float(data["length"])
    return math.hypot(G.nodes[u]["x"] - G.nodes[v]["x"], G.nodes[u]["y"] - G.nodes[v]["y"])


def edge_kind(G: nx.Graph, u: int, v: int) -> tuple[str, frozenset[str]]:
    """Road class and true :data:`EDGE_FLAGS` of edge ``u``-``v``: what a segment shares."""
    d = G._adj[u][v]
    return str(d.get("highway", "other")), frozenset(f for f in EDGE_FLAGS if d.get(f))


def is_junction(G: nx.Graph, n: int) -> bool:
    """Tell whether node ``n`` ends street segments (see the module docstring)."""
    nbrs = G._adj[n]
    if len(nbrs) != 2 or bool(G._node[n].get("border", False)):
        return True
    a, b = (edge_kind(G, n, w) for w in nbrs)
    return a != b


def _walk(G: nx.Graph, start: int, first: int, ends: set[int], seen: set[frozenset]) -> list[int]:
    """Follow bends from ``start`` through ``first`` until a junction; mark the edges seen."""
    path = [start, first]
    seen.add(frozenset((start, first)))
    while path[-1] not in ends:
        here, prev = path[-1], path[-2]
        nxt = next(w for w in sorted(G.neighbors(here)) if w != prev)
        seen.add(frozenset((here, nxt)))
        path.append(nxt)
        if nxt == start:
            break
    return path


def _make_chains(G: nx.Graph, path: list[int]) -> list[Chain]:
    """One chain for an open path; a closed path is split at its middle point."""
    if path[0] == path[-1]:
        mid = len(path) // 2
        return _make_chains(G, path[: mid + 1]) + _make_chains(G, path[mid:])
    adj, attrs = G._adj, G._node  # networkx's dicts: this runs for every street of every tile
    length = 0  # summed in path order, as sum() adds
    for a, b in itertools.pairwise(path):
        d = adj[a][b]
        length += float(d["length"]) if "length" in d else _edge_length(G, a, b)
    highway, flags = edge_kind(G, path[0], path[1])
    flags |= {f for f in NODE_FLAGS if any(attrs[n].get(f) for n in path)}
    return [Chain(tuple(int(n) for n in path), highway, float(length), flags)]


def chains(G: nx.Graph) -> list[Chain]:
    """Decompose a layout into street segments (see the module docstring).

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).

    Returns
    -------
    list of Chain
        Every edge of ``G`` in exactly one chain; deterministic order (by first junction, then
        by neighbour id; rings last, by their smallest node).
    """
    ends = {n for n in G.nodes if G.degree(n) > 0 and is_junction(G, n)}
    seen: set[frozenset] = set()
    out: list[Chain] = []
    for u in sorted(ends):
        for w in sorted(G.neighbors(u)):
            if frozenset((u, w)) not in seen:
                out.extend(_make_chains(G, _walk(G, u, w, ends, seen)))
    for u in sorted(G.nodes):
        for w in sorted(G.neighbors(u)):
            if frozenset((u, w)) not in seen:  # an isolated ring of bends
                out.extend(_make_chains(G, _walk(G, u, w, ends | {u}, seen)))
    return out


def street_network(
    G: nx.Graph, placement: Placement, metadata: dict[str, Any] | None = None
) -> StreetNetwork:
    """Place a layout's street segments and junctions on Earth.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    placement
        Where the tile goes (see :func:`export.geo.resolve_placement`).
    metadata
        Facts stored with the exported files; the centre and tile size are added.

    Returns
    -------
    StreetNetwork
        Segments with ``(longitude, latitude)`` points and junctions, degrees.
    """
    G = merge_coincident(G)
    segs = chains(G)
    used = sorted({n for c in segs for n in c.nodes})
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in used], dtype=np.float64)
    lonlat = placement.to_lonlat(xy) if used else np.zeros((0, 2))
    where = {n: (float(lon), float(lat)) for n, (lon, lat) in zip(used, lonlat, strict=True)}
    streets = tuple(
        Street(
            i,
            c.nodes[0],
            c.nodes[-1],
            c.highway,
            c.length_m,
            tuple(where[n] for n in c.nodes),
            c.flags,
        )
        for i, c in enumerate(segs)
    )
    degree = {n: 0 for c in segs for n in (c.nodes[0], c.nodes[-1])}
    for c in segs:
        degree[c.nodes[0]] += 1
        degree[c.nodes[-1]] += 1
    junctions = tuple(
        Junction(
            n,
            *where[n],
            degree[n],
            bool(G.nodes[n].get("border", False)),
            frozenset(f for f in NODE_FLAGS if G.nodes[n].get(f)),
        )
        for n in sorted(degree)
    )
    lat, lon = placement.center_latlon()
    meta = {
        **(metadata or {}),
        "center": [lat, lon],
        "tile_size_m": float(G.graph["tile_size"]),
        "placement": placement.label,
    }
    street_flags, junction_flags = layout_flags(G)
    return StreetNetwork(streets, junctions, meta, street_flags, junction_flags)


def layout_flags(G: nx.Graph) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the street and junction flags a layout carries (on any edge or node, any value).

    Returns
    -------
    tuple
        ``(street_flags, junction_flags)``: names in :data:`EDGE_FLAGS` + :data:`NODE_FLAGS`
        order, and in :data:`NODE_FLAGS` order.
    """
    edge_keys = {k for *_, d in G.edges(data=True) for k in d}
    node_keys = {k for _, d in G.nodes(data=True) for k in d} & set(NODE_FLAGS)
    junction = tuple(f for f in NODE_FLAGS if f in node_keys)
    return tuple(f for f in EDGE_FLAGS if f in edge_keys) + junction, junction
