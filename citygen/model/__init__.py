"""The layout model: network, decision chain, batches, exact likelihood and model files.

:mod:`.network` (the network), :mod:`.encode` (the decision chain), :mod:`.batch`
(teacher-forced batches), :mod:`.likelihood` (exact NLL), :mod:`.checkpoint` (model files).

``LayoutModel`` and ``ModelConfig`` are loaded lazily, so that the chain encoding (used by
data preparation) does not import torch.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"LayoutModel": "citygen.model.network", "ModelConfig": "citygen.model.network"}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'citygen.model' has no attribute {name!r}"
    raise AttributeError(msg)
