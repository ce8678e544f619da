"""``citygen export``: real prepared tiles in every format, and its error messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyproj
import pytest

from citygen.cli import main
from citygen.errors import DatasetError
from citygen.layout import total_length_m
from data_prep.prepare import make_sources, prepare
from data_prep.shards import load_dataset
from export.geo import geodesic_distance_m, geodesic_length_m

TILE = "test/0_0"


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "export-test-data"  # shared by the export tests
    try:
        load_dataset(root)
    except DatasetError:
        prepare(make_sources(bundled="test"), root, progress=False)
    return root


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _street_coords(path: Path) -> list[np.ndarray]:
    fc = json.loads(path.read_text())
    return [
        np.array(f["geometry"]["coordinates"])
        for f in fc["features"]
        if f["geometry"]["type"] == "LineString"
    ]


def test_export_writes_every_format_at_the_real_place(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = _run(
        capsys,
        "--data",
        str(dataset_dir),
        "--tile",
        TILE,
        "--format",
        "all",
        "--out",
        str(tmp_path),
    )
    assert (code, err) == (0, "")
    names = ["test_0_0.geojson", "test_0_0.graphml", "test_0_0.osm", "test_0_0.png", "sheet.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert all(name in out for name in names)
    tile = next(t for t in load_dataset(dataset_dir).tiles() if t.id == TILE)
    to_wgs = pyproj.Transformer.from_crs(tile.info["crs"], "EPSG:4326", always_xy=True)
    centre = to_wgs.transform(*tile.info["center"])
    lines = _street_coords(tmp_path / "test_0_0.geojson")
    assert max(geodesic_distance_m(tuple(p), centre) for c in lines for p in c) < 710.0
    length = sum(geodesic_length_m(c) for c in lines)
    assert length == pytest.approx(total_length_m(tile.layout()), rel=0.01)


def test_export_at_a_given_centre_with_negative_latitude(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _, err = _run(
        capsys,
        "--data",
        str(dataset_dir),
        "--tile",
        TILE,
        "--center=-33.92,18.42",
        "--out",
        str(tmp_path),
    )
    assert (code, err) == (0, "")
    fc = json.loads((tmp_path / "test_0_0.geojson").read_text())
    assert fc["citygen"]["center"] == pytest.approx([-33.92, 18.42])
    points = np.concatenate(_street_coords(tmp_path / "test_0_0.geojson"))
    assert max(geodesic_distance_m(tuple(p), (18.42, -33.92)) for p in points) < 710.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--center", "95,24.9"], "latitude must be within -90..90"),
        (["--center", "60.1;24.9"], "--center must be LAT,LON"),
        (["--center", "north"], "--center must be LAT,LON"),
        (["--format", "geojson,shapefile"], "unknown format 'shapefile'"),
        (["--tile", "test/9_9"], "no tile 'test/9_9'"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    base = ["--data", str(dataset_dir), "--tile", TILE, "--out", str(out)]
    code, _, err = _run(capsys, *base, *args)
    assert code == 1
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_output_path_that_is_a_file(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, err = _run(capsys, "--data", str(dataset_dir), "--tile", TILE, "--out", str(target))
    assert code == 1
    assert "is a file" in err
    assert target.read_text() == "x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_output_directory(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = _run(capsys, "--data", str(dataset_dir), "--tile", TILE, "--out", str(out))
        assert code == 1
        assert "not writable" in err
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_not_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "--data", str(tmp_path), "--tile", TILE, "--out", str(tmp_path))
    assert code == 1
    assert "not a citygen data set" in err


def test_help_lists_export(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "export" in capsys.readouterr().out
