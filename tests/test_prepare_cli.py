"""``citygen prepare`` on the command line: success, bad input (exit 1), bad usage (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import osmnx as ox
import pytest
import requests

from citygen.cli import main
from data_prep.shards import load_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
PLACE = "Testikylä, Finland"  # what tests/data/grid_nominatim.json geocodes

FOOTWAY_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" version="1" lat="60.1700" lon="24.9400"/>
  <node id="2" version="1" lat="60.1710" lon="24.9410"/>
  <way id="10" version="1">
    <nd ref="1"/>
    <nd ref="2"/>
    <tag k="highway" v="footway"/>
  </way>
</osm>
"""

# the real command line on a machine whose sockets all refuse (no network)
OFFLINE = """
import socket, sys
def refuse(*a, **k):
    raise OSError("network disabled in tests")
def no_dns(*a, **k):
    raise socket.gaierror(socket.EAI_NONAME, "network disabled in tests")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = no_dns
socket.gethostbyname = no_dns
import osmnx._http
osmnx._http._original_getaddrinfo = no_dns
from citygen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "citygen", "prepare", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env(), check=False)


def assert_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 1, and stderr is exactly one ``error: ...`` line naming the problem."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    for w in words:
        assert w in lines[0]
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# success


def test_prepare_an_osm_file(tmp_path: Path) -> None:
    out = tmp_path / "data"
    proc = cli(
        "--osm",
        str(DATA / "grid.osm"),
        "--out",
        str(out),
        "--tile-size",
        "200",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    m = load_dataset(out).manifest
    n = {s: m["counts"][s]["tiles"] for s in ("train", "val", "test")}
    assert line.startswith(f"wrote {out}: 1 region(s), ")
    assert f"train {n['train']} tiles / " in line
    assert f"; BFS bandwidth max {m['bandwidth']['max']}, p90 " in line
    assert sum(n.values()) >= 3
    assert m["config"]["tile_size"] == 200.0


# ---------------------------------------------------------------------------------------------
# bad input: exit 1 and one line


def test_missing_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_error(cli("--osm", "/nonexistent/city.osm.pbf", "--out", str(out), cwd=tmp_path),
                 "no such file or directory", "/nonexistent/city.osm.pbf")  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("corrupt.osm.pbf", bytes(range(256)) * 64, ("cannot read PBF", "corrupt.osm.pbf")),
        ("empty.osm.pbf", b"", ("empty file", "empty.osm.pbf")),
        ("paths.osm", FOOTWAY_ONLY.encode(), ("no drivable streets", "paths.osm")),
    ],
)
def test_unusable_input_files(
    tmp_path: Path, name: str, content: bytes, words: tuple[str, ...]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert_error(
        cli("--osm", str(path), "--out", str(tmp_path / "out"), "--no-progress", cwd=tmp_path),
        *words,
    )


def test_error_after_the_progress_bar_is_still_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.osm.pbf"
    path.write_bytes(bytes(range(256)) * 64)
    proc = cli("--osm", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ")
    assert "cannot read PBF" in lines[-1]
    assert sum(ln.startswith("error:") for ln in lines) == 1


@pytest.mark.parametrize(
    ("bbox", "words"),
    [
        ("25.0,60.1,24.9,60.2", ("must have W < E",)),
        ("24.9,60.2,25.0,60.1", ("S < N",)),
        ("170,10,190,20", ("outside the longitude/latitude range",)),
        ("=-200,10,20,20", ("outside the longitude/latitude range",)),
        ("24.9,60.1", ("four numbers W,S,E,N",)),
    ],
)
def test_bad_bbox(tmp_path: Path, bbox: str, words: tuple[str, ...]) -> None:
    arg = ["--bbox" + bbox] if bbox.startswith("=") else ["--bbox", bbox]
    out = tmp_path / "out"
    assert_error(cli(*arg, "--out", str(out), cwd=tmp_path), "bbox", *words)
    assert not out.exists()


@pytest.mark.parametrize("size", ["0", "-100", "=-0.5"])
def test_tile_size_must_be_positive(tmp_path: Path, size: str) -> None:
    arg = ["--tile-size" + size] if size.startswith("=") else ["--tile-size", size]
    out = tmp_path / "out"
    assert_error(
        cli("--bundled", "test", "--out", str(out), *arg, cwd=tmp_path),
        "tile size must be positive",
    )
    assert not out.exists()


def test_other_settings_out_of_range(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert_error(
        cli("--bundled", "test", "--out", out, "--tolerance=-1", cwd=tmp_path),
        "finite and not negative",
    )
    assert_error(
        cli("--bundled", "test", "--out", out, "--min-nodes", "0", cwd=tmp_path), "min-nodes"
    )


def test_output_directory_that_is_not_a_data_set_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    (out / "chapters").mkdir(parents=True)
    (out / "main.tex").write_text("\\documentclass{book}")
    (out / "chapters" / "one.tex").write_text("Once upon a time")
    before = tree(out)
    assert_error(
        cli("--bundled", "test", "--out", str(out), cwd=tmp_path),
        str(out),
        "not a citygen data set",
    )
    assert tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["chapters", "main.tex"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert_error(cli("--bundled", "test", "--out", str(a_file), cwd=tmp_path), "is not a directory")
    assert a_file.read_text() == "keep me"


# ---------------------------------------------------------------------------------------------
# bad usage: exit 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--out", "x"],
        ["--bundled", "test"],
        ["--bundled", "test", "--osm", "a.osm", "--out", "x"],
        ["--bundled", "paris", "--out", "x"],
        ["--bundled", "test", "--out", "x", "--tile-size", "big"],
        ["--bundled", "test", "--out", "x", "--min-nodes", "2.5"],
        ["--bundled", "test", "--out", "x", "--frobnicate"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "usage: citygen" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------------------
# online sources (osmnx), never touching the network


def test_place_without_network_is_one_error_line(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-c",
        OFFLINE,
        "prepare",
        "--place",
        PLACE,
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env(), check=False)
    line = assert_error(proc, f"could not download place {PLACE!r} from OpenStreetMap")
    assert line.endswith("without a network use --osm FILE or --bundled helsinki")


@pytest.mark.usefixtures("no_network", "recorded_osm")
def test_place_from_osmnx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data"
    code = main(
        ["prepare", "--place", PLACE, "--out", str(out), "--tile-size", "200", "--no-progress"]
    )
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    assert captured.out.startswith(f"wrote {out}: 1 region(s)")
    m = load_dataset(out).manifest
    (region,) = m["regions"]
    assert region["name"] == "testikyl-finland"
    assert region["source"] == {"kind": "place", "value": PLACE}
    assert (region["sha256"], region["osm_date"]) == (None, None)
    assert region["crs"] == "EPSG:32635"
    assert len(m["tiles"]) >= 3


@pytest.mark.usefixtures("no_network", "recorded_osm")
def test_bbox_from_osmnx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    nominatim = json.loads((DATA / "grid_nominatim.json").read_text(encoding="utf-8"))[0]
    south, north, west, east = nominatim["boundingbox"]
    bbox = f"{west},{south},{east},{north}"
    out = tmp_path / "data"
    code = main(
        ["prepare", "--bbox", bbox, "--out", str(out), "--tile-size", "200", "--no-progress"]
    )
    assert (code, capsys.readouterr().err) == (0, "")
    (region,) = load_dataset(out).manifest["regions"]
    assert region["source"] == {"kind": "bbox", "value": bbox}
    assert region["name"].startswith("bbox-24-")


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "source", [["--place", "Helsinki, Finland"], ["--bbox", "24.9,60.1,25.0,60.2"]]
)
def test_download_failure_exits_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    source: list[str],
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        msg = "Max retries exceeded with url: /api/interpreter"
        raise requests.exceptions.ConnectionError(msg)

    monkeypatch.setattr(ox, "graph_from_place", down)
    monkeypatch.setattr(ox, "graph_from_bbox", down)
    code = main(["prepare", *source, "--out", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    (line,) = captured.err.splitlines()
    assert line.startswith("error: ")
    assert "could not download " in line
    assert "(ConnectionError); without a network use --osm FILE or --bundled helsinki" in line
    assert captured.out == ""
