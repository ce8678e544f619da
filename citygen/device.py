"""Choosing the torch device from a ``--device auto|cpu|cuda`` option (one rule for every command)."""

from __future__ import annotations

import torch

from citygen.errors import UsageError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        msg = "--device cuda asked for, but torch sees no CUDA device"
        raise UsageError(msg)
    if name not in ("cpu", "cuda"):
        msg = f"device must be auto, cpu or cuda, got {name!r}"
        raise UsageError(msg)
    return torch.device(name)
