"""Site infill on a real extract: every crossing joined, no crossing of real streets, inside."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import networkx as nx
import pyproj
import pytest
import shapely

from citygen.cli import main
from citygen.infill import context_graph, cut_context, infill
from citygen.infill_io import read_site
from citygen.model.checkpoint import load_model
from data_prep.clean import clean
from data_prep.prepare import Source


@pytest.fixture(scope="module")
def region():
    return clean(Source("bundled", "test", "test").load())


@pytest.fixture(scope="module")
def context(region):
    return context_graph(region)


def l_shape(region, half: float = 500.0) -> shapely.Polygon:
    """A non-convex L-shaped site of 0.75 km2 around the extract's centre (its CRS)."""
    cx, cy = region.xy.mean(0)
    h = half
    return shapely.Polygon(
        [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy), (cx, cy), (cx, cy + h), (cx - h, cy + h)]
    )


def write_site(path: Path, poly: shapely.Polygon, src_crs: str, dst: str = "EPSG:4326") -> Path:
    tr = pyproj.Transformer.from_crs(src_crs, dst, always_xy=True)
    ring = [list(tr.transform(x, y)) for x, y in poly.exterior.coords]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    if dst != "EPSG:4326":
        fc["crs"] = {"type": "name", "properties": {"name": dst}}
    path.write_text(json.dumps(fc))
    return path


@pytest.fixture(scope="module")
def candidates(region, context):
    return infill(load_model(), context, l_shape(region), n=2, seed=0)


def _lines(G: nx.Graph, generated: bool) -> list:
    return [
        (
            u,
            v,
            shapely.LineString(
                [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]
            ),
        )
        for u, v, g in G.edges(data="generated")
        if bool(g) == generated
    ]


def test_every_crossing_street_is_joined(candidates):
    for c in candidates:
        assert len(c.fixed) > 5
        assert c.unjoined == []
        for f in c.fixed:
            gens = [m for m in c.graph.neighbors(f) if c.graph.edges[f, m]["generated"]]
            reals = [m for m in c.graph.neighbors(f) if not c.graph.edges[f, m]["generated"]]
            assert gens, f"crossing {f} not joined"
            assert reals


def test_new_streets_stay_inside_and_cross_no_real_street(region, candidates):
    site = l_shape(region).buffer(1e-6)
    for c in candidates:
        new, real = _lines(c.graph, True), _lines(c.graph, False)
        assert new
        assert all(site.covers(line) for *_, line in new)
        tree = shapely.STRtree([line for *_, line in real])
        for u, v, line in new:
            for k in tree.query(line, predicate="intersects"):
                a, b, _ = real[int(k)]
                assert {u, v} & {a, b}, "a new street crosses a real one"


def test_keep_existing_keeps_inner_streets_and_joins_new_ones_to_them(region, context):
    site = l_shape(region)
    (c,) = infill(load_model(), context, site, n=1, seed=0, keep_existing=True)
    real = _lines(c.graph, False)
    assert len(real) == context.number_of_edges()
    new = _lines(c.graph, True)
    assert new
    tree = shapely.STRtree([line for *_, line in real])
    for u, v, line in new:
        assert site.buffer(1e-6).covers(line)
        for k in tree.query(line, predicate="intersects"):
            assert {u, v} & set(real[int(k)][:2])
    assert nx.number_connected_components(c.graph) <= nx.number_connected_components(context)


def test_new_streets_are_drawn_in_the_style_of_the_surroundings(candidates):
    for c in candidates:
        assert c.style_windows > 0
        assert c.values["connector_share"] < 0.5  # the model drew most of the new streets


def test_no_more_components_than_the_context(context, candidates):
    for c in candidates:
        assert nx.number_connected_components(c.graph) <= nx.number_connected_components(context)


def test_inner_real_streets_are_removed_unless_kept(region, context):
    site = l_shape(region)
    kept, _ = cut_context(context, site, keep_existing=False)
    inner = shapely.prepared.prep(site.buffer(-1.0))
    assert not any(inner.contains(shapely.Point(d["x"], d["y"])) for _, d in kept.nodes(data=True))
    same, none = cut_context(context, site, keep_existing=True)
    assert same.number_of_edges() == context.number_of_edges()
    assert none == []


def test_site_in_another_crs_reads_the_same(tmp_path, region):
    poly = l_shape(region)
    a = read_site(write_site(tmp_path / "a.geojson", poly, region.crs), region.crs)
    b = read_site(write_site(tmp_path / "b.geojson", poly, region.crs, "EPSG:3067"), region.crs)
    assert a.symmetric_difference(b).area < 1.0
    assert a.area == pytest.approx(poly.area, rel=1e-6)


def test_cli_writes_every_candidate(tmp_path, region, capsys):
    site = write_site(tmp_path / "site.geojson", l_shape(region, 300.0), region.crs)
    out = tmp_path / "out"
    code = main(
        [
            "infill",
            "--site",
            str(site),
            "--bundled",
            "test",
            "--n",
            "2",
            "--objective",
            "connectivity",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    for k in range(2):
        d = out / f"candidate_{k}"
        names = sorted(p.name for p in d.iterdir())
        assert names == [
            "merged.geojson",
            "merged.graphml",
            "merged.osm",
            "new.geojson",
            "new.graphml",
            "new.osm",
            "over_context.png",
        ]
        fc = json.loads((d / "merged.geojson").read_text())
        flags = {
            f["properties"]["generated"]
            for f in fc["features"]
            if f["properties"]["kind"] == "street"
        }
        assert flags == {True, False}
        _assert_generated_in_every_format(d)
    table = json.loads((out / "candidates.json").read_text())
    assert [t["score"] for t in table] == sorted((t["score"] for t in table), reverse=True)
    assert (out / "sheet.png").stat().st_size > 0


def _generated_lengths(d: Path, stem: str) -> dict[str, tuple[float, float]]:
    """Metres of (generated, real) street per format, read back from the written files."""
    import osmnx as ox

    from export.graphml import FLAG_DTYPES

    fc = json.loads((d / f"{stem}.geojson").read_text())
    streets = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "street"]
    G = ox.load_graphml(d / f"{stem}.graphml", edge_dtypes=FLAG_DTYPES)
    edges = [e for *_, e in G.edges(data=True) if not e["reversed"]]
    ways = list(ET.parse(d / f"{stem}.osm").getroot().iter("way"))
    tags = [{t.get("k"): t.get("v") for t in w.iter("tag")} for w in ways]
    lengths = [p["length_m"] for p in streets]  # ways are the streets, in the same order
    return {
        "geojson": _split(lengths, [p["generated"] for p in streets]),
        "graphml": _split([e["length"] for e in edges], [e["generated"] for e in edges]),
        "osm": _split(lengths, [t["citygen:generated"] == "yes" for t in tags]),
    }


def _split(lengths: list, flags: list) -> tuple[float, float]:
    assert len(lengths) == len(flags)
    assert all(type(f) is bool for f in flags)
    gen = sum(v for v, f in zip(lengths, flags, strict=True) if f)
    return round(gen, 3), round(sum(lengths) - gen, 3)


def _assert_generated_in_every_format(d: Path) -> None:
    merged = _generated_lengths(d, "merged")
    assert len(set(merged.values())) == 1, merged  # every format says the same
    gen, real = merged["geojson"]
    assert gen > 0
    assert real > 0
    new = _generated_lengths(d, "new")
    assert set(new.values()) == {(gen, 0.0)}  # the new streets alone: all generated, same metres


def _bad(tmp_path: Path, geometry: dict | None, crs: str | None = None) -> Path:
    fc = {
        "type": "FeatureCollection",
        "features": []
        if geometry is None
        else [{"type": "Feature", "properties": {}, "geometry": geometry}],
    }
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    p = tmp_path / "bad.geojson"
    p.write_text(json.dumps(fc))
    return p


@pytest.mark.parametrize(
    ("geometry", "crs", "words"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[24.9, 60.1], [24.91, 60.11], [24.91, 60.1], [24.9, 60.11], [24.9, 60.1]]
                ],
            },
            None,
            "invalid",
        ),
        (None, None, "no geometry"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[2.3, 48.8], [2.31, 48.8], [2.31, 48.81], [2.3, 48.8]]],
            },
            None,
            "does not overlap",
        ),
        (
            {"type": "Polygon", "coordinates": [[[20, 58], [30, 58], [30, 64], [20, 58]]]},
            None,
            "too large",
        ),
        ({"type": "Point", "coordinates": [24.9, 60.1]}, None, "must be a polygon"),
    ],
)
def test_bad_sites_are_one_line_errors_and_write_nothing(tmp_path, capsys, geometry, crs, words):
    site = _bad(tmp_path, geometry, crs)
    out = tmp_path / "out"
    code = main(["infill", "--site", str(site), "--bundled", "test", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ")
    assert words in err
    assert err.count("\n") == 1
    assert not out.exists()


FOOTWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1710" lon="24.9410"/>
  <node id="3" lat="60.1720" lon="24.9400"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
</osm>
"""


def test_context_without_drivable_streets_is_an_error(tmp_path, capsys, region):
    osm = tmp_path / "footways.osm"
    osm.write_text(FOOTWAYS)
    site = write_site(tmp_path / "site.geojson", l_shape(region), region.crs)
    out = tmp_path / "out"
    code = main(["infill", "--site", str(site), "--context", str(osm), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "error: no drivable streets\n"
    assert not out.exists()


def test_site_crs_without_units_of_length_is_an_error(tmp_path, region):
    from citygen.errors import UsageError

    engineering = pyproj.CRS.from_json_dict(
        {
            "type": "EngineeringCRS",
            "name": "site grid",
            "datum": {"type": "EngineeringDatum", "name": "local"},
            "coordinate_system": {
                "subtype": "Cartesian",
                "axis": [
                    {"name": "x", "abbreviation": "x", "direction": "east", "unit": "unity"},
                    {"name": "y", "abbreviation": "y", "direction": "north", "unit": "unity"},
                ],
            },
        }
    )
    import geopandas as gpd

    path = tmp_path / "grid.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs=engineering).to_file(path)
    with pytest.raises(UsageError, match="no units of length"):
        read_site(path, region.crs)


def test_cli_writes_one_run_folder_and_refuses_an_earlier_run_first(tmp_path, region, capsys,
                                                                    monkeypatch):  # fmt: skip
    """A second infill into the same folder is refused before the context is read; with
    --overwrite the old run's candidates are all gone (no candidate_1 of a 2-candidate run)."""
    import data_prep.clean
    from export.run import verify_run

    site = write_site(tmp_path / "site.geojson", l_shape(region, 300.0), region.crs)
    out = tmp_path / "out"
    base = ["infill", "--site", str(site), "--bundled", "test", "--format", "geojson"]
    assert main([*base, "--n", "2", "--out", str(out)]) == 0, capsys.readouterr().err
    assert {"candidate_0/new.geojson", "candidate_1/new.geojson"} <= set(verify_run(out)["files"])

    def no_context(*args, **kwargs):
        raise AssertionError("read the context before checking the output folder")

    with monkeypatch.context() as m:
        m.setattr(data_prep.clean, "clean", no_context)
        capsys.readouterr()
        assert main([*base, "--n", "1", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert "earlier run" in err and "--overwrite" in err and err.count("\n") == 1
        assert main([*base, "--n", "1", "--out", str(site / "x")]) == 1
        assert capsys.readouterr().err.startswith("error: --out")
    assert main([*base, "--n", "1", "--seed", "5", "--overwrite", "--out", str(out)]) == 0
    manifest = verify_run(out)
    assert manifest["seed"] == 5 and manifest["n"] == 1
    assert not (out / "candidate_1").exists()


def test_cli_samples_with_the_temperatures_asked_for(tmp_path, region, capsys, monkeypatch):
    """--temperature and --structure-temperature reach the infill sampler; 0 is refused first."""
    import citygen.infill
    from citygen.errors import UsageError

    seen = {}

    def capture(*args, **kwargs):
        seen["config"] = kwargs["config"]
        raise UsageError("stop after the config")

    monkeypatch.setattr(citygen.infill, "infill", capture)
    site = write_site(tmp_path / "site.geojson", l_shape(region, 300.0), region.crs)
    base = ["infill", "--site", str(site), "--bundled", "test"]
    code = main([*base, "--temperature", "0.6", "--structure-temperature", "0.9",
                 "--out", str(tmp_path / "a")])  # fmt: skip
    assert code == 1
    assert "stop after the config" in capsys.readouterr().err
    cfg = seen.pop("config")
    assert (cfg.temperature, cfg.structure_temperature) == (0.6, 0.9)
    assert main([*base, "--out", str(tmp_path / "b")]) == 1
    cfg = seen.pop("config")
    assert (cfg.temperature, cfg.structure_temperature) == (0.6, 1.0)  # generate's defaults
    capsys.readouterr()
    assert main([*base, "--temperature", "0", "--out", str(tmp_path / "c")]) == 1
    assert capsys.readouterr().err.startswith("error: max_nodes must be >= 2, temperature > 0")
    assert "config" not in seen
    assert not (tmp_path / "c").exists()
