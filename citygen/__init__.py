"""citygen: learn how real cities lay out their streets and generate new road networks.

>>> import citygen
>>> model = citygen.load_model()                 # the default model, offline  # doctest: +SKIP
>>> layouts = citygen.sample(model, 4, seed=0)   # layout graphs in metres     # doctest: +SKIP
>>> citygen.log_likelihood(model, layouts[0])    # exact, in nats             # doctest: +SKIP

The public API is imported lazily so that ``import citygen`` (and the CLI's ``--help``) stays
fast: torch is loaded only when a model function is first used. ``load_model``, ``sample`` and
``log_likelihood`` come from :mod:`citygen.api`, which checks their arguments. No submodule of
the package has the name of a public attribute (``citygen.generation`` holds ``generate``), so
importing a submodule never hides a public function.
"""

from __future__ import annotations

from typing import Any

from citygen._version import __version__

_LAZY: dict[str, str] = {
    "load_model": "citygen.api",
    "save_model": "citygen.model.checkpoint",
    "sample": "citygen.api",
    "SampleConfig": "citygen.sampling.loop",
    "log_likelihood": "citygen.api",
    "generate": "citygen.generation",
    "generate_area": "citygen.area",
    "LayoutModel": "citygen.model.network",
    "ModelConfig": "citygen.model.network",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'citygen' has no attribute {name!r}"
    raise AttributeError(msg)
