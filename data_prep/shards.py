"""Shard files and the manifest of a prepared data set, and reading a data set back.

Layout of a data set directory::

    manifest.json              what is here: sources, CRS, tile size, tiles, split, statistics
    regions/<name>-<hash>.safetensors  one shard per region: its tiles and its region graph;
                                       ``<hash>`` starts its SHA-256, so a new shard never
                                       overwrites one that the current manifest names
    regions/<name>.json                the region's entry, written after its shard (resume marker)

Shards are safetensors files (deterministic bytes; readable with numpy alone). Tile arrays are
concatenated with offset pointers: tile ``k`` has nodes ``node_ptr[k]:node_ptr[k+1]`` and edges
``edge_ptr[k]:edge_ptr[k+1]``; its edge indices are local to the tile.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from safetensors import SafetensorError
from safetensors.numpy import load, save

from citygen import atomic
from citygen.errors import DatasetError
from data_prep.clean import RegionGraph
from data_prep.order import Sequence, to_layout

FORMAT = "citygen-sequences"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pack_tiles(seqs: list[Sequence]) -> dict[str, np.ndarray]:
    """Concatenate sequences into shard arrays with offset pointers."""
    n = np.array([s.n_nodes for s in seqs], dtype=np.int64)
    m = np.array([s.edges.shape[0] for s in seqs], dtype=np.int64)
    return {
        "tiles.pos": np.concatenate([s.pos for s in seqs]) if seqs else np.zeros((0, 2)),
        "tiles.border": np.concatenate([s.border for s in seqs]).astype(np.uint8)
        if seqs
        else np.zeros(0, np.uint8),
        "tiles.node_ptr": np.concatenate([[0], np.cumsum(n)]).astype(np.int64),
        "tiles.edges": np.concatenate([s.edges for s in seqs]).astype(np.int32)
        if seqs
        else np.zeros((0, 2), np.int32),
        "tiles.classes": np.concatenate([s.classes for s in seqs]).astype(np.int8)
        if seqs
        else np.zeros(0, np.int8),
        "tiles.edge_ptr": np.concatenate([[0], np.cumsum(m)]).astype(np.int64),
    }


def unpack_tiles(arrays: dict[str, np.ndarray], tile_size: float) -> list[Sequence]:
    """Inverse of :func:`pack_tiles`."""
    node_ptr, edge_ptr = arrays["tiles.node_ptr"], arrays["tiles.edge_ptr"]
    out = []
    for k in range(node_ptr.size - 1):
        a, b = int(node_ptr[k]), int(node_ptr[k + 1])
        c, d = int(edge_ptr[k]), int(edge_ptr[k + 1])
        out.append(
            Sequence(
                pos=arrays["tiles.pos"][a:b],
                border=arrays["tiles.border"][a:b].astype(bool),
                edges=arrays["tiles.edges"][c:d],
                classes=arrays["tiles.classes"][c:d],
                tile_size=tile_size,
            )
        )
    return out


def _sorted_header(data: bytes) -> bytes:
    """Rewrite a safetensors file's JSON header with sorted keys.

    safetensors writes ``__metadata__`` in hash-map order, which changes from call to call;
    sorting makes equal input give equal bytes. The tensor data is not touched.
    """
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned, as safetensors does
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def shard_bytes(region: RegionGraph, seqs: list[Sequence], tile_size: float) -> bytes:
    """Return the bytes of one region's shard (byte-identical for identical input)."""
    arrays = {
        "region.xy": np.ascontiguousarray(region.xy, dtype=np.float64),
        "region.edges": np.ascontiguousarray(region.edges, dtype=np.int64),
        "region.classes": np.ascontiguousarray(region.classes, dtype=np.int8),
        "region.hull": np.ascontiguousarray(region.hull, dtype=np.float64),
        **{k: np.ascontiguousarray(v) for k, v in pack_tiles(seqs).items()},
    }
    meta = {"format": FORMAT, "crs": region.crs, "tile_size": repr(float(tile_size))}
    return _sorted_header(save(arrays, metadata=meta))


def write_shard(path: Path, region: RegionGraph, seqs: list[Sequence], tile_size: float) -> None:
    """Write one region's shard atomically (byte-identical for identical input)."""
    atomic.write_bytes(path, shard_bytes(region, seqs, tile_size))


def read_shard(path: Path, sha256: str | None = None) -> tuple[RegionGraph, list[Sequence]]:
    """Read a region shard: its region graph and its tiles' sequences.

    Parameters
    ----------
    path
        The shard file.
    sha256
        The hex SHA-256 the manifest records for it; checked when given (the file is read once).

    Raises
    ------
    DatasetError
        If the file is missing, unreadable, not a citygen shard, or its bytes do not match.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read shard {path}: {exc.strerror or exc}"
        raise DatasetError(msg) from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        msg = f"shard {path} is damaged (sha256 mismatch); run citygen prepare again"
        raise DatasetError(msg)
    try:
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
        arrays = load(data)
    except (ValueError, RuntimeError, AttributeError, SafetensorError) as exc:
        msg = f"cannot read shard {path}: {exc}"
        raise DatasetError(msg) from exc
    if meta.get("format") != FORMAT:
        msg = f"{path} is not a citygen shard"
        raise DatasetError(msg)
    region = RegionGraph(
        xy=arrays["region.xy"],
        edges=arrays["region.edges"],
        classes=arrays["region.classes"],
        crs=meta["crs"],
        hull=arrays["region.hull"],
    )
    return region, unpack_tiles(arrays, float(meta["tile_size"]))


def is_dataset_dir(path: Path) -> bool:
    """True if ``path`` holds a citygen manifest (complete or not)."""
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@dataclass(frozen=True)
class Tile:
    """One prepared tile: its manifest entry and its sequence."""

    id: str
    region: str
    split: str
    sequence: Sequence
    info: dict

    def layout(self) -> nx.Graph:
        """The tile as a layout graph (node ids are canonical step indices)."""
        return to_layout(
            self.sequence,
            tile_id=self.id,
            crs=self.info["crs"],
            center=self.info["center"],
            rotation=0.0,
            reflect=False,
            source=self.region,
        )


#: Manifest keys a reader needs, with their JSON types.
_REQUIRED = {"config": dict, "regions": list, "tiles": list, "counts": dict}


def _check_manifest(manifest: dict, root: Path) -> None:
    """Refuse a complete-looking manifest that lacks what a reader needs (hand-edited, foreign).

    Raises
    ------
    DatasetError
        Naming the first missing or malformed entry.
    """
    for key, kind in _REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            msg = f"the manifest of {root} has no valid {key!r}; run citygen prepare again"
            raise DatasetError(msg)
    size = manifest["config"].get("tile_size")
    if not isinstance(size, int | float) or not math.isfinite(size) or size <= 0:
        msg = f"the manifest of {root} has no valid tile size; run citygen prepare again"
        raise DatasetError(msg)
    for r in manifest["regions"]:
        if not isinstance(r, dict) or not isinstance(r.get("shard"), str) or "name" not in r:
            msg = f"the manifest of {root} has a malformed region entry; run citygen prepare again"
            raise DatasetError(msg)


class Dataset:
    """A prepared data set, read lazily from its directory.

    Parameters
    ----------
    root
        The directory ``citygen prepare --out`` wrote.

    Raises
    ------
    DatasetError
        If the directory is missing, not a citygen data set, or incomplete.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            msg = f"no such data set directory: {self.root}"
            raise DatasetError(msg)
        if not is_dataset_dir(self.root):
            found = (self.root / MANIFEST).exists()
            what = f"its {MANIFEST} is not a citygen manifest" if found else f"no {MANIFEST}"
            msg = f"{self.root} is not a citygen data set ({what}; run citygen prepare)"
            raise DatasetError(msg)
        self.manifest: dict = json.loads((self.root / MANIFEST).read_text())
        if self.manifest.get("status") != "complete":
            msg = f"data set {self.root} is incomplete; rerun citygen prepare to finish it"
            raise DatasetError(msg)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            msg = f"data set {self.root} has format version {self.manifest.get('format_version')}"
            raise DatasetError(msg)
        _check_manifest(self.manifest, self.root)

    @property
    def tile_size(self) -> float:
        """Tile side in metres."""
        return float(self.manifest["config"]["tile_size"])

    @property
    def region_names(self) -> list[str]:
        """Names of the regions, in manifest order."""
        return [r["name"] for r in self.manifest["regions"]]

    @property
    def holdout_regions(self) -> list[str]:
        """Regions left out of training as whole cities (``citygen prepare --holdout-regions``)."""
        return list(self.manifest.get("holdout_regions", []))

    @cached_property
    def _shards(self) -> dict[str, tuple[RegionGraph, list[Sequence]]]:
        return {
            r["name"]: read_shard(self.root / r["shard"], r.get("shard_sha256"))
            for r in self.manifest["regions"]
        }

    def region(self, name: str) -> RegionGraph:
        """The cleaned region graph of one region."""
        return self._shards[name][0]

    def tiles(self, split: str | None = None) -> list[Tile]:
        """Tiles of one split (``"train"``, ``"val"``, ``"test"``, ``"holdout"``) or all, in order."""
        out = []
        for info in self.manifest["tiles"]:
            if split is None or info["split"] == split:
                seq = self._shards[info["region"]][1][info["index"]]
                out.append(Tile(info["id"], info["region"], info["split"], seq, info))
        return out

    def sequences(self, split: str | None = None) -> list[Sequence]:
        """Sequences of one split or all."""
        return [t.sequence for t in self.tiles(split)]

    def area(self, name: str, split: str = "train") -> shapely.Geometry:
        """Where windows for ``split`` may be drawn in a region (map frame, metres).

        The region's data extent minus the blocks of the other splits; for ``"train"`` this
        keeps training windows off the validation and test areas.
        """
        if (name in self.holdout_regions) != (split == "holdout"):
            return shapely.Polygon()  # a held-out city gives no window to the other splits
        region = self.region(name)
        hull = shapely.Polygon(region.hull)
        if split == "holdout":
            return hull
        entry = next(r for r in self.manifest["regions"] if r["name"] == name)
        size = self.tile_size * int(self.manifest["config"]["block"])
        x0, y0 = entry["grid_origin"]

        def boxes(keep: bool) -> list[shapely.Polygon]:
            return [
                shapely.box(x0 + bx * size, y0 + by * size, x0 + (bx + 1) * size, y0 + (by + 1) * size)
                for bx, by, s in entry["blocks"]
                if (s == split) == keep
            ]

        other = boxes(keep=False)
        if split != "train":
            return shapely.intersection(hull, shapely.union_all(boxes(keep=True)))
        return shapely.difference(hull, shapely.union_all(other)) if other else hull


def load_dataset(path: str | Path) -> Dataset:
    """Open a prepared data set (see :class:`Dataset`)."""
    return Dataset(path)
