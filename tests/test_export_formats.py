"""Fidelity of every format on real prepared tiles and hand-made layouts.

Each layout is exported once as GeoJSON, GraphML and OSM XML; the tests then open the files in
the real tools (GDAL through pyogrio and geopandas, osmnx, SUMO netconvert) and check that the
formats say the same thing as the layout and as each other.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import matplotlib
import networkx as nx
import numpy as np
import osmnx as ox
import pyogrio
import pytest
import shapely

from citygen.errors import DatasetError
from citygen.layout import add_street, new_layout, total_length_m
from data_prep.prepare import make_sources, prepare
from data_prep.shards import load_dataset
from export import geojson, graphml
from export.geo import geodesic_distance_m, geodesic_length_m
from export.osmxml import OSM_HIGHWAY
from export.streets import merge_coincident
from export.write import write_layouts

matplotlib.use("Agg")

CENTER = (60.1699, 24.9384)
META = {"model": "test-model", "seed": 7, "objective": None}


def grid_2x2() -> nx.Graph:
    """Two by two blocks of 100 m around the tile centre: 1200 m of streets."""
    G = new_layout(1000.0)
    for j in range(3):
        for i in range(3):
            G.add_node(3 * j + i, x=400.0 + 100 * i, y=400.0 + 100 * j, border=False)
    for n in range(9):
        if n % 3 < 2:
            add_street(G, n, n + 1, "primary" if n in (3, 4) else "residential")
        if n < 6:
            add_street(G, n, n + 3, "residential")
    return G


def plus_sign() -> nx.Graph:
    """Two 1000 m streets crossing at the tile centre, ending at the border: 2000 m."""
    G = new_layout(1000.0)
    ends = {1: (0, 500), 2: (1000, 500), 3: (500, 0), 4: (500, 1000)}
    G.add_node(0, x=500.0, y=500.0, border=False)
    for n, (x, y) in ends.items():
        G.add_node(n, x=float(x), y=float(y), border=True)
        add_street(G, 0, n, "motorway" if n < 3 else "other")
    return G


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "export-test-data"  # shared by the export tests
    try:
        load_dataset(root)
    except DatasetError:
        prepare(make_sources(bundled="test"), root, progress=False)
    return root


@pytest.fixture(scope="module")
def layouts(dataset_dir: Path) -> list[nx.Graph]:
    return [grid_2x2(), plus_sign()] + [t.layout() for t in load_dataset(dataset_dir).tiles()]


@pytest.fixture(scope="module")
def out(layouts: list[nx.Graph], tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export-formats")
    write_layouts(layouts, d, formats="geojson,graphml,osm", center=CENTER, metadata=META)
    return d


def _files(out: Path, suffix: str) -> list[Path]:
    return sorted(out.glob(f"layout_*{suffix}"))


def _features(fc: dict, kind: str) -> list[dict]:
    return [f for f in fc["features"] if f["properties"]["kind"] == kind]


def _geojson_facts(path: Path) -> tuple[int, int, float, float]:
    """Junction count, segment count, metric length and geodesic length of a GeoJSON file."""
    fc = json.loads(path.read_text())
    streets = _features(fc, "street")
    geodesic = sum(geodesic_length_m(np.array(f["geometry"]["coordinates"])) for f in streets)
    metric = sum(f["properties"]["length_m"] for f in streets)
    return len(_features(fc, "junction")), len(streets), metric, geodesic


def _graphml_facts(path: Path) -> tuple[int, int, float]:
    G = ox.load_graphml(path)
    forward = [d for *_, d in G.edges(data=True) if not d["reversed"]]
    return len(G), len(forward), sum(d["length"] for d in forward)


def _osm_facts(path: Path) -> tuple[int, int, float]:
    root = ET.parse(path).getroot()
    where = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    ways = [[nd.get("ref") for nd in w.iter("nd")] for w in root.iter("way")]
    ends = {ref for refs in ways for ref in (refs[0], refs[-1])}
    length = sum(geodesic_length_m(np.array([where[r] for r in refs])) for refs in ways)
    return len(ends), len(ways), length


def test_one_file_per_layout_and_format(out: Path, layouts: list[nx.Graph]) -> None:
    for suffix in (".geojson", ".graphml", ".osm"):
        assert len(_files(out, suffix)) == len(layouts)
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_geojson_is_rfc7946_with_metadata(out: Path) -> None:
    fc = json.loads((out / "layout_000.geojson").read_text())
    assert fc["type"] == "FeatureCollection"
    assert "crs" not in fc  # RFC 7946: WGS84 only, no crs member
    assert fc["citygen"]["model"] == "test-model"
    assert fc["citygen"]["seed"] == 7
    assert fc["citygen"]["objective"] is None
    assert fc["citygen"]["citygen_version"]
    assert fc["citygen"]["layout"] == 0
    pts = np.array([c for f in _features(fc, "street") for c in f["geometry"]["coordinates"]])
    assert fc["bbox"] == [*pts.min(axis=0), *pts.max(axis=0)]
    assert pts[:, 0].min() > 24.9
    assert pts[:, 1].max() < 60.2
    props = _features(fc, "street")[0]["properties"]
    assert props.keys() == {"kind", "highway", "length_m", "u", "v", "oneway", "name"}
    assert props["oneway"] is False
    assert props["name"] == ""
    assert _features(fc, "junction")[0]["properties"].keys() == {"kind", "node", "degree", "border"}


def test_geometries_valid_without_duplicates_near_the_centre(out: Path) -> None:
    for path in _files(out, ".geojson"):
        fc = json.loads(path.read_text())
        geoms = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
        assert all(shapely.is_valid(geoms)), path.name
        for g in geoms:
            coords = [tuple(c) for c in shapely.get_coordinates(g)]
            assert len(set(coords)) == len(coords), path.name
        points = [tuple(f["geometry"]["coordinates"]) for f in _features(fc, "junction")]
        assert len(set(points)) == len(points), path.name
        far = max(geodesic_distance_m(c, CENTER[::-1]) for g in geoms for c in g.coords)
        assert far < 5000.0, path.name


def test_geodesic_length_matches_the_metric_length(out: Path, layouts: list[nx.Graph]) -> None:
    for path, G in zip(_files(out, ".geojson"), layouts, strict=True):
        _, _, metric, geodesic = _geojson_facts(path)
        assert geodesic == pytest.approx(metric, rel=1e-6), path.name
        assert geodesic == pytest.approx(total_length_m(G), rel=0.01), path.name
        # the only metric difference is a street that the layout draws twice
        assert metric == pytest.approx(total_length_m(merge_coincident(G)), rel=1e-12)
    assert _geojson_facts(out / "layout_000.geojson")[2] == pytest.approx(1200.0, rel=1e-12)
    assert _geojson_facts(out / "layout_001.geojson")[2] == pytest.approx(2000.0, rel=1e-12)


def test_layout_centre_is_placed_at_the_center(out: Path) -> None:
    for path in _files(out, ".geojson"):
        fc = json.loads(path.read_text())
        assert fc["citygen"]["center"] == pytest.approx(list(CENTER), abs=1e-9)
        pts = [c for f in _features(fc, "street") for c in f["geometry"]["coordinates"]]
        half_diagonal = 500.0 * 2**0.5  # every point lies in the 1 km tile around the centre
        assert max(geodesic_distance_m(p, CENTER[::-1]) for p in pts) < half_diagonal + 1e-3
    for name in ("layout_000.geojson", "layout_001.geojson"):  # symmetric: centroid known
        fc = json.loads((out / name).read_text())
        streets = _features(fc, "street")
        lines = shapely.MultiLineString([f["geometry"]["coordinates"] for f in streets])
        c = lines.centroid
        assert geodesic_distance_m((c.x, c.y), CENTER[::-1]) < 50.0


def test_gdal_and_geopandas_read_geojson_without_warnings(
    out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = out / "layout_002.geojson"
    n_features = len(json.loads(path.read_text())["features"])
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        info = pyogrio.read_info(path)
        df = gpd.read_file(path, engine="pyogrio")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert info["driver"] == "GeoJSON"
    assert info["features"] == n_features
    assert df.crs.to_epsg() == 4326
    assert len(df) == n_features
    assert df.geometry.is_valid.all()
    assert set(df.loc[df["kind"] == "street", "highway"]) <= set(OSM_HIGHWAY)


def test_graphml_loads_in_osmnx_with_both_directions(out: Path) -> None:
    G = ox.load_graphml(out / "layout_000.graphml")
    assert isinstance(G, nx.MultiDiGraph)
    assert G.graph["crs"] == "EPSG:4326"
    for u, v, d in G.edges(data=True):
        assert G.has_edge(v, u)
        assert isinstance(d["oneway"], bool)
        assert isinstance(d["reversed"], bool)
        assert d["geometry"].coords[0] == (G.nodes[u]["x"], G.nodes[u]["y"])
    stats = ox.basic_stats(G)
    assert stats["n"] == 5
    assert stats["street_segment_count"] == 8
    assert stats["street_length_total"] == pytest.approx(1200.0)
    assert stats["intersection_count"] == 5
    route = ox.shortest_path(G, 1, 7, weight="length")  # bottom middle to top middle
    assert route == [1, 4, 7]
    fig, _ = ox.plot_graph(G, show=False, close=True)
    assert fig is not None


def test_graphml_round_trip_gives_the_same_geojson(out: Path) -> None:
    for gml, gj in zip(_files(out, ".graphml"), _files(out, ".geojson"), strict=True):
        again = geojson.feature_collection(graphml.from_osmnx(ox.load_graphml(gml)))
        assert json.loads(json.dumps(again)) == json.loads(gj.read_text()), gml.name


def test_osm_xml_is_valid_api_06_with_negative_ids(out: Path) -> None:
    root = ET.parse(out / "layout_001.osm").getroot()
    assert root.tag == "osm"
    assert root.get("version") == "0.6"
    assert root.get("upload") == "never"
    elements = list(root.iter("node")) + list(root.iter("way"))
    assert all(int(e.get("id")) < 0 and e.get("version") == "1" for e in elements)
    nodes = {n.get("id") for n in root.iter("node")}
    for way in root.iter("way"):
        refs = [nd.get("ref") for nd in way.iter("nd")]
        assert len(refs) >= 2
        assert set(refs) <= nodes
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        assert tags["highway"] in OSM_HIGHWAY.values()
        assert tags["oneway"] == "no"
    assert {t.get("v") for t in root.iter("tag") if t.get("k") == "highway"} == {
        "motorway",
        "unclassified",
    }


def test_all_formats_agree_on_counts_and_length(out: Path, layouts: list[nx.Graph]) -> None:
    for i in range(len(layouts)):
        stem = out / f"layout_{i:03d}"
        n_gj, m_gj, metric, geodesic = _geojson_facts(stem.with_suffix(".geojson"))
        n_gml, m_gml, length_gml = _graphml_facts(stem.with_suffix(".graphml"))
        n_osm, m_osm, length_osm = _osm_facts(stem.with_suffix(".osm"))
        assert n_gj == n_gml == n_osm, stem.name
        assert m_gj == m_gml == m_osm, stem.name
        assert length_gml == metric
        assert length_osm == pytest.approx(geodesic, rel=1e-12)


def test_osmnx_reads_the_osm_xml(out: Path, layouts: list[nx.Graph]) -> None:
    H = ox.graph_from_xml(out / "layout_002.osm", retain_all=True)
    length = sum(d["length"] for *_, d in ox.convert.to_undirected(H).edges(data=True))
    assert length == pytest.approx(total_length_m(layouts[2]), rel=0.01)


# the eclipse-sumo test extra puts netconvert beside the interpreter; a venv need not be on PATH
NETCONVERT = shutil.which("netconvert") or shutil.which("netconvert", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(NETCONVERT is None, reason="SUMO netconvert is not installed")
@pytest.mark.parametrize("index", [1, 5])
def test_sumo_netconvert_converts_without_errors(out: Path, index: int) -> None:
    osm = out / f"layout_{index:03d}.osm"
    net = osm.with_suffix(".net.xml")
    proc = subprocess.run(
        [NETCONVERT, "--osm-files", str(osm), "-o", str(net)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "Error" not in log
    root = ET.parse(net).getroot()
    edges = [e for e in root.iter("edge") if e.get("function") != "internal"]
    n_ways = len(ET.parse(osm).getroot().findall("way"))
    assert len(edges) == 2 * n_ways  # every way, both directions, none split or lost
