"""Street statistics of one layout, each a number or a normalised histogram with units.

A layout (:mod:`citygen.layout`) draws curved streets as chains of straight edges through
degree-2 *bend* nodes, and ends streets that leave the tile in *border* nodes. The statistics
follow Boeing (2019, "Urban spatial order") on the street network as a planner reads it:

- *junctions* are interior nodes whose degree is not 2 (intersections and dead ends); bends and
  border nodes are not junctions;
- a *street segment* runs from one junction or border node to the next through bends (osmnx's
  simplified edge), whatever the road class of its pieces;
- bearings, intersection angles and blocks use the straight edges themselves, so curves count
  with their true direction and shape.

Every function takes :class:`~citygen.objectives.functions.Arrays` (see :func:`arrays`) and is
pure. :data:`STATISTICS` lists what :func:`layout_stats` computes for the distance report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra

from citygen.objectives.functions import Arrays, _adjacency, _degrees, as_arrays
from citygen.objectives.functions import meshedness as _meshedness

#: Bearing bins (10 degrees each over 0-360, centred on multiples of 10 as in osmnx).
BEARING_BINS = 36
#: Orientation entropy of a perfect four-way grid and of a uniform bearing histogram, nats.
ENTROPY_GRID = math.log(4)
ENTROPY_MAX = math.log(BEARING_BINS)
#: Node pairs per layout for circuity, their least straight-line distance (m) and the seed.
CIRCUITY_PAIRS = 64
CIRCUITY_MIN_M = 100.0
CIRCUITY_SEED = 0


def arrays(G: nx.Graph | Arrays) -> Arrays:
    """A layout graph as :class:`Arrays` (positions, border flags, edges, lengths, classes)."""
    return G if isinstance(G, Arrays) else as_arrays(G)


def junction_mask(a: Arrays) -> np.ndarray:
    """``(n,)`` bool: interior nodes whose degree is not 2 and not 0 (junctions and dead ends)."""
    deg = _degrees(a)
    return ~a.border & (deg != 2) & (deg > 0)


def tile_area_km2(a: Arrays) -> float:
    """Area of the tile, km2."""
    return (a.tile_size / 1000.0) ** 2


# --------------------------------------------------------------------------------- degrees
def junction_degrees(G: nx.Graph | Arrays) -> np.ndarray:
    """Degrees of the junctions (see the module docstring), ``(k,)`` int; streets per node."""
    a = arrays(G)
    return _degrees(a)[junction_mask(a)]


# -------------------------------------------------------------------------------- segments
@dataclass(frozen=True)
class Segments:
    """Street segments between junctions/border nodes.

    ``ends (s, 2)`` node indices, ``length (s,)`` network length in metres, ``straight (s,)``
    straight-line distance between the ends in metres.
    """

    ends: np.ndarray
    length: np.ndarray
    straight: np.ndarray


def segments(G: nx.Graph | Arrays) -> Segments:
    """Merge bend chains into street segments (see the module docstring).

    A ring made only of bends becomes one segment from a node back to itself (straight 0).
    """
    a = arrays(G)
    deg = _degrees(a)
    stop = a.border | (deg != 2)
    nbrs: list[list[tuple[int, int]]] = [[] for _ in range(a.n)]
    for i, (u, v) in enumerate(a.edges.tolist()):
        nbrs[u].append((v, i))
        nbrs[v].append((u, i))
    used = np.zeros(len(a.edges), dtype=bool)
    ends, lengths = [], []

    def walk(start: int, nxt: int, e: int) -> None:
        total, here = 0.0, nxt
        used[e] = True
        total += a.length[e]
        while not stop[here] and here != start:
            (w1, e1), (w2, e2) = nbrs[here]
            w, e = (w2, e2) if e1 == e else (w1, e1)
            if used[e]:
                break
            used[e] = True
            total += a.length[e]
            here = w
        ends.append((start, here))
        lengths.append(total)

    for s in np.flatnonzero(stop).tolist():
        for w, e in nbrs[s]:
            if not used[e]:
                walk(s, w, e)
    for e in np.flatnonzero(~used).tolist():  # rings of bends
        if not used[e]:
            u, v = a.edges[e]
            walk(int(u), int(v), e)
    ends_a = np.array(ends, dtype=np.int64).reshape(-1, 2)
    straight = np.linalg.norm(a.xy[ends_a[:, 0]] - a.xy[ends_a[:, 1]], axis=1)
    return Segments(ends_a, np.array(lengths, dtype=np.float64), straight)


def segment_lengths(G: nx.Graph | Arrays) -> np.ndarray:
    """Network length of every street segment, metres, ``(s,)``."""
    return segments(G).length


# -------------------------------------------------------------------------------- bearings
def _edge_vectors(a: Arrays) -> np.ndarray:
    return a.xy[a.edges[:, 1]] - a.xy[a.edges[:, 0]]


def bearing_histogram(G: nx.Graph | Arrays, bins: int = BEARING_BINS) -> np.ndarray:
    """Length-weighted street bearing histogram, ``(bins,)`` summing to 1 (zeros if no street).

    Compass bearings (degrees clockwise from north, the tile's +y axis) of every straight edge,
    counted in both directions (as osmnx does for undirected streets), in bins of ``360/bins``
    degrees centred on multiples of ``360/bins`` (bin 0 is north, ``[-5, 5)`` for 36 bins).
    """
    a = arrays(G)
    d = _edge_vectors(a)
    w = np.hypot(d[:, 0], d[:, 1])
    if w.sum() <= 0:
        return np.zeros(bins)
    bearing = np.degrees(np.arctan2(d[:, 0], d[:, 1])) % 360.0
    both = np.concatenate([bearing, (bearing + 180.0) % 360.0])
    width = 360.0 / bins
    idx = np.floor(((both + width / 2) % 360.0) / width).astype(np.int64) % bins
    h = np.bincount(idx, weights=np.concatenate([w, w]), minlength=bins)
    return h / h.sum()


def orientation_entropy(G: nx.Graph | Arrays) -> float:
    """Shannon entropy of the bearing histogram (36 bins), nats, in ``[log 4, log 36]`` for a grid
    to a uniform spread (Boeing 2019); 0 for a layout without streets.
    """
    h = bearing_histogram(G)
    p = h[h > 0]
    return float(-(p * np.log(p)).sum()) if p.size else 0.0


def orientation_order(G: nx.Graph | Arrays) -> float:
    """Orientation order ``1 - ((H - H_g) / (H_max - H_g))**2`` (Boeing 2019), unitless.

    1 for a perfect four-way grid, 0 for bearings spread uniformly; clipped to ``[0, 1]``.
    """
    h = orientation_entropy(G)
    return float(np.clip(1.0 - ((h - ENTROPY_GRID) / (ENTROPY_MAX - ENTROPY_GRID)) ** 2, 0.0, 1.0))


# ---------------------------------------------------------------------------------- angles
def intersection_angles(G: nx.Graph | Arrays) -> np.ndarray:
    """Angles between neighbouring streets at intersections, degrees, ``(k,)``.

    At every junction with three or more streets, the streets are sorted by direction (of their
    first straight edge) and the angle from each to the next counter-clockwise is reported; the
    angles of one intersection sum to 360 (a four-way grid crossing gives four 90s, a T gives
    90, 90, 180).
    """
    a = arrays(G)
    deg = _degrees(a)
    hubs = junction_mask(a) & (deg >= 3)
    if not hubs.any():
        return np.zeros(0)
    u, v = a.edges[:, 0], a.edges[:, 1]
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    keep = hubs[src]
    src, dst = src[keep], dst[keep]
    d = a.xy[dst] - a.xy[src]
    ang = np.arctan2(d[:, 1], d[:, 0])
    order = np.lexsort((ang, src))
    src, ang = src[order], ang[order]
    first = np.r_[True, src[1:] != src[:-1]]
    last = np.r_[src[1:] != src[:-1], True]
    nxt = np.r_[ang[1:], 0.0]
    start_of = np.maximum.accumulate(np.where(first, np.arange(len(src)), 0))
    nxt = np.where(last, ang[start_of] + 2 * math.pi, nxt)
    return np.degrees(nxt - ang)


# ------------------------------------------------------------------------------- circuity
def circuity(
    G: nx.Graph | Arrays, n_pairs: int = CIRCUITY_PAIRS, seed: int = CIRCUITY_SEED
) -> float:
    """Mean ratio of network to straight-line distance between node pairs, unitless (>= 1).

    Pairs are drawn (seeded) among junctions and border nodes joined by streets and at least
    ``CIRCUITY_MIN_M`` apart; NaN when the layout has no such pair.
    """
    a = arrays(G)
    seg = segments(a)
    cand = np.flatnonzero(a.border | junction_mask(a))
    if cand.size < 2 or seg.ends.size == 0:
        return float("nan")
    adj = _adjacency(
        Arrays(
            a.xy, a.border, seg.ends, seg.length, np.zeros(len(seg.length), np.int64), a.tile_size
        ),
        seg.length,
    )
    _, labels = connected_components(adj, directed=False)
    rng = np.random.default_rng(seed)
    i = rng.choice(cand, size=4 * n_pairs)
    j = rng.choice(cand, size=4 * n_pairs)
    straight = np.linalg.norm(a.xy[i] - a.xy[j], axis=1)
    ok = (labels[i] == labels[j]) & (straight >= CIRCUITY_MIN_M)
    i, j, straight = i[ok][:n_pairs], j[ok][:n_pairs], straight[ok][:n_pairs]
    if i.size == 0:
        return float("nan")
    src, inv = np.unique(i, return_inverse=True)
    dist = dijkstra(adj, directed=False, indices=src)
    net = dist[inv, j]
    return float(np.mean(net / straight))


# -------------------------------------------------------------------------------- densities
def intersection_density(G: nx.Graph | Arrays) -> float:
    """Junctions with three or more streets per km2 of tile."""
    a = arrays(G)
    return float((junction_mask(a) & (_degrees(a) >= 3)).sum() / tile_area_km2(a))


def street_density(G: nx.Graph | Arrays) -> float:
    """Street length per tile area, km per km2."""
    a = arrays(G)
    return float(a.length.sum() / 1000.0 / tile_area_km2(a))


def dead_end_share(G: nx.Graph | Arrays) -> float:
    """Share of junctions that are dead ends (one street), in ``[0, 1]``; 0 without junctions.

    Junctions as in the module docstring: border nodes and bends are left out, so the share is
    the one osmnx reports on a simplified graph. (The connectivity *objective* counts bends in
    the denominator, :func:`citygen.objectives.functions.dead_end_share`.)
    """
    a = arrays(G)
    deg = _degrees(a)[junction_mask(a)]
    return float((deg == 1).mean()) if deg.size else 0.0


def meshedness(G: nx.Graph | Arrays) -> float:
    """Meshedness ``(e - n + c) / (2n - 5)`` of the junction graph, in ``[0, 1]``."""
    return _meshedness(arrays(G))


# ---------------------------------------------------------------------------------- blocks
def block_areas(G: nx.Graph | Arrays) -> np.ndarray:
    """Areas of the blocks (faces enclosed by streets), m2, ``(k,)``.

    The straight edges are polygonized (shapely); a face open to the tile border is not a block.
    """
    a = arrays(G)
    if len(a.edges) < 3:
        return np.zeros(0)
    lines = shapely.linestrings(np.stack([a.xy[a.edges[:, 0]], a.xy[a.edges[:, 1]]], axis=1))
    faces = shapely.get_parts(shapely.polygonize(lines))
    return shapely.area(faces) if len(faces) else np.zeros(0)
