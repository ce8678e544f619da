"""Shared pieces of constrained sampling: the seeded draws and the geometric rule constants.

A lower module of :mod:`citygen.sampling` so that the state (:mod:`.state`) and the edge
decisions (:mod:`.edges`) both use it without importing each other in a circle.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from citygen.layout import MAX_DEGREE

#: Streets remembered per node (angle rules, parent context): all of them, since no node may
#: get more than MAX_DEGREE, so the rules hold exactly.
K_NBR = MAX_DEGREE
MARGIN = 1e-4  # interior nodes keep this normalised distance from the tile border


#: Draw sites of a step (a stream is told apart by step, site and tries).
SITE_TYPE, SITE_GAP, SITE_ROOT, SITE_POINTER = 0, 1, 2, 3
SITE_ANGLE, SITE_DIST, SITE_EDGE, SITE_CLASS = 4, 5, 6, 7
SITE_SPLIT = 8  # which street a split node cuts, and where on it
_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mix_int(x: int) -> int:
    """A bijective 32-bit integer hash (lowbias32), on Python ints."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def _mix(x: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """:func:`_mix_int` elementwise on int64 tensors (or numpy arrays) holding 32-bit values.

    Products may wrap around in int64; the low 32 bits that are kept are exact. After the first
    operation (a copy) the steps run in place, which saves numpy a tenth of the time.
    """
    x = x & _M32
    x ^= x >> 16
    x *= 0x7FEB352D
    x &= _M32
    x ^= x >> 15
    x *= 0x846CA68B
    x &= _M32
    x ^= x >> 16
    return x


def layout_keys(seed: int, index: Tensor) -> Tensor:
    """The random stream key of each layout: a hash of the seed and the layout's index only.

    Every draw of a layout comes from its own key (:func:`uniforms`), so a layout is the same
    whatever the batch size, the number of layouts or of worker processes.
    """
    s = _mix_int((seed & _M32) ^ _mix_int(((seed >> 32) & _M32) + _GOLDEN))
    return _mix(_mix((index.long() & _M32) ^ s) + _GOLDEN)


def fork_keys(keys: Tensor, t: int) -> Tensor:
    """New keys for rows that may be copies of one another (resampled particles) at step ``t``."""
    row = torch.arange(len(keys), device=keys.device)
    return _mix(_mix(keys ^ _mix_int(t + 0x5BD1E995)) + row * _GOLDEN)


def uniforms(keys: Tensor, t: int, site: tuple[int, ...], shape: tuple[int, ...] = ()) -> Tensor:
    """Counter-based uniforms in ``(0, 1)``: ``(R, *shape)`` float32 for rows of ``keys (R,)``.

    A value depends only on the row's key, the step ``t``, the draw ``site`` (a tuple of
    small ints: what is drawn and which try) and the element's place in ``shape``.
    """
    element = torch.arange(math.prod(shape), device=keys.device).expand(len(keys), -1)
    return uniforms_at(keys, t, site, element).reshape(len(keys), *shape)


@functools.lru_cache(maxsize=1 << 16)
def _site_constant(t: int, site: tuple[int, ...]) -> int:
    c = _mix_int(t * 0x27D4EB2F + 0x165667B1)
    for v in site:
        c = _mix_int(c ^ (v * _GOLDEN + 0x61C88647))
    return c


def uniforms_at(keys: Tensor, t: int, site: tuple[int, ...], element: Tensor) -> Tensor:
    """The values of :func:`uniforms` at flat element indices ``element (R, k)`` only.

    On the CPU the hash runs in numpy: integer arithmetic, so the same bits as torch's, at a
    fraction of the cost per operation (a step draws from about twenty small streams).
    """
    c = _site_constant(t, site)
    if keys.device.type == "cpu":
        return torch.from_numpy(_uniforms_numpy(keys.numpy(), c, element.numpy()))
    return _uniforms_torch(keys, c, element)


def _uniforms_torch(keys: Tensor, c: int, element: Tensor) -> Tensor:
    """Hash the streams of :func:`uniforms_at` in torch (any device), site constant ``c``."""
    x = _mix(keys ^ c)[:, None]  # (R, 1)
    y = _mix(x + element * _GOLDEN)
    return ((y >> 8).float() + 0.5) * (1.0 / (1 << 24))


def _uniforms_numpy(keys: np.ndarray, c: int, element: np.ndarray) -> np.ndarray:
    """Hash as :func:`_uniforms_torch` does, in numpy (int64 wraps, float32 rounds as in torch)."""
    x = _mix(keys ^ c)[:, None]
    y = _mix(x + element * _GOLDEN)
    y >>= 8
    u = y.astype(np.float32)
    u += np.float32(0.5)
    u *= np.float32(1.0 / (1 << 24))
    return u


def categorical(logits: Tensor, mask: Tensor, u: Tensor, temperature: float = 1.0) -> Tensor:
    """Gumbel-max draw over the last axis among allowed entries; -1 where none is allowed.

    ``u``: uniforms of the logits' shape (:func:`uniforms`).
    """
    g = logits.float() / temperature - torch.log(-torch.log(u))
    idx = g.masked_fill(~mask, -math.inf).argmax(-1)
    return torch.where(mask.any(-1), idx, -1)


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
