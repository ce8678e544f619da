"""The grid term of a child's angle (``ModelConfig.grid_prior``).

How a direction lines up with the tile's dominant bearing: an exact function of the history
(the parent's reference direction) and the style, so the loss stays the exact NLL.
"""

from __future__ import annotations

import torch
from torch import Tensor

from citygen.style import STYLE_KEYS

_GRID_COS = STYLE_KEYS.index("grid_cos")  # grid_sin follows it


def grid_phase(ref: Tensor, style: Tensor) -> Tensor:
    """Return ``z e^{4i ref}`` as (real, imaginary) ``(..., 2)``.

    ``z = grid_cos + i grid_sin`` of the style features ``(..., S)``; ``ref (...)`` is a
    direction in radians.

    The style's ``z`` is ``m e^{-4i phi_d}`` (4-fold bearing mean from north, coherence ``m``)
    in the angle convention of positions (``phi`` counter-clockwise from +x), so the real part
    of ``z e^{4i phi}`` is ``m cos(4 (phi - phi_d))``: 1 on the grid, -1 at 45 degrees off it.
    """
    i = _GRID_COS
    gc, gs = style[..., i].to(ref.dtype), style[..., i + 1].to(ref.dtype)
    c, s = (4.0 * ref).cos(), (4.0 * ref).sin()
    return torch.stack([gc * c - gs * s, gc * s + gs * c], dim=-1)
