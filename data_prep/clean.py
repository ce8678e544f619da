"""Clean a raw OSM street graph into a :class:`RegionGraph` of straight street segments.

Steps, all with osmnx where osmnx has the step: keep drivable ways (osmnx's ``drive_service``
rules), simplify to intersections and dead ends, project to the local UTM zone, consolidate
intersections closer than a tolerance (about 10 m), make the graph undirected, then draw each
street polyline as straight segments: Douglas-Peucker (shapely) keeps the bend points that are
more than ``bend_tolerance`` metres off the chord, and each kept bend becomes a degree-2 node.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely

from citygen.errors import InputDataError
from citygen.layout import CLASS_ID, road_class

#: osmnx's ``drive_service`` filter (osmnx._overpass), as regexes on way tags.
_EXCLUDE: dict[str, re.Pattern[str]] = {
    "highway": re.compile(
        "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
        "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|"
        "services|steps|track"
    ),
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "motor_vehicle": re.compile("no"),
    "motorcar": re.compile("no"),
    "service": re.compile("emergency_access|parking|parking_aisle|private"),
}


@dataclass(frozen=True)
class RegionGraph:
    """A cleaned street network drawn with straight edges, in projected metres.

    Attributes
    ----------
    xy
        Node positions in metres in ``crs``, shape ``(n, 2)``, float64.
    edges
        Node index pairs ``(u, v)`` with ``u < v``, shape ``(m, 2)``, int64, sorted.
    classes
        Road class id of each edge (index into ``ROAD_CLASSES``), shape ``(m,)``, int8.
    crs
        The projected CRS, as a string pyproj reads (for example ``"EPSG:32635"``).
    hull
        Convex hull of the street nodes, the region's data extent, shape ``(k, 2)``.
    """

    xy: np.ndarray
    edges: np.ndarray
    classes: np.ndarray
    crs: str
    hull: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.xy.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of straight edges."""
        return int(self.edges.shape[0])

    def length_km(self) -> float:
        """Total length of the straight edges in kilometres."""
        d = self.xy[self.edges[:, 0]] - self.xy[self.edges[:, 1]]
        return float(np.hypot(d[:, 0], d[:, 1]).sum() / 1000.0)


def _keep_way(attrs: dict[str, object]) -> bool:
    if "highway" not in attrs:
        return False
    for tag, pattern in _EXCLUDE.items():
        value = attrs.get(tag)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and pattern.search(v) for v in values):
            return False
    return True


def drivable(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Keep the ways that osmnx's ``drive_service`` network keeps; drop isolated nodes.

    Parameters
    ----------
    G
        Raw graph with way tags on edges.

    Returns
    -------
    networkx.MultiDiGraph
        A new graph with only drivable edges and their nodes.
    """
    H = nx.MultiDiGraph(**G.graph)
    keep = [(u, v, k, d) for u, v, k, d in G.edges(keys=True, data=True) if _keep_way(d)]
    nodes = {n for u, v, _, _ in keep for n in (u, v)}
    H.add_nodes_from((n, G.nodes[n]) for n in sorted(nodes))
    H.add_edges_from(keep)
    return H


def consolidated(G: nx.MultiDiGraph, tolerance: float) -> nx.MultiDiGraph:
    """Simplify, project to UTM and consolidate intersections within ``tolerance`` metres.

    Raises
    ------
    InputDataError
        If the graph has no edges.
    """
    import osmnx as ox

    if G.number_of_edges() == 0:
        msg = "no drivable streets"
        raise InputDataError(msg)
    G = G.copy()
    G.graph.pop("simplified", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = ox.simplify_graph(G)
        G = ox.project_graph(G)
        if tolerance > 0:
            G = ox.consolidate_intersections(
                G, tolerance=tolerance, rebuild_graph=True, dead_ends=True, reconnect_edges=True
            )
    return G


def _edge_polylines(G: nx.MultiDiGraph) -> tuple[list[tuple[int, int]], list[shapely.LineString], list[int]]:
    """Undirected edges of ``G`` with their polylines (endpoints pinned to the nodes)."""
    import osmnx as ox

    U = ox.convert.to_undirected(G)
    pairs: list[tuple[int, int]] = []
    lines: list[shapely.LineString] = []
    classes: list[int] = []
    for u, v, data in U.edges(data=True):
        pu = (U.nodes[u]["x"], U.nodes[u]["y"])
        pv = (U.nodes[v]["x"], U.nodes[v]["y"])
        geom = data.get("geometry")
        coords = np.asarray(geom.coords)[:, :2] if geom is not None else np.array([pu, pv])
        if np.hypot(*(coords[0] - pu)) > np.hypot(*(coords[0] - pv)):
            coords = coords[::-1]
        coords = coords.copy()
        coords[0], coords[-1] = pu, pv
        pairs.append((u, v))
        lines.append(shapely.LineString(coords))
        classes.append(CLASS_ID[road_class(data.get("highway"))])
    return pairs, lines, classes


def _merge_coincident(
    xy: np.ndarray, edge_set: dict[tuple[int, int], int], radius: float
) -> dict[tuple[int, int], int]:
    """Merge nodes closer than ``radius`` metres (union-find over KD-tree pairs).

    The same street can reach us twice (both directions of a loop, a way drawn out and back
    over itself, duplicated OSM ways): its bend nodes then coincide. Merging them draws each
    street once; edges that become loops are dropped, duplicates keep the higher class.
    """
    from scipy.spatial import cKDTree

    root = np.arange(xy.shape[0])

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in sorted(cKDTree(xy).query_pairs(radius)):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)
    merged: dict[tuple[int, int], int] = {}
    for (a, b), cls in edge_set.items():
        ra, rb = find(a), find(b)
        if ra != rb:
            key = (min(ra, rb), max(ra, rb))
            merged[key] = min(cls, merged.get(key, cls))
    return merged


def straighten(G: nx.MultiDiGraph, bend_tolerance: float, merge_distance: float = 0.5) -> RegionGraph:
    """Draw a projected, consolidated graph with straight edges through bend nodes.

    Parameters
    ----------
    G
        Projected osmnx graph (metres), as returned by :func:`consolidated`.
    bend_tolerance
        Douglas-Peucker tolerance in metres: bends nearer than this to the chord are dropped.
    merge_distance
        Nodes closer than this (metres) are one node, so no street is drawn twice.

    Returns
    -------
    RegionGraph
        Straight-edge region graph; duplicate streets, loops and zero-length edges dropped.
    """
    ids = sorted(G.nodes)
    index = {n: i for i, n in enumerate(ids)}
    xy = [np.array([[G.nodes[n]["x"], G.nodes[n]["y"]] for n in ids], dtype=np.float64)]
    n_total = len(ids)
    pairs, lines, classes = _edge_polylines(G)
    simple = shapely.simplify(np.array(lines, dtype=object), bend_tolerance, preserve_topology=False)
    edge_set: dict[tuple[int, int], int] = {}
    for (u, v), line, cls in zip(pairs, simple, classes, strict=True):
        coords = shapely.get_coordinates(line)
        if u == v and len(coords) < 4:
            continue  # a loop too small to draw with straight edges
        chain = [index[u]]
        for p in coords[1:-1]:
            xy.append(p[None, :])
            chain.append(n_total)
            n_total += 1
        chain.append(index[v])
        for a, b in zip(chain[:-1], chain[1:], strict=True):
            key = (min(a, b), max(a, b))
            if a != b:
                edge_set[key] = min(cls, edge_set.get(key, cls))
    all_xy = np.concatenate(xy, axis=0)
    edge_set = _merge_coincident(all_xy, edge_set, merge_distance)
    keys = sorted(edge_set)
    edges = np.array(keys, dtype=np.int64).reshape(-1, 2)
    cls_arr = np.array([edge_set[k] for k in keys], dtype=np.int8)
    used = np.unique(edges)
    remap = np.full(n_total, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    xy_used = all_xy[used]
    hull = shapely.get_coordinates(shapely.convex_hull(shapely.multipoints(xy_used)))
    return RegionGraph(
        xy=xy_used,
        edges=remap[edges],
        classes=cls_arr,
        crs=str(G.graph["crs"]),
        hull=hull,
    )


def clean(G: nx.MultiDiGraph, tolerance: float = 10.0, bend_tolerance: float = 5.0) -> RegionGraph:
    """Raw OSM graph to a straight-edge region graph in metres (the whole cleaning stage).

    Parameters
    ----------
    G
        Raw graph from :mod:`data_prep.load`, EPSG:4326.
    tolerance
        Intersection consolidation distance in metres (0 to skip).
    bend_tolerance
        Douglas-Peucker tolerance for street bends, in metres.

    Raises
    ------
    InputDataError
        If no drivable street is left.
    """
    H = drivable(G)
    if H.number_of_edges() == 0:
        msg = "no drivable streets"
        raise InputDataError(msg)
    region = straighten(consolidated(H, tolerance), bend_tolerance)
    if region.n_edges == 0:
        msg = "no drivable streets left after cleaning"
        raise InputDataError(msg)
    return region
