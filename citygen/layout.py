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
from typing import Any

import networkx as nx
import numpy as np

from citygen.errors import LayoutError

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


def as_layout(G: Any) -> nx.Graph:
    """Check a graph given as a layout; return it as an undirected simple :class:`nx.Graph`.

    A ``DiGraph``, ``MultiGraph`` or ``MultiDiGraph`` (osmnx's type) of a layout is turned into
    the undirected simple graph of the same streets first: two nodes joined in either
    direction, or more than once, are one street (the first edge's attributes are kept). So a
    layout has the same log-likelihood whatever graph type holds it.

    Parameters
    ----------
    G
        A layout (:mod:`citygen.layout`): graph attribute ``tile_size`` (metres, > 0), node
        ``x``, ``y`` in metres inside ``[0, tile_size]``, edge ``highway`` one of
        :data:`citygen.layout.ROAD_CLASSES` (map OSM tags with :func:`citygen.layout.road_class`).

    Raises
    ------
    LayoutError
        Naming the first problem: not a graph, no or bad ``tile_size``, no nodes, a node without
        finite ``x`` / ``y`` or outside the tile, a self-loop, an unknown road class.
    """
    if not isinstance(G, nx.Graph):
        msg = f"a layout must be a networkx graph, got {type(G).__name__}"
        raise LayoutError(msg)
    size = _tile_size(G)
    if G.number_of_nodes() == 0:
        msg = "the layout is empty (no nodes)"
        raise LayoutError(msg)
    for v, d in G.nodes(data=True):
        _check_node(v, d, size)
    H = nx.Graph()
    H.graph.update(G.graph)
    H.add_nodes_from(G.nodes(data=True))
    for u, v, d in G.edges(data=True):
        if u == v:
            msg = f"edge {u!r}-{v!r} is a self-loop; a layout's streets join two nodes"
            raise LayoutError(msg)
        if not H.has_edge(u, v):
            H.add_edge(u, v, **d)
    _check_classes(H)
    if not all(isinstance(v, int) for v in H.nodes):
        H = nx.convert_node_labels_to_integers(H)
    return H


def _tile_size(G: nx.Graph) -> float:
    if "tile_size" not in G.graph:
        msg = "the layout has no graph attribute 'tile_size' (tile side in metres)"
        raise LayoutError(msg)
    try:
        size = float(G.graph["tile_size"])
    except (TypeError, ValueError):
        msg = f"tile_size must be a number of metres, got {G.graph['tile_size']!r}"
        raise LayoutError(msg) from None
    if not (math.isfinite(size) and size > 0):
        msg = f"tile_size must be a finite number of metres > 0, got {size}"
        raise LayoutError(msg)
    return size


def _check_node(v: Any, d: dict, size: float) -> None:
    for key in ("x", "y"):
        if key not in d:
            msg = f"node {v!r} has no {key!r} coordinate (metres in the tile frame)"
            raise LayoutError(msg)
        try:
            value = float(d[key])
        except (TypeError, ValueError):
            msg = f"node {v!r} has a non-numeric {key!r}: {d[key]!r}"
            raise LayoutError(msg) from None
        if not math.isfinite(value):
            msg = f"node {v!r} has a non-finite {key!r}: {value}"
            raise LayoutError(msg)
        if not 0.0 <= value <= size:
            msg = (
                f"node {v!r} lies outside the tile: {key} = {value} m, not within "
                f"0..{size:g} m (tile_size)"
            )
            raise LayoutError(msg)


def _check_classes(G: nx.Graph) -> None:
    for u, v, d in G.edges(data=True):
        hw = d.get("highway")
        if hw not in ROAD_CLASSES:
            msg = (
                f"edge {u!r}-{v!r} has road class {hw!r}, not one of {', '.join(ROAD_CLASSES)} "
                "(citygen.layout.road_class maps OSM highway tags)"
            )
            raise LayoutError(msg)
