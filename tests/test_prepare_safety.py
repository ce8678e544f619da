"""``citygen prepare`` never damages a data set it is run into, and refuses bad input early.

Issue 15, items 1, 7, 10 (prepare side) and 12: a failed run leaves the data set as it was;
dropping regions needs ``--add`` or ``--replace``; huge grids, non-finite settings, nodes off the
globe and unknown schedulers are one ``error:`` line; damaged shards are caught on load.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import data_prep.schedule as schedule
from citygen.cli import main
from citygen.errors import DatasetError
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import MANIFEST, load_dataset
from data_prep.tiles import MAX_TILES

DATA = Path(__file__).resolve().parent / "data"
GRID = DATA / "grid.osm"
SMALL = ["--tile-size", "500", "--block", "1", "--no-progress"]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Run ``citygen ARGS`` in process; return the exit status and stderr."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def one_error(code: int, err: str, *words: str) -> str:
    """Exit 1 and exactly one ``error:`` line holding every word."""
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete data set of the bundled test extract in 500 m tiles."""
    out = tmp_path_factory.mktemp("good") / "data"
    prepare(
        make_sources(bundled="test"), out, PrepareConfig(tile_size=500.0, block=1), progress=False
    )
    return out


@pytest.fixture
def data(good: Path, tmp_path: Path) -> Path:
    """A private copy of the good data set."""
    out = tmp_path / "data"
    shutil.copytree(good, out)
    return out


def osm_variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """``tests/data/grid.osm`` with one text replaced."""
    text = GRID.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_failed_prepare_leaves_the_data_set_as_it_was(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = tree(data)
    truncated = tmp_path / "cut.osm"
    truncated.write_text(GRID.read_text()[:2000])
    code, err = run(
        capsys, "prepare", "--osm", str(truncated), "--out", str(data), "--replace", *SMALL
    )
    one_error(code, err, "cut.osm")
    assert tree(data) == before
    assert sorted(p.name for p in data.iterdir()) == ["manifest.json", "regions"]
    ds = load_dataset(data)
    assert ds.sequences("train")  # what train needs is all there
    code, err = run(
        capsys, "prepare", "--bundled", "test", "--out", str(data), "--scheduler", "bogus", *SMALL
    )
    one_error(code, err, "unknown scheduler 'bogus'", "tcp://host:8786")
    assert tree(data) == before


def test_train_still_accepts_the_data_set_after_a_failed_prepare(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    truncated = tmp_path / "cut.osm"
    truncated.write_text(GRID.read_text()[:3000])  # the repro: a download cut short
    code, err = run(capsys, "prepare", "--osm", str(truncated), "--out", str(data), "--add", *SMALL)
    one_error(code, err, "cut.osm")
    tiny = ["--d-model", "16", "--layers", "1", "--heads", "2", "--window", "48",
            "--batch-size", "4", "--windows", "2", "--realism-samples", "0", "--epochs", "1",
            "--no-progress"]  # fmt: skip
    code, err = run(
        capsys,
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        *tiny,
    )
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["status"] == "complete"


def test_other_sources_need_add_or_replace(data: Path, capsys: pytest.CaptureFixture) -> None:
    before = tree(data)
    code, err = run(capsys, "prepare", "--osm", str(GRID), "--out", str(data), *SMALL)
    one_error(code, err, "(test)", "--add", "--replace")
    assert tree(data) == before
    code, err = run(capsys, "prepare", "--osm", str(GRID), "--out", str(data), "--add", *SMALL)
    assert code == 0, err
    both = load_dataset(data)
    assert both.region_names == ["test", "grid"]
    old = {t.id: t.sequence.pos.tobytes() for t in load_dataset(data).tiles() if t.region == "test"}
    assert old == {t.id: t.sequence.pos.tobytes() for t in both.tiles() if t.region == "test"}
    code, err = run(capsys, "prepare", "--osm", str(GRID), "--out", str(data), "--replace", *SMALL)
    assert code == 0, err
    assert load_dataset(data).region_names == ["grid"]
    assert sorted(p.name for p in (data / "regions").iterdir()) == sorted(
        ["grid.json", Path(load_dataset(data).manifest["regions"][0]["shard"]).name]
    )  # the dropped region's files are gone
    # --add with other settings would mix tile sizes: refused
    code, err = run(capsys, "prepare", "--bundled", "test", "--out", str(data), "--add",
                    "--tile-size", "250", "--block", "1", "--no-progress")  # fmt: skip
    one_error(code, err, "--add keeps region grid", "--replace")


def test_a_damaged_shard_is_caught_when_the_data_set_is_loaded(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    entry = json.loads((data / MANIFEST).read_text())["regions"][0]
    shard = data / entry["shard"]
    raw = bytearray(shard.read_bytes())
    raw[-9] ^= 0xFF  # one byte of tensor data: still a valid safetensors file
    shard.write_bytes(bytes(raw))
    ds = load_dataset(data)
    with pytest.raises(
        DatasetError, match=r"is damaged \(sha256 mismatch\); run citygen prepare again"
    ):
        ds.tiles()
    tile = ds.manifest["tiles"][0]["id"]
    code, err = run(
        capsys, "export", "--data", str(data), "--tile", tile, "--out", str(tmp_path / "x")
    )
    one_error(code, err, "damaged (sha256 mismatch)")


def test_a_manifest_without_its_tables_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / MANIFEST).write_text(json.dumps({"status": "complete"}))
    with pytest.raises(DatasetError, match=r"its manifest\.json is not a citygen manifest"):
        load_dataset(d)
    (d / MANIFEST).write_text(
        json.dumps({"format": "citygen-sequences", "format_version": 1, "status": "complete"})
    )
    with pytest.raises(DatasetError, match="has no valid 'config'"):
        load_dataset(d)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tolerance", "nan"], ["tolerances must be finite"]),
        (["--bend-tolerance", "inf"], ["tolerances must be finite"]),
        (["--tile-size", "inf"], ["tile size must be positive and finite"]),
        (["--tile-size", "nan"], ["tile size must be positive and finite"]),
        (["--min-coverage", "nan"], ["min coverage"]),
    ],
)
def test_non_finite_settings_are_one_error_line(
    args: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, err = run(capsys, "prepare", "--bundled", "test", "--out", str(tmp_path / "o"), *args)
    one_error(code, err, *words)
    assert not (tmp_path / "o").exists()


def test_a_node_off_the_globe_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = osm_variant(tmp_path, "lat.osm", 'lat="60.1604107"', 'lat="123"')
    code, err = run(
        capsys, "prepare", "--osm", str(bad), "--out", str(tmp_path / "o"), "--no-progress"
    )
    one_error(code, err, "lat.osm", "node 101", "latitude 123")


def test_huge_tile_grids_are_refused_before_tiling(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # one node moved to the other side of the Earth stretches the extent
    far = osm_variant(tmp_path, "far.osm", 'lat="60.1604107" lon="24.9279777"',
                      'lat="-60.1604107" lon="-155.07"')  # fmt: skip
    t0 = time.perf_counter()
    code, err = run(
        capsys, "prepare", "--osm", str(far), "--out", str(tmp_path / "o"), "--no-progress"
    )
    one_error(code, err, "far.osm", f"more than the maximum of {MAX_TILES:,}", "--tile-size")
    code, err = run(capsys, "prepare", "--bundled", "test", "--out", str(tmp_path / "p"),
                    "--tile-size", "1", "--no-progress")  # fmt: skip
    one_error(code, err, "tiles of 1 m", f"{MAX_TILES:,}")
    assert time.perf_counter() - t0 < 60  # refused, not tiled (it used to run for minutes)
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    assert f"at most {MAX_TILES:,} tiles" in " ".join(capsys.readouterr().out.split())


def test_an_unreachable_scheduler_is_one_error_line(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(schedule, "SCHEDULER_TIMEOUT_S", 1.0)
    before = tree(data)
    code, err = run(capsys, "prepare", "--bundled", "test", "--out", str(data),
                    "--tile-size", "300", "--scheduler", "tcp://127.0.0.1:1",
                    "--no-progress")  # fmt: skip
    one_error(code, err, "cannot reach the dask scheduler at tcp://127.0.0.1:1")
    assert tree(data) == before


def test_stale_temporary_files_of_a_killed_run_are_removed(data: Path) -> None:
    stale = [data / "regions" / ".test-0.safetensors.x1y2.tmp", data / ".manifest.json.abcd.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    mine = data / "regions" / "notes.tmp"  # not a name citygen makes: left alone
    mine.write_text("x")
    prepare(
        make_sources(bundled="test"), data, PrepareConfig(tile_size=500.0, block=1), progress=False
    )
    assert not any(p.exists() for p in stale)
    assert mine.exists()
