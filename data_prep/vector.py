"""Read street *lines* that GIS users hold (GeoParquet, GeoPackage, Shapefile, GeoJSON).

A table of street centre lines (for example OSMnx edges saved with ``to_parquet``, a QGIS
export, Geofabrik's roads shapefile) becomes the same raw graph that the OSM loaders return: a
:class:`networkx.MultiDiGraph` in EPSG:4326 whose nodes are the lines' vertices (vertices at the
same position, to 1 cm, are one node, so lines that share an end or a vertex are joined) and
whose edges are the segments between consecutive vertices, both directions, carrying the line's
``highway`` tag. Cleaning (drivable filter, simplification, projection, consolidation) then runs
unchanged on it.
"""

from __future__ import annotations

import ast
import logging
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from citygen.errors import InputDataError

log = logging.getLogger(__name__)

#: File name endings read as vector street lines.
VECTOR_SUFFIXES: tuple[str, ...] = (".parquet", ".geoparquet", ".gpkg", ".shp", ".geojson")
#: Columns read as the road class, in order of preference (OSM ``highway``, Geofabrik ``fclass``).
CLASS_COLUMNS: tuple[str, ...] = ("highway", "fclass", "type")
#: Road class given to lines of a table without a class column.
DEFAULT_HIGHWAY = "unclassified"
_LINES = ("LineString", "MultiLineString")


def is_vector_file(path: Path) -> bool:
    """Return True if ``path`` has a file name ending that :func:`load_lines` reads."""
    return path.name.lower().endswith(VECTOR_SUFFIXES)


def _read_table(path: Path):
    import geopandas as gpd

    name = path.name.lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.endswith((".parquet", ".geoparquet")):
                return gpd.read_parquet(path)
            return gpd.read_file(path, engine="pyogrio")
    except ImportError as exc:
        msg = f"cannot read {path}: {exc}"
        raise InputDataError(msg) from exc
    except Exception as exc:  # pyarrow, pyogrio and geopandas raise assorted types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "geometry" in reason.lower() or "geo metadata" in reason.lower():
            msg = f"{path} has no geometry column (not a GeoParquet / vector file of street lines)"
        else:
            msg = f"cannot read vector file {path}: {reason}"
        raise InputDataError(msg) from exc


def _check_crs(path: Path, gdf) -> None:
    if gdf.crs is None:
        msg = f"{path} has no CRS: set one (street lines in metres, a projected CRS)"
        raise InputDataError(msg)
    if gdf.crs.is_geographic and not path.name.lower().endswith(".geojson"):
        msg = (
            f"{path} is in a geographic CRS ({gdf.crs.to_string()}, degrees): street lines must be "
            "in a projected CRS in metres (reproject it, e.g. ogr2ogr -t_srs EPSG:326NN)"
        )
        raise InputDataError(msg)


def _highway(value: object) -> str | None:
    """The road class of one row: a string, the first of a list, or None."""
    if isinstance(value, list | tuple | np.ndarray):
        value = value[0] if len(value) else None
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, list) and parsed:
            value = parsed[0]
    return value if isinstance(value, str) and value else None


def load_lines(path: str | Path) -> nx.MultiDiGraph:
    """Read a table of street lines into a raw street graph.

    Parameters
    ----------
    path
        A GeoParquet (``.parquet``), GeoPackage (``.gpkg``), Shapefile (``.shp``) or GeoJSON
        (``.geojson``) file of LineString / MultiLineString features. GeoParquet, GeoPackage and
        Shapefile must be in a projected CRS (metres); GeoJSON is WGS84 (RFC 7946).

    Returns
    -------
    networkx.MultiDiGraph
        Raw street graph in EPSG:4326 (node ``x`` longitude, ``y`` latitude; edge ``highway``).

    Raises
    ------
    InputDataError
        If the file cannot be read, has no geometry column, no CRS, a geographic CRS (except
        GeoJSON), or no street lines.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"no such file: {p}"
        raise InputDataError(msg)
    gdf = _read_table(p)
    _check_crs(p, gdf)
    lines = gdf[gdf.geometry.notna() & gdf.geometry.geom_type.isin(_LINES)]
    if lines.empty:
        kinds = sorted(set(gdf.geometry.geom_type.dropna())) or ["none"]
        msg = f"no street lines in {p} (geometry types: {', '.join(kinds)})"
        raise InputDataError(msg)
    column = next((c for c in CLASS_COLUMNS if c in lines.columns), None)
    if column is None:
        log.warning("%s has no highway column: every line is read as %r", p, DEFAULT_HIGHWAY)
    lines = lines.explode(index_parts=False)
    return _graph(p, lines, column)


def _graph(path: Path, lines, column: str | None) -> nx.MultiDiGraph:
    """Vertices (joined at 1 cm, or 1e-7 degrees) to nodes, segments to edges, in EPSG:4326."""
    import shapely
    from pyproj import Transformer

    coords, line_index = shapely.get_coordinates(lines.geometry.values, return_index=True)
    if coords.size == 0 or not np.isfinite(coords).all():
        msg = f"{path}: street lines with empty or non-finite coordinates"
        raise InputDataError(msg)
    quantum = 1e-7 if lines.crs.is_geographic else 0.01
    keys = np.round(coords / quantum).astype(np.int64)
    uniq, node_of = np.unique(keys, axis=0, return_inverse=True)
    node_of = node_of.reshape(-1)
    xy = uniq.astype(np.float64) * quantum
    lon, lat = Transformer.from_crs(lines.crs, "EPSG:4326", always_xy=True).transform(
        xy[:, 0], xy[:, 1]
    )
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()) or np.abs(lat).max() > 90:
        msg = f"{path}: coordinates do not fit its CRS {lines.crs.to_string()}"
        raise InputDataError(msg)
    same_line = line_index[1:] == line_index[:-1]
    a, b = node_of[:-1][same_line], node_of[1:][same_line]
    seg_line = line_index[:-1][same_line]
    keep = a != b
    a, b, seg_line = a[keep], b[keep], seg_line[keep]
    if column is None:
        classes = [DEFAULT_HIGHWAY] * len(lines)
    else:
        classes = [_highway(v) for v in lines[column].to_numpy()]
    G = nx.MultiDiGraph(crs="EPSG:4326")
    used = np.unique(np.concatenate([a, b]))
    G.add_nodes_from((int(i), {"x": float(lon[i]), "y": float(lat[i])}) for i in used)
    seen: set[tuple[int, int]] = set()
    for u, v, li in zip(a.tolist(), b.tolist(), seg_line.tolist(), strict=True):
        hw = classes[li]
        pair = (min(u, v), max(u, v))
        if hw is None or pair in seen:
            continue  # tables of directed edges (OSMnx) hold each street twice: draw it once
        seen.add(pair)
        attrs = {"highway": hw, "osmid": int(li)}
        G.add_edge(u, v, **attrs)
        G.add_edge(v, u, **attrs)
    if G.number_of_edges() == 0:
        msg = f"no street lines with a road class in {path}"
        raise InputDataError(msg)
    return G
