"""The canonical node order of a tile and the sequence format built on it.

Order: **border nodes first**, along the tile's perimeter counter-clockwise from the north-west
corner (west side top to bottom, south side west to east, east side bottom to top, north side
east to west); then the interior nodes in breadth-first order from the border. A node's
unvisited neighbours are visited by angle (counter-clockwise from east, around the node being
expanded), then by distance. Interior components that no border node reaches start from their
node nearest the tile's north-west corner. With this order a tile's finished west and south
neighbours fix a *prefix* of its sequence, and infill (all four sides known) fixes the whole
border, so conditioning is teacher-forcing a prefix.

A :class:`Sequence` step ``t`` holds node ``t``'s position normalised to ``[0, 1]`` (tile
frame), its border flag, and its edges to earlier nodes with their road classes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import networkx as nx
import numpy as np

from citygen.layout import CLASS_ID, ROAD_CLASSES, add_street, new_layout

_SIDE_EPS = 1e-9


@dataclass(frozen=True)
class Sequence:
    """One tile as an ordered spatial graph sequence.

    Attributes
    ----------
    pos
        Node positions normalised to ``[0, 1]`` in the tile frame, shape ``(n, 2)``, float64.
    border
        Border flag per node, shape ``(n,)``, bool. Border nodes come first.
    edges
        ``(i, j)`` pairs with ``j < i``: node ``i`` connects back to earlier node ``j``;
        shape ``(m, 2)``, int32, sorted by ``i`` then ``j``.
    classes
        Road class id per edge (index into ``ROAD_CLASSES``), shape ``(m,)``, int8.
    tile_size
        Tile side in metres (positions times this give metres).
    """

    pos: np.ndarray
    border: np.ndarray
    edges: np.ndarray
    classes: np.ndarray
    tile_size: float

    @property
    def n_nodes(self) -> int:
        """Number of node steps."""
        return int(self.pos.shape[0])

    @property
    def n_border(self) -> int:
        """Number of border nodes (the leading steps)."""
        return int(self.border.sum())

    def bandwidth(self) -> int:
        """Largest index gap ``i - j`` over edges (0 for a tile without edges)."""
        if self.edges.shape[0] == 0:
            return 0
        return int((self.edges[:, 0] - self.edges[:, 1]).max())


def perimeter_coordinate(x: float, y: float) -> float:
    """Position along the perimeter in ``[0, 4)``, counter-clockwise from the NW corner.

    Parameters
    ----------
    x, y
        Normalised position of a point on the tile border.
    """
    if x <= _SIDE_EPS:  # west side, top to bottom
        return (1.0 - y) % 4.0
    if y <= _SIDE_EPS:  # south side, west to east
        return 1.0 + x
    if x >= 1.0 - _SIDE_EPS:  # east side, bottom to top
        return 2.0 + y
    return (3.0 + (1.0 - x)) % 4.0  # north side, east to west


def _neighbour_key(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    dx, dy = float(q[0] - p[0]), float(q[1] - p[1])
    angle = math.atan2(dy, dx) % (2.0 * math.pi)
    return angle, math.hypot(dx, dy)


def canonical_order(G: nx.Graph) -> list[int]:
    """Return the nodes of a layout in canonical order (see the module docstring)."""
    size = float(G.graph["tile_size"])
    pos = {n: np.array([d["x"], d["y"]]) / size for n, d in G.nodes(data=True)}
    border = [n for n, d in G.nodes(data=True) if d.get("border", False)]
    border.sort(key=lambda n: (perimeter_coordinate(*pos[n]), n))
    order = list(border)
    seen = set(order)
    queue: deque[int] = deque(order)
    interior = sorted(
        (n for n in G.nodes if n not in seen),
        key=lambda n: (math.hypot(pos[n][0], 1.0 - pos[n][1]), n),
    )
    roots = iter(interior)
    while len(order) < G.number_of_nodes():
        if not queue:
            root = next(r for r in roots if r not in seen)
            seen.add(root)
            order.append(root)
            queue.append(root)
        node = queue.popleft()
        fresh = [m for m in G.neighbors(node) if m not in seen]
        fresh.sort(key=lambda m: (*_neighbour_key(pos[node], pos[m]), m))
        for m in fresh:
            seen.add(m)
            order.append(m)
            queue.append(m)
    return order


def to_sequence(G: nx.Graph) -> Sequence:
    """Turn a layout into its canonical sequence.

    Parameters
    ----------
    G
        A layout graph (:mod:`citygen.layout`).

    Returns
    -------
    Sequence
        Positions normalised by the tile size, edges pointing back to earlier nodes.
    """
    size = float(G.graph["tile_size"])
    order = canonical_order(G)
    index = {n: i for i, n in enumerate(order)}
    pos = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in order], dtype=np.float64)
    pos = pos.reshape(-1, 2) / size
    border = np.array([bool(G.nodes[n].get("border", False)) for n in order], dtype=bool)
    rows = sorted(
        (max(index[u], index[v]), min(index[u], index[v]), CLASS_ID[d["highway"]])
        for u, v, d in G.edges(data=True)
    )
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return Sequence(
        pos=pos,
        border=border,
        edges=arr[:, :2].astype(np.int32),
        classes=arr[:, 2].astype(np.int8),
        tile_size=size,
    )


def to_layout(seq: Sequence, **graph_attrs: object) -> nx.Graph:
    """Turn a sequence back into a layout graph; node ids are the step indices.

    This is the exact inverse of :func:`to_sequence` up to node relabelling: positions agree
    to float64 rounding, edges and road classes are equal.
    """
    G = new_layout(seq.tile_size, **graph_attrs)
    for i, ((x, y), b) in enumerate(zip(seq.pos, seq.border, strict=True)):
        G.add_node(i, x=float(x) * seq.tile_size, y=float(y) * seq.tile_size, border=bool(b))
    for (i, j), c in zip(seq.edges, seq.classes, strict=True):
        add_street(G, int(i), int(j), ROAD_CLASSES[int(c)])
    return G
