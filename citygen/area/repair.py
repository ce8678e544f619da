"""The last repair of an area: no street passes within ``clearance`` of a node it does not end at.

The sampler keeps this rule inside each tile, but rarely lets a near-miss through (a street at
1.9 m of a node, about one in a few thousand nodes of the current default model): an area of
many tiles then fails :func:`citygen.area.check_area`. Such a street is removed (the pieces it
joined are joined again by the connectors that run after this repair).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely


def drop_clearance_breaks(A: nx.Graph, clearance: float) -> int:
    """Remove every street that passes within ``clearance`` metres of a node it does not end at.

    Parameters
    ----------
    A
        The area graph (node ``x``, ``y`` in metres), changed in place.
    clearance
        Least distance, metres, between a street and a node it does not end at.

    Returns
    -------
    int
        Streets removed.
    """
    if clearance <= 0 or A.number_of_edges() == 0:
        return 0
    nodes = list(A.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    xy = np.array([(A.nodes[n]["x"], A.nodes[n]["y"]) for n in nodes])
    edges = list(A.edges)
    ends = np.array([(index[u], index[v]) for u, v in edges])
    lines = shapely.linestrings(np.stack([xy[ends[:, 0]], xy[ends[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    pi, li = tree.query(shapely.points(xy), predicate="dwithin", distance=clearance * (1 - 1e-9))
    own = (ends[li, 0] == pi) | (ends[li, 1] == pi)
    bad = sorted(set(li[~own].tolist()))
    A.remove_edges_from([edges[i] for i in bad])
    A.remove_nodes_from([n for n in list(A.nodes) if A.degree(n) == 0])
    return len(bad)
