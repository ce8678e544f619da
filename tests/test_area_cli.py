"""``citygen generate --area``: one network in every format, steering per tile, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import osmnx as ox
import pytest

from citygen.area.size import parse_area
from citygen.cli import main
from citygen.errors import UsageError
from export.geo import geodesic_distance_m

NETCONVERT = shutil.which("netconvert") or shutil.which(
    "netconvert", path=str(Path(sys.executable).parent)
)


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def area_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("area")
    code = main(
        [
            "generate",
            "--area",
            "2kmx1km",
            "--format",
            "all",
            "--seed",
            "2",
            "--center",
            "48.8566,2.3522",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_one_file_per_format(area_dir: Path):
    assert sorted(p.name for p in area_dir.iterdir()) == [
        "area.geojson",
        "area.graphml",
        "area.osm",
        "area.png",
        "citygen-run.json",  # the run's manifest (export.run), as generate writes
    ]


def test_geojson_is_the_whole_area_at_the_centre(area_dir: Path):
    fc = json.loads((area_dir / "area.geojson").read_text())
    assert fc["citygen"]["area_m"] == [2000.0, 1000.0]
    assert fc["citygen"]["seam_defects"]["unjoined"] == 0
    df = gpd.read_file(area_dir / "area.geojson", engine="pyogrio")
    lines = df[df.geometry.geom_type == "LineString"]
    assert len(lines) > 0
    assert lines.geometry.is_valid.all()
    xs = np.concatenate([np.asarray(g.coords)[:, 0] for g in lines.geometry])
    ys = np.concatenate([np.asarray(g.coords)[:, 1] for g in lines.geometry])
    # every point lies within the 2 x 1 km rectangle around the centre (half-diagonal 1118 m)
    far = max(
        geodesic_distance_m((2.3522, 48.8566), (lo, la)) for lo, la in zip(xs, ys, strict=True)
    )
    assert far <= 1119.0
    assert xs.max() - xs.min() > ys.max() - ys.min()  # wider than tall, in degrees too


def test_graphml_loads_in_osmnx_as_one_network(area_dir: Path):
    G = ox.load_graphml(area_dir / "area.graphml")
    assert G.number_of_nodes() > 0
    und = G.to_undirected()
    import networkx as nx

    big = max(nx.connected_components(und), key=len)
    assert len(big) / und.number_of_nodes() > 0.5


def test_connector_and_seam_flags_say_the_same_in_every_format(area_dir: Path):
    from export.graphml import FLAG_DTYPES

    fc = json.loads((area_dir / "area.geojson").read_text())
    streets = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "street"]
    G = ox.load_graphml(area_dir / "area.graphml", edge_dtypes=FLAG_DTYPES)
    edges = [d for *_, d in G.edges(data=True) if not d["reversed"]]
    ways = [
        {t.get("k"): t.get("v") for t in w.iter("tag")}
        for w in ET.parse(area_dir / "area.osm").getroot().iter("way")
    ]
    for flag in ("connector", "reclassed", "seam"):
        in_geojson = [i for i, p in enumerate(streets) if p[flag]]  # street i is osmid i
        in_graphml = sorted(int(d["osmid"]) for d in edges if d[flag])
        in_osm = sorted(i for i, t in enumerate(ways) if t[f"citygen:{flag}"] == "yes")
        assert in_geojson == in_graphml == in_osm, flag
    assert any(p["connector"] for p in streets)
    assert any(p["seam"] for p in streets)
    length = sum(p["length_m"] for p in streets if p["connector"])
    assert length == pytest.approx(fc["citygen"]["area_stats"]["connector_length_m"], abs=0.5)


@pytest.mark.skipif(NETCONVERT is None, reason="SUMO netconvert is not installed")
def test_sumo_netconvert_reads_the_area(area_dir: Path, tmp_path: Path):
    net = tmp_path / "area.net.xml"
    proc = subprocess.run(
        [NETCONVERT, "--osm-files", str(area_dir / "area.osm"), "-o", str(net)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Error" not in proc.stdout + proc.stderr
    edges = [e for e in ET.parse(net).getroot().iter("edge") if e.get("function") != "internal"]
    assert edges


def test_objective_steers_each_tile_best_of_n(capsys, tmp_path: Path):
    code, _, err = _run(
        capsys,
        "--area",
        "1000x2000",
        "--objective",
        "connectivity",
        "--candidates",
        "2",
        "--realism",
        "0",
        "--format",
        "geojson",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    meta = json.loads((tmp_path / "area.geojson").read_text())["citygen"]
    assert meta["objective"]["method"] == "best-of-n per tile"
    assert meta["objective"]["candidates"] == 2
    assert meta["area_stats"]["samples"] == 4  # 2 tiles x 2 candidates


@pytest.mark.parametrize(
    ("area", "words"),
    [
        ("0x1000", "positive"),
        ("-5x5", "cannot read area"),
        ("fivekm", "cannot read area"),
        ("30kmx30km", "at most 400 km2"),
    ],
)
def test_bad_area_is_one_line_error_and_writes_nothing(capsys, tmp_path: Path, area, words):
    out = tmp_path / "out"
    code, _, err = _run(capsys, f"--area={area}", "--out", str(out))
    assert code == 1
    assert err.startswith("error: ")
    assert words in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_smc_is_refused_for_areas(capsys, tmp_path: Path):
    code, _, err = _run(
        capsys,
        "--area",
        "1km",
        "--objective",
        "length",
        "--method",
        "smc",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 1
    assert "best-of-n" in err


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5000x5000", (5000.0, 5000.0)),
        ("5kmx5km", (5000.0, 5000.0)),
        ("2.5km", (2500.0, 2500.0)),
        ("3km x 1500", (3000.0, 1500.0)),
        ("1e3x2e3", (1000.0, 2000.0)),
    ],
)
def test_parse_area(text, size):
    assert parse_area(text) == size


def test_parse_area_refuses_junk():
    with pytest.raises(UsageError):
        parse_area("5x")


def test_an_area_is_one_run_folder_checked_before_sampling(capsys, tmp_path: Path, monkeypatch):
    """Like generate: a second run is refused before any sampling, --overwrite replaces it whole,
    and a folder of the user's own files is never written to."""
    import citygen.area
    from export.run import verify_run

    out = tmp_path / "area"
    code, _, err = _run(capsys, "--area", "1000x1000", "--format", "geojson,png", "--out", str(out))
    assert code == 0, err
    assert sorted(verify_run(out)["files"]) == ["area.geojson", "area.png"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the output folder was checked")

    monkeypatch.setattr(citygen.area, "generate_area", no_sampling)
    code, _, err = _run(capsys, "--area", "1000x1000", "--seed", "1", "--out", str(out))
    assert code == 1 and "earlier run" in err and "--overwrite" in err and err.count("\n") == 1
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, _, err = _run(capsys, "--area", "1000x1000", "--overwrite", "--out", str(mine))
    assert code == 1 and "files of no citygen run" in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    code, _, err = _run(capsys, "--area", "1000x1000", "--out", str(tmp_path / "f" / "x"),
                        "--center", "")  # fmt: skip
    assert code == 1 and "--center" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    monkeypatch.undo()
    code, _, err = _run(capsys, "--area", "1000x1000", "--seed", "1", "--format", "geojson",
                        "--overwrite", "--out", str(out))  # fmt: skip
    assert code == 0, err
    manifest = verify_run(out)
    assert sorted(manifest["files"]) == ["area.geojson"]  # the old run's PNG is gone
    assert manifest["seed"] == 1 and manifest["area_m"] == [1000.0, 1000.0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_area_samples_with_the_temperatures_asked_for(capsys, tmp_path: Path, monkeypatch):
    """--temperature and --structure-temperature reach the area's sampler (one config for both)."""
    import citygen.area

    seen = {}

    def capture(*args, **kwargs):
        seen["config"] = kwargs["config"]
        raise UsageError("stop after the config")

    monkeypatch.setattr(citygen.area, "generate_area", capture)
    code, _, err = _run(capsys, "--area", "1000x1000", "--temperature", "0.85",
                        "--structure-temperature", "1", "--out", str(tmp_path / "a"))  # fmt: skip
    assert code == 1 and "stop after the config" in err
    cfg = seen["config"]
    assert (cfg.temperature, cfg.structure_temperature) == (0.85, 1.0)
