"""citygen: learn how real cities lay out their streets and generate new road networks.

The public API is imported lazily so that ``import citygen`` (and the CLI's ``--help``) stays
fast: torch is loaded only when a model function is first used.
"""

from __future__ import annotations

from typing import Any

from citygen._version import __version__

_LAZY: dict[str, str] = {}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'citygen' has no attribute {name!r}"
    raise AttributeError(msg)
