"""Staging and swapping in the new shards of a ``prepare`` run, so that a failure loses nothing.

A run writes each new shard and its region marker under ``OUT/.staging/regions/``; the data set
in ``OUT`` is not touched while regions are being prepared. When every region is done,
:func:`commit` moves the new shards into ``OUT/regions/`` (shard names end in their hash, so a
new shard never overwrites one the current manifest names), replaces ``manifest.json`` in one
atomic rename (the commit point), then removes what the new manifest no longer names. A reader
therefore sees the old data set or the new one, never a mix; a killed run leaves its finished
regions in ``.staging`` for the next run to reuse.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from citygen import atomic
from citygen.errors import DatasetError, UsageError
from data_prep.shards import MANIFEST, sha256_file

STAGING = ".staging"
MODES = (None, "add", "replace")


def open_staging(out: Path) -> Path:
    """Create (or reopen, after an interrupted run) the staging folder of ``out``.

    Stale temporary files of a killed run are removed from it and from ``out/regions``.
    """
    stage = out / STAGING
    (stage / "regions").mkdir(parents=True, exist_ok=True)
    (out / "regions").mkdir(exist_ok=True)
    for folder in (out, out / "regions", stage / "regions"):
        atomic.remove_stale(folder)
    return stage


def discard_if_empty(stage: Path) -> None:
    """Remove a staging folder that holds no finished region (a run that failed early)."""
    with contextlib.suppress(OSError):
        (stage / "regions").rmdir()
        stage.rmdir()


def _complete_manifest(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return None
    return manifest


def _kept(out: Path, name: str, config: dict) -> dict:
    """Return the saved entry of an existing region to keep (``--add``), checked."""
    marker = out / "regions" / f"{name}.json"
    try:
        entry = json.loads(marker.read_text())
        intact = entry["shard_sha256"] == sha256_file(out / entry["shard"])
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        msg = f"region {name} of {out} is damaged; prepare it again or use --replace"
        raise DatasetError(msg)
    if entry.get("config") != config:
        msg = (
            f"--add keeps region {name}, prepared with other settings; use its settings "
            f"(tile size {entry.get('config', {}).get('tile_size')} m, ...) or --replace"
        )
        raise UsageError(msg)
    return entry


def kept_entries(out: Path, names: list[str], config: dict, mode: str | None) -> list[dict]:
    """Entries of the regions of the data set in ``out`` that a run on ``names`` keeps.

    Parameters
    ----------
    out
        The output directory (maybe a complete data set).
    names
        Region names of the run's sources.
    config
        The run's settings (:meth:`PrepareConfig.as_dict`).
    mode
        ``None``, ``"add"`` or ``"replace"`` (see :func:`data_prep.prepare.prepare`).

    Raises
    ------
    UsageError
        If ``mode`` is unknown, or regions would be dropped and ``mode`` is ``None``.
    """
    if mode not in MODES:
        msg = f"mode must be add or replace, got {mode!r}"
        raise UsageError(msg)
    manifest = _complete_manifest(out)
    if manifest is None or mode == "replace":
        return []
    others = [r.get("name") for r in manifest.get("regions", []) if r.get("name") not in names]
    if not others:
        return []
    if mode is None:
        msg = (
            f"{out} holds other regions ({', '.join(map(str, others))}) that these sources "
            "would drop; use --add to keep them or --replace to replace the data set"
        )
        raise UsageError(msg)
    return [_kept(out, str(name), config) for name in others]


def commit(out: Path, stage: Path, entries: list[dict], manifest: dict) -> None:
    """Move the staged shards into ``out``, replace the manifest, then tidy up.

    Parameters
    ----------
    out
        The data set directory.
    stage
        Its staging folder (:func:`open_staging`).
    entries
        Every region entry of the new manifest (kept, reused and new).
    manifest
        The new manifest.
    """
    for e in entries:
        staged = stage / e["shard"]
        if staged.is_file():
            os.replace(staged, out / e["shard"])
        marker = stage / "regions" / f"{e['name']}.json"
        if marker.is_file():
            os.replace(marker, out / "regions" / marker.name)
    atomic.write_json(out / MANIFEST, manifest)  # the commit point
    wanted = {e["shard"] for e in entries} | {f"regions/{e['name']}.json" for e in entries}
    for path in (out / "regions").iterdir():
        ours = path.suffix in (".safetensors", ".json")
        if ours and f"regions/{path.name}" not in wanted and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
    shutil.rmtree(stage, ignore_errors=True)
