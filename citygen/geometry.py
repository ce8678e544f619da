"""Batched planar-geometry tests in torch (CPU or CUDA), for the sampler's constraint masks.

All functions broadcast over leading dimensions. Points are ``(..., 2)`` tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

INF = float("inf")


def cross2(a: Tensor, b: Tensor) -> Tensor:
    """2-D cross product ``a x b`` over the last axis."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def segments_cross(p: Tensor, q: Tensor, a: Tensor, b: Tensor, eps: float = 1e-9) -> Tensor:
    """Whether segments ``p-q`` and ``a-b`` cross at a point interior to both.

    Segments that only touch at an endpoint, or are collinear, do not count (collinear
    overlaps are caught by the near-node test instead).
    """
    d1, d2 = q - p, b - a
    o1 = cross2(d1, a - p)
    o2 = cross2(d1, b - p)
    o3 = cross2(d2, p - a)
    o4 = cross2(d2, q - a)
    return (o1 * o2 < -eps) & (o3 * o4 < -eps)


def ray_hit_distance(origin: Tensor, direction: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distance along a unit-direction ray from ``origin`` to segment ``a-b`` (inf if none).

    ``origin``, ``direction``: ``(..., 2)``; ``a``, ``b``: ``(..., E, 2)`` -> ``(..., E)``.
    Hits at the segment's endpoints count; a ray starting on the segment does not.
    """
    o = origin.unsqueeze(-2)
    d = direction.unsqueeze(-2)
    e = b - a
    denom = cross2(d, e)
    ao = a - o
    r = cross2(ao, e) / denom
    s = cross2(ao, d) / denom
    ok = (denom.abs() > 1e-12) & (r > 1e-9) & (s >= 0) & (s <= 1)
    return torch.where(ok, r, INF)


def point_segment_distance(pt: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distance from points to segments (broadcasting ``(..., 2)`` arrays)."""
    e = b - a
    t = ((pt - a) * e).sum(-1) / (e * e).sum(-1).clamp(min=1e-18)
    proj = a + t.clamp(0, 1).unsqueeze(-1) * e
    return (pt - proj).norm(dim=-1)


def ray_blocked_intervals(origin: Tensor, direction: Tensor, nodes: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """Along a ray, the interval of distances whose point lies within ``radius`` of each node.

    ``origin``, ``direction``: ``(..., 2)``; ``nodes``: ``(..., N, 2)``. Returns ``lo, hi``
    ``(..., N)``; nodes farther than ``radius`` from the line give an empty interval.
    """
    (lo, hi), = ray_blocked_intervals_at(origin, direction, nodes, (radius,))
    return lo, hi


def ray_blocked_intervals_at(
    origin: Tensor, direction: Tensor, nodes: Tensor, radii: tuple[float, ...]
) -> list[tuple[Tensor, Tensor]]:
    """:func:`ray_blocked_intervals` for several radii, sharing the projections on the ray."""
    rel = nodes - origin.unsqueeze(-2)
    t = (rel * direction.unsqueeze(-2)).sum(-1)
    perp2 = (rel * rel).sum(-1) - t * t
    out = []
    for radius in radii:
        half = (radius * radius - perp2).clamp(min=0).sqrt()
        empty = perp2 >= radius * radius
        out.append((torch.where(empty, INF, t - half), torch.where(empty, -INF, t + half)))
    return out


def street_clear(
    p: Tensor, q: Tensor, a: Tensor, b: Tensor, streets: Tensor, nodes: Tensor, others: Tensor, clearance: float
) -> Tensor:
    """Whether new streets ``p - q`` ``(R, 2)`` cross none of the streets ``a - b`` ``(R, E, 2)``
    selected by ``streets (R, E)`` and pass no node of ``nodes (R, n, 2)`` selected by
    ``others (R, n)`` within ``clearance``. Returns ``(R,)``."""
    cross = (segments_cross(p[:, None], q[:, None], a, b) & streets).any(-1)
    near = ((point_segment_distance(nodes, p[:, None], q[:, None]) < clearance) & others).any(-1)
    return ~(cross | near)
