"""Output paths checked before any work: every command fails at once, not after sampling.

:func:`check_output_dir` and :func:`check_output_file` find the first problem a later write
would hit (the path is the wrong kind of thing, a parent is a file, the folder that would hold
it is not writable) and raise :class:`~citygen.errors.OutputError` naming the path. Writability
is tested twice: ``os.access`` and a real probe (a temporary file created and removed), so a
read-only mount or an ACL is caught too. Nothing is created: a missing folder is checked through
its nearest existing ancestor, and the command creates it when it writes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from citygen.errors import OutputError

#: Name prefix of the temporary file that tests whether a folder is writable.
PROBE_PREFIX = ".citygen-probe."


def _existing_ancestor(path: Path, what: str) -> Path:
    """Return the nearest ancestor of ``path`` that exists; it must be a directory."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                msg = f"{what} {path}: {parent} is a file, not a directory"
                raise OutputError(msg)
            return parent
    return Path.cwd()  # pragma: no cover - a relative path's ancestors end at the cwd


def check_writable(folder: Path, what: str, path: Path) -> None:
    """Check that files can be created in an existing directory ``folder``.

    Raises
    ------
    OutputError
        Naming ``path`` (the output asked for) and ``folder`` if it is not writable.
    """
    shown = f"{what} {path}" + ("" if folder == path else f": {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        msg = f"{shown} is not writable"
        raise OutputError(msg)
    try:
        fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    except OSError as exc:
        msg = f"{shown} is not writable ({exc.strerror or exc})"
        raise OutputError(msg) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_dir(path: str | os.PathLike[str], what: str = "output directory") -> Path:
    """Check that ``path`` is, or can be created as, a writable directory.

    Parameters
    ----------
    path
        The directory a command will write into (it may not exist yet).
    what
        How the message names it, e.g. ``"--out"``.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        If ``path`` exists and is not a directory (a file, ``/dev/null``), an ancestor is a
        file, or the directory (or the one it would be created in) is not writable.
    """
    out = Path(path)
    if str(path) == "":
        msg = f"{what} is empty"
        raise OutputError(msg)
    if out.exists():
        if not out.is_dir():
            kind = " (it is a file)" if out.is_file() else ""
            msg = f"{what} {out} is not a directory{kind}"
            raise OutputError(msg)
        check_writable(out, what, out)
    else:
        check_writable(_existing_ancestor(out, what), what, out)
    return out


def check_output_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """Check that ``path`` can be written as a regular file (atomically: replaced by rename).

    Parameters
    ----------
    path
        The file a command will write (its folder may not exist yet).
    what
        How the message names it, e.g. ``"--json"``.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        If ``path`` is a directory or a special file (``/dev/null``), an ancestor is a file, or
        the folder that would hold it is not writable.
    """
    out = Path(path)
    if str(path) == "":
        msg = f"{what} is empty"
        raise OutputError(msg)
    if out.exists() or out.is_symlink():
        mode = out.stat().st_mode if out.exists() else 0
        if stat.S_ISDIR(mode):
            msg = f"{what} {out} is a directory, not a file"
            raise OutputError(msg)
        if not stat.S_ISREG(mode):
            msg = f"{what} {out} exists and is not a regular file"
            raise OutputError(msg)
    parent = out.parent
    if parent.exists():
        if not parent.is_dir():
            msg = f"{what} {out}: {parent} is a file, not a directory"
            raise OutputError(msg)
        check_writable(parent, what, out)
    else:
        check_writable(_existing_ancestor(parent, what), what, out)
    return out


__all__ = ["PROBE_PREFIX", "check_output_dir", "check_output_file", "check_writable"]
