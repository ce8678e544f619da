"""Reading layout files (evaluate --generated): malformed GeoJSON and foreign CRSs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import pyproj
import pytest

from citygen.errors import InputDataError
from citygen.layout import total_length_m
from citygen.metrics.read import read_layout
from export import write_layouts

LINE = {"type": "LineString", "coordinates": [[24.93, 60.16], [24.94, 60.17]]}


def _fc(*features: object, **extra: object) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def _feature(geometry: object, properties: object = None) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties or {}}


MALFORMED = {
    "features-a-number": ({"type": "FeatureCollection", "features": 5}, "no list of features"),
    "no-features": ({"type": "FeatureCollection"}, "no list of features"),
    "top-level-list": ([LINE], "no list of features"),
    "feature-a-number": (_fc(5), "feature 0: a feature must be an object"),
    "geometry-a-string": (_fc(_feature("LineString")), "feature 0: geometry must be an object"),
    "no-type": (_fc(_feature({"coordinates": LINE["coordinates"]})), "geometry has no type"),
    "null-coordinates": (_fc(_feature({"type": "LineString", "coordinates": None})), "at least 2"),
    "ragged": (
        _fc(_feature({"type": "LineString", "coordinates": [[24.9, 60.1], [24.9]]})),
        "a position must be a list of 2 or 3 numbers",
    ),
    "too-shallow": (
        _fc(_feature({"type": "LineString", "coordinates": [24.9, 60.1]})),
        "a position must be a list",
    ),
    "too-deep": (
        _fc(_feature({"type": "LineString", "coordinates": [[[24.9, 60.1]], [[24.9, 60.2]]]})),
        "a position must be a list of 2 or 3 numbers, got [[24.9, 60.1]]",
    ),
    "non-numeric": (
        _fc(_feature({"type": "LineString", "coordinates": [["a", 60.1], [24.9, 60.2]]})),
        "holds a non-number",
    ),
    "boolean": (
        _fc(_feature({"type": "LineString", "coordinates": [[True, 60.1], [24.9, 60.2]]})),
        "holds a non-number",
    ),
    "nan": (
        _fc(_feature({"type": "LineString", "coordinates": [[math.nan, 60.1], [24.9, 60.2]]})),
        "NaN or infinite",
    ),
    "infinity": (
        _fc(_feature({"type": "LineString", "coordinates": [[math.inf, 60.1], [24.9, 60.2]]})),
        "NaN or infinite",
    ),
    "multi-not-a-list": (
        _fc(_feature({"type": "MultiLineString", "coordinates": 3})),
        "a MultiLineString needs a list",
    ),
    "properties-a-string": (_fc(_feature(LINE, "residential")), "properties must be an object"),
    "points-only": (
        _fc(_feature({"type": "Point", "coordinates": [24.9, 60.1]}, {"border": True})),
        "no street lines",
    ),
    "empty": (_fc(), "no street lines"),
    "metres-without-crs": (
        _fc(_feature({"type": "LineString", "coordinates": [[2.7e6, 8.4e6], [2.8e6, 8.4e6]]})),
        "not longitude/latitude",
    ),
    "unknown-crs": (
        _fc(_feature(LINE), crs={"type": "name", "properties": {"name": "EPSG:999999"}}),
        "unknown crs 'EPSG:999999'",
    ),
    "linked-crs": (
        _fc(_feature(LINE), crs={"type": "link", "properties": {"href": "http://x"}}),
        "unsupported crs member",
    ),
    "bad-citygen-centre": (
        _fc(_feature(LINE), citygen={"placement": "aeqd", "center": "x", "tile_size_m": 1000}),
        "bad centre or tile size",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_geojson_names_the_file_and_the_problem(tmp_path, case):
    doc, words = MALFORMED[case]
    path = tmp_path / f"{case}.geojson"
    path.write_text(json.dumps(doc))  # json writes NaN / Infinity tokens, as some tools do
    with pytest.raises(InputDataError) as info:
        read_layout(path)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def _layout() -> nx.Graph:
    import numpy as np

    from citygen.metrics import baselines as bl

    return bl.make_baselines("growth", 1, 1000.0, 60.0, np.array([0.2, 0, 0.6, 0.2, 0, 0]), 0)[0]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[nx.Graph, Path]:
    G = _layout()
    out = tmp_path_factory.mktemp("layout")
    write_layouts([G], out, formats=("geojson", "graphml"))
    return G, out


def _reproject_geojson(src: Path, dst: Path, crs_name: str, keep_meta: bool) -> None:
    doc = json.loads(src.read_text())
    to = pyproj.Transformer.from_crs("OGC:CRS84", crs_name, always_xy=True)
    for f in doc["features"]:
        g = f["geometry"]
        if g["type"] == "LineString":
            g["coordinates"] = [list(to.transform(x, y)) for x, y in g["coordinates"]]
        elif g["type"] == "Point":
            g["coordinates"] = list(to.transform(*g["coordinates"]))
    doc["crs"] = {"type": "name", "properties": {"name": crs_name}}
    if not keep_meta:
        doc.pop("citygen", None)
    dst.write_text(json.dumps(doc))


@pytest.mark.parametrize("keep_meta", [True, False], ids=["citygen", "foreign"])
@pytest.mark.parametrize(
    "crs_name", ["EPSG:3857", "urn:ogc:def:crs:EPSG::3857", "urn:ogc:def:crs:OGC:1.3:CRS84"]
)
def test_geojson_with_a_crs_member_reads_ground_lengths(written, tmp_path, crs_name, keep_meta):
    G, out = written
    path = tmp_path / "layout.geojson"
    _reproject_geojson(out / "layout_000.geojson", path, crs_name, keep_meta)
    plain = read_layout(out / "layout_000.geojson")
    H = read_layout(path)
    rel = 1e-6 if keep_meta else 1e-3
    assert total_length_m(H) == pytest.approx(total_length_m(G), rel=rel)
    assert total_length_m(H) == pytest.approx(total_length_m(plain), rel=rel)
    assert H.number_of_edges() == plain.number_of_edges()


def test_graphml_in_web_mercator_is_not_read_with_lengths_doubled(written, tmp_path):
    import osmnx as ox

    G, out = written
    graph = ox.load_graphml(out / "layout_000.graphml")
    projected = ox.projection.project_graph(graph, to_crs="EPSG:3857")
    path = tmp_path / "mercator.graphml"
    ox.save_graphml(projected, path)
    H = read_layout(path)
    assert H.graph["tile_size"] < 1500  # a 1 km tile, not 2 km of Mercator "metres"
    assert total_length_m(H) == pytest.approx(total_length_m(G), rel=1e-3)
    utm = ox.projection.project_graph(graph)  # osmnx's default: the local UTM zone
    ox.save_graphml(utm, tmp_path / "utm.graphml")
    assert total_length_m(read_layout(tmp_path / "utm.graphml")) == pytest.approx(
        total_length_m(G), rel=1e-3
    )


def test_graphml_with_an_unknown_crs_is_refused(written, tmp_path):
    import osmnx as ox

    _, out = written
    graph = ox.load_graphml(out / "layout_000.graphml")
    graph.graph["crs"] = "EPSG:999999"
    ox.save_graphml(graph, tmp_path / "bad.graphml")
    with pytest.raises(InputDataError, match=r"unknown crs 'EPSG:999999'"):
        read_layout(tmp_path / "bad.graphml")


def test_generated_may_name_one_layout_file(written, tmp_path):
    """--generated FILE said "no such folder" of a file that exists; it is now read alone."""
    from citygen.metrics.read import read_layouts

    _, out = written
    path = next(p for p in out.iterdir() if p.suffix == ".geojson")
    layouts, files = read_layouts(path)
    assert files == [path] and len(layouts) == 1
    with pytest.raises(InputDataError, match="not a folder of generated layouts"):
        read_layouts(Path("/dev/null"))
