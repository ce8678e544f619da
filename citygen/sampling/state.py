"""The state of a batch of tiles being sampled, and the constraint-masked decisions.

Active tiles all hold ``t`` nodes at step ``t`` (a step adds one node or ends the tile), so
node indices line up across the batch. See :mod:`citygen.sampling.loop` for the rules.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from citygen import geometry as geo
from citygen.layout import ROAD_CLASSES, add_street, new_layout
from citygen.model.encode import BORDER, CHILD, END, ROOT, SPLIT, encode
from citygen.model.grid import grid_phase
from citygen.model.network import N_SECTORS, LayoutModel
from citygen.model.split import max_offset
from citygen.sampling.edges import choose_edges
from citygen.sampling.styles import resolve_styles, style_tensor
from citygen.sampling.rules import (
    K_NBR,
    MARGIN,
    SITE_ANGLE,
    SITE_DIST,
    SITE_GAP,
    SITE_POINTER,
    SITE_ROOT,
    SITE_SPLIT,
    SITE_TYPE,
    angle_diff,
    categorical,
    fork_keys,
    layout_keys,
    perimeter_coord,
    perimeter_xy,
    uniforms,
    uniforms_at,
)
from data_prep.order import Sequence

__all__ = ["K_NBR", "MARGIN", "SampleState", "categorical"]

def _in_any_interval(r: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Whether each sorted value ``r (D,)`` lies inside an open interval ``(lo, hi)`` of a row.

    ``lo, hi (R, n)`` -> ``(R, D)``.

    The same as ``((r > lo) & (r < hi)).any(-1)`` over an ``(R, D, n)`` tensor, but each
    interval is located by binary search and marked by a running sum: ``O(R (n + D))``.
    """
    start = torch.searchsorted(r, lo, right=True)  # first value > lo
    end = torch.searchsorted(r, hi)  # first value >= hi
    real = (start < end).int()
    count = torch.zeros(lo.shape[0], r.shape[0] + 1, dtype=torch.int32, device=r.device)
    count.scatter_add_(-1, start, real).scatter_add_(-1, end, -real)
    return count.cumsum(-1)[:, :-1] > 0


#: Rows of a child placement few enough to check all their angle tries in one pass.
FEW_ROWS = 8


def _rounds(K: int) -> tuple[tuple[int, int], ...]:
    """Angle tries checked together, ``(first, end)`` per round.

    Most children take their first angle, so it is checked alone, then the next three, then
    the rest.
    """
    return tuple((lo, min(hi, K)) for lo, hi in ((0, 1), (1, 4), (4, K)) if lo < K)


class SampleState:
    """Tensors of ``B`` tiles under construction, and the decisions of one step."""

    def __init__(
        self,
        model: LayoutModel,
        B: int,
        config,  # noqa: ANN001
        device: torch.device,
        seed: int,
        prefixes: list,
        first_index: int = 0,
    ) -> None:
        """``B`` tiles, layouts ``first_index .. first_index + B - 1`` of a run with ``seed``;
        each tile's draws depend only on the seed and its layout index (:func:`layout_keys`)."""
        c = model.config
        self.model, self.cfg, self.dev, self.B = model, config, device, B
        self.N = min(config.max_nodes, c.max_steps)
        self.M, self.T = c.window, config.temperature
        ts = config.structure_temperature
        self.TS = self.T if ts is None else ts  # type/END and streets
        self.grid_strength = float(config.grid_strength)
        self.md, self.clr = config.min_dist / c.tile_size, config.clearance / c.tile_size
        self.min_angle = math.radians(config.min_angle)
        self.E = 3 * self.N
        d, dp, kw = c.d_model, c.d_pair, {"device": device}
        self.pos = torch.zeros(B, self.N, 2, **kw)
        self.types = torch.full((B, self.N), -1, dtype=torch.long, **kw)
        self.parent = torch.full((B, self.N), -1, dtype=torch.long, **kw)
        self.ref = torch.zeros(B, self.N, **kw)
        self.deg = torch.zeros(B, self.N, dtype=torch.long, **kw)
        self.nbr = torch.full((B, self.N, K_NBR), -1, dtype=torch.long, **kw)
        self.edges = torch.zeros(B, self.E, 2, dtype=torch.long, **kw)
        self.ecls = torch.zeros(B, self.E, dtype=torch.long, **kw)
        self.m = torch.zeros(B, dtype=torch.long, **kw)
        self.h_nodes = torch.zeros(B, self.N, d, **kw)
        self.kptr = torch.zeros(B, self.N, dp, **kw)
        self.kedge = torch.zeros(B, self.N, dp, **kw)
        self.last_parent = torch.full((B,), -1, dtype=torch.long, **kw)
        self.s_prev = torch.zeros(B, **kw)  # perimeter coordinate of the last border node
        self.all_border = torch.ones(B, dtype=torch.bool, **kw)
        self.done = torch.zeros(B, dtype=torch.bool, **kw)
        self.row = torch.arange(B, **kw)  # each row's index in the original batch (rows compact)
        # (B, style_dim) model inputs of a style model: drawn from its bank by layout index
        # (callers with other styles, --like or SMC particles, set them after construction)
        self.style: Tensor | None = style_tensor(
            resolve_styles(model, B, seed, None, config, first_index), 0, B, device
        )
        self.keys = layout_keys(seed, first_index + self.row)  # each row's random stream
        self.cache = model.new_cache()
        self.split = c.split
        if self.split:  # split keys of node outputs, and each row's cut street this step
            self.ksu = torch.zeros(B, self.N, dp, **kw)
            self.ksv = torch.zeros(B, self.N, dp, **kw)
        self._ends: tuple[Tensor, ...] | None = None  # streets' ends this step (_street_ends)
        self.split_slot = torch.full((B,), -1, dtype=torch.long, **kw)
        self.split_far = torch.full((B,), -1, dtype=torch.long, **kw)
        self._init_prefix(prefixes)

    def _u(self, rows: Tensor | None, t: int, site: tuple[int, ...], shape: tuple[int, ...]) -> Tensor:
        """Uniforms ``(R, *shape)`` of the rows' own streams (all rows if ``rows`` is None)."""
        return uniforms(self.keys if rows is None else self.keys[rows], t, site, shape)

    def fork(self, t: int) -> None:
        """Give every row a stream of its own again after :meth:`reindex` copied rows."""
        self.keys = fork_keys(self.keys, t)

    def reindex(self, index: Tensor) -> None:
        """Replace the batch by rows ``index`` of it (resampling particles); ``index (B,)``."""
        index = index.to(self.dev)
        self._ends = None
        for name, value in list(vars(self).items()):
            if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == self.B:
                setattr(self, name, value[index].clone())
        self.B = int(index.shape[0])
        if self.model.config.backbone == "transformer":
            for layer in self.cache:
                layer.select(index)
        else:
            self.cache[:] = [h[:, index].clone() for h in self.cache]

    # ------------------------------------------------------------------------ prefixes
    def _init_prefix(self, prefixes: list[Sequence | None]) -> None:
        L = max([0] + [p.n_nodes for p in prefixes if p is not None])
        kw = {"device": self.dev}
        self.f_len = torch.zeros(self.B, dtype=torch.long, **kw)
        self.f_type = torch.full((self.B, max(L, 1)), END, dtype=torch.long, **kw)
        self.f_pos = torch.zeros(self.B, max(L, 1), 2, **kw)
        self.f_parent = torch.full((self.B, max(L, 1)), -1, dtype=torch.long, **kw)
        self.f_edge = torch.zeros(self.B, max(L, 1), self.M, dtype=torch.bool, **kw)
        self.f_cls = torch.zeros(self.B, max(L, 1), self.M, dtype=torch.long, **kw)
        self.f_far = torch.full((self.B, max(L, 1)), -1, dtype=torch.long, **kw)
        binning = self.model.config.binning
        for b, seq in enumerate(prefixes):
            if seq is None:
                continue
            e = encode(seq, binning, self.model.config.split_window)
            n = min(e.n, self.N - 1)
            self.f_len[b] = n
            self.f_type[b, :n] = torch.as_tensor(e.types[:n], **kw)
            self.f_pos[b, :n] = torch.as_tensor(e.pos[:n], dtype=torch.float32, **kw)
            self.f_parent[b, :n] = torch.as_tensor(e.parent[:n], **kw)
            self.f_far[b, :n] = torch.as_tensor(e.split_v[:n], **kw)
            for (i, j), cls in zip(e.edges, e.classes, strict=True):  # halves of a cut street too
                k = int(i) - 1 - int(j)
                if i < n and k < self.M:
                    self.f_edge[b, i, k] = True
                    self.f_cls[b, i, k] = int(cls)

    def _forced(self, t: int) -> Tensor:
        return (t < self.f_len) & ~self.done

    # --------------------------------------------------------------------------- steps
    def record_output(self, t: int, h: Tensor) -> None:
        """Store the backbone output after node ``t - 1`` (its key for later pointers)."""
        if t > 0:
            self.h_nodes[:, t - 1] = h
            self.kptr[:, t - 1] = self.model.ptr_k(h)
            self.kedge[:, t - 1] = self.model.edge_k(h)
            if self.split:
                self.ksu[:, t - 1] = self.model.split_ku(h)
                self.ksv[:, t - 1] = self.model.split_kv(h)

    def step_features(self, t: int) -> Tensor:
        """Step-state features ``(B, N_STATE)``, as :func:`citygen.model.batch.step_state`."""
        loose = self.deg[:, :t] == 0  # the nodes so far only
        loose_border = (loose & (self.types[:, :t] == BORDER)).sum(-1)
        queue = (t - 1 - self.last_parent).clamp(min=0)
        steps = torch.full_like(queue, t)
        counts = torch.log1p(torch.stack([loose_border, loose.sum(-1), queue, steps], -1).float())
        left = torch.where(self.all_border, 4.0 - self.s_prev, torch.zeros_like(self.s_prev))
        return torch.cat([counts, left.unsqueeze(-1)], -1)

    def _border_bins(self, t: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Allowed perimeter-gap bins ``(B, G)`` (the bin centre lies on the perimeter left and
        is far enough from the previous and the first border node), their bounds and centres."""
        from citygen.model.likelihood import gap_bin_bounds

        lo, hi, ok = gap_bin_bounds(self.model, 4.0 - self.s_prev)
        first = torch.arange(lo.shape[-1], device=self.dev)[None] == 0
        centre = torch.where(first, hi / 2, torch.sqrt(lo.clamp(min=1e-12) * hi))
        s = self.s_prev[:, None] + centre
        ok &= s < 4.0
        xy = perimeter_xy(s.clamp(max=4.0 - 1e-9))
        if t > 0:
            ar = torch.arange(self.B, device=self.dev)
            for idx in (t - 1, 0):
                q = self.pos[ar, idx]
                ok &= (xy - q[:, None]).norm(dim=-1) >= self.md
        return ok, lo, hi, centre

    def choose_type(self, t: int, h: Tensor) -> Tensor:
        """Draw the step type under the structural masks (and prefixes, and capacity)."""
        ones = torch.ones(self.B, dtype=torch.bool, device=self.dev)
        border = torch.zeros_like(ones)
        if bool(self.all_border.any()):  # past the border phase of every tile: no bins needed
            self.border_bins = self._border_bins(t)
            border = self.all_border & self.border_bins[0].any(-1)
        cols = [border, ones & (t > 0), ones, ones]
        if self.split:
            self.split_cands = self._split_candidates(t)
            cols.append(self.split_cands[0].any(-1))
        mask = torch.stack(cols, -1)
        if t >= self.N - 1:
            mask[:, :END] = False
            mask[:, END + 1 :] = False
        u = self._u(None, t, (SITE_TYPE,), (mask.shape[-1],))
        ty = categorical(self.model.head_type(h), mask, u, self.TS)
        ty = torch.where(self._forced(t), self.f_type[:, min(t, self.f_type.shape[1] - 1)], ty)
        return torch.where(self.done, END, ty)

    def place(self, t: int, h: Tensor, ty: Tensor) -> tuple[Tensor, Tensor]:
        """Positions ``(B, 2)`` and parents ``(B,)`` of the new nodes; failed tiles end."""
        pos = torch.zeros(self.B, 2, device=self.dev)
        parent = torch.full((self.B,), -1, dtype=torch.long, device=self.dev)
        forced = self._forced(t)
        self.split_slot.fill_(-1)
        self.split_far.fill_(-1)
        kinds = [(BORDER, self._place_border), (CHILD, self._place_child), (ROOT, self._place_root)]
        if self.split:
            kinds.append((SPLIT, self._place_split))
        for kind, fn in kinds:
            rows = torch.nonzero((ty == kind) & ~forced).squeeze(-1)
            if rows.numel():
                p_rows, par_rows, ok = fn(t, h, rows)
                pos[rows], parent[rows] = p_rows, par_rows
                self.done[rows[~ok]] = True
        rows = torch.nonzero(forced).squeeze(-1)
        if rows.numel():
            pos[rows] = self.f_pos[rows, t]
            parent[rows] = self.f_parent[rows, t]
            cut = rows[ty[rows] == SPLIT]
            if cut.numel():  # the prefix's cut street: find its slot
                far = self.f_far[cut, t]
                e = self.edges[cut]
                hit = (e[..., 0] == far[:, None]) & (e[..., 1] == parent[cut][:, None])
                hit &= torch.arange(self.E, device=self.dev)[None] < self.m[cut, None]
                self.split_slot[cut] = torch.where(hit.any(-1), hit.float().argmax(-1), -1)
                self.split_far[cut] = far
        self.done |= ty == END
        return pos, parent

    def _place_border(self, t: int, h: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ok_bins, lo, hi, centre = (x[rows] for x in self.border_bins)
        u_bin = self._u(rows, t, (SITE_GAP,), (ok_bins.shape[-1],))
        k = categorical(self.model.head_gap(h[rows]), ok_bins, u_bin, self.T)
        kc = k.clamp(min=0).unsqueeze(-1)
        lo_k, hi_k, c_k = (x.gather(-1, kc).squeeze(-1) for x in (lo, hi, centre))
        u = self._u(rows, t, (SITE_GAP, 1), (1,))[:, 0]
        log_gap = torch.log(lo_k.clamp(min=1e-12)) + u * (torch.log(hi_k) - torch.log(lo_k.clamp(min=1e-12)))
        gap = torch.where(k == 0, u * hi_k, torch.exp(log_gap))
        s_exact = (self.s_prev[rows] + gap).clamp(max=4.0 - 1e-9)
        pt = perimeter_xy(s_exact)
        good = self._point_ok(rows, None, pt, t, on_border=True)
        s_new = torch.where(good, s_exact, (self.s_prev[rows] + c_k).clamp(max=4.0 - 1e-9))
        return perimeter_xy(s_new), torch.full_like(rows, -1), k >= 0

    def _place_root(self, t: int, h: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        G = self.model.config.binning.root_grid
        g = (torch.arange(G, device=self.dev) + 0.5) / G
        centres = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)  # gx*G+gy
        logits = self.model.head_root(h[rows])
        mask = torch.ones_like(logits, dtype=torch.bool)
        if t > 0:
            mask &= torch.cdist(centres[None].expand(len(rows), -1, -1), self.pos[rows, :t]).min(-1).values >= self.md
        pt, ok = torch.zeros(len(rows), 2, device=self.dev), torch.zeros(len(rows), dtype=torch.bool, device=self.dev)
        for i in range(self.cfg.max_tries):
            todo = ~ok & mask.any(-1)
            if not bool(todo.any()):
                break
            idx = torch.nonzero(todo).squeeze(-1)
            u_cell = self._u(rows[idx], t, (SITE_ROOT, i), (G * G,))
            cell = categorical(logits[todo], mask[todo], u_cell, self.T)
            u = self._u(rows[idx], t, (SITE_ROOT, i, 1), (2,))
            cand = (torch.stack([cell // G, cell % G], -1).float() + u) / G
            good = self._point_ok(rows[todo], None, cand, t)
            pt[idx[good]] = cand[good]
            ok[idx[good]] = True
            mask[idx[~good], cell[~good]] = False
        return pt, torch.full_like(rows, -1), ok

    def _split_candidates(self, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """Streets each tile may cut at step ``t`` (as :func:`citygen.model.batch.split_candidates`:
        both ends in the window, the near end not before the last parent), ``(B, e)`` mask, and
        their near and far ends."""
        e = max(1, int(self.m.max()))
        ids = self.edges[:, :e]
        far, near = ids[..., 0], ids[..., 1]
        ok = torch.arange(e, device=self.dev)[None] < self.m[:, None]
        ok &= (t - 1 - near < self.M) & (near >= self.last_parent[:, None])
        return ok, near, far

    def _place_split(self, t: int, h: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Draw the street to cut, then the position along it and the offset across it; a
        street with no room is masked and another one drawn (up to ``max_tries``)."""
        model, bn = self.model, self.model.config.binning
        ok_e, near, far = (x[rows] for x in self.split_cands)
        r = rows[:, None]
        pu, pv = self.pos[r, near], self.pos[r, far]
        logits = model.split_logits(h[rows], self.ksu[r, near], self.ksv[r, far], pu, pv)
        TB, FB = bn.split_t_bins, bn.split_f_bins
        f_edges = torch.as_tensor(bn.split_f_edges(), dtype=torch.float32, device=self.dev)
        pt = torch.zeros(len(rows), 2, device=self.dev)
        slot = torch.full((len(rows),), -1, dtype=torch.long, device=self.dev)
        ok = torch.zeros(len(rows), dtype=torch.bool, device=self.dev)
        tc = (torch.arange(TB, device=self.dev) + 0.5) / TB
        for i in range(self.cfg.max_tries):
            todo = torch.nonzero(~ok & ok_e.any(-1)).squeeze(-1)
            if todo.numel() == 0:
                break
            rr = rows[todo]
            k = categorical(logits[todo], ok_e[todo], self._u(rr, t, (SITE_SPLIT, i), (ok_e.shape[-1],)), self.T)
            kc = k.clamp(min=0)
            u_n, v_n = near[todo, kc], far[todo, kc]
            a, b = self.pos[rr, u_n], self.pos[rr, v_n]
            d = b - a
            normal = torch.stack([-d[:, 1], d[:, 0]], -1)
            ctx = model.split_context(h[rr], self.h_nodes[rr, u_n], self.h_nodes[rr, v_n], a, b)
            # bins along the street whose centre is too close to a node are masked
            centres = a[:, None] + tc[None, :, None] * d[:, None]
            tmask = (torch.cdist(centres, self.pos[rr, :t]).min(-1).values >= self.md) if t > 0 else torch.ones_like(centres[..., 0], dtype=torch.bool)
            tb = categorical(model.split_t_logits(ctx), tmask, self._u(rr, t, (SITE_SPLIT, i, 1), (TB,)), self.T)
            fb = categorical(model.split_f_logits(ctx, tb.clamp(min=0)), torch.ones(len(todo), 2 * FB, dtype=torch.bool, device=self.dev), self._u(rr, t, (SITE_SPLIT, i, 2), (2 * FB,)), self.T)
            u = self._u(rr, t, (SITE_SPLIT, i, 3), (2,))
            tt = (tb.clamp(min=0).float() + u[:, 0]) / TB
            side = fb % FB
            mag = f_edges[side] + u[:, 1] * (f_edges[side + 1] - f_edges[side])
            f = torch.where(fb >= FB, -mag, mag)
            smax = max_offset(tt.double()).float()  # float64 as in training
            exact = a + tt[:, None] * d + (f * smax)[:, None] * normal
            centre = a + ((tb.clamp(min=0).float() + 0.5) / TB)[:, None] * d
            both = self._split_ok(rr.repeat(2), u_n.repeat(2), v_n.repeat(2), kc.repeat(2), torch.cat([exact, centre]), t)
            R = len(todo)
            drawn = (k >= 0) & (tb >= 0)
            good_e, good_c = both[:R] & drawn, both[R:] & drawn
            pt[todo] = torch.where(good_e[:, None], exact, centre)
            good = good_e | good_c
            ok[todo], slot[todo] = good, kc
            ok_e[todo[~good], kc[~good]] = False
        self.split_slot[rows] = torch.where(ok, slot, -1)
        self.split_far[rows] = torch.where(ok, far[torch.arange(len(rows), device=self.dev), slot.clamp(min=0)], -1)
        parent = near[torch.arange(len(rows), device=self.dev), slot.clamp(min=0)]
        return pt, parent, ok

    def _split_ok(self, rows: Tensor, u: Tensor, v: Tensor, slot: Tensor, w: Tensor, t: int) -> Tensor:
        """Whether node ``w`` cutting street ``slot`` (``u - v``) into ``u - w - v`` keeps every
        rule: inside, ``min_dist`` from every node, clearance from every other street, the two
        halves crossing nothing and passing no node, and the angle rule at ``u`` and ``v``."""
        ok = ((w > MARGIN) & (w < 1 - MARGIN)).all(-1)
        nodes = self.pos[rows, :t]
        ok &= (nodes - w[:, None]).norm(dim=-1).min(-1).values >= self.md
        a, b, ids, valid = self._edge_ends(rows)
        other = valid & (torch.arange(ids.shape[1], device=self.dev)[None] != slot[:, None])
        ok &= ~((geo.point_segment_distance(w[:, None], a, b) < self.clr) & other).any(-1)
        not_end = torch.ones_like(nodes[..., 0], dtype=torch.bool)
        ar = torch.arange(len(rows), device=self.dev)
        not_end[ar, u] = False
        not_end[ar, v] = False
        cut = torch.stack([u, v], -1)  # the street being cut, at either end
        for end in (u, v):
            inc = (ids == end[:, None, None]).any(-1)
            ok &= geo.street_clear(self.pos[rows, end], w, a, b, other & ~inc, nodes, not_end, self.clr)
            ok &= self.angle_free(rows, end, w, skip=cut)
        return ok

    def _nbr_dirs(self, rows: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        """Directions (radians) of a node's streets ``(R, K)`` and which are real."""
        nb = self.nbr[rows, node]
        used = torch.nonzero((nb >= 0).any(0))  # only the slots some row uses
        nb = nb[:, : int(used[-1]) + 1 if used.numel() else 0]
        valid = nb >= 0
        d = self.pos[rows.unsqueeze(-1), nb.clamp(min=0)] - self.pos[rows, node].unsqueeze(-2)
        return torch.atan2(d[..., 1], d[..., 0]), valid

    def _place_child(self, t: int, h: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Draw a parent, then a position next to it; a parent with no room is masked and
        another one drawn (up to ``max_tries`` parents)."""
        j = t - 1 - torch.arange(self.M, device=self.dev)
        valid, jc = j >= 0, j.clamp(min=0)
        last = self.last_parent[rows]
        deg = self.deg[rows[:, None], jc[None]]  # (R, M), gathered without copying all N
        ptr_mask = valid[None] & (jc[None] >= last[:, None]) & (deg < K_NBR)  # room for a street
        # scores of the candidates that may be drawn only (the rest are masked anyway)
        ri, ki = torch.nonzero(ptr_mask, as_tuple=True)
        q, jk = self.model.ptr_q(h[rows])[ri], jc[ki]
        kp, is_last = self.kptr[rows[ri], jk], jk == last[ri]
        scores = self.model.pointer_scores(q, kp, is_last, deg[ri, ki], ki).float()
        logits = torch.zeros(len(rows), self.M, device=self.dev).index_put_((ri, ki), scores)
        pt = torch.zeros(len(rows), 2, device=self.dev)
        parent = torch.zeros(len(rows), dtype=torch.long, device=self.dev)
        ok = torch.zeros(len(rows), dtype=torch.bool, device=self.dev)
        for i in range(self.cfg.max_tries):
            todo = torch.nonzero(~ok & ptr_mask.any(-1)).squeeze(-1)
            if todo.numel() == 0:
                break
            u = self._u(rows[todo], t, (SITE_POINTER, i), (self.M,))
            k = categorical(logits[todo], ptr_mask[todo], u, self.T)
            p = t - 1 - k
            got, good = self._child_at(rows[todo], p, h[rows[todo]], t, i)
            pt[todo], parent[todo], ok[todo] = got, p, good
            ptr_mask[todo[~good], k[~good]] = False
        return pt, parent, ok

    def _child_at(self, rows: Tensor, p: Tensor, h: Tensor, t: int, i: int) -> tuple[Tensor, Tensor]:
        """Position of a child of ``p`` (per row; ``i``: the parent try), and whether one was
        found."""
        model = self.model
        ref, pos_p = self.ref[rows, p], self.pos[rows, p]
        dirs, dvalid = self._nbr_dirs(rows, p)
        rel = torch.remainder(dirs - ref[:, None], 2 * math.pi)
        sectors = F.one_hot((rel / (2 * math.pi) * N_SECTORS).long().clamp(0, N_SECTORS - 1), N_SECTORS)
        sectors = (sectors * dvalid.unsqueeze(-1)).sum(-2).float()
        ctx = model.parent_context(h, self.h_nodes[rows, p], pos_p, ref, sectors)
        if model.config.position == "relative":
            return self._polar_position(rows, p, ctx, ref, dirs, dvalid, t, i)
        return self._absolute_position(rows, p, ctx, t, i)

    def _polar_position(self, rows, p, ctx, ref, dirs, dvalid, t, i):  # noqa: ANN001, ANN202
        """A child's angle, then distance bin, then exact point; up to ``max_tries`` angles.

        Trying angles one after another, each failed one masked, is sampling angles without
        replacement; so the tries' angles are drawn at once as the top ``max_tries`` of one
        Gumbel-perturbed draw, and their distance draws and rule checks run together, in rounds
        of 1, 3 and 4 tries (most children take their first angle). The first angle that
        works is kept, as before.
        """
        bn = self.model.config.binning
        A, D, K = bn.angle_bins, bn.dist_bins, min(self.cfg.max_tries, bn.angle_bins)
        centres = ref[:, None] + (torch.arange(A, device=self.dev)[None] + 0.5) * bn.dtheta
        conflict = (angle_diff(centres[..., None], dirs[:, None, :]) < self.min_angle) & dvalid[:, None, :]
        u_a = self._u(rows, t, (SITE_ANGLE, i), (A,))
        grid = None
        if self.model.config.grid_prior:  # the term is linear in the phase: scale it there
            grid = grid_phase(ref, self.style[rows]) * self.grid_strength
        g = self.model.angle_logits(ctx, grid).float() / self.T - torch.log(-torch.log(u_a))
        order = g.masked_fill(conflict.any(-1), -math.inf).topk(K, -1)
        tries, usable = order.indices, order.values > -math.inf  # (R, K): the angles in order
        r_c = torch.exp(bn.log_r_min + (torch.arange(D, device=self.dev) + 0.5) * bn.dlogr)
        pt = torch.zeros(len(rows), 2, device=self.dev)
        ok = torch.zeros(len(rows), dtype=torch.bool, device=self.dev)
        # few rows: a pass costs its fixed number of operations whatever its size, so every
        # try (and every bin centre) is checked in one pass; the first try that works is kept
        few = len(rows) <= FEW_ROWS
        for lo, hi in ((0, K),) if few else _rounds(K):
            todo = torch.nonzero(~ok & usable[:, lo:hi].any(-1)).squeeze(-1)
            if todo.numel() == 0 or hi <= lo:
                continue
            k = hi - lo
            R = len(todo)
            a = tries[todo, lo:hi].reshape(-1)  # (R * k,)
            rr, pr = rows[todo].repeat_interleave(k), p[todo].repeat_interleave(k)
            ref_r = ref[todo].repeat_interleave(k)
            th = ref_r + (a + 0.5) * bn.dtheta
            direction = torch.stack([th.cos(), th.sin()], -1)
            dmask = self._ray_ok(rr, pr, direction, r_c, t)
            dlog = self.model.dist_logits(ctx[todo].repeat_interleave(k, 0), a)
            # the uniforms of these tries only: elements lo*D .. hi*D of the (K, D) draws
            keys = self.keys[rows[todo]]
            el_d = torch.arange(lo * D, hi * D, device=self.dev)[None]
            u_d = uniforms_at(keys, t, (SITE_DIST, i), el_d).reshape(R * k, D)
            kd = categorical(dlog, dmask, u_d, self.T)
            el_x = torch.arange(2 * lo, 2 * hi, device=self.dev)[None]
            u = uniforms_at(keys, t, (SITE_DIST, i, 1), el_x).reshape(R * k, 2)
            th2 = ref_r + (a + u[:, 0]) * bn.dtheta
            r = torch.exp(bn.log_r_min + (kd.clamp(min=0) + u[:, 1]) * bn.dlogr)
            origin = self.pos[rr, pr]
            exact = origin + r[:, None] * torch.stack([th2.cos(), th2.sin()], -1)
            centre = origin + r_c[kd.clamp(min=0)][:, None] * direction
            drawn = (kd >= 0) & usable[todo, lo:hi].reshape(-1)
            if few:  # exact points and bin centres in one test
                both = self._point_ok(rr.repeat(2), pr.repeat(2), torch.cat([exact, centre]), t)
                good_e = both[: R * k] & drawn
                good_c = both[R * k :] & drawn & ~good_e
            else:
                good_e = self._point_ok(rr, pr, exact, t) & drawn
                # the bin centre is the fallback of a drawn bin whose exact point fails only
                good_c = torch.zeros_like(good_e)
                redo = torch.nonzero(drawn & ~good_e).squeeze(-1)
                if redo.numel():
                    good_c[redo] = self._point_ok(rr[redo], pr[redo], centre[redo], t)
            good = (good_e | good_c).view(R, k)
            pick = good.float().argmax(-1)  # the first try that works
            at = torch.arange(R, device=self.dev) * k + pick
            pt[todo] = torch.where(good_e[at, None], exact[at], centre[at])
            ok[todo] = good.any(-1)
        return pt, ok

    def _absolute_position(self, rows, p, ctx, t, i):  # noqa: ANN001, ANN202
        bn = self.model.config.binning
        X = bn.xy_bins
        xmask = torch.ones(len(rows), X, dtype=torch.bool, device=self.dev)
        pt = torch.zeros(len(rows), 2, device=self.dev)
        ok = torch.zeros(len(rows), dtype=torch.bool, device=self.dev)
        for j in range(self.cfg.max_tries):
            todo = torch.nonzero(~ok & xmask.any(-1)).squeeze(-1)
            if todo.numel() == 0:
                break
            r = rows[todo]
            xb = categorical(self.model.x_logits(ctx[todo]), xmask[todo], self._u(r, t, (SITE_ANGLE, i, j), (X,)), self.T)
            any_y = torch.ones(len(todo), X, dtype=torch.bool, device=self.dev)
            yb = categorical(self.model.y_logits(ctx[todo], xb.clamp(min=0)), any_y, self._u(r, t, (SITE_DIST, i, j), (X,)), self.T)
            u = self._u(r, t, (SITE_DIST, i, j, 1), (2,))
            cand = (torch.stack([xb, yb], -1).float() + u) / X
            good = self._point_ok(rows[todo], p[todo], cand, t)
            pt[todo[good]] = cand[good]
            ok[todo[good]] = True
            xmask[todo[~good], xb[~good]] = False
        return pt, ok

    # ----------------------------------------------------------------- constraint tests
    def _edge_ends(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Endpoints ``(R, E, 2)`` of existing streets, their node ids and a validity mask."""
        e = max(1, int(self.m[rows].max())) if len(rows) else 1  # only the slots in use
        a, b, ids = (x[:, :e].index_select(0, rows) for x in self._street_ends())
        valid = torch.arange(e, device=self.dev)[None] < self.m[rows, None]
        return a, b, ids, valid

    def _street_ends(self) -> tuple[Tensor, Tensor, Tensor]:
        """Endpoints ``(B, e, 2)`` and node ids of every row's streets (``e``: the most slots
        in use), gathered once per step: a step tests many candidates against the same streets.
        :meth:`commit` and :meth:`reindex` drop them."""
        if self._ends is None:
            e = max(1, int(self.m.max())) if self.B else 1
            ids = self.edges[:, :e]
            r = torch.arange(self.B, device=self.dev)[:, None]
            self._ends = (self.pos[r, ids[..., 0]], self.pos[r, ids[..., 1]], ids)
        return self._ends

    def _ray_ok(self, rows: Tensor, p: Tensor, direction: Tensor, r_c: Tensor, t: int) -> Tensor:
        """Which distance bins ``(R, D)`` along a ray from the parent are allowed."""
        origin = self.pos[rows, p]
        pts = origin[:, None] + r_c[None, :, None] * direction[:, None]
        inside = ((pts > MARGIN) & (pts < 1 - MARGIN)).all(-1)
        nodes = self.pos[rows, :t]
        # one projection of the nodes on the rays for both radii (node distance, clearance)
        (lo, hi), (lo_c, hi_c) = geo.ray_blocked_intervals_at(origin, direction, nodes, (self.md, self.clr))
        near = _in_any_interval(r_c, lo, hi)
        not_p = torch.arange(t, device=self.dev)[None] != p[:, None]
        pass_by = torch.where(not_p & (hi_c > 0), lo_c.clamp(min=0), math.inf).min(-1).values
        a, b, ids, valid = self._edge_ends(rows)
        hit = geo.ray_hit_distance(origin, direction, a, b)
        incident = (ids == p[:, None, None]).any(-1)
        hit = torch.where(valid & ~incident, hit, math.inf).min(-1).values
        limit = torch.minimum(hit, pass_by)
        return inside & ~near & (r_c[None] < limit[:, None])

    def _point_ok(self, rows: Tensor, p: Tensor | None, pt: Tensor, t: int, on_border: bool = False) -> Tensor:
        """Whether exact new points ``(R, 2)`` (with a street from parent ``p``) obey the rules."""
        ok = torch.ones(len(rows), dtype=torch.bool, device=self.dev)
        if not on_border:
            ok &= ((pt > MARGIN) & (pt < 1 - MARGIN)).all(-1)
        if t == 0:
            return ok
        nodes = self.pos[rows, :t]
        ok &= (nodes - pt[:, None]).norm(dim=-1).min(-1).values >= self.md
        a, b, ids, valid = self._edge_ends(rows)
        incident = (ids == p[:, None, None]).any(-1) if p is not None else torch.zeros_like(valid)
        dist_e = geo.point_segment_distance(pt[:, None], a, b)
        ok &= ~((dist_e < self.clr) & valid & ~incident).any(-1)
        if p is not None:
            not_p = torch.arange(t, device=self.dev)[None] != p[:, None]
            ok &= geo.street_clear(self.pos[rows, p], pt, a, b, valid & ~incident, nodes, not_p, self.clr)
        return ok

    def angle_free(self, rows: Tensor, node: Tensor, toward: Tensor, skip: Tensor | None = None) -> Tensor:
        """Whether a new street from ``node`` toward points ``toward (R, 2)`` keeps
        ``min_angle`` to the node's streets (those to the neighbours ``skip (R, k)`` aside)."""
        dirs, dvalid = self._nbr_dirs(rows, node)
        if skip is not None:
            nb = self.nbr[rows, node][:, : dvalid.shape[-1]]
            dvalid = dvalid & ~(nb[:, :, None] == skip[:, None, :]).any(-1)
        at = self.pos[rows, node]
        new = torch.atan2(toward[:, 1] - at[:, 1], toward[:, 0] - at[:, 0])
        return ~((angle_diff(dirs, new[:, None]) < self.min_angle) & dvalid).any(-1)

    # ---------------------------------------------------------------------- commit
    def _reference(self, ty: Tensor, pos: Tensor, parent: Tensor) -> Tensor:
        """Reference direction of new nodes, as :func:`citygen.model.encode.reference_angles`."""
        eps = 1e-9
        x, y = pos[:, 0], pos[:, 1]
        normal = torch.where(
            x <= eps,
            0.0,
            torch.where(y <= eps, 0.5 * math.pi, torch.where(x >= 1 - eps, math.pi, 1.5 * math.pi)),
        )
        d = pos - self.pos[torch.arange(self.B, device=self.dev), parent.clamp(min=0)]
        child = torch.atan2(d[:, 1], d[:, 0])
        root = torch.atan2(0.5 - y, 0.5 - x)
        return torch.where(ty == BORDER, normal, torch.where((ty == CHILD) | (ty == SPLIT), child, root))

    def commit(self, t: int, h: Tensor, ty: Tensor, pos: Tensor, parent: Tensor) -> Tensor:
        """Choose the new nodes' streets, add nodes and streets, return the next tokens."""
        acc, cls, jc = choose_edges(self, t, h, ty, pos, parent)
        self._ends = None  # streets and positions change below
        active = ~self.done
        ar = torch.arange(self.B, device=self.dev)
        has_parent = active & ((ty == CHILD) | (ty == SPLIT))
        self._cut(active & (ty == SPLIT))
        self.pos[:, t] = torch.where(active[:, None], pos, self.pos[:, t])
        self.types[:, t] = torch.where(active, ty, -1)
        self.parent[:, t] = torch.where(has_parent, parent, -1)
        self.ref[:, t] = self._reference(ty, pos, parent)
        self.last_parent = torch.where(has_parent, parent, self.last_parent)
        self.all_border &= ~(active & (ty != BORDER))
        self.s_prev = torch.where(active & (ty == BORDER), perimeter_coord(pos), self.s_prev)
        rank = acc.long().cumsum(-1) - 1
        bi, ki = torch.nonzero(acc, as_tuple=True)
        slot = self.m[bi] + rank[bi, ki]
        keep = slot < self.E
        bi, ki, slot = bi[keep], ki[keep], slot[keep]
        j = jc[ki]
        self.edges[bi, slot] = torch.stack([torch.full_like(j, t), j], -1)
        self.ecls[bi, slot] = cls[bi, ki]
        self.m.index_add_(0, bi, torch.ones_like(bi))
        deg_j = self.deg[bi, j]
        r = rank[bi, ki]
        self.nbr[bi[r < K_NBR], t, r[r < K_NBR]] = j[r < K_NBR]
        self.nbr[bi[deg_j < K_NBR], j[deg_j < K_NBR], deg_j[deg_j < K_NBR]] = t
        self.deg.index_put_((bi, j), torch.ones_like(j), accumulate=True)
        self.deg[:, t] = acc.sum(-1) * active
        ai, ak = torch.nonzero(acc, as_tuple=True)  # messages of the accepted streets only
        rel_e = self.pos[ai, jc[ak]] - pos[ai]
        msg = torch.zeros(self.B, self.model.config.d_model, device=self.dev)
        msg = msg.index_add(0, ai, self.model.edge_messages(rel_e, cls[ai, ak]))
        rel_p = torch.where(has_parent[:, None], pos - self.pos[ar, parent.clamp(min=0)], torch.zeros_like(pos))
        return self.model.node_tokens(pos, torch.where(ty == END, ROOT, ty), rel_p, msg)

    def _cut(self, rows_mask: Tensor) -> None:
        """Remove the streets that this step's split nodes cut (their halves are added as the
        new node's streets): the slot, both ends' neighbour entries and degrees."""
        rows = torch.nonzero(rows_mask & (self.split_slot >= 0)).squeeze(-1)
        if rows.numel() == 0:
            return
        slot = self.split_slot[rows]
        far, near = self.edges[rows, slot, 0], self.edges[rows, slot, 1]
        last = self.m[rows] - 1
        self.edges[rows, slot] = self.edges[rows, last]
        self.ecls[rows, slot] = self.ecls[rows, last]
        self.m[rows] = last
        for end, other in ((near, far), (far, near)):
            vals = self.nbr[rows, end]
            keep = vals != other[:, None]
            order = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True)
            vals = vals.gather(-1, order)
            vals[~keep.gather(-1, order)] = -1
            self.nbr[rows, end] = vals
            self.deg[rows, end] -= 1

    def layouts(self, seed: int, first_index: int = 0, rows: list[int] | None = None) -> list[nx.Graph]:
        """The tiles (all rows, or ``rows``) as layout graphs in metres."""
        size = self.model.config.tile_size
        pos = self.pos.cpu().numpy().astype(np.float64)
        types, edges, ecls, m = (x.cpu().numpy() for x in (self.types, self.edges, self.ecls, self.m))
        row_id = self.row.cpu().numpy()
        out = []
        for b in range(self.B) if rows is None else rows:
            G = new_layout(size, seed=seed, index=first_index + int(row_id[b]), source="citygen")
            n = int((types[b] >= 0).sum())
            for i in range(n):
                G.add_node(i, x=float(pos[b, i, 0] * size), y=float(pos[b, i, 1] * size), border=bool(types[b, i] == BORDER))
            for (u, v), c in zip(edges[b, : m[b]], ecls[b, : m[b]], strict=True):
                add_street(G, int(u), int(v), ROAD_CLASSES[int(c)])
            out.append(G)
        return out
