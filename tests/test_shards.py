"""data_prep.shards: shard files, the manifest, and reading a prepared data set back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from citygen.errors import DatasetError
from data_prep.clean import RegionGraph
from data_prep.order import Sequence, to_sequence
from data_prep.shards import (
    FORMAT,
    FORMAT_VERSION,
    Dataset,
    is_dataset_dir,
    load_dataset,
    pack_tiles,
    read_shard,
    sha256_file,
    unpack_tiles,
    write_shard,
)
from data_prep.tiles import TileSpec, cut


def seq_of(n: int, edges: list[tuple[int, int]], size: float = 1000.0, seed: int = 0) -> Sequence:
    rng = np.random.default_rng(seed)
    return Sequence(
        pos=rng.uniform(0, 1, size=(n, 2)),
        border=np.arange(n) < min(n, 2),
        edges=np.array(edges, dtype=np.int32).reshape(-1, 2),
        classes=np.arange(len(edges), dtype=np.int8) % 8,
        tile_size=size,
    )


def region_of() -> RegionGraph:
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 120.0]])
    return RegionGraph(
        xy=xy,
        edges=np.array([[0, 1], [1, 2], [2, 3]], dtype=np.int64),
        classes=np.array([5, 2, 6], dtype=np.int8),
        crs="EPSG:32635",
        hull=xy[[0, 1, 2, 3, 0]],
    )


def same_seq(a: Sequence, b: Sequence) -> None:
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.border, b.border)
    np.testing.assert_array_equal(a.edges, b.edges)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert a.tile_size == b.tile_size
    assert a.border.dtype == bool


def test_pack_concatenates_tiles_with_offset_pointers() -> None:
    seqs = [seq_of(3, [(1, 0), (2, 1)]), seq_of(0, []), seq_of(4, [(3, 0)], seed=1), seq_of(2, [])]
    arrays = pack_tiles(seqs)
    assert arrays["tiles.node_ptr"].tolist() == [0, 3, 3, 7, 9]
    assert arrays["tiles.edge_ptr"].tolist() == [0, 2, 2, 3, 3]
    assert arrays["tiles.pos"].shape == (9, 2)
    assert arrays["tiles.edges"][2].tolist() == [3, 0]  # edge indices stay local to the tile
    dtypes = {k: v.dtype for k, v in arrays.items()}
    assert dtypes == {
        "tiles.pos": np.float64,
        "tiles.border": np.uint8,
        "tiles.node_ptr": np.int64,
        "tiles.edges": np.int32,
        "tiles.classes": np.int8,
        "tiles.edge_ptr": np.int64,
    }
    back = unpack_tiles(arrays, 1000.0)
    assert len(back) == 4
    for a, b in zip(seqs, back, strict=True):
        same_seq(a, b)
    empty = pack_tiles([])
    assert empty["tiles.node_ptr"].tolist() == [0]
    assert empty["tiles.pos"].shape == (0, 2)
    assert unpack_tiles(empty, 1000.0) == []


def test_shard_round_trip_and_tensors(tmp_path: Path) -> None:
    region = region_of()
    seqs = [
        to_sequence(cut(region, TileSpec((50.0, 50.0), 80.0))),
        seq_of(5, [(4, 3), (3, 0)], 80.0),
    ]
    path = tmp_path / "r.safetensors"
    write_shard(path, region, seqs, 80.0)
    back_region, back = read_shard(path)
    np.testing.assert_array_equal(back_region.xy, region.xy)
    np.testing.assert_array_equal(back_region.edges, region.edges)
    np.testing.assert_array_equal(back_region.classes, region.classes)
    np.testing.assert_array_equal(back_region.hull, region.hull)
    assert back_region.crs == "EPSG:32635"
    for a, b in zip(seqs, back, strict=True):
        same_seq(a, b)
    # readable with safetensors + numpy alone: names, dtypes and metadata as documented
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata()
        names = sorted(fh.keys())
    assert meta == {"format": FORMAT, "crs": "EPSG:32635", "tile_size": "80.0"}
    assert names == sorted(
        ["region.xy", "region.edges", "region.classes", "region.hull", "tiles.pos", "tiles.border",
         "tiles.node_ptr", "tiles.edges", "tiles.classes", "tiles.edge_ptr"]
    )  # fmt: skip
    raw = load_file(str(path))
    assert raw["region.xy"].dtype == np.float64
    assert raw["region.edges"].dtype == np.int64
    assert raw["tiles.border"].dtype == np.uint8


def test_shard_bytes_are_deterministic(tmp_path: Path) -> None:
    region = region_of()
    seqs = [seq_of(4, [(3, 1), (2, 0)])]
    write_shard(tmp_path / "a.safetensors", region, seqs, 1000.0)
    write_shard(tmp_path / "b.safetensors", region, seqs, 1000.0)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert sha256_file(tmp_path / "a.safetensors") == sha256_file(tmp_path / "b.safetensors")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_read_shard_rejects_foreign_and_corrupt_files(tmp_path: Path) -> None:
    foreign = tmp_path / "model.safetensors"
    save_file({"w": np.zeros(3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(DatasetError, match="is not a citygen shard"):
        read_shard(foreign)
    corrupt = tmp_path / "bad.safetensors"
    corrupt.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(DatasetError, match="cannot read shard"):
        read_shard(corrupt)
    with pytest.raises(DatasetError, match="cannot read shard"):
        read_shard(tmp_path / "missing.safetensors")


def test_dataset_refuses_what_is_not_a_complete_data_set(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such data set directory"):
        Dataset(tmp_path / "nope")
    assert not is_dataset_dir(tmp_path)
    with pytest.raises(DatasetError, match="not a citygen data set"):
        Dataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    assert not is_dataset_dir(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    assert not is_dataset_dir(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "status": "incomplete"}))
    assert is_dataset_dir(tmp_path)
    with pytest.raises(DatasetError, match="incomplete; rerun citygen prepare"):
        Dataset(tmp_path)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format": FORMAT, "status": "complete", "format_version": FORMAT_VERSION + 1})
    )
    with pytest.raises(DatasetError, match="format version"):
        Dataset(tmp_path)


def test_reading_a_prepared_data_set(bundled_test_dir: Path, tmp_path: Path) -> None:
    ds = load_dataset(bundled_test_dir)
    m = ds.manifest
    assert ds.tile_size == 1000.0
    assert ds.region_names == ["test"]
    tiles = ds.tiles()
    assert [t.id for t in tiles] == [t["id"] for t in m["tiles"]]
    assert sum(len(ds.tiles(s)) for s in ("train", "val", "test")) == len(tiles)
    assert len(ds.sequences()) == len(tiles)
    for tile in tiles:
        G = tile.layout()
        assert G.graph["tile_id"] == tile.id
        assert G.graph["source"] == "test"
        assert G.graph["center"] == tile.info["center"]
        assert G.graph["crs"] == m["regions"][0]["crs"]
        assert G.number_of_nodes() == tile.info["n_nodes"]
        assert G.number_of_edges() == tile.info["n_edges"]
        assert sum(d["border"] for _, d in G.nodes(data=True)) == tile.info["n_border"]
    # the shard's checksum in the manifest is the file's
    entry = m["regions"][0]
    assert sha256_file(bundled_test_dir / entry["shard"]) == entry["shard_sha256"]
    # a copy somewhere else reads the same (paths in the manifest are relative)
    copy = tmp_path / "copy"
    shutil.copytree(bundled_test_dir, copy)
    assert [t.sequence.edges.tolist() for t in load_dataset(copy).tiles()] == [
        t.sequence.edges.tolist() for t in tiles
    ]
