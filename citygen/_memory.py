"""Keep the CPU heap from fragmenting during training.

Tensors of ever-changing shapes (tiles differ in length) leave freed blocks scattered in
glibc's heap, which it does not give back: a training run grew from 1 GB to 4.7 GB resident.
``malloc_trim`` returns them. Measured on 25 training steps: 1.9 GB -> 1.1 GB resident; a fixed
mmap threshold did as well on memory but cost about 30 % more time, so trimming every few steps
is what training does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return lib


def release_free_memory() -> bool:
    """Give free heap memory back to the system (glibc); False where that is not possible."""
    lib = _libc()
    return bool(lib.malloc_trim(0)) if lib is not None else False


def resident_gb() -> float | None:
    """Current resident memory of this process in GB (Linux ``/proc``); None elsewhere."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])  # noqa: PTH123, SIM115
    except (OSError, ValueError, IndexError):
        return None
    import os

    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1024**3, 3)
