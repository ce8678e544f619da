"""Placing a tile on the globe: tile-frame metres to WGS84 longitude/latitude and back.

A layout lives in its tile's own frame (metres, origin at the south-west corner). To export it,
the tile is put somewhere on Earth:

- **at a chosen centre** (``--center LAT,LON``): a local azimuthal equidistant projection
  (pyproj ``+proj=aeqd``, WGS84 ellipsoid) centred on that point, with the tile's centre at the
  projection's origin and the tile's y axis pointing to true north. Distances from the centre
  are exact and, within a few kilometres, every other distance is distorted by less than 1e-7,
  so the metric street lengths of the layout are the geodesic lengths of the export.
- **at its real place**: a layout cut from a prepared region keeps the graph attributes ``crs``
  (the region's projected CRS), ``center`` (tile centre in that CRS), ``rotation`` and
  ``reflect``; the tile is mapped back into that CRS and from there to WGS84.

Both directions use the exact inverse transforms of pyproj, so ``to_tile(to_lonlat(xy))``
gives ``xy`` back to well below a millimetre.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pyproj

from citygen.errors import UsageError
from data_prep.tiles import TileSpec

#: Where layouts are placed when no centre is given: Helsinki centre (latitude, longitude).
DEFAULT_CENTER: tuple[float, float] = (60.1699, 24.9384)

_WGS84 = pyproj.CRS.from_epsg(4326)
_GEOD = pyproj.Geod(ellps="WGS84")


def check_center(center: tuple[float, float]) -> tuple[float, float]:
    """Validate a ``(latitude, longitude)`` pair in degrees.

    Parameters
    ----------
    center
        Latitude in ``[-90, 90]`` and longitude in ``[-180, 180]``, degrees.

    Returns
    -------
    tuple of float
        The same pair as floats.

    Raises
    ------
    UsageError
        If a value is not a finite number or is out of range.
    """
    try:
        lat, lon = (float(v) for v in center)
    except (TypeError, ValueError):
        msg = f"centre must be two numbers LAT,LON; got {center!r}"
        raise UsageError(msg) from None
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        msg = f"centre latitude must be within -90..90 degrees; got {lat}"
        raise UsageError(msg)
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        msg = f"centre longitude must be within -180..180 degrees; got {lon}"
        raise UsageError(msg)
    return lat, lon


def parse_center(text: str) -> tuple[float, float]:
    """Parse ``"LAT,LON"`` (degrees) as given to ``--center``.

    Raises
    ------
    UsageError
        If the text is not two comma-separated numbers or they are out of range.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2:
        msg = f"--center must be LAT,LON in degrees, e.g. 60.1699,24.9384; got {text!r}"
        raise UsageError(msg)
    try:
        values = (float(parts[0]), float(parts[1]))
    except ValueError:
        msg = f"--center must be LAT,LON in degrees, e.g. 60.1699,24.9384; got {text!r}"
        raise UsageError(msg) from None
    return check_center(values)


@dataclass(frozen=True)
class Placement:
    """Where a tile lies on Earth: a projected CRS in metres plus the tile's pose in it.

    Attributes
    ----------
    crs
        A projected CRS with metre units.
    spec
        The tile's centre (in ``crs``), side length in metres, rotation and reflection.
    label
        A short human-readable description, stored in the exported metadata.
    """

    crs: pyproj.CRS
    spec: TileSpec
    label: str
    _fwd: pyproj.Transformer = field(init=False, repr=False, compare=False)
    _inv: pyproj.Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fwd = pyproj.Transformer.from_crs(self.crs, _WGS84, always_xy=True)
        inv = pyproj.Transformer.from_crs(_WGS84, self.crs, always_xy=True)
        object.__setattr__(self, "_fwd", fwd)
        object.__setattr__(self, "_inv", inv)

    @classmethod
    def at_center(cls, center: tuple[float, float], tile_size: float) -> Placement:
        """Put the tile's centre at ``center`` (latitude, longitude), north up.

        Raises
        ------
        UsageError
            If the centre is out of range, or the tile would cross the antimeridian or a pole.
        """
        lat, lon = check_center(center)
        return _placement_at(cls, lat, lon, float(tile_size))

    @classmethod
    def of_layout(cls, G: nx.Graph) -> Placement | None:
        """Place a layout where it was cut from a prepared region; None if it has no such place.

        Uses the graph attributes ``crs``, ``center``, ``rotation`` and ``reflect`` that
        :func:`data_prep.tiles.cut` writes.
        """
        crs, center = G.graph.get("crs"), G.graph.get("center")
        if not crs or center is None:
            return None
        spec = TileSpec(
            center=(float(center[0]), float(center[1])),
            size=float(G.graph["tile_size"]),
            rotation=float(G.graph.get("rotation", 0.0)),
            reflect=bool(G.graph.get("reflect", False)),
        )
        return cls(pyproj.CRS.from_user_input(crs), spec, f"real place in {crs}")

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Tile-frame metres ``(n, 2)`` to WGS84 ``(n, 2)`` columns longitude, latitude."""
        mapped = self.spec.to_map(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
        lon, lat = self._fwd.transform(mapped[:, 0], mapped[:, 1], errcheck=True)
        return np.column_stack([lon, lat])

    def to_tile(self, lonlat: np.ndarray) -> np.ndarray:
        """WGS84 longitude/latitude ``(n, 2)`` to tile-frame metres (inverse of to_lonlat)."""
        ll = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        x, y = self._inv.transform(ll[:, 0], ll[:, 1], errcheck=True)
        return self.spec.to_tile(np.column_stack([x, y]))

    def center_latlon(self) -> tuple[float, float]:
        """Latitude and longitude of the tile's centre, degrees."""
        s = self.spec.size / 2.0
        lon, lat = self.to_lonlat(np.array([[s, s]]))[0]
        return float(lat), float(lon)

    def check_wraps(self) -> None:
        """Refuse placements whose tile crosses the antimeridian or contains a pole.

        Raises
        ------
        UsageError
            If the tile's corners do not lie in one continuous longitude range.
        """
        s = self.spec.size
        corners = np.array([[0, 0], [s, 0], [s, s], [0, s], [s / 2, s / 2]], dtype=np.float64)
        lon = self.to_lonlat(corners)[:, 0]
        if float(lon.max() - lon.min()) > 90.0:
            lat, lon0 = self.center_latlon()
            msg = (
                f"a {s:g} m tile at {lat:.4f},{lon0:.4f} would cross the antimeridian or a pole; "
                "choose a centre further from longitude ±180 and the poles"
            )
            raise UsageError(msg)


@functools.lru_cache(maxsize=64)
def _placement_at(cls: type[Placement], lat: float, lon: float, tile_size: float) -> Placement:
    """:meth:`Placement.at_center`, built once per centre and size: a placement is immutable,
    and its two pyproj transformers cost about 14 ms, which every tile of a run paid."""
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )
    placement = cls(crs, TileSpec((0.0, 0.0), tile_size), f"aeqd at {lat},{lon}")
    placement.check_wraps()
    return placement


def resolve_placement(G: nx.Graph, center: tuple[float, float] | None) -> Placement:
    """Choose where a layout goes: ``center`` if given, else its real place, else Helsinki.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    center
        ``(latitude, longitude)`` in degrees for the tile's centre, or None.

    Returns
    -------
    Placement
        The placement to export ``G`` with.
    """
    tile_size = float(G.graph["tile_size"])
    if center is not None:
        return Placement.at_center(center, tile_size)
    real = Placement.of_layout(G)
    if real is not None:
        real.check_wraps()
        return real
    return Placement.at_center(DEFAULT_CENTER, tile_size)


def geodesic_length_m(lonlat: np.ndarray) -> float:
    """Length in metres of a polyline of ``(n, 2)`` longitude/latitude points on WGS84."""
    ll = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    if ll.shape[0] < 2:
        return 0.0
    return float(_GEOD.line_length(ll[:, 0], ll[:, 1]))


def geodesic_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two ``(longitude, latitude)`` points on WGS84."""
    _, _, dist = _GEOD.inv(a[0], a[1], b[0], b[1])
    return float(dist)
