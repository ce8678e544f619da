"""Shared pieces of constrained sampling: the seeded draws and the geometric rule constants.

A lower module of :mod:`citygen.sampling` so that the state (:mod:`.state`) and the edge
decisions (:mod:`.edges`) both use it without importing each other in a circle.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from citygen.layout import MAX_DEGREE

#: Streets remembered per node (angle rules, parent context): all of them, since no node may
#: get more than MAX_DEGREE, so the rules hold exactly.
K_NBR = MAX_DEGREE
MARGIN = 1e-4  # interior nodes keep this normalised distance from the tile border


def categorical(
    logits: Tensor, mask: Tensor, gen: torch.Generator, temperature: float = 1.0
) -> Tensor:
    """Gumbel-max draw over the last axis among allowed entries; -1 where none is allowed."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device, dtype=torch.float32)
    g = logits.float() / temperature - torch.log(-torch.log(u.clamp(1e-12, 1 - 1e-7)))
    idx = g.masked_fill(~mask, -math.inf).argmax(-1)
    return torch.where(mask.any(-1), idx, torch.full_like(idx, -1))


def perimeter_xy(s: Tensor) -> Tensor:
    """Perimeter coordinate in ``[0, 4)`` to a normalised point on the border."""
    side = torch.floor(s).clamp(0, 3)
    f = s - side
    x = torch.stack([torch.zeros_like(f), f, torch.ones_like(f), 1 - f], -1)
    y = torch.stack([1 - f, torch.zeros_like(f), f, torch.ones_like(f)], -1)
    i = side.long().unsqueeze(-1)
    return torch.stack([x.gather(-1, i).squeeze(-1), y.gather(-1, i).squeeze(-1)], -1)


def perimeter_coord(xy: Tensor, eps: float = 1e-9) -> Tensor:
    """Perimeter coordinate of border points, as :func:`data_prep.order.perimeter_coordinate`."""
    x, y = xy[..., 0], xy[..., 1]
    return torch.where(
        x <= eps,
        torch.remainder(1.0 - y, 4.0),
        torch.where(
            y <= eps, 1.0 + x, torch.where(x >= 1 - eps, 2.0 + y, torch.remainder(4.0 - x, 4.0))
        ),
    )


def angle_diff(a: Tensor, b: Tensor) -> Tensor:
    """Absolute circular difference of angles in radians, in ``[0, pi]``."""
    d = torch.remainder(a - b, 2 * math.pi)
    return torch.minimum(d, 2 * math.pi - d)
