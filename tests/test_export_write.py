"""write_layouts: the API citygen generate calls; names, metadata, bad input, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import networkx as nx
import pytest

from citygen.errors import CitygenError, OutputError, UsageError
from citygen.layout import add_street, new_layout
from export import graphml
from export.write import FORMATS, SHEET, parse_formats, write_layouts


def grid_2x2(**attrs: object) -> nx.Graph:
    """Two by two blocks of 100 m around the tile centre: 1200 m of streets."""
    G = new_layout(1000.0, **attrs)
    for j in range(3):
        for i in range(3):
            G.add_node(3 * j + i, x=400.0 + 100 * i, y=400.0 + 100 * j, border=False)
    for n in range(9):
        if n % 3 < 2:
            add_street(G, n, n + 1, "residential")
        if n < 6:
            add_street(G, n, n + 3, "residential")
    return G


def _all_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ("geojson",)),
        ("geojson", ("geojson",)),
        ("PNG, osm,geojson,osm", ("geojson", "osm", "png")),
        (["graphml", "png"], ("graphml", "png")),
        ("all", tuple(FORMATS)),
    ],
)
def test_parse_formats(given: object, expected: tuple[str, ...]) -> None:
    assert parse_formats(given) == expected


@pytest.mark.parametrize("bad", ["shp", "geojson,kml", "", ","])
def test_parse_formats_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(UsageError, match="unknown format"):
        parse_formats(bad)


def test_default_is_one_geojson_per_layout(tmp_path: Path) -> None:
    paths = write_layouts([grid_2x2(), grid_2x2()], tmp_path / "out")
    assert [p.name for p in paths] == ["layout_000.geojson", "layout_001.geojson"]
    assert _all_files(tmp_path / "out") == ["layout_000.geojson", "layout_001.geojson"]


def test_all_formats_names_order_and_sheet(tmp_path: Path) -> None:
    paths = write_layouts([grid_2x2(), grid_2x2()], tmp_path, formats="all", names=["a", "b"])
    names = [p.name for p in paths]
    assert names == [
        *("a.geojson", "a.graphml", "a.osm", "a.png"),
        *("b.geojson", "b.graphml", "b.osm", "b.png"),
        SHEET,
    ]
    for p in paths:
        assert p.stat().st_size > 0
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metadata_defaults_and_per_layout_seed(tmp_path: Path) -> None:
    meta = {"model": "m1", "seed": 3, "objective": "connectivity"}
    write_layouts([grid_2x2(), grid_2x2(seed=11)], tmp_path, metadata=meta)
    first = json.loads((tmp_path / "layout_000.geojson").read_text())["citygen"]
    second = json.loads((tmp_path / "layout_001.geojson").read_text())["citygen"]
    assert first["model"] == "m1"
    assert first["objective"] == "connectivity"
    assert first["citygen_version"]
    assert (first["seed"], second["seed"]) == (3, 11)
    assert (first["layout"], second["layout"]) == (0, 1)
    bare = write_layouts([grid_2x2()], tmp_path / "bare")[0]
    meta_bare = json.loads(bare.read_text())["citygen"]
    assert {k: meta_bare[k] for k in ("model", "seed", "objective")} == dict.fromkeys(
        ("model", "seed", "objective")
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"formats": "geojson,shp"}, UsageError),
        ({"center": (91.0, 0.0)}, UsageError),
        ({"center": (0.0, -200.0)}, UsageError),
        ({"center": (0.0, 179.9999)}, UsageError),  # tile would cross the antimeridian
        ({"names": ["only_one"]}, UsageError),
    ],
)
def test_bad_input_raises_before_anything_is_written(
    tmp_path: Path, kwargs: dict, error: type[CitygenError]
) -> None:
    out = tmp_path / "out"
    with pytest.raises(error):
        write_layouts([grid_2x2(), grid_2x2()], out, **kwargs)
    assert not out.exists()


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    with pytest.raises(OutputError, match="is a file"):
        write_layouts([grid_2x2()], target)
    with pytest.raises(OutputError, match="cannot create"):
        write_layouts([grid_2x2()], target / "below")
    assert target.read_text() == "keep me"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_output_directory(tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write_layouts([grid_2x2()], out, formats="all")
        assert _all_files(out) == []
    finally:
        out.chmod(0o755)


def test_unwritable_directory_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same check as the read-only test, also where the tests run as root."""
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode)
    )
    with pytest.raises(OutputError, match="not writable"):
        write_layouts([grid_2x2()], tmp_path)
    assert _all_files(tmp_path) == []


def test_a_failing_writer_leaves_no_half_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_fail(filepath: Path, _text: str) -> None:
        Path(filepath).write_text("<graphml><half")
        raise OSError("disk full")

    monkeypatch.setattr(graphml, "_write_text", half_then_fail)
    old = tmp_path / "layout_000.graphml"
    old.write_text("previous run")
    with pytest.raises(OSError, match="disk full"):
        write_layouts([grid_2x2()], tmp_path, formats="geojson,graphml,osm")
    assert _all_files(tmp_path) == ["layout_000.geojson", "layout_000.graphml"]
    assert old.read_text() == "previous run"  # untouched, not half-written
    json.loads((tmp_path / "layout_000.geojson").read_text())  # complete
