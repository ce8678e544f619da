"""The layout graph: the one street-network representation every stage shares.

A *layout* is an undirected :class:`networkx.Graph` drawn with straight edges in a square tile:

- graph attribute ``tile_size``: side of the tile in metres; optional ``crs`` (the projected
  CRS the tile was cut from), ``origin`` (tile centre in that CRS, metres), ``rotation``
  (radians, counter-clockwise, from tile frame to CRS frame), ``reflect`` (bool) and ``source``.
- node attributes ``x``, ``y``: position in metres in the tile frame, origin at the tile's
  south-west corner, both in ``[0, tile_size]``; ``border`` (bool): the node is where a street
  leaves the tile.
- edge attributes ``highway``: one of :data:`ROAD_CLASSES`; ``length``: metres (straight).

Curved streets are drawn as chains of straight edges through degree-2 "bend" nodes, so every
edge is a straight segment and planarity is a property of the drawing itself.

Generated layouts, prepared real tiles, exporters, metrics and objectives all speak this format;
nothing in it depends on the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import networkx as nx
import numpy as np

#: Road classes, in decreasing order of importance; the index is the class id in sequences.
ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "service",
    "other",
)
CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(ROAD_CLASSES)}
#: Most streets at one node of a generated layout (sampler and dead-end repair): the largest
#: degree in the 13-city corpus is 8 (of about 36,000 nodes, 10 have 7 or 8 streets).
MAX_DEGREE = 8

_HIGHWAY_TO_CLASS: dict[str, str] = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "trunk",
    "trunk_link": "trunk",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "residential": "residential",
    "living_street": "residential",
    "service": "service",
}


def road_class(highway: str | Iterable[str] | None) -> str:
    """Map an OSM ``highway`` value (or a list of them, as osmnx merges) to a road class.

    Parameters
    ----------
    highway
        The tag value, a list of values, or None.

    Returns
    -------
    str
        The most important class among the values; ``"other"`` for unknown values.
    """
    if highway is None:
        return "other"
    values = [highway] if isinstance(highway, str) else list(highway)
    classes = [_HIGHWAY_TO_CLASS.get(str(v), "other") for v in values]
    return min(classes, key=CLASS_ID.__getitem__) if classes else "other"


def new_layout(tile_size: float, **graph_attrs: object) -> nx.Graph:
    """Return an empty layout graph for a square tile of ``tile_size`` metres."""
    return nx.Graph(tile_size=float(tile_size), **graph_attrs)


def add_street(G: nx.Graph, u: int, v: int, highway: str) -> None:
    """Add a straight street between existing nodes ``u`` and ``v``, with its length in metres."""
    length = math.hypot(G.nodes[u]["x"] - G.nodes[v]["x"], G.nodes[u]["y"] - G.nodes[v]["y"])
    G.add_edge(u, v, highway=highway, length=length)


def node_positions(G: nx.Graph) -> tuple[list[int], np.ndarray]:
    """Return the node ids and their positions in metres, shape ``(n, 2)``."""
    nodes = list(G.nodes)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes], dtype=np.float64)
    return nodes, xy.reshape(-1, 2)


def total_length_m(G: nx.Graph) -> float:
    """Total street length of a layout in metres."""
    return float(sum(d["length"] for _, _, d in G.edges(data=True)))
