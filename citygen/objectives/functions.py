"""Objective functions: what a planner wants from a street layout, as numbers with units.

Each objective takes a layout graph (:mod:`citygen.layout`: node ``x``/``y`` in metres, a
``border`` flag, edge ``highway`` class and ``length`` in metres) and returns a float:

- :func:`connectivity` (unitless, ``[0, 1]``, maximise): the mean of the share of nodes in the
  largest connected component, one minus the dead-end share, and the meshedness.
- :func:`travel_time` (seconds, minimise): mean free-flow door-to-door time between seeded
  random origin-destination points of the tile (see :func:`travel_report`).
- :func:`length` (km, minimise): total street length, a construction-cost proxy.

Border nodes are where streets leave the tile: they are never dead ends. Curved streets are
chains through degree-2 "bend" nodes; meshedness counts junctions and ends only, so bends do
not change it (as Boeing 2019 computes it on simplified graphs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from citygen.layout import ROAD_CLASSES

#: Free-flow speed by road class, km/h (urban limits; ``other`` as ``service``).
SPEED_KMH: dict[str, float] = {
    "motorway": 100.0,
    "trunk": 80.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "residential": 30.0,
    "service": 20.0,
    "other": 20.0,
}
#: Walking speed, km/h: the access legs between an OD point and its nearest street node, and
#: the whole trip when no street route joins the two (the unreachable-pair penalty).
WALK_KMH = 5.0
#: Origin-destination pairs per tile, and the seed that draws them (the same pairs for every
#: layout of a tile size, so layouts are compared on common trips).
N_PAIRS = 64
OD_SEED = 0

_SPEED_MS = np.array([SPEED_KMH[c] / 3.6 for c in ROAD_CLASSES])
_CLASS_INDEX = {c: i for i, c in enumerate(ROAD_CLASSES)}


@dataclass(frozen=True)
class Arrays:
    """A layout as arrays.

    Positions ``xy (n, 2)`` in metres, ``border (n,)``, ``edges (m, 2)`` as node positions in
    these arrays (not graph ids), street ``length (m,)`` in metres and class ids ``cls (m,)``.
    """

    xy: np.ndarray
    border: np.ndarray
    edges: np.ndarray
    length: np.ndarray
    cls: np.ndarray
    tile_size: float

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.xy.shape[0])


def as_arrays(G: nx.Graph) -> Arrays:
    """Convert a layout graph to :class:`Arrays` (node order as ``G.nodes``)."""
    nodes = list(G.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    xy = np.array([(G.nodes[v]["x"], G.nodes[v]["y"]) for v in nodes], dtype=np.float64).reshape(
        -1, 2
    )
    border = np.array([bool(G.nodes[v].get("border", False)) for v in nodes], dtype=bool)
    data = list(G.edges(data=True))
    edges = np.array([(index[u], index[v]) for u, v, _ in data], dtype=np.int64).reshape(-1, 2)
    length = np.array([float(d.get("length", 0.0)) for _, _, d in data], dtype=np.float64)
    cls = np.array(
        [_CLASS_INDEX.get(d.get("highway", "other"), _CLASS_INDEX["other"]) for _, _, d in data]
    )
    tile_size = float(G.graph.get("tile_size", 1000.0))
    return Arrays(xy, border, edges, length, cls.astype(np.int64), tile_size)


def _adjacency(a: Arrays, weight: np.ndarray) -> csr_matrix:
    """Symmetric sparse adjacency ``(n, n)`` with the given edge weights."""
    u, v = a.edges[:, 0], a.edges[:, 1]
    w = np.maximum(weight, 1e-9)  # csgraph drops explicit zeros: keep zero-length edges as edges
    return csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(a.n, a.n)
    )


def _degrees(a: Arrays) -> np.ndarray:
    return np.bincount(a.edges.ravel(), minlength=a.n)


# ------------------------------------------------------------------------------ connectivity
def giant_share(G: nx.Graph | Arrays) -> float:
    """Share of nodes in the largest connected component, in ``[0, 1]`` (0 for no nodes)."""
    a = G if isinstance(G, Arrays) else as_arrays(G)
    if a.n == 0:
        return 0.0
    _, labels = connected_components(_adjacency(a, a.length), directed=False)
    return float(np.bincount(labels).max() / a.n)


def dead_end_share(G: nx.Graph | Arrays) -> float:
    """Share of interior (non-border) nodes with at most one street, in ``[0, 1]``.

    Isolated interior nodes count as dead ends; border nodes never do (their street goes on
    outside the tile). 0 when there is no interior node.
    """
    a = G if isinstance(G, Arrays) else as_arrays(G)
    inner = ~a.border
    if not inner.any():
        return 0.0
    return float((_degrees(a)[inner] <= 1).mean())


def meshedness(G: nx.Graph | Arrays) -> float:
    """Meshedness ``(e - n + c) / (2n - 5)`` of the junction graph, in ``[0, 1]``.

    Interior degree-2 nodes (bends) are suppressed first: this keeps the cyclomatic number
    ``e - n + c`` and counts only junctions, ends and border nodes in ``n`` (a loop made only
    of bends counts as one node). With fewer than 3 such nodes the value is 1 if the graph has
    a cycle, else 0. 1 is a maximal planar (triangulated) network, 0 a forest.
    """
    a = G if isinstance(G, Arrays) else as_arrays(G)
    if a.n == 0:
        return 0.0
    n_comp, labels = connected_components(_adjacency(a, a.length), directed=False)
    cycles = a.edges.shape[0] - a.n + n_comp
    keep = a.border | (_degrees(a) != 2)
    pure_loops = n_comp - np.unique(labels[keep]).size
    n_junction = int(keep.sum()) + pure_loops
    if n_junction < 3:
        return 1.0 if cycles > 0 else 0.0
    return float(np.clip(cycles / (2 * n_junction - 5), 0.0, 1.0))


def connectivity(G: nx.Graph | Arrays) -> float:
    """Score connectivity in ``[0, 1]``, higher is better.

    The mean of :func:`giant_share`, ``1 -`` :func:`dead_end_share` and :func:`meshedness`.
    A 4x4 grid scores ``(1 + 1 + 9/19) / 3``; an empty layout scores 0.
    """
    a = G if isinstance(G, Arrays) else as_arrays(G)
    if a.n == 0:
        return 0.0
    return (giant_share(a) + 1.0 - dead_end_share(a) + meshedness(a)) / 3.0


# ------------------------------------------------------------------------------- travel time
@lru_cache(maxsize=16)
def od_pairs(tile_size: float, n_pairs: int = N_PAIRS, seed: int = OD_SEED) -> np.ndarray:
    """Seeded origin-destination points, uniform in the tile: ``(n_pairs, 2, 2)`` metres."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0.0, tile_size, size=(n_pairs, 2, 2))
    pts.setflags(write=False)
    return pts


@dataclass(frozen=True)
class TravelReport:
    """Trips between OD points of one layout.

    Attributes
    ----------
    mean_time_s
        Mean door-to-door time in seconds (the ``travel_time`` objective).
    detour_ratio
        Mean street distance over straight-line distance between the OD pairs' nearest nodes,
        over pairs joined by streets with distinct nodes (>= 1; NaN if there is none).
    unreachable_share
        Share of pairs with no street route between their nearest nodes (walked instead).
    """

    mean_time_s: float
    detour_ratio: float
    unreachable_share: float


def travel_report(G: nx.Graph | Arrays, pairs: np.ndarray | None = None) -> TravelReport:
    """Free-flow travel between origin-destination points of a layout.

    A trip walks (:data:`WALK_KMH`) straight from its origin to the nearest street node,
    drives the fastest street route at :data:`SPEED_KMH` of each road class, and walks from
    the last node to the destination; if walking the straight line is faster, or no street
    route joins the two nodes (unreachable: the penalty), the trip is walked. So a layout
    that leaves part of the tile without streets, or splits into pieces, pays in time.

    Parameters
    ----------
    G
        A layout.
    pairs
        OD points ``(k, 2, 2)`` in metres; default :func:`od_pairs` for the tile size.

    Returns
    -------
    TravelReport
    """
    a = G if isinstance(G, Arrays) else as_arrays(G)
    pairs = od_pairs(a.tile_size) if pairs is None else np.asarray(pairs, dtype=np.float64)
    walk = WALK_KMH / 3.6
    direct = np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=-1)  # (k,)
    if a.n == 0:
        return TravelReport(float((direct / walk).mean()), math.nan, 1.0)
    d_near = np.linalg.norm(pairs[:, :, None, :] - a.xy[None, None], axis=-1)  # (k, 2, n)
    near = d_near.argmin(-1)  # (k, 2)
    access = np.take_along_axis(d_near, near[..., None], -1)[..., 0].sum(-1)  # (k,)
    src, inv = np.unique(near[:, 0], return_inverse=True)
    t_net = dijkstra(_adjacency(a, a.length / _SPEED_MS[a.cls]), directed=False, indices=src)
    d_net = dijkstra(_adjacency(a, a.length), directed=False, indices=src)
    drive = t_net[inv, near[:, 1]]  # (k,) seconds; inf if unreachable
    reachable = np.isfinite(drive)
    trip = np.minimum(direct / walk, access / walk + np.where(reachable, drive, np.inf))
    straight = np.linalg.norm(a.xy[near[:, 0]] - a.xy[near[:, 1]], axis=-1)
    ok = reachable & (near[:, 0] != near[:, 1]) & (straight > 0)
    detour = float((d_net[inv, near[:, 1]][ok] / straight[ok]).mean()) if ok.any() else math.nan
    return TravelReport(float(trip.mean()), detour, float(1.0 - reachable.mean()))


def travel_time(G: nx.Graph | Arrays) -> float:
    """Mean free-flow door-to-door travel time in seconds, lower is better.

    See :func:`travel_report` for the trips, speeds and the unreachable-pair penalty.
    """
    return travel_report(G).mean_time_s


def detour_ratio(G: nx.Graph | Arrays) -> float:
    """Mean street over straight-line distance of the OD trips (:func:`travel_report`)."""
    return travel_report(G).detour_ratio


# ------------------------------------------------------------------------------------ length
def length(G: nx.Graph | Arrays) -> float:
    """Total street length in kilometres, lower is cheaper to build."""
    a = G if isinstance(G, Arrays) else as_arrays(G)
    return float(a.length.sum() / 1000.0)
