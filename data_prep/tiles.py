"""Square tiles and random windows cut from a :class:`~data_prep.clean.RegionGraph`.

A tile is a square of ``size`` metres with its own frame: origin at the south-west corner,
axes rotated by ``rotation`` radians (counter-clockwise, tile frame to map frame) and mirrored
when ``reflect`` is set. Streets crossing the border are cut at the border, where they end in a
*border node*. Clipping is Liang-Barsky on all straight edges at once (numpy), so node identity
is kept: a street node inside the tile stays one node, whatever number of streets meet there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely

from citygen.errors import DatasetError, InputDataError
from citygen.layout import ROAD_CLASSES, add_street, new_layout
from data_prep.clean import RegionGraph

_EPS = 1e-9  # relative to the tile size
#: The most tiles a region's grid may have (``citygen prepare`` refuses bigger grids).
MAX_TILES = 1_000_000
#: Grids with more tiles than this show a progress bar while tiling.
PROGRESS_TILES = 20_000


@dataclass(frozen=True)
class TileSpec:
    """Where a tile lies in its region's map frame.

    Attributes
    ----------
    center
        Tile centre in the region's CRS, metres.
    size
        Side length in metres.
    rotation
        Angle in radians from the tile frame to the map frame, counter-clockwise.
    reflect
        Whether the tile frame is mirrored (x flipped) before rotation.
    """

    center: tuple[float, float]
    size: float
    rotation: float = 0.0
    reflect: bool = False

    def to_tile(self, xy: np.ndarray) -> np.ndarray:
        """Map-frame metres ``(n, 2)`` to tile-frame metres ``(n, 2)``."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        d = xy - np.asarray(self.center)
        local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)
        if self.reflect:
            local[:, 0] = -local[:, 0]
        return local + self.size / 2.0

    def to_map(self, local: np.ndarray) -> np.ndarray:
        """Tile-frame metres ``(n, 2)`` to map-frame metres ``(n, 2)`` (inverse of to_tile)."""
        d = np.asarray(local, dtype=np.float64) - self.size / 2.0
        if self.reflect:
            d = d * np.array([-1.0, 1.0])
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        xy = np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)
        return xy + np.asarray(self.center)

    def polygon(self) -> shapely.Polygon:
        """The tile square in the map frame."""
        corners = np.array([[0, 0], [self.size, 0], [self.size, self.size], [0, self.size]])
        return shapely.Polygon(self.to_map(corners.astype(np.float64)))


def _clip_params(p: np.ndarray, q: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Liang-Barsky entry/exit parameters of segments ``p -> q`` against ``[0, size]^2``."""
    d = q - p
    pk = np.stack([-d[:, 0], d[:, 0], -d[:, 1], d[:, 1]], axis=1)  # (m, 4)
    qk = np.stack([p[:, 0], size - p[:, 0], p[:, 1], size - p[:, 1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = qk / pk
    t0 = np.max(np.where(pk < 0, r, 0.0), axis=1, initial=0.0)
    t1 = np.min(np.where(pk > 0, r, 1.0), axis=1, initial=1.0)
    outside_parallel = np.any((pk == 0) & (qk < 0), axis=1)
    t0 = np.where(outside_parallel, 1.0, np.maximum(t0, 0.0))
    t1 = np.where(outside_parallel, 0.0, np.minimum(t1, 1.0))
    return t0, t1


def _snap_to_border(pt: np.ndarray, size: float) -> np.ndarray:
    """Put a clipped point exactly on the nearest side of the tile."""
    pt = np.clip(pt, 0.0, size)
    dist = np.array([pt[0], size - pt[0], pt[1], size - pt[1]])
    side = int(np.argmin(dist))
    pt = pt.copy()
    pt[side // 2] = 0.0 if side % 2 == 0 else size
    return pt


def cut(region: RegionGraph, spec: TileSpec, **graph_attrs: object) -> nx.Graph:
    """Cut the layout graph of one tile out of a region.

    Parameters
    ----------
    region
        The cleaned region.
    spec
        Where the tile lies.
    **graph_attrs
        Extra graph attributes for the layout (for example ``source``).

    Returns
    -------
    networkx.Graph
        A layout (see :mod:`citygen.layout`): positions in metres in the tile frame, border
        nodes where streets cross the tile's border.
    """
    size = float(spec.size)
    local = spec.to_tile(region.xy)
    inside = np.all((local > 0.0) & (local < size), axis=1)
    p, q = local[region.edges[:, 0]], local[region.edges[:, 1]]
    t0, t1 = _clip_params(p, q, size)
    seg_len = np.hypot(*(q - p).T)
    keep = (t1 - t0) * seg_len > _EPS * size
    G = new_layout(
        size,
        center=[float(spec.center[0]), float(spec.center[1])],
        rotation=float(spec.rotation),
        reflect=bool(spec.reflect),
        crs=region.crs,
        **graph_attrs,
    )
    border_ids: dict[tuple[float, float], int] = {}
    n_region = region.n_nodes

    def endpoint(node: int, t: float, at_node: bool, a: np.ndarray, b: np.ndarray) -> int:
        if at_node and inside[node]:
            if node not in G:
                G.add_node(node, x=float(local[node, 0]), y=float(local[node, 1]), border=False)
            return node
        pt = _snap_to_border(a + t * (b - a), size)
        key = (round(pt[0] / size, 9), round(pt[1] / size, 9))
        if key not in border_ids:
            border_ids[key] = n_region + len(border_ids)
            G.add_node(border_ids[key], x=float(pt[0]), y=float(pt[1]), border=True)
        return border_ids[key]

    for i in np.flatnonzero(keep):
        u, v = int(region.edges[i, 0]), int(region.edges[i, 1])
        a = endpoint(u, t0[i], t0[i] == 0.0, p[i], q[i])
        b = endpoint(v, t1[i], t1[i] == 1.0, p[i], q[i])
        if a != b and not G.has_edge(a, b):
            add_street(G, a, b, ROAD_CLASSES[int(region.classes[i])])
    return G


def grid_frame(region: RegionGraph, size: float) -> tuple[np.ndarray, np.ndarray]:
    """South-west corner (metres) and tile counts per axis of a region's tile grid.

    Raises
    ------
    InputDataError
        If the grid would have more than :data:`MAX_TILES` tiles (a tiny tile size, or a
        stray node far away that stretches the region's extent).
    """
    lo, hi = region.hull.min(axis=0), region.hull.max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        cells = np.maximum(np.round((hi - lo) / size), 1)
        total = float(np.prod(cells))
    if not total <= MAX_TILES:
        w, h = (hi - lo) / 1000.0
        msg = (
            f"the tile grid would have {total:,.0f} tiles of {size:g} m over {w:,.1f} x {h:,.1f} "
            f"km, more than the maximum of {MAX_TILES:,}; use a larger --tile-size, or remove "
            "stray nodes far from the rest of the extract"
        )
        raise InputDataError(msg)
    counts = cells.astype(int)
    return (lo + hi) / 2.0 - counts * size / 2.0, counts


def grid_specs(
    region: RegionGraph, size: float, min_coverage: float = 0.75, progress: bool = False
) -> dict[tuple[int, int], TileSpec]:
    """Grid tiles centred on the region's data extent, kept where they are mostly inside it.

    The grid has ``round(extent / size)`` tiles per axis (at least one) and is centred on the
    bounding box of the data extent (the hull), so a small extract still yields a tile.

    Parameters
    ----------
    region
        The region.
    size
        Tile side in metres.
    min_coverage
        Keep tiles whose area inside the data extent is at least this share.
    progress
        Show a progress bar over the grid's columns when it has more than
        :data:`PROGRESS_TILES` tiles.

    Returns
    -------
    dict
        ``(column, row)`` grid index (from the south-west) to the tile's spec, in index order.

    Raises
    ------
    InputDataError
        If the grid would have more than :data:`MAX_TILES` tiles.
    """
    if size <= 0:
        msg = f"tile size must be positive, got {size}"
        raise DatasetError(msg)
    if len(region.hull) < 3:
        return {}
    from tqdm.auto import tqdm

    hull = shapely.Polygon(region.hull)
    shapely.prepare(hull)
    origin, counts = grid_frame(region, size)
    specs: dict[tuple[int, int], TileSpec] = {}
    y0 = origin[1] + np.arange(counts[1]) * size
    big = int(counts[0]) * int(counts[1]) > PROGRESS_TILES
    columns = tqdm(
        range(counts[0]), desc="tiling", unit="column", leave=False, disable=not (progress and big)
    )
    for ix in columns:
        x0 = origin[0] + ix * size
        boxes = shapely.box(x0, y0, x0 + size, y0 + size)
        keep = shapely.area(shapely.intersection(hull, boxes)) >= min_coverage * size * size
        for iy in np.flatnonzero(keep):
            centre = (x0 + size / 2.0, float(y0[iy]) + size / 2.0)
            specs[(ix, int(iy))] = TileSpec(centre, float(size))
    return specs


def random_spec(
    region: RegionGraph,
    size: float,
    rng: np.random.Generator,
    within: shapely.Geometry | None = None,
    tries: int = 200,
) -> TileSpec:
    """Draw a window at a random offset, rotation and reflection lying inside ``within``.

    Parameters
    ----------
    region
        The region to draw from.
    size
        Window side in metres.
    rng
        Random generator (the only source of randomness).
    within
        Area the window must lie in (map frame); default the region's data extent (hull).
    tries
        Rejection-sampling attempts before giving up.

    Raises
    ------
    DatasetError
        If no window of that size fits.
    """
    area = within if within is not None else shapely.Polygon(region.hull)
    shapely.prepare(area)
    minx, miny, maxx, maxy = area.bounds
    for _ in range(tries):
        spec = TileSpec(
            center=(float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))),
            size=float(size),
            rotation=float(rng.uniform(0.0, 2.0 * math.pi)),
            reflect=bool(rng.random() < 0.5),
        )
        if area.contains(spec.polygon()):
            return spec
    msg = f"no {size:g} m window fits inside the region after {tries} tries"
    raise DatasetError(msg)


def random_window(
    region: RegionGraph,
    size: float,
    rng: np.random.Generator,
    within: shapely.Geometry | None = None,
) -> nx.Graph:
    """Cut a random window (offset, rotation, reflection) from a region, as a layout graph.

    Same border rules as grid tiles; see :func:`random_spec` for the parameters.
    """
    return cut(region, random_spec(region, size, rng, within))
