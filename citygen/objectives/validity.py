"""The sampler's hard rules, checked on a finished or partial layout (a safety net for steering).

Steering selects among sampled layouts; it must never select one that breaks a hard rule, even
where the sampler's masks miss a case. :func:`is_valid` checks, independently of the sampler:
streets meet only at shared end nodes (planar drawing), no two nodes are closer than the
minimum distance, no two streets overlap (duplicates), no street has zero length.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely
from scipy.spatial import cKDTree

#: The sampler's default minimum node distance, metres (``SampleConfig.min_dist``).
MIN_DIST = 10.0


def is_valid(G: nx.Graph, min_dist: float = MIN_DIST) -> bool:
    """Whether a layout obeys the hard rules (see the module docstring).

    Parameters
    ----------
    G
        A layout graph (node ``x``, ``y`` in metres).
    min_dist
        Least distance between two nodes, metres.

    Returns
    -------
    bool
    """
    nodes = list(G.nodes)
    xy = np.array([(G.nodes[v]["x"], G.nodes[v]["y"]) for v in nodes], dtype=float).reshape(-1, 2)
    if len(xy) > 1 and cKDTree(xy).query_pairs(min_dist - 1e-6):
        return False
    index = {v: i for i, v in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges], dtype=int).reshape(-1, 2)
    if len(edges) == 0:
        return True
    if (np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=-1) <= 0).any():
        return False
    lines = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], 1))
    a, b = shapely.STRtree(lines).query(lines, predicate="intersects")
    pairs = a < b
    for i, j in zip(a[pairs], b[pairs], strict=True):
        shared = set(edges[i].tolist()) & set(edges[j].tolist())
        if not shared or shapely.intersection(lines[i], lines[j]).geom_type != "Point":
            return False
    return True


def validity_mask(layouts: list[nx.Graph], min_dist: float = MIN_DIST) -> np.ndarray:
    """:func:`is_valid` of each layout, ``(n,)`` bool."""
    return np.array([is_valid(G, min_dist) for G in layouts], dtype=bool)
