"""Edge decisions of one sampling step: Bernoulli draws per candidate, masked by the rules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from citygen import geometry as geo
from citygen.model.encode import BORDER, CHILD, SPLIT
from citygen.sampling.rules import (
    K_NBR,
    SITE_CLASS,
    SITE_EDGE,
    angle_diff,
    categorical,
    uniforms_at,
)

if TYPE_CHECKING:  # the state calls choose_edges: no import circle at run time
    from citygen.sampling.state import SampleState


def _drawn_ok(st: SampleState, t: int, pos: Tensor, jc: Tensor, draw: Tensor) -> Tensor:
    """For drawn candidates, whether the street ``t - j`` keeps every rule; ``(B, M)``."""
    ok = torch.ones_like(draw)
    bs, ks = torch.nonzero(draw, as_tuple=True)
    if bs.numel() == 0:
        return ok
    j = jc[ks]
    p, q = pos[bs], st.pos[bs, j]
    a, b, ids, valid = st._edge_ends(bs)
    incident = (ids == j[:, None, None]).any(-1)
    # a split node's street being cut is replaced by its halves, which meet the new streets at w
    incident |= torch.arange(ids.shape[1], device=st.dev)[None] == st.split_slot[bs][:, None]
    others = torch.arange(t, device=st.dev)[None] != j[:, None]
    good = geo.street_clear(p, q, a, b, valid & ~incident, st.pos[bs, :t], others, st.clr)
    ok[bs, ks] = good & st.angle_free(bs, j, p)
    return ok


def _angle_conflicts(rel: Tensor, chosen: Tensor, priority: Tensor, min_angle: float) -> Tensor:
    """Drop chosen streets at the new node that run within ``min_angle`` of a chosen street
    of higher priority; ``rel (B, M, 2)``, ``chosen``/``priority (B, M)``.

    Only chosen streets can beat or be beaten, so the pairs are formed among the chosen
    candidates of each row (packed first, ``k`` = the most of any row), not over the window.
    """
    k = int(chosen.sum(-1).max()) if chosen.numel() else 0
    if k == 0:
        return chosen
    order = torch.argsort((~chosen).to(torch.int8), dim=-1, stable=True)[:, :k]  # (B, k)
    c, p = chosen.gather(-1, order), priority.gather(-1, order)
    r = rel.gather(1, order[..., None].expand(-1, -1, 2))
    ang = torch.atan2(r[..., 1], r[..., 0])
    close = angle_diff(ang[:, :, None], ang[:, None, :]) < min_angle  # (B, k, k)
    beaten = close & c[:, None, :] & (p[:, None, :] > p[:, :, None])
    return torch.zeros_like(chosen).scatter_(-1, order, c & ~beaten.any(-1))


def _at_most(chosen: Tensor, priority: Tensor, k: int) -> Tensor:
    """Keep at most ``k`` chosen streets per row ``(B, M)``, those of highest priority."""
    if chosen.shape[-1] <= k:
        return chosen
    score = torch.where(chosen, priority, -math.inf)
    order = score.argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order))
    return chosen & (rank < k)


def choose_edges(st: SampleState, t: int, h: Tensor, ty: Tensor, pos: Tensor, parent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Accepted streets of the new node to window candidates, and their classes.

    Returns ``accepted (B, M)``, ``classes (B, M)`` and candidate node ids ``jc (M,)``.
    """
    model = st.model
    j = t - 1 - torch.arange(st.M, device=st.dev)
    valid, jc = j >= 0, j.clamp(min=0)
    active = ~st.done
    is_b, is_c = (ty == BORDER) & active, (ty == CHILD) & active
    is_s = (ty == SPLIT) & active & (st.split_slot >= 0)
    far = st.split_far[:, None]
    after = (is_c | is_s)[:, None] & (jc[None] > parent[:, None]) & (jc[None] != far)
    cand = valid[None] & (is_b[:, None] | after)
    cand &= st.deg[:, jc] < K_NBR  # a node takes at most K_NBR streets
    is_par = valid[None] & is_c[:, None] & (jc[None] == parent[:, None])
    # a split node's two halves of the street it cuts: implied, with that street's class
    halves = valid[None] & is_s[:, None] & ((jc[None] == parent[:, None]) | (jc[None] == far))
    rel = st.pos[:, jc] - pos[:, None]
    # the street heads run on real (row, candidate) pairs only: early in a tile, and for a
    # child (candidates after its parent), most of the window is not a candidate
    bi, ki = torch.nonzero(cand | is_par, as_tuple=True)
    jk = jc[ki]
    q = model.edge_query(h, pos)[bi]
    el_p = model.edge_scores(q, st.kedge[bi, jk], rel[bi, ki], is_par[bi, ki], st.deg[bi, jk])
    logit = torch.zeros(st.B, st.M, device=st.dev).index_put_((bi, ki), el_p[:, 0].float())
    prob = torch.sigmoid(logit / st.TS)
    u = st._u(None, t, (SITE_EDGE,), (st.M,))
    draw = (u < prob) & cand
    draw &= _drawn_ok(st, t, pos, jc, draw)
    fixed = is_par | halves
    priority = prob + 2.0 * fixed
    accepted = _at_most(_angle_conflicts(rel, draw | fixed, priority, st.min_angle), priority, K_NBR)
    C = el_p.shape[-1] - 1
    element = ki[:, None] * C + torch.arange(C, device=st.dev)
    u_cls = uniforms_at(st.keys[bi], t, (SITE_CLASS,), element)
    cls_p = categorical(el_p[:, 1:], torch.ones_like(u_cls, dtype=torch.bool), u_cls, st.T)
    classes = torch.zeros(st.B, st.M, dtype=torch.long, device=st.dev).index_put_((bi, ki), cls_p)
    if bool(is_s.any()):
        cut_cls = st.ecls[torch.arange(st.B, device=st.dev), st.split_slot.clamp(min=0)]
        classes = torch.where(halves, cut_cls[:, None], classes)
    forced = st._forced(t)
    if bool(forced.any()):
        ft = min(t, st.f_edge.shape[1] - 1)
        accepted = torch.where(forced[:, None], st.f_edge[:, ft] & valid[None], accepted)
        classes = torch.where(forced[:, None], st.f_cls[:, ft], classes)
    return accepted & active[:, None], classes, jc


__all__ = ["choose_edges"]
