"""Read layouts from files written by any generator (``citygen evaluate --generated DIR``).

Accepted: ``*.geojson`` (LineString / MultiLineString features in WGS84, as RFC 7946 says) and
``*.graphml`` (an osmnx graph: projected in metres, or longitude/latitude with edge ``geometry``
or straight edges). Each file is one layout, brought into a tile frame in metres:

- files citygen generated carry their tile's centre and size in their metadata (``citygen``
  member / graph attribute, placement ``aeqd``): the exact inverse of the export projection
  puts the layout back in its tile, border nodes included;
- any other file is projected with an azimuthal equidistant projection at the centre of its
  bounding box; the tile is the smallest square around the streets, and street ends on its edge
  (within 1 m) are border nodes.

Every polyline vertex becomes a node (bends included), coincident points (closer than 1 mm)
are one node, and edges are straight, as in every layout. Files that are not layouts raise
:class:`~citygen.errors.InputDataError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj

from citygen.errors import InputDataError
from citygen.layout import ROAD_CLASSES, add_street, new_layout, road_class

#: Street ends within this distance (m) of the square around a foreign layout are border nodes.
BORDER_TOL_M = 1.0
_EXTS = (".geojson", ".graphml")


def _lines_from_geojson(
    path: Path,
) -> tuple[list[tuple[np.ndarray, str]], dict, list[tuple[float, float]]]:
    try:
        doc = json.loads(path.read_text())
        features = doc["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"{path}: not a GeoJSON FeatureCollection ({exc})"
        raise InputDataError(msg) from None
    lines, borders = [], []
    for f in features:
        geom = (f or {}).get("geometry") or {}
        props = (f or {}).get("properties") or {}
        kind, coords = geom.get("type"), geom.get("coordinates")
        hw = road_class(props.get("highway"))
        if kind == "LineString":
            lines.append((np.asarray(coords, dtype=np.float64)[:, :2], hw))
        elif kind == "MultiLineString":
            lines.extend((np.asarray(c, dtype=np.float64)[:, :2], hw) for c in coords)
        elif kind == "Point" and props.get("border"):
            borders.append(tuple(coords[:2]))
    meta = doc.get("citygen") if isinstance(doc.get("citygen"), dict) else {}
    return lines, meta, borders


def _lines_from_graphml(path: Path) -> tuple[list[tuple[np.ndarray, str]], dict, bool]:
    import osmnx as ox
    import shapely

    try:
        G = ox.load_graphml(path)
    except Exception as exc:
        msg = f"{path}: not a GraphML street graph osmnx can read ({type(exc).__name__}: {exc})"
        raise InputDataError(msg) from None
    crs = pyproj.CRS.from_user_input(G.graph.get("crs", "EPSG:4326"))
    seen, lines = set(), []
    for u, v, d in G.edges(data=True):
        key = frozenset((u, v)), d.get("osmid"), round(float(d.get("length", 0.0)), 3)
        if key in seen:
            continue
        seen.add(key)
        geom = d.get("geometry")
        if geom is not None:
            coords = np.asarray(shapely.get_coordinates(geom), dtype=np.float64)
        else:
            coords = np.array(
                [[G.nodes[u]["x"], G.nodes[u]["y"]], [G.nodes[v]["x"], G.nodes[v]["y"]]],
                dtype=np.float64,
            )
        lines.append((coords, road_class(d.get("highway"))))
    meta = G.graph.get("citygen", "{}")
    meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    return lines, meta, bool(crs.is_geographic)


def _frame(points: np.ndarray, geographic: bool, meta: dict) -> tuple[np.ndarray, float, bool]:
    """Project points to tile-frame metres; return them, the tile size, and whether exact."""
    center, size = meta.get("center"), meta.get("tile_size_m")
    placed = str(meta.get("placement", "")).startswith("aeqd")
    if geographic and placed and isinstance(center, list | tuple) and len(center) == 2 and size:
        from export.geo import Placement

        lat, lon = float(center[0]), float(center[1])
        return Placement.at_center((lat, lon), float(size)).to_tile(points), float(size), True
    if geographic:
        lon0 = float((points[:, 0].min() + points[:, 0].max()) / 2)
        lat0 = float((points[:, 1].min() + points[:, 1].max()) / 2)
        aeqd = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
        )
        x, y = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True).transform(
            points[:, 0], points[:, 1]
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
        lines, meta, _ = _lines_from_geojson(path)
        geographic = True
    elif path.suffix == ".graphml":
        lines, meta, geographic = _lines_from_graphml(path)
    else:
        msg = f"{path}: unknown layout file type (expected .geojson or .graphml)"
        raise InputDataError(msg)
    lines = [(c, hw) for c, hw in lines if len(c) >= 2 and np.isfinite(c).all()]
    if not lines:
        msg = f"{path}: no street lines in the file"
        raise InputDataError(msg)
    pts = np.concatenate([c for c, _ in lines])
    local, size, exact = _frame(pts, geographic, meta)
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
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            if a != b and not G.has_edge(a, b):
                add_street(G, a, b, hw if hw in ROAD_CLASSES else "other")
    tol = BORDER_TOL_M if not exact else 1e-3 * size
    for v, d in G.nodes(data=True):
        on_edge = min(d["x"], d["y"], size - d["x"], size - d["y"]) <= tol
        d["border"] = bool(on_edge and G.degree(v) == 1)
    return G


def read_layouts(directory: str | Path) -> tuple[list[nx.Graph], list[Path]]:
    """Read every ``*.geojson`` / ``*.graphml`` file of a folder (sorted by name).

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
