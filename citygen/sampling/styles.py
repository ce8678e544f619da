"""Style rows for the layouts of a sampling batch (a model trained with ``--style``).

Shared by the sampling loop, the batch state and steering, so that every way of sampling gives
layout ``i`` of a run the same style: drawn from ``(seed, i)`` only (:mod:`citygen.style`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from citygen.errors import UsageError


def resolve_styles(
    model: Any,
    n: int,
    seed: int,
    style: np.ndarray | None,
    config: Any = None,
    first_index: int = 0,
) -> np.ndarray | None:
    """Raw style rows ``(n, STYLE_DIM)`` for a style model: given, or drawn from a bank.

    The bank is ``config.style_bank`` (a ``--like`` place) or the model's own (its training
    tiles); ``config.density`` and ``config.grid`` fix those values (see
    :func:`citygen.style.draw_styles`).

    Raises
    ------
    UsageError
        If a style is given to a model without style input, or has the wrong shape.
    """
    from citygen.style import STYLE_DIM, check_bank, style_choices

    bank_asked = getattr(config, "style_bank", None)
    density, grid = getattr(config, "density", None), getattr(config, "grid", None)
    asked = bank_asked is not None or density is not None or grid is not None
    if not model.config.style_dim:
        if style is not None or asked:
            msg = "this model takes no style (it was trained without --style); leave out --like/--density/--grid"
            raise UsageError(msg)
        return None
    if style is None:
        bank = np.asarray(bank_asked) if bank_asked is not None else getattr(model, "style_bank", None)
        if bank is None:
            msg = "this style model has no style bank (style_bank.json); give styles explicitly"
            raise UsageError(msg)
        return style_choices(bank, n, seed, density, grid, first_index)[0]
    arr = check_bank(style, "style")
    if arr.shape != (n, STYLE_DIM):
        msg = f"style must have one row per layout, shape ({n}, {STYLE_DIM}), got {arr.shape}"
        raise UsageError(msg)
    return arr


def style_tensor(styles: np.ndarray | None, start: int, count: int, dev: torch.device) -> Tensor | None:
    """Model inputs of layouts ``start .. start + count`` (None for a model without style)."""
    if styles is None:
        return None
    from citygen.style import features

    return torch.as_tensor(features(styles[start : start + count]), device=dev)


