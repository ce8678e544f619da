"""Atomic file writes: write a temporary file beside the target, then rename it over.

A reader never sees a half-written file, and an interrupted write leaves the previous version
of the file (if any) untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from citygen.errors import OutputError

#: How a temporary file of :func:`atomic_path` is named: ``.<target name>.<random>.tmp``.
TMP_PREFIX, TMP_SUFFIX = ".", ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.

    Parameters
    ----------
    path
        Final destination. Its parent directory must exist.

    Yields
    ------
    Path
        A fresh temporary path to write to. It is removed if the block raises.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{TMP_PREFIX}{target.name}.", suffix=TMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        msg = f"cannot write to {target.parent}: {exc.strerror or exc}"
        raise OutputError(msg) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def remove_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files that a killed write left in ``folder``; return what was removed.

    Only names this module makes (``.<name>.<random>.tmp``, files or folders) are touched.
    Call it from a command that owns ``folder`` before it writes there.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    for path in root.iterdir():
        if path.name.startswith(TMP_PREFIX) and path.name.endswith(TMP_SUFFIX):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(path)
    return removed


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically (byte-stable for equal input)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer`` with a binary file object and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        writer(fh)
