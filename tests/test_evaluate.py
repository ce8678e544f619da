"""citygen evaluate: the report on real data, layouts read back from files, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from citygen.errors import InputDataError
from citygen.layout import total_length_m
from citygen.metrics import baselines as bl
from citygen.metrics.read import read_layout, read_layouts
from citygen.metrics.report import RealSets, evaluate, format_table
from data_prep.shards import load_dataset
from export import write_layouts


def citygen(*args):
    return subprocess.run(
        [sys.executable, "-m", "citygen", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def generated(bundled_small_dir, tmp_path_factory):
    """Baseline layouts at the data's tile size, written as GeoJSON and GraphML like generate does."""
    data = load_dataset(bundled_small_dir)
    layouts = bl.make_baselines(
        "growth", 6, data.tile_size, 60.0, np.array([0.2, 0, 0.6, 0.2, 0, 0]), seed=0
    )
    out = tmp_path_factory.mktemp("generated")
    write_layouts(layouts, out, formats=("geojson", "graphml"))
    return out, layouts


def test_layouts_read_back_from_geojson_and_graphml(generated):
    out, layouts = generated
    for i, G in enumerate(layouts):
        for ext in ("geojson", "graphml"):
            H = read_layout(out / f"layout_{i:03d}.{ext}")
            assert H.graph["tile_size"] == pytest.approx(G.graph["tile_size"])
            assert total_length_m(H) == pytest.approx(total_length_m(G), rel=1e-3)
            assert sum(d["border"] for _, d in H.nodes(data=True)) == sum(
                d["border"] for _, d in G.nodes(data=True)
            )
            assert H.number_of_edges() == G.number_of_edges()


def test_read_layouts_prefers_geojson_and_names_bad_files(generated, tmp_path):
    out, layouts = generated
    read, files = read_layouts(out)
    assert len(read) == len(layouts) and all(f.suffix == ".geojson" for f in files)
    (tmp_path / "a.geojson").write_text("{not json")
    with pytest.raises(InputDataError, match="a.geojson"):
        read_layouts(tmp_path)
    with pytest.raises(InputDataError, match="no such folder"):
        read_layouts(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no .geojson"):
        read_layouts(tmp_path / "empty")


def test_report_on_real_tiles(bundled_small_dir, generated):
    out, _ = generated
    report, sets = evaluate(bundled_small_dir, generated=out, seed=0, progress=False)
    floor, model = report.row("floor"), report.row("model")
    assert floor.realism == pytest.approx(1.0)
    assert [r.name for r in report.rows] == [
        "floor",
        "model",
        "jittered_grid",
        "random_planar",
        "growth",
    ]
    assert np.isfinite(model.realism) and model.realism > 0
    assert set(model.ratio) <= set(floor.distance)
    assert model.planar == 1.0 and model.novelty == 1.0
    assert "realism score" in format_table(report)
    # the same layouts score the same realism as the scorer steering uses
    real = RealSets(load_dataset(bundled_small_dir))
    assert real.row("again", sets["model"], check_novelty=False).realism == pytest.approx(
        model.realism
    )


def test_cli_writes_table_json_and_plots(bundled_small_dir, generated, tmp_path):
    out, _ = generated
    r = citygen(
        "evaluate",
        "--data",
        str(bundled_small_dir),
        "--generated",
        str(out),
        "--json",
        str(tmp_path / "r.json"),
        "--plots",
        str(tmp_path / "plots"),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert "realism score" in r.stdout and "growth" in r.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {row["name"] for row in doc["rows"]} == {
        "floor",
        "model",
        "jittered_grid",
        "random_planar",
        "growth",
    }
    assert (tmp_path / "plots" / "statistics.png").stat().st_size > 10_000
    assert (tmp_path / "plots" / "sheet_model.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--data", "{empty}"], "not a citygen data set"),
        (["--data", "{missing}"], "no such data set"),
        (["--generated", "{bad}"], "broken.graphml"),
        ([], "tiles but"),  # the default model draws 1 km tiles, this data set has 250 m tiles
    ],
)
def test_bad_input(bundled_small_dir, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.graphml").write_text("<graphml>")
    fill = {
        "{empty}": str(tmp_path / "empty"),
        "{missing}": str(tmp_path / "missing"),
        "{bad}": str(tmp_path / "bad"),
    }
    args = [fill.get(a, a) for a in args]
    base = [] if "--data" in args else ["--data", str(bundled_small_dir)]
    r = (
        citygen("evaluate", *base, *args, "--n", "2", "--no-progress")
        if "--n" not in args and "--generated" not in args  # --n is refused with --generated
        else citygen("evaluate", *base, *args, "--no-progress")
    )
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
