"""Check a generated area for seam defects and for the hard rules over the whole network.

An area graph (:func:`citygen.area.generate_area`) is one layout-like graph in the area frame
(metres, origin at the south-west corner) with graph attributes ``width_m``, ``height_m`` and
``area_tile_m`` (the side of the tiles it was built from). :func:`check_area` counts, by kind:

- ``unjoined``: a node on an inner tile border whose streets all lie on one side of it (a
  street that stops at the seam, or a crossing joined on one side only); or an isolated node;
- ``near_duplicate``: two nodes closer than ``min_dist`` (duplicates where tiles meet);
- ``crossing``: two streets that meet other than at a shared end node (planarity);
- ``clearance``: a node within ``clearance`` of a street it does not end at;
- ``angle``: two streets at a seam node less than ``min_angle`` apart;
- ``degree``: a node with more than :data:`citygen.layout.MAX_DEGREE` streets;
- ``boundary``: a node on the area's outer edge without the ``border`` flag, or a flagged
  node that is not on it.

Inside a tile the sampler guarantees these rules; at seams only this check does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from scipy.spatial import cKDTree

from citygen.layout import MAX_DEGREE, node_positions

#: Distance in metres within which a node counts as lying on a tile border line.
ON_LINE_M = 1e-6
KINDS = ("unjoined", "near_duplicate", "crossing", "clearance", "angle", "degree", "boundary")


@dataclass(frozen=True)
class SeamReport:
    """Defects of an area, by kind (see the module docstring); ``examples`` holds node ids."""

    counts: dict[str, int]
    examples: dict[str, list] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of defects of all kinds."""
        return int(sum(self.counts.values()))

    def __str__(self) -> str:
        parts = [f"{k} {v}" for k, v in self.counts.items() if v]
        return "no seam defects" if not parts else "seam defects: " + ", ".join(parts)


def inner_lines(G: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """X positions of the inner vertical tile borders and y of the horizontal ones, metres."""
    t, w, h = (float(G.graph[k]) for k in ("area_tile_m", "width_m", "height_m"))
    xs = np.arange(1, math.ceil(w / t - 1e-9)) * t
    ys = np.arange(1, math.ceil(h / t - 1e-9)) * t
    return xs, ys


def _seam_nodes(G: nx.Graph, nodes: list, xy: np.ndarray) -> dict:
    """Node -> (axis, line) for nodes on an inner border line (axis 0: vertical line x)."""
    xs, ys = inner_lines(G)
    out = {}
    for axis, lines in ((0, xs), (1, ys)):
        for line in lines:
            for i in np.nonzero(np.abs(xy[:, axis] - line) <= ON_LINE_M)[0]:
                out[nodes[i]] = (axis, float(line))
    return out


def _unjoined(G: nx.Graph, seam: dict) -> list:
    bad = [n for n in G.nodes if G.degree(n) == 0]
    for n, (axis, line) in seam.items():
        key = "xy"[axis]
        sides = {np.sign(G.nodes[m][key] - line) for m in G.neighbors(n)}
        if not ({-1.0, 1.0} <= sides):
            bad.append(n)
    return bad


def _crossings(nodes: list, xy: np.ndarray, edges: np.ndarray) -> list:
    lines = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], 1))
    a, b = shapely.STRtree(lines).query(lines, predicate="intersects")
    bad = []
    for i, j in zip(a[a < b], b[a < b], strict=True):
        shared = set(edges[i].tolist()) & set(edges[j].tolist())
        if not shared or shapely.intersection(lines[i], lines[j]).geom_type != "Point":
            bad.append((nodes[edges[i, 0]], nodes[edges[i, 1]]))
    return bad


def _clearance(nodes: list, xy: np.ndarray, edges: np.ndarray, clearance: float) -> list:
    lines = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], 1))
    points = shapely.points(xy)
    p, e = shapely.STRtree(lines).query(points, predicate="dwithin", distance=clearance - 1e-6)
    keep = (edges[e, 0] != p) & (edges[e, 1] != p)
    return [nodes[i] for i in p[keep]]


def _angles(G: nx.Graph, seam: dict, min_angle: float) -> list:
    bad = []
    for n in seam:
        x, y = G.nodes[n]["x"], G.nodes[n]["y"]
        a = sorted(math.atan2(G.nodes[m]["y"] - y, G.nodes[m]["x"] - x) for m in G.neighbors(n))
        if len(a) < 2:
            continue
        gaps = np.diff(np.array([*a, a[0] + 2 * math.pi]))
        if float(gaps.min()) < math.radians(min_angle) - 1e-9:
            bad.append(n)
    return bad


def _boundary(G: nx.Graph, nodes: list, xy: np.ndarray) -> list:
    w, h = float(G.graph["width_m"]), float(G.graph["height_m"])
    on_edge = (
        (np.abs(xy[:, 0]) <= ON_LINE_M)
        | (np.abs(xy[:, 1]) <= ON_LINE_M)
        | (np.abs(xy[:, 0] - w) <= ON_LINE_M)
        | (np.abs(xy[:, 1] - h) <= ON_LINE_M)
    )
    flagged = np.array([bool(G.nodes[n].get("border", False)) for n in nodes], dtype=bool)
    return [nodes[i] for i in np.nonzero(on_edge != flagged)[0]]


def check_area(
    G: nx.Graph, min_dist: float = 10.0, clearance: float = 2.0, min_angle: float = 10.0
) -> SeamReport:
    """Count the seam defects and hard-rule breaks of an area graph.

    Parameters
    ----------
    G
        An area graph (graph attributes ``width_m``, ``height_m``, ``area_tile_m``).
    min_dist, clearance
        Least node distance and least street-node distance, metres.
    min_angle
        Least angle between streets at a seam node, degrees.

    Returns
    -------
    SeamReport
        Counts per kind (all zero for a clean area) and up to 5 example nodes or streets each.
    """
    nodes, xy = node_positions(G)
    index = {n: i for i, n in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges], dtype=int).reshape(-1, 2)
    seam = _seam_nodes(G, nodes, xy)
    found: dict[str, list] = {k: [] for k in KINDS}
    found["unjoined"] = _unjoined(G, seam)
    if len(xy) > 1:
        found["near_duplicate"] = [
            (nodes[i], nodes[j]) for i, j in sorted(cKDTree(xy).query_pairs(min_dist - 1e-6))
        ]
    if len(edges):
        found["crossing"] = _crossings(nodes, xy, edges)
        if clearance > 0:
            found["clearance"] = _clearance(nodes, xy, edges, clearance)
    found["angle"] = _angles(G, seam, min_angle)
    found["degree"] = [n for n in G.nodes if G.degree(n) > MAX_DEGREE]
    found["boundary"] = _boundary(G, nodes, xy)
    counts = {k: len(v) for k, v in found.items()}
    return SeamReport(counts, {k: v[:5] for k, v in found.items() if v})
