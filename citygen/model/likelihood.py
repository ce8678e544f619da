"""Exact negative log-likelihood of tiles under a layout model, per step and in total.

Positions are densities in normalised tile units: a border node's on the perimeter (length),
an interior node's in the plane (area). A bin's probability is spread uniformly over the bin,
so ``-log p(bin) + log(bin width)`` is the exact density term; for a child the polar-to-plane
Jacobian adds ``2 log r`` (bins are uniform in angle and in log-distance).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import networkx as nx
import torch
import torch.nn.functional as F
from torch import Tensor

from citygen.model.batch import collate, tile_arrays
from citygen.model.encode import BORDER, CHILD, ROOT, SPLIT, encode
from citygen.model.grid import grid_phase
from data_prep.order import Sequence, to_sequence

if TYPE_CHECKING:  # the network calls batch_nll in forward: no import circle at run time
    from citygen.model.network import LayoutModel

NEG = -1e9


def _gather_nodes(x: Tensor, idx: Tensor) -> Tensor:
    """``x (B, N, ...)`` at ``idx (B, ...)`` -> ``(B, ..., ...)``."""
    B = x.shape[0]
    b = torch.arange(B, device=x.device).view(B, *([1] * (idx.dim() - 1)))
    return x[b, idx.clamp(min=0)]


def window_view(x: Tensor, M: int) -> Tensor:
    """Sliding candidate window: ``x (B, N, ...)`` -> ``(B, N + 1, M, ...)`` with
    ``out[:, t, k] = x[:, t - 1 - k]`` (zeros before the first node).

    A padded ``unfold`` view: the same values as gathering ``x`` at ``t - 1 - k``, but its
    backward pass is a cheap fold instead of a serial scatter.
    """
    B, N = x.shape[:2]
    pad = torch.zeros(B, M, *x.shape[2:], dtype=x.dtype, device=x.device)
    padded = torch.cat([pad, x], dim=1)  # (B, M + N, ...)
    win = padded.unfold(1, M, 1)  # (B, N + 1, ..., M): padded[t .. t + M - 1]
    win = win.movedim(-1, 2).flip(2)  # (B, N + 1, M, ...): k -> padded[t + M - 1 - k]
    return win


def _pick(logp: Tensor, target: Tensor) -> Tensor:
    """``-logp`` at integer targets (last axis), 0 where the target is negative."""
    out = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(target >= 0, out, torch.zeros_like(out))


def backbone_states(model: LayoutModel, batch: dict[str, Tensor]) -> Tensor:
    """Teacher-forced backbone outputs ``(B, N + 1, d)``: ``h[:, t]`` predicts step ``t``."""
    # tok_*: context noise of training (training/noise.py) displaces what the backbone reads
    msg = model.edge_messages(batch.get("tok_edge_rel", batch["edge_rel"]), batch["edge_c"])  # (B, E, d)
    msg = msg * batch["edge_mask"].unsqueeze(-1)
    B, N = batch["pos"].shape[:2]
    summed = torch.zeros(B, N, msg.shape[-1], device=msg.device, dtype=msg.dtype)
    summed.scatter_add_(1, batch["edge_i"].clamp(min=0).unsqueeze(-1).expand_as(msg), msg)
    pos, rel = batch.get("tok_pos", batch["pos"]), batch.get("tok_rel", batch["rel"])
    tokens = model.node_tokens(pos, batch["node_type"], rel, summed)
    x = torch.cat([model.start_token(B, batch.get("style")).unsqueeze(1), tokens], dim=1)
    return model.backbone(x)


def type_mask(all_border_before: Tensor, any_ptr: Tensor, any_split: Tensor | None = None) -> Tensor:
    """Allowed step types ``(..., 4)`` (``(..., 5)`` with ``any_split``): border only before
    any interior node; a child only when a parent candidate exists; a split only when a street
    may be cut; roots and END always."""
    ones = torch.ones_like(any_ptr)
    cols = [all_border_before, any_ptr, ones, ones] + ([] if any_split is None else [any_split])
    return torch.stack(cols, dim=-1)


def _scatter(sel: Tensor, values: Tensor) -> Tensor:
    """Values of the selected steps back into a ``(B, T)`` tensor (zeros elsewhere)."""
    out = torch.zeros(sel.shape, dtype=values.dtype, device=values.device)
    return out.masked_scatter(sel, values)


def step_nll(model: LayoutModel, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-step NLL terms ``(B, N + 1)`` in nats, by decision kind, zero where not applicable.

    Keys: ``type``, ``border``, ``pointer``, ``position``, ``root``, ``edges``, ``classes``
    (and ``split`` for a split model).
    Their sum over kinds and steps is the exact NLL of each tile. Each head runs only on the
    steps it decides (border steps, child steps, ...), never on padding.
    """
    bn = model.config.binning
    raw = backbone_states(model, batch)  # (B, T, d), T = N + 1
    nodes = raw[:, 1:]  # (B, N, d): output after reading node j (keys of candidates)
    h = model.with_state(raw, batch["state"], batch.get("style"))  # what the heads decide from
    types = batch["types"]
    M = batch["w_j"].shape[-1]
    ptr_ok = batch["w_ptr_ok"]
    split = model.config.split
    tmask = type_mask(batch["all_border_before"], ptr_ok.any(-1), (batch["sp_u"] >= 0).any(-1) if split else None)
    tlog = F.log_softmax(model.head_type(h).masked_fill(~tmask, NEG), -1)
    out = {"type": _pick(tlog, types) * batch["step_mask"]}
    # border nodes: perimeter gap after the previous border node
    is_b = types == BORDER
    out["border"] = _scatter(is_b, gap_nll(model, h[is_b], batch["gap"][is_b], batch["gap_bin"][is_b], batch["remaining"][is_b]))
    # children: parent pointer, then position relative to the parent
    is_c = types == CHILD
    kp = window_view(model.ptr_k(nodes), M)[is_c]  # (R, M, dp)
    plogits = model.pointer_logits(h[is_c], kp, batch["w_last"][is_c], batch["w_deg"][is_c])
    plogits = plogits.masked_fill(~ptr_ok[is_c], NEG)
    out["pointer"] = _scatter(is_c, _pick(F.log_softmax(plogits, -1), batch["ptr_k"][is_c]))
    key_p = _gather_nodes(nodes, batch["parent"])[is_c]
    ctx = model.parent_context(
        h[is_c], key_p, batch["pos_parent"][is_c], batch["ref_parent"][is_c], batch["sectors"][is_c]
    )
    sub = {k: batch[k][is_c] for k in ("angle_bin", "dist_bin", "log_r", "xy_bin")}
    if model.config.grid_prior:
        style = batch["style"].unsqueeze(1).expand(-1, types.shape[1], -1)[is_c]
        sub["grid"] = grid_phase(batch["ref_parent"][is_c], style)
    out["position"] = _scatter(is_c, _position_nll(model, ctx, sub))
    if split:
        out["split"] = _split_nll(model, h, nodes, batch)
    is_r = types == ROOT
    rlog = F.log_softmax(model.head_root(h[is_r]), -1)
    out["root"] = _scatter(is_r, _pick(rlog, batch["root_bin"][is_r]) + 2 * math.log(1.0 / bn.root_grid))
    # edges to window candidates, and road classes (border and child steps)
    # scored only on (step, candidate) pairs that are candidates or the parent street: the
    # window is mostly empty early in a tile, and the pair MLP is the costliest head
    is_e = is_b | is_c
    cand = batch["w_cand"][is_e]  # (R, M)
    is_par = batch["w_is_parent"][is_e] & is_c[is_e].unsqueeze(-1)
    pair = cand | is_par
    row = torch.nonzero(pair)[:, 0]
    q = model.edge_query(h[is_e], batch["pos_step"][is_e])[row]  # (P, dp)
    ke = window_view(model.edge_k(nodes), M)[is_e][pair]
    rel = (window_view(batch["pos"], M) - batch["pos_step"].unsqueeze(-2))[is_e][pair]
    el = model.edge_scores(q, ke, rel, is_par[pair], batch["w_deg"][is_e][pair])  # (P, 1 + C)
    bce = F.binary_cross_entropy_with_logits(el[..., 0], batch["w_tgt"][is_e][pair], reduction="none")
    R = int(is_e.sum())
    zeros = torch.zeros(R, dtype=el.dtype, device=el.device)
    out["edges"] = _scatter(is_e, zeros.index_add(0, row, bce * cand[pair]))
    cls_t = torch.where(cand, batch["w_cls"][is_e], -1)
    cls_t = torch.where(is_par, batch["parent_class"][is_e].unsqueeze(-1), cls_t)[pair]
    out["classes"] = _scatter(is_e, zeros.index_add(0, row, _pick(F.log_softmax(el[..., 1:], -1), cls_t)))
    return out


def _split_nll(model: LayoutModel, h: Tensor, nodes: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """Split steps: which street is cut (a pointer over the streets that may be), then the
    position along it and the offset across it; exact density (see :mod:`citygen.model.split`)."""
    is_s = batch["types"] == SPLIT
    su, sv = batch["sp_u"][is_s], batch["sp_v"][is_s]  # (R, K)
    B = nodes.shape[0]
    bidx = torch.arange(B, device=nodes.device)[:, None].expand_as(is_s)[is_s][:, None]  # (R, 1)
    pos = batch["pos"]
    pu, pv = pos[bidx, su.clamp(min=0)], pos[bidx, sv.clamp(min=0)]
    ku, kv = model.split_ku(nodes)[bidx, su.clamp(min=0)], model.split_kv(nodes)[bidx, sv.clamp(min=0)]
    logits = model.split_logits(h[is_s], ku, kv, pu, pv).masked_fill(su < 0, NEG)
    tgt = batch["sp_tgt"][is_s]
    ptr = _pick(F.log_softmax(logits, -1), tgt)
    k = tgt.clamp(min=0)[:, None]
    u_t, v_t = su.gather(1, k)[:, 0], sv.gather(1, k)[:, 0]
    r = bidx[:, 0]
    ctx = model.split_context(h[is_s], nodes[r, u_t], nodes[r, v_t], pos[r, u_t], pos[r, v_t])
    tb, fb = batch["sp_t_bin"][is_s], batch["sp_f_bin"][is_s]
    tlog = F.log_softmax(model.split_t_logits(ctx), -1)
    flog = F.log_softmax(model.split_f_logits(ctx, tb), -1)
    return _scatter(is_s, ptr + _pick(tlog, tb) + _pick(flog, fb) + batch["sp_within"][is_s])


def gap_bin_bounds(model: LayoutModel, remaining: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per gap bin: lower edge, upper edge truncated at the perimeter left, and validity.

    ``remaining (R,)`` -> three ``(R, G)`` tensors.
    """
    edges = torch.as_tensor(model.config.binning.gap_edges(), dtype=remaining.dtype, device=remaining.device)
    lo, hi = edges[:-1].expand(len(remaining), -1), edges[1:].expand(len(remaining), -1)
    hi = torch.minimum(hi, remaining.unsqueeze(-1))
    return lo, hi, lo < remaining.unsqueeze(-1)


def gap_nll(model: LayoutModel, h: Tensor, gap: Tensor, gap_bin: Tensor, remaining: Tensor) -> Tensor:
    """Exact NLL of border gaps (density on the perimeter, normalised tile units).

    Bin 0 (``[0, gap_min]``) is uniform; the others are uniform in log-gap, so the density of
    a gap ``g`` in bin ``k`` is ``P(k) / (g * (log hi_k - log lo_k))``, with ``hi_k`` cut at the
    perimeter left. Bins starting past the end of the perimeter are masked.
    """
    lo, hi, ok = gap_bin_bounds(model, remaining)
    logp = F.log_softmax(model.head_gap(h).masked_fill(~ok, NEG), -1)
    k = gap_bin.unsqueeze(-1)
    lo_k, hi_k = lo.gather(-1, k).squeeze(-1), hi.gather(-1, k).squeeze(-1)
    safe_lo = lo_k.clamp(min=1e-12)
    within = torch.where(
        gap_bin == 0,
        torch.log(hi_k),
        torch.log(gap.clamp(min=1e-12)) + torch.log(torch.log(hi_k) - torch.log(safe_lo)),
    )
    return _pick(logp, gap_bin) + within


def _position_nll(model: LayoutModel, ctx: Tensor, batch: dict[str, Tensor]) -> Tensor:
    bn = model.config.binning
    if model.config.position == "relative":
        alog = F.log_softmax(model.angle_logits(ctx, batch.get("grid")), -1)
        ab = batch["angle_bin"]
        dlog = F.log_softmax(model.dist_logits(ctx, ab), -1)
        return (
            _pick(alog, ab)
            + math.log(bn.dtheta)
            + _pick(dlog, batch["dist_bin"])
            + math.log(bn.dlogr)
            + 2.0 * batch["log_r"]
        )
    xb, yb = batch["xy_bin"][..., 0], batch["xy_bin"][..., 1]
    xlog = F.log_softmax(model.x_logits(ctx), -1)
    ylog = F.log_softmax(model.y_logits(ctx, xb), -1)
    return _pick(xlog, xb) + _pick(ylog, yb) + 2.0 * math.log(1.0 / bn.xy_bins)


def batch_nll(model: LayoutModel, batch: dict[str, Tensor]) -> Tensor:
    """Total NLL per tile ``(B,)`` in nats."""
    terms = step_nll(model, batch)
    return sum(t.sum(-1) for t in terms.values())


def sequence_batch(seqs: list[Sequence], model: LayoutModel, styles: list | None = None) -> dict[str, Tensor]:
    """Encode and collate sequences for :func:`step_nll`.

    For a style model (``style_dim > 0``) each tile is conditioned on ``styles[i]`` (raw style
    rows, :mod:`citygen.style`), by default the style computed from the tile itself.
    """
    cfg = model.config
    if cfg.style_dim and styles is None:
        from citygen.style import style_of_sequence

        styles = [style_of_sequence(s) for s in seqs]
    styles = styles if cfg.style_dim else [None] * len(seqs)
    sw = cfg.split_window
    return collate([tile_arrays(encode(s, cfg.binning, sw), cfg.window, st) for s, st in zip(seqs, styles, strict=True)])


@torch.no_grad()
def log_likelihood(model: LayoutModel, tile: nx.Graph | Sequence, style=None) -> float:  # noqa: ANN001
    """Exact log-likelihood (nats) of one tile (a layout graph or a canonical sequence).

    Positions are normalised by the model's tile size: a layout of another tile size is
    scaled to it first. A style model scores the tile given its style: ``style`` (a raw style
    row, :mod:`citygen.style`), by default the tile's own.
    """
    seq = tile if isinstance(tile, Sequence) else to_sequence(tile)
    model.eval()
    device = next(model.parameters()).device
    styles = None if style is None else [style]
    batch = {k: v.to(device) for k, v in sequence_batch([seq], model, styles).items()}
    return -float(batch_nll(model, batch)[0])
