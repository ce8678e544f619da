"""The data preparation stage: OSM sources to shards and a manifest, regions in parallel.

Each source (a file, a bundled extract, a place name, a bbox) is one *region*, processed by
:func:`prepare_region` in a Dask task: load, clean, cut grid tiles, order, write the shard.
When all regions are done, :func:`prepare` splits the tiles by area and writes the manifest.
A rerun on the same output directory skips regions whose shard is already written for the same
source and settings, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from citygen import atomic
from citygen._version import __version__
from citygen.errors import CitygenError, DatasetError, InputDataError, UsageError
from data_prep import load, staging
from data_prep.clean import RegionGraph, clean
from data_prep.order import to_sequence
from data_prep.schedule import LOCAL_SCHEDULERS, check_scheduler, run_tasks
from data_prep.shards import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    is_dataset_dir,
    sha256_file,
    shard_bytes,
)
from data_prep.split import DEFAULT_FRACTIONS, HOLDOUT, SPLITS, assign_blocks, block_of
from data_prep.tiles import cut, grid_frame, grid_specs

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("load", "clean", "tile", "order", "write")
SHARD_HASH_CHARS = 12  # shard file names end in this many hex digits of their SHA-256
Report = Callable[[str, str], None]


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of the preparation stage.

    Attributes
    ----------
    tile_size
        Tile side in metres.
    tolerance
        Intersection consolidation distance in metres.
    bend_tolerance
        Douglas-Peucker tolerance in metres for drawing curved streets with straight edges.
    min_nodes
        Tiles with fewer nodes are dropped.
    min_coverage
        Tiles less than this share inside the region's data extent are dropped.
    block
        Split blocks are ``block`` x ``block`` tiles.
    fractions
        Target shares of tiles for train, val and test.
    """

    tile_size: float = 1000.0
    tolerance: float = 10.0
    bend_tolerance: float = 5.0
    min_nodes: int = 8
    min_coverage: float = 0.75
    block: int = 3
    fractions: tuple[float, float, float] = field(default=DEFAULT_FRACTIONS)

    def __post_init__(self) -> None:
        if not (self.tile_size > 0 and math.isfinite(self.tile_size)):
            msg = f"tile size must be positive and finite, got {self.tile_size:g} m"
            raise UsageError(msg)
        if not all(math.isfinite(t) and t >= 0 for t in (self.tolerance, self.bend_tolerance)):
            msg = "tolerances must be finite and not negative"
            raise UsageError(msg)
        if not 0.0 < self.min_coverage <= 1.0:  # also refuses NaN
            msg = f"min coverage must be in (0, 1], got {self.min_coverage}"
            raise UsageError(msg)
        if self.min_nodes < 1 or self.block < 1:
            msg = "min-nodes and block must be at least 1"
            raise UsageError(msg)
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1.0) > 1e-9:
            msg = f"split fractions must be three numbers summing to 1, got {self.fractions}"
            raise UsageError(msg)

    def as_dict(self) -> dict:
        """JSON-ready settings."""
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        return d


@dataclass(frozen=True)
class Source:
    """One input region: ``kind`` is ``file``, ``bundled``, ``place`` or ``bbox``."""

    kind: str
    value: str
    name: str

    def load(self):  # noqa: ANN201 - networkx.MultiDiGraph
        """Read the raw street graph of this source."""
        if self.kind == "file":
            return load.load_file(self.value)
        if self.kind == "bundled":
            return load.load_file(load.bundled_path(self.value))
        if self.kind == "place":
            return load.load_place(self.value)
        return load.load_bbox(load.parse_bbox(self.value))

    def path(self) -> Path | None:
        """The file read, for file and bundled sources."""
        if self.kind == "file":
            return Path(self.value)
        if self.kind == "bundled":
            return load.bundled_path(self.value)
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "region"


def _file_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(load.XML_SUFFIXES + load.PBF_SUFFIXES + load.VECTOR_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def make_sources(
    bundled: str | None = None,
    osm: str | Path | None = None,
    place: str | None = None,
    bbox: str | None = None,
) -> list[Source]:
    """Turn the command-line source options (exactly one given) into sources with unique names.

    Raises
    ------
    UsageError
        If not exactly one option is given, or a bbox is malformed.
    InputDataError
        If an ``osm`` path does not exist or holds no OSM file.
    """
    given = [x for x in (bundled, osm, place, bbox) if x is not None]
    if len(given) != 1:
        msg = "give exactly one source: --bundled, --osm, --place or --bbox"
        raise UsageError(msg)
    if bundled is not None:
        load.bundled_path(bundled)  # validates the name
        return [Source("bundled", bundled, bundled)]
    if place is not None:
        return [Source("place", place, _slug(place))]
    if bbox is not None:
        load.parse_bbox(bbox)
        return [Source("bbox", bbox, "bbox-" + _slug(bbox))]
    sources: list[Source] = []
    names: set[str] = set()
    for f in load.find_osm_files(osm):
        name = _slug(_file_stem(f))
        while name in names:
            name += "-2"
        names.add(name)
        sources.append(Source("file", str(f), name))
    return sources


def osm_date(path: Path) -> str | None:
    """The data timestamp an OSM XML file declares (``osm_base`` or ``timestamp``), if any."""
    name = path.name.lower()
    if not name.endswith(load.XML_SUFFIXES):
        return None  # PBF headers and street-line tables carry no osm_base we read
    opener = gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except (OSError, EOFError, ValueError):
        return None
    m = re.search(r'(?:osm_base|timestamp)="([^"]+)"', head)
    return m.group(1) if m else None


def _tile_info(region: RegionGraph, grid: tuple[int, int], spec, seq, index: int) -> dict:  # noqa: ANN001
    size = spec.size
    cx, cy = spec.center
    return {
        "index": index,
        "grid": [grid[0], grid[1]],
        "center": [cx, cy],
        "bounds": [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2],
        "crs": region.crs,
        "n_nodes": seq.n_nodes,
        "n_edges": int(seq.edges.shape[0]),
        "n_border": seq.n_border,
        "bandwidth": seq.bandwidth(),
    }


def prepare_region(source: Source, out: Path, config: PrepareConfig, report: Report | None = None) -> dict:
    """Prepare one region and write its shard; return its manifest entry.

    Raises
    ------
    InputDataError
        Naming the source, if it cannot be read or has no drivable streets.
    """
    say = report or (lambda _name, _stage: None)
    label = source.value
    try:
        path = source.path()
        raw = source.load()
        check_coordinates(raw)
        say(source.name, "load")
        region = clean(raw, config.tolerance, config.bend_tolerance)
        say(source.name, "clean")
        tiles = []
        show = report is not None
        specs = grid_specs(region, config.tile_size, config.min_coverage, progress=show)
        for grid, spec in specs.items():
            layout = cut(region, spec)
            if layout.number_of_nodes() >= config.min_nodes and layout.number_of_edges() > 0:
                tiles.append((grid, spec, layout))
        say(source.name, "tile")
        seqs = [to_sequence(layout) for _, _, layout in tiles]
        say(source.name, "order")
    except CitygenError as exc:
        msg = f"{label}: {exc}"
        raise type(exc)(msg) from exc
    data = shard_bytes(region, seqs, config.tile_size)
    digest = hashlib.sha256(data).hexdigest()
    shard = f"regions/{source.name}-{digest[:SHARD_HASH_CHARS]}.safetensors"
    atomic.write_bytes(out / shard, data)
    entry = {
        "name": source.name,
        "source": {"kind": source.kind, "value": source.value},
        "sha256": sha256_file(path) if path else None,
        "osm_date": osm_date(path) if path else None,
        "crs": region.crs,
        "grid_origin": [float(v) for v in grid_frame(region, config.tile_size)[0]],
        "shard": shard,
        "shard_sha256": digest,
        "config": config.as_dict(),
        "n_nodes": region.n_nodes,
        "n_edges": region.n_edges,
        "length_km": round(region.length_km(), 3),
        "tiles": [_tile_info(region, g, s, q, i) for i, ((g, s, _), q) in enumerate(zip(tiles, seqs, strict=True))],
    }
    atomic.write_json(out / "regions" / f"{source.name}.json", entry)
    say(source.name, "write")
    return entry


def _done_entry(source: Source, out: Path, config: PrepareConfig) -> dict | None:
    """The region's saved entry if its shard is complete for this source and config."""
    import json

    meta = out / "regions" / f"{source.name}.json"
    if not meta.is_file():
        return None
    try:
        entry = json.loads(meta.read_text())
        shard = out / entry["shard"]
        path = source.path()
        same = (
            entry["source"] == {"kind": source.kind, "value": source.value}
            and entry["config"] == config.as_dict()
            and (path is None or entry["sha256"] == sha256_file(path))
            and shard.is_file()
            and entry["shard_sha256"] == sha256_file(shard)
        )
    except (OSError, ValueError, KeyError):
        return None
    return entry if same else None


def check_coordinates(graph: nx.MultiDiGraph) -> None:
    """Refuse nodes off the globe (longitude outside [-180, 180], latitude outside [-90, 90]).

    Raises
    ------
    InputDataError
        Naming the first such node.
    """
    lonlat = str(graph.graph.get("crs", "EPSG:4326")).upper() in ("EPSG:4326", "WGS84", "OGC:CRS84")
    for node, d in graph.nodes(data=True):
        x, y = d.get("x"), d.get("y")
        if not (isinstance(x, int | float) and isinstance(y, int | float)):
            msg = f"node {node} has no coordinates"
            raise InputDataError(msg)
        if not (math.isfinite(x) and math.isfinite(y)):
            msg = f"node {node} has non-finite coordinates ({x}, {y})"
            raise InputDataError(msg)
        if lonlat and not (-90.0 <= y <= 90.0 and -180.0 <= x <= 180.0):
            msg = f"node {node} lies off the globe (latitude {y:g}, longitude {x:g})"
            raise InputDataError(msg)


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        msg = f"output path {out} exists and is not a directory"
        raise DatasetError(msg)
    if out.is_dir() and any(out.iterdir()) and not is_dataset_dir(out):
        msg = f"output directory {out} exists, is not empty and is not a citygen data set"
        raise DatasetError(msg)


def _stats(values: list[int]) -> dict:
    if not values:
        return {"max": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "histogram": {}}
    arr = np.asarray(values)
    edges = [0, 8, 16, 32, 64, 128, 256, 512, 1 << 30]
    counts, _ = np.histogram(arr, bins=edges)
    labels = [f"{a}-{b - 1}" if b < 1 << 30 else f">={a}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return {
        "max": int(arr.max()),
        "mean": round(float(arr.mean()), 3),
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "histogram": {k: int(c) for k, c in zip(labels, counts, strict=True)},
    }


def check_holdout(names: Sequence[str], regions: Sequence[str]) -> tuple[str, ...]:
    """Check that every held-out region name is one of the regions prepared.

    Raises
    ------
    UsageError
        Naming the unknown regions and listing the known ones.
    """
    unknown = sorted(set(names) - set(regions))
    if unknown:
        msg = (
            f"--holdout-regions names no prepared region: {', '.join(unknown)} "
            f"(regions: {', '.join(sorted(regions))})"
        )
        raise UsageError(msg)
    return tuple(sorted(set(names)))


def build_manifest(entries: list[dict], config: PrepareConfig, holdout: Sequence[str] = ()) -> dict:
    """Split tiles by area and assemble the manifest from the region entries.

    Regions named in ``holdout`` are whole cities left out of training: all their tiles go to
    the ``holdout`` split, none to train, validation or test.
    """
    held = set(check_holdout(holdout, [e["name"] for e in entries]))
    counts: dict[tuple[str, tuple[int, int]], int] = {}
    for e in entries:
        if e["name"] in held:
            continue
        for t in e["tiles"]:
            key = (e["name"], block_of(tuple(t["grid"]), config.block))
            counts[key] = counts.get(key, 0) + 1
    split_of = assign_blocks(counts, config.fractions)
    for e in entries:
        if e["name"] in held:
            for t in e["tiles"]:
                split_of[(e["name"], block_of(tuple(t["grid"]), config.block))] = HOLDOUT
    tiles, regions = [], []
    for e in entries:
        blocks = sorted({(b[0], b[1], split_of[(e["name"], b)]) for b in (block_of(tuple(t["grid"]), config.block) for t in e["tiles"])})
        regions.append({k: v for k, v in e.items() if k != "tiles"} | {"blocks": [list(b) for b in blocks], "n_tiles": len(e["tiles"])})
        for t in e["tiles"]:
            split = split_of[(e["name"], block_of(tuple(t["grid"]), config.block))]
            tiles.append({"id": f"{e['name']}/{t['grid'][0]}_{t['grid'][1]}", "region": e["name"], "split": split} | t)
    per_split = {
        s: {
            "tiles": sum(1 for t in tiles if t["split"] == s),
            "nodes": sum(t["n_nodes"] for t in tiles if t["split"] == s),
            "edges": sum(t["n_edges"] for t in tiles if t["split"] == s),
        }
        for s in (*SPLITS, HOLDOUT)
    }
    import osmnx

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "complete",
        "software": {"citygen": __version__, "osmnx": osmnx.__version__},
        "config": config.as_dict(),
        "holdout_regions": sorted(held),
        "regions": regions,
        "tiles": tiles,
        "counts": per_split,
        "bandwidth": _stats([t["bandwidth"] for t in tiles]),
        "nodes_per_tile": _stats([t["n_nodes"] for t in tiles]),
    }


def _size(source: Source) -> int:
    """Bytes of a source's file (0 for online sources): a proxy for its preparation time."""
    path = source.path() if source.kind == "file" else None
    return path.stat().st_size if path is not None and path.is_file() else 0


def prepare(
    sources: list[Source],
    out: str | Path,
    config: PrepareConfig | None = None,
    scheduler: str = "threads",
    progress: bool = True,
    holdout: Sequence[str] = (),
    mode: str | None = None,
) -> Path:
    """Prepare sources into a data set directory (resumable; see the module docstring).

    New shards are written under ``OUT/.staging`` and swapped in when every region is done
    (:mod:`data_prep.staging`): a run that fails or is killed leaves an existing data set as
    it was, and a rerun reuses the regions it finished.

    Parameters
    ----------
    sources
        Regions to prepare (see :func:`make_sources`).
    out
        Output directory: new, empty, or an earlier citygen data set to resume or update.
    config
        Settings; defaults as in :class:`PrepareConfig`.
    scheduler
        Dask scheduler: ``threads`` (default), ``processes``, ``sync``, or the address of a
        ``dask.distributed`` scheduler (``tcp://host:8786``).
    progress
        Show a progress bar (per file and per stage, and per tile column for big grids).
    mode
        What happens to regions of an existing data set that ``sources`` do not name:
        ``None`` refuses to drop them, ``"add"`` keeps them, ``"replace"`` drops them.
    holdout
        Region names (see :func:`make_sources`) left out of training as whole cities: their
        tiles form the ``holdout`` split, on which ``citygen evaluate`` measures realism apart.

    Returns
    -------
    Path
        The data set directory, with ``manifest.json`` complete.

    Raises
    ------
    UsageError
        If the scheduler is unknown, or regions would be dropped without ``mode``.
    """
    import dask
    from tqdm.auto import tqdm

    config = config or PrepareConfig()
    out = Path(out)
    _check_out_dir(out)
    check_scheduler(scheduler)
    kept = staging.kept_entries(out, [s.name for s in sources], config.as_dict(), mode)
    holdout = check_holdout(holdout, [e["name"] for e in kept] + [s.name for s in sources])
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MANIFEST).exists():  # a new directory: mark it as ours, nothing to keep
        mark = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "incomplete"}
        atomic.write_json(out / MANIFEST, mark)
    stage_dir = staging.open_staging(out)
    done = {s.name: _done_entry(s, out, config) or _done_entry(s, stage_dir, config)
            for s in sources}  # fmt: skip
    todo = [s for s in sources if done[s.name] is None]
    bar = tqdm(total=len(STAGES) * len(sources), unit="stage", disable=not progress, desc="prepare")
    bar.update(len(STAGES) * (len(sources) - len(todo)))
    lock = threading.Lock()

    def report(name: str, stage: str) -> None:
        with lock:
            bar.set_description(f"{name}: {stage}")
            bar.update(1)

    in_process = scheduler in LOCAL_SCHEDULERS and scheduler != "processes"
    say = report if in_process and progress else None
    todo = sorted(todo, key=_size, reverse=True)  # largest first: the long ones start at once
    tasks = [dask.delayed(prepare_region)(s, stage_dir, config, say) for s in todo]
    try:
        computed = run_tasks(tasks, scheduler, None if in_process else bar, len(STAGES))
        results = dict(zip((s.name for s in todo), computed, strict=True))
    except BaseException:
        staging.discard_if_empty(stage_dir)
        raise
    finally:
        bar.close()
    entries = kept + [done[s.name] or results[s.name] for s in sources]
    if not any(e["tiles"] for e in entries):
        msg = f"no tile of {config.tile_size:g} m with at least {config.min_nodes} nodes in the input"
        raise InputDataError(msg)
    staging.commit(out, stage_dir, entries, build_manifest(entries, config, holdout))
    return out
