"""A run folder: one whole run of layout files, its manifest, and nothing else.

``citygen generate --out DIR`` writes a *run*: the layout files of :func:`export.write_layouts`
plus :data:`MANIFEST` (``citygen-run.json``), which lists every file with its SHA-256 and the
facts needed to regenerate it (seed, n, batch size, sampling settings, model and its hash,
command). A folder holds one run or none:

- a run's files may lie in sub-folders (``candidate_0/merged.geojson``: infill); the manifest
  names them by their path relative to ``DIR``, with ``/``;
- the run is written into a hidden temporary sibling (``.DIR.citygen-tmp-PID-XXXX``), the
  manifest last, and renamed into place at the end; a new or empty ``DIR`` is replaced by that
  rename, so a reader sees all of the run or nothing, and a killed run leaves ``DIR`` as it was;
- a ``DIR`` that holds an earlier run is refused unless ``overwrite``; then the new run is
  swapped in with one atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two
  renames, with ``DIR`` briefly absent) and the files the old run's manifest lists are removed,
  nothing else;
- a ``DIR`` that holds anything else (files no run manifest lists) is always refused: a run
  never overwrites or removes files it did not write;
- two runs into one folder do not mix: the first rename wins, and the other fails with
  :class:`~citygen.errors.OutputError` and writes nothing there (with ``overwrite`` it
  replaces the first run whole).

Temporary siblings left by a killed run (their process is gone) are removed by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from citygen import atomic
from citygen.errors import InputDataError, OutputError
from citygen.paths import PROBE_PREFIX, check_output_dir

log = logging.getLogger(__name__)

#: File name of a run's manifest, written last.
MANIFEST = "citygen-run.json"
#: ``kind`` member of a manifest.
KIND = "citygen-run"
_STALE = re.compile(r"^\.(?P<name>.+)\.citygen-(?:tmp|old)-(?P<pid>\d+)-[^/]+$")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """Read the run manifest of ``folder``; None if it has none (or it is not one)."""
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        return None
    if not isinstance(doc.get("files"), dict) or not all(map(_safe_name, doc["files"])):
        return None
    return doc


def _safe_name(name: Any) -> bool:
    """Whether a manifest's file name stays inside its folder (no ``..``, not absolute)."""
    parts = name.split("/") if isinstance(name, str) else [""]
    return all(part not in ("", ".", "..") and "\\" not in part for part in parts)


def verify_run(folder: str | Path) -> dict[str, Any]:
    """Check that ``folder`` holds one whole run: the files its manifest lists, nothing else.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    InputDataError
        If there is no manifest, a file is missing or extra, or a file's SHA-256 differs from
        the one recorded.
    """
    d = Path(folder)
    manifest = read_manifest(d)
    if manifest is None:
        msg = f"{d} holds no citygen run (no {MANIFEST})"
        raise InputDataError(msg)
    have, listed = set(_files(d)) - {MANIFEST}, set(manifest["files"])
    if have != listed:
        diff = sorted(have ^ listed)
        msg = f"{d} is not one whole run: {', '.join(diff[:3])} missing or not listed"
        raise InputDataError(msg)
    for name, digest in manifest["files"].items():
        if sha256_file(d / name) != digest:
            msg = f"{d / name} differs from the file its run wrote (SHA-256)"
            raise InputDataError(msg)
    return manifest


def _entries(folder: Path) -> list[str]:
    """Names in ``folder``, less the write probes of a concurrent check (:mod:`citygen.paths`)."""
    try:
        return sorted(e for e in os.listdir(folder) if not e.startswith(PROBE_PREFIX))
    except FileNotFoundError:
        return []


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` by its ``/`` path relative to it, less write probes."""
    found = []
    for top in _entries(folder):
        path = folder / top
        if path.is_dir() and not path.is_symlink():
            found += [p.relative_to(folder).as_posix() for p in path.rglob("*") if not p.is_dir()]
        else:
            found.append(top)
    return sorted(found)


def _tops(names: Any) -> set[str]:
    """The entries of a run folder that hold the listed files (their first path part)."""
    return {name.split("/", 1)[0] for name in names}


def check_run_folder(out_dir: str | Path, overwrite: bool = False) -> dict[str, Any] | None:
    """Check before any work that a run may be written to ``out_dir``.

    Parameters
    ----------
    out_dir
        The run folder (new, empty, or holding an earlier run).
    overwrite
        Whether an earlier run in the folder may be replaced.

    Returns
    -------
    dict or None
        The earlier run's manifest (None for a new or empty folder).

    Raises
    ------
    OutputError
        If the path cannot be written, is or holds the current directory, holds an earlier run
        and ``overwrite`` is false, or holds files that no run manifest lists.
    """
    out = check_output_dir(out_dir, "output directory")
    here = Path.cwd().resolve()
    if out.exists() and (here == out.resolve() or out.resolve() in here.parents):
        msg = (
            f"output directory {out} is (or holds) the current directory; a run replaces its "
            "folder whole, so name a folder to create, e.g. --out layouts"
        )
        raise OutputError(msg)
    entries = _entries(out)
    if not entries:
        return None
    manifest = read_manifest(out)
    listed = _tops(manifest["files"]) | {MANIFEST} if manifest is not None else set()
    foreign = [e for e in entries if e not in listed]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        what = "files of no citygen run" if manifest is None else "files its run did not write"
        msg = (
            f"{out} holds {what} ({shown}); a run is written into a new or empty folder, or "
            "replaces an earlier run with --overwrite, and never touches other files"
        )
        raise OutputError(msg)
    if not overwrite:
        n = len(manifest["files"])
        msg = (
            f"{out} holds an earlier run ({n} files, seed {manifest.get('seed')}); "
            "pass --overwrite (Python: overwrite=True) to replace it, or choose another --out"
        )
        raise OutputError(msg)
    return manifest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove temporary siblings of ``out`` left by killed runs (their process is gone)."""
    removed = []
    parent = out.parent if out.parent.is_dir() else None
    for entry in _entries(parent) if parent is not None else []:
        m = _STALE.match(entry)
        if m and m["name"] == out.name and not _pid_alive(int(m["pid"])):
            path = parent / entry
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log.info("removed %s, left by a killed run", path)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not supported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def remove_run(folder: Path) -> bool:
    """Remove the files a run folder's manifest lists, the manifest, and the folder if empty.

    Returns
    -------
    bool
        Whether the folder is gone (False: it held files no run wrote, which are kept).
    """
    manifest = read_manifest(folder)
    names = list((manifest or {}).get("files", {}))
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / MANIFEST).unlink()
    subfolders = {folder.joinpath(*name.split("/")[:k]) for name in names
                  for k in range(1, name.count("/") + 1)}  # fmt: skip
    for sub in sorted(subfolders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # kept if it holds files no run wrote
            sub.rmdir()
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _keep(folder: Path, out: Path) -> None:
    """Give a replaced run folder that still holds foreign files a visible name; warn."""
    kept = out.parent / f"{out.name}.kept-{os.getpid()}"
    os.rename(folder, kept)
    log.warning("files no run wrote were left in %s; they are kept in %s", out, kept)


def _install(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished run ``tmp`` to ``out`` (see the module docstring)."""
    for _ in range(5):
        try:
            os.rename(tmp, out)  # a missing or empty folder: replaced in one step
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                msg = f"cannot move the run into {out}: {exc.strerror or exc}"
                raise OutputError(msg) from exc
        # another run finished there meanwhile (the same rules apply), or a concurrent
        # writability probe sat in an empty folder for a moment (try again)
        if check_run_folder(out, overwrite) is not None:
            break
        time.sleep(0.05)
    else:
        msg = f"cannot move the run into {out}: the folder kept changing"
        raise OutputError(msg)
    if _exchange(tmp, out):
        if not remove_run(tmp):  # tmp now holds the old run
            _keep(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.citygen-old-{os.getpid()}-", dir=out.parent))
    os.rename(out, old / "run")
    os.rename(tmp, out)
    if not remove_run(old / "run"):
        _keep(old / "run", out)
    old.rmdir()


def write_run(
    write: Callable[[Path], Sequence[Path]],
    out_dir: str | Path,
    info: dict[str, Any],
    overwrite: bool = False,
) -> list[Path]:
    """Write one run into ``out_dir`` all at once (see the module docstring).

    Parameters
    ----------
    write
        ``write(folder) -> files``: writes the run's files into an empty folder (or
        sub-folders of it).
    out_dir
        The run folder.
    info
        Facts recorded in the manifest beside the file list (seed, n, model, command, ...).
    overwrite
        Replace an earlier run in ``out_dir``.

    Returns
    -------
    list of Path
        The run's files in ``out_dir``, the manifest last.

    Raises
    ------
    OutputError
        As :func:`check_run_folder`, or if another run took the folder meanwhile.
    """
    out = Path(os.path.abspath(out_dir))  # "." and "sub/.." have a name and a parent
    check_run_folder(out, overwrite)
    clean_stale(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.citygen-tmp-{os.getpid()}-", dir=out.parent))
    try:
        files = [Path(p) for p in write(tmp)]
        stray = [p for p in files if tmp not in p.parents]
        if stray:
            msg = f"run files must be written in the run folder, got {stray[0]}"
            raise OutputError(msg)
        names = [p.relative_to(tmp).as_posix() for p in files]
        manifest = {
            "kind": KIND,
            **info,
            "files": {name: sha256_file(p) for name, p in zip(names, files, strict=True)},
        }
        atomic.write_json(tmp / MANIFEST, manifest)
        os.chmod(tmp, 0o755)
        _install(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out.joinpath(*name.split("/")) for name in names] + [out / MANIFEST]


def write_layout_run(
    layouts: Sequence[nx.Graph],
    out_dir: str | Path,
    info: dict[str, Any],
    overwrite: bool = False,
    **write_kw: Any,
) -> list[Path]:
    """:func:`export.write_layouts` as one run (see :func:`write_run`).

    ``write_kw`` goes to :func:`export.write.write_layouts` (formats, center, metadata, names,
    progress).
    """
    from export.write import write_layouts

    return write_run(
        lambda folder: write_layouts(layouts, folder, **write_kw), out_dir, info, overwrite
    )


__all__ = [
    "KIND",
    "MANIFEST",
    "check_run_folder",
    "clean_stale",
    "read_manifest",
    "remove_run",
    "sha256_file",
    "verify_run",
    "write_layout_run",
    "write_run",
]
