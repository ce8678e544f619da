"""Read layouts from files written by any generator (``citygen evaluate --generated DIR``).

Accepted: ``*.geojson`` (LineString / MultiLineString features in WGS84, as RFC 7946 says, or
in the CRS a GeoJSON 2008 ``crs`` member names, e.g. ``EPSG:3857``) and ``*.graphml`` (an osmnx
graph: longitude/latitude, or projected in any CRS its ``crs`` attribute names, with edge
``geometry`` or straight edges). Projected coordinates are first taken back to longitude and
latitude with pyproj, so lengths are ground lengths whatever the projection's scale (Web
Mercator's is 2 at 60 degrees north). Each file is one layout, brought into a tile frame in
metres:

- files citygen generated carry their tile's centre and size in their metadata (``citygen``
  member / graph attribute, placement ``aeqd``): the exact inverse of the export projection
  puts the layout back in its tile, border nodes included;
- any other file is projected with an azimuthal equidistant projection at the centre of its
  bounding box; the tile is the smallest square around the streets, and street ends on its edge
  (within 1 m) are border nodes.

Every polyline vertex becomes a node (bends included), coincident points (closer than 1 mm)
are one node, and edges are straight, as in every layout. Files that are not layouts (not a
FeatureCollection, a feature or geometry of the wrong type, positions missing, ragged,
non-numeric or NaN, coordinates outside longitude/latitude, an unknown CRS, no street line)
raise :class:`~citygen.errors.InputDataError` naming the file and the feature.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj

from citygen.errors import InputDataError, UsageError
from citygen.layout import ROAD_CLASSES, add_street, new_layout, road_class

#: Street ends within this distance (m) of the square around a foreign layout are border nodes.
BORDER_TOL_M = 1.0
_EXTS = (".geojson", ".graphml")
_CRS84 = pyproj.CRS.from_user_input("OGC:CRS84")


Line = tuple[np.ndarray, str]


def _bad(path: Path, where: str, what: str) -> InputDataError:
    return InputDataError(f"{path}: {where}: {what}")


def _positions(path: Path, where: str, coords: object) -> np.ndarray:
    """Check a LineString's positions; return them ``(n, 2)`` (extra ordinates dropped)."""
    if not isinstance(coords, list) or len(coords) < 2:
        raise _bad(path, where, "a LineString needs a list of at least 2 positions")
    for p in coords:
        if not isinstance(p, list) or len(p) < 2:
            raise _bad(path, where, f"a position must be a list of 2 or 3 numbers, got {p!r}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p):
            raise _bad(path, where, f"a position holds a non-number: {p!r}")
    xy = np.array([p[:2] for p in coords], dtype=np.float64)
    if not np.isfinite(xy).all():
        raise _bad(path, where, "a coordinate is NaN or infinite")
    return xy


def _feature_lines(path: Path, i: int, f: object) -> tuple[list[Line], tuple[float, float] | None]:
    """Read the street lines of feature ``i``, and its point if it is a border node."""
    where = f"feature {i}"
    if not isinstance(f, dict):
        raise _bad(path, where, f"a feature must be an object, got {type(f).__name__}")
    geom, props = f.get("geometry"), f.get("properties")
    if geom is None:  # a feature without geometry (allowed by RFC 7946): nothing to read
        return [], None
    if not isinstance(geom, dict):
        raise _bad(path, where, f"geometry must be an object or null, got {type(geom).__name__}")
    if props is not None and not isinstance(props, dict):
        raise _bad(path, where, f"properties must be an object or null, got {type(props).__name__}")
    props = props or {}
    kind, coords = geom.get("type"), geom.get("coordinates")
    if not isinstance(kind, str):
        raise _bad(path, where, "geometry has no type")
    hw = road_class(props.get("highway") if isinstance(props.get("highway"), str | list) else None)
    if kind == "LineString":
        return [(_positions(path, where, coords), hw)], None
    if kind == "MultiLineString":
        if not isinstance(coords, list):
            raise _bad(path, where, "a MultiLineString needs a list of LineString position lists")
        return [(_positions(path, where, c), hw) for c in coords], None
    if kind == "Point" and props.get("border"):
        if not isinstance(coords, list) or len(coords) < 2:
            raise _bad(path, where, "a Point needs a position")
        xy = _positions(path, where, [coords, coords])[0]
        return [], (float(xy[0]), float(xy[1]))
    return [], None


def _geojson_crs(path: Path, doc: dict) -> pyproj.CRS | None:
    """Read a GeoJSON 2008 ``crs`` member (None: none, or RFC 7946 longitude/latitude)."""
    member = doc.get("crs")
    if member is None:
        return None
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str) or member.get("type") != "name":
        msg = f"{path}: unsupported crs member {member!r}; only named CRSs are read"
        raise InputDataError(msg)
    try:
        crs = pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError:
        msg = f"{path}: unknown crs {name!r}"
        raise InputDataError(msg) from None
    return None if crs.is_geographic and crs.equals(_CRS84, ignore_axis_order=True) else crs


def _lines_from_geojson(path: Path) -> tuple[list[Line], dict, pyproj.CRS | None]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{path}: not a GeoJSON FeatureCollection ({exc})"
        raise InputDataError(msg) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        msg = f"{path}: not a GeoJSON FeatureCollection (no list of features)"
        raise InputDataError(msg)
    lines: list[Line] = []
    for i, f in enumerate(doc["features"]):
        found, _ = _feature_lines(path, i, f)
        lines += found
    meta = doc.get("citygen") if isinstance(doc.get("citygen"), dict) else {}
    return lines, meta, _geojson_crs(path, doc)


def _lines_from_graphml(path: Path) -> tuple[list[Line], dict, pyproj.CRS | None]:
    import osmnx as ox
    import shapely

    try:
        G = ox.load_graphml(path)
    except Exception as exc:
        msg = f"{path}: not a GraphML street graph osmnx can read ({type(exc).__name__}: {exc})"
        raise InputDataError(msg) from None
    try:
        crs = pyproj.CRS.from_user_input(G.graph.get("crs", "EPSG:4326"))
    except pyproj.exceptions.CRSError:
        msg = f"{path}: unknown crs {G.graph.get('crs')!r}"
        raise InputDataError(msg) from None
    seen, lines = set(), []
    try:
        for u, v, d in G.edges(data=True):
            key = frozenset((u, v)), d.get("osmid"), round(float(d.get("length", 0.0)), 3)
            if key in seen:
                continue
            seen.add(key)
            geom = d.get("geometry")
            if geom is not None:
                coords = np.asarray(shapely.get_coordinates(geom), dtype=np.float64)
            else:
                ends = [[G.nodes[u]["x"], G.nodes[u]["y"]], [G.nodes[v]["x"], G.nodes[v]["y"]]]
                coords = np.array(ends, dtype=np.float64)
            if not np.isfinite(coords).all():
                raise _bad(path, f"edge {u}-{v}", "a coordinate is NaN or infinite")
            lines.append((coords, road_class(d.get("highway"))))
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{path}: not a street graph with node x/y coordinates ({type(exc).__name__}: {exc})"
        raise InputDataError(msg) from None
    meta = G.graph.get("citygen", "{}")
    try:
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    except (ValueError, TypeError):
        meta = {}
    return lines, meta, None if crs.equals(_CRS84, ignore_axis_order=True) else crs


def _to_lonlat(path: Path, lines: list[Line], crs: pyproj.CRS | None) -> list[Line]:
    """Lines in longitude/latitude degrees: projected from ``crs`` (None: already), checked."""
    if crs is not None:
        to_ll = pyproj.Transformer.from_crs(crs, _CRS84, always_xy=True)
        try:
            lines = [
                (np.column_stack(to_ll.transform(c[:, 0], c[:, 1], errcheck=True)), hw)
                for c, hw in lines
            ]
        except pyproj.exceptions.ProjError as exc:
            msg = f"{path}: coordinates cannot be projected from {crs.name}: {exc}"
            raise InputDataError(msg) from None
    for c, _ in lines:
        if (np.abs(c[:, 0]) > 180).any() or (np.abs(c[:, 1]) > 90).any():
            msg = (
                f"{path}: coordinates are not longitude/latitude degrees (RFC 7946 GeoJSON and "
                "GraphML without a projected crs are read as EPSG:4326)"
            )
            raise InputDataError(msg)
    return lines


def _placed(path: Path, meta: dict) -> tuple[tuple[float, float], float] | None:
    """Read the tile centre (lat, lon) and size (m) a citygen file records (None: none)."""
    center, size = meta.get("center"), meta.get("tile_size_m")
    if not str(meta.get("placement", "")).startswith("aeqd") or size is None:
        return None
    try:
        lat, lon = (float(v) for v in center)
        size = float(size)
    except (TypeError, ValueError):
        msg = f"{path}: citygen metadata with a bad centre or tile size ({center!r}, {size!r})"
        raise InputDataError(msg) from None
    if not (math.isfinite(size) and size > 0):
        msg = f"{path}: citygen metadata with a bad tile size {size!r}"
        raise InputDataError(msg)
    return (lat, lon), size


def _frame(path: Path, lonlat: np.ndarray, meta: dict) -> tuple[np.ndarray, float, bool]:
    """Project lon/lat points to tile-frame metres; return them, the tile size, whether exact."""
    placed = _placed(path, meta)
    if placed is not None:
        from export.geo import Placement

        try:
            placement = Placement.at_center(*placed)
        except UsageError as exc:
            msg = f"{path}: citygen metadata places the tile where it cannot be: {exc}"
            raise InputDataError(msg) from None
        return placement.to_tile(lonlat), placed[1], True
    lon0 = float((lonlat[:, 0].min() + lonlat[:, 0].max()) / 2)
    lat0 = float((lonlat[:, 1].min() + lonlat[:, 1].max()) / 2)
    aeqd = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
    )
    x, y = pyproj.Transformer.from_crs(_CRS84, aeqd, always_xy=True).transform(
        lonlat[:, 0], lonlat[:, 1]
    )
    points = np.column_stack([x, y])
    lo, hi = points.min(0), points.max(0)
    size = float(max((hi - lo).max(), 1.0))
    return points - lo - ((hi - lo) - size) / 2, size, False


def read_layout(path: str | Path) -> nx.Graph:
    """Read one layout file (see the module docstring).

    Raises
    ------
    InputDataError
        If the file cannot be read or holds no street.
    """
    path = Path(path)
    if path.suffix == ".geojson":
        lines, meta, crs = _lines_from_geojson(path)
    elif path.suffix == ".graphml":
        lines, meta, crs = _lines_from_graphml(path)
    else:
        msg = f"{path}: unknown layout file type (expected .geojson or .graphml)"
        raise InputDataError(msg)
    if not lines:
        msg = f"{path}: no street lines in the file (LineString or MultiLineString features)"
        raise InputDataError(msg)
    lines = _to_lonlat(path, lines, crs)
    pts = np.concatenate([c for c, _ in lines])
    local, size, exact = _frame(path, pts, meta)
    G = new_layout(size, source=str(path))
    keys: dict[tuple[int, int], int] = {}

    def node(p: np.ndarray) -> int:
        k = (round(p[0] * 1000), round(p[1] * 1000))
        if k not in keys:
            keys[k] = len(keys)
            G.add_node(keys[k], x=float(p[0]), y=float(p[1]), border=False)
        return keys[k]

    at = 0
    for c, hw in lines:
        seg = local[at : at + len(c)]
        at += len(c)
        ids = [node(p) for p in seg]
        for a, b in itertools.pairwise(ids):
            if a != b and not G.has_edge(a, b):
                add_street(G, a, b, hw if hw in ROAD_CLASSES else "other")
    tol = BORDER_TOL_M if not exact else 1e-3 * size
    for v, d in G.nodes(data=True):
        on_edge = min(d["x"], d["y"], size - d["x"], size - d["y"]) <= tol
        d["border"] = bool(on_edge and G.degree(v) == 1)
    return G


def read_layouts(directory: str | Path) -> tuple[list[nx.Graph], list[Path]]:
    """Read every ``*.geojson`` / ``*.graphml`` file of a folder (sorted by name), or one file.

    A folder holding both formats of the same layouts (as ``citygen generate --format
    geojson,graphml`` writes) is read once: GeoJSON is preferred and GraphML files with the
    same stem are skipped.

    Raises
    ------
    InputDataError
        If the folder does not exist, holds no layout file, or a file is unreadable (the error
        names it; evaluation stops rather than silently comparing fewer layouts).
    """
    d = Path(directory)
    if d.is_file() and d.suffix in _EXTS:
        return [read_layout(d)], [d]
    if d.exists() and not d.is_dir():
        msg = f"{d} is not a folder of generated layouts nor a .geojson or .graphml file"
        raise InputDataError(msg)
    if not d.is_dir():
        msg = f"no such folder of generated layouts: {d}"
        raise InputDataError(msg)
    files = sorted(p for p in d.iterdir() if p.suffix in _EXTS and p.is_file())
    stems = {p.stem for p in files if p.suffix == ".geojson"}
    files = [p for p in files if p.suffix == ".geojson" or p.stem not in stems]
    if not files:
        msg = f"{d} holds no .geojson or .graphml layout files"
        raise InputDataError(msg)
    return [read_layout(p) for p in files], files
