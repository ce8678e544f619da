"""Simple street-layout generators to compare a model against, at matched node density.

Each draws a street network over a square somewhat larger than the tile and cuts the tile out
of it with the same border rules as real data (:func:`data_prep.tiles.cut`), so all layouts
have border nodes where streets leave the tile. ``density`` is the number of junctions
(intersections and dead ends) per km2 to aim for, measured on real training tiles
(:func:`junction_density`).

- :func:`jittered_grid`: a square grid with the matched spacing, randomly rotated, every node
  moved by Gaussian noise (a tenth of the spacing).
- :func:`random_planar`: uniform random points, Delaunay triangulation, edges removed in random
  order while both ends have more streets than a degree drawn from the real degree distribution
  (a random planar graph of matched density and degrees).
- :func:`growth`: procedural growth in the spirit of Parish and Mueller (2001): straight
  segments extend from a few seeds, continue nearly straight and branch at right angles, stop at
  the first street they cross (making a T junction) and snap to a nearby node.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import networkx as nx
import numpy as np
from scipy.spatial import Delaunay

from citygen.layout import CLASS_ID
from citygen.metrics.stats import junction_degrees, junction_mask, tile_area_km2
from citygen.objectives.functions import Arrays
from data_prep.clean import RegionGraph
from data_prep.tiles import TileSpec, cut

#: Side of the drawn square relative to the tile.
MARGIN = 1.5
_RESIDENTIAL = CLASS_ID["residential"]


def junction_density(layouts: list[Arrays]) -> float:
    """Mean junctions per km2 over a set of layouts."""
    return float(np.mean([junction_mask(a).sum() / tile_area_km2(a) for a in layouts]))


def degree_distribution(layouts: list[Arrays]) -> np.ndarray:
    """Share of junctions with 1..6 streets (index 0 is degree 1), summing to 1."""
    deg = np.concatenate([junction_degrees(a) for a in layouts])
    counts = np.bincount(np.clip(deg, 1, 6) - 1, minlength=6).astype(float)
    return counts / counts.sum()


def _cut(xy: np.ndarray, edges: np.ndarray, tile_size: float, rng: np.random.Generator) -> nx.Graph:
    """Cut a tile (random rotation) out of a network drawn around the origin."""
    edges = np.sort(np.asarray(edges, dtype=np.int64).reshape(-1, 2), axis=1)
    edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)
    half = MARGIN * tile_size / 2
    hull = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    region = RegionGraph(
        xy.astype(np.float64), edges, np.full(len(edges), _RESIDENTIAL, np.int8), "EPSG:3857", hull
    )
    spec = TileSpec((0.0, 0.0), tile_size, rotation=float(rng.uniform(0, 2 * math.pi)))
    G = cut(region, spec, source="baseline")
    for k in ("crs", "center"):
        G.graph.pop(k, None)
    return G


def jittered_grid(tile_size: float, density: float, rng: np.random.Generator) -> nx.Graph:
    """A rotated square grid with jittered nodes (see the module docstring)."""
    spacing = 1000.0 / math.sqrt(max(density, 1e-6))
    k = int(math.ceil(MARGIN * tile_size / spacing / 2)) + 1
    ij = np.stack(
        np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1), indexing="ij"), -1
    ).reshape(-1, 2)
    xy = ij * spacing + rng.normal(0, 0.1 * spacing, size=ij.shape) + rng.uniform(0, spacing, 2)
    side = 2 * k + 1
    idx = np.arange(side * side).reshape(side, side)
    edges = np.concatenate(
        [
            np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1),
            np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1),
        ]
    )
    return _cut(xy, edges, tile_size, rng)


def random_planar(
    tile_size: float, density: float, degrees: np.ndarray, rng: np.random.Generator
) -> nx.Graph:
    """Delaunay triangulation thinned to the real degree distribution (see the module docstring)."""
    side = MARGIN * tile_size
    n = max(4, rng.poisson(density * (side / 1000.0) ** 2))
    xy = rng.uniform(-side / 2, side / 2, size=(n, 2))
    tri = Delaunay(xy).simplices
    edges = np.unique(
        np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0
    )
    target = rng.choice(np.arange(1, 7), size=n, p=degrees)
    deg = np.bincount(edges.ravel(), minlength=n)
    keep = np.ones(len(edges), dtype=bool)
    for e in rng.permutation(len(edges)):
        u, v = edges[e]
        if deg[u] > target[u] and deg[v] > target[v]:
            keep[e] = False
            deg[u] -= 1
            deg[v] -= 1
    return _cut(xy, edges[keep], tile_size, rng)


def _cross(
    p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``t`` along p->q and ``s`` along each a->b of segment intersections (NaN if none)."""
    r, d = q - p, b - a
    den = r[0] * d[:, 1] - r[1] * d[:, 0]
    w = a - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (w[:, 0] * d[:, 1] - w[:, 1] * d[:, 0]) / den
        s = (w[:, 0] * r[1] - w[:, 1] * r[0]) / den
    hit = (np.abs(den) > 1e-12) & (t > 1e-9) & (t <= 1 + 1e-9) & (s > 1e-9) & (s < 1 - 1e-9)
    return np.where(hit, t, np.nan), np.where(hit, s, np.nan)


def growth(
    tile_size: float, density: float, rng: np.random.Generator, min_dist: float = 10.0
) -> nx.Graph:
    """Procedural street growth (see the module docstring)."""
    side = MARGIN * tile_size
    half = side / 2
    target = max(8, int(density * (side / 1000.0) ** 2 * 1.15))
    step = 1000.0 / math.sqrt(max(density, 1e-6))
    snap = 0.4 * step
    xy = np.zeros((target + 8, 2))
    e = np.zeros((4 * target + 16, 2), dtype=np.int64)
    n = m = 0
    have: set[tuple[int, int]] = set()
    queue: deque[tuple[int, float]] = deque()

    def add_edge(u: int, v: int) -> None:
        nonlocal m
        key = (min(u, v), max(u, v))
        if u != v and key not in have:
            have.add(key)
            e[m] = key
            m += 1

    for _ in range(3):
        xy[n] = rng.uniform(-half / 2, half / 2, 2)
        a = rng.uniform(0, 2 * math.pi)
        queue.extend([(n, a), (n, a + math.pi)])
        n += 1
    while queue and n < target:
        node, ang = queue.popleft()
        ang += rng.normal(0, 0.05)
        p = xy[node]
        q = p + rng.uniform(0.6, 1.4) * step * np.array([math.cos(ang), math.sin(ang)])
        if np.abs(q).max() > half:
            continue
        ee = e[:m]
        if m:
            t, _ = _cross(p, q, xy[ee[:, 0]], xy[ee[:, 1]])
            t[(ee[:, 0] == node) | (ee[:, 1] == node)] = np.nan
            if np.isfinite(t).any():  # stop at the first street crossed: a T junction
                k = int(np.nanargmin(t))
                x = p + t[k] * (q - p)
                a_, b_ = int(ee[k, 0]), int(ee[k, 1])
                near = [w for w in (a_, b_) if np.linalg.norm(xy[w] - x) < min_dist]
                if near:
                    add_edge(node, near[0])
                    continue
                if np.linalg.norm(x - p) < min_dist:
                    continue
                xy[n] = x
                have.discard((a_, b_))
                e[k] = (min(a_, n), max(a_, n))
                have.add(tuple(e[k]))
                n += 1
                add_edge(b_, n - 1)
                add_edge(node, n - 1)
                continue
        d = np.linalg.norm(xy[:n] - q, axis=1)
        d[node] = np.inf
        w = int(np.argmin(d))
        if d[w] < snap:  # snap to a nearby node if the street there crosses nothing
            if m:
                t, _ = _cross(p, xy[w], xy[ee[:, 0]], xy[ee[:, 1]])
                bad = (ee[:, 0] == node) | (ee[:, 1] == node) | (ee[:, 0] == w) | (ee[:, 1] == w)
                t[bad] = np.nan
                if not np.isfinite(t).any():
                    add_edge(node, w)
            continue
        xy[n] = q
        n += 1
        add_edge(node, n - 1)
        if rng.random() < 0.9:
            queue.append((n - 1, ang))
        for turn in (math.pi / 2, -math.pi / 2):
            if rng.random() < 0.35:
                queue.append((n - 1, ang + turn))
    return _cut(xy[:n], e[:m], tile_size, rng)


BASELINES: dict[str, Callable[..., nx.Graph]] = {
    "jittered_grid": jittered_grid,
    "random_planar": random_planar,
    "growth": growth,
}


def make_baselines(
    name: str, n: int, tile_size: float, density: float, degrees: np.ndarray, seed: int
) -> list[nx.Graph]:
    """``n`` layouts of one baseline, seeded (``seed`` and the baseline's name)."""
    rng = np.random.default_rng([seed, list(BASELINES).index(name)])
    if name == "random_planar":
        return [random_planar(tile_size, density, degrees, rng) for _ in range(n)]
    return [BASELINES[name](tile_size, density, rng) for _ in range(n)]
