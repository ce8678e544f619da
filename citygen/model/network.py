"""The autoregressive layout model: a causal backbone over node steps plus decision heads.

Per step ``t`` the backbone state ``h[t]`` (it has read BOS and nodes ``0..t-1``) predicts the
step type, the position (perimeter gap; parent pointer, angle and log-distance; or a root grid
cell) and then, for each earlier node ``j`` in the window, whether ``t`` connects to ``j`` and
with which road class. See :mod:`citygen.model.encode` for the decision chain. The training forward
pass scores all steps of a batch at once and returns per-step negative log-likelihood terms
(nats); :mod:`citygen.sampling.loop` calls the same heads one step at a time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from citygen.errors import UsageError
from citygen.layout import ROAD_CLASSES
from citygen.model.encode import N_SECTORS, N_STATE, N_TYPES, Binning

N_CLASSES = len(ROAD_CLASSES)
BACKBONES = ("transformer", "gru")
POSITIONS = ("relative", "absolute")


#: Largest value of each size setting: far beyond any model citygen trains, small enough that
#: a hand-edited config.json cannot make ``LayoutModel`` build for hours or exhaust memory.
MAX_SIZES = {"d_model": 16384, "n_layers": 256, "n_heads": 1024, "d_pair": 16384,
             "window": 100_000, "max_steps": 1_000_000, "n_fourier": 64}  # fmt: skip


@dataclass
class ModelConfig:
    """Architecture and discretisation of a layout model (saved as JSON beside the weights).

    Attributes
    ----------
    d_model, n_layers, n_heads
        Backbone width, depth and attention heads.
    d_pair
        Width of the per-candidate (pointer and edge) features.
    window
        Candidates for parents and edges are the ``window`` previous nodes.
    backbone
        ``"transformer"`` (causal self-attention) or ``"gru"``.
    position
        ``"relative"`` (parent, angle, log-distance) or ``"absolute"`` (x then y bins).
    max_steps
        Largest number of node steps per tile.
    n_fourier
        Fourier frequencies per coordinate in position features.
    tile_size
        Tile side in metres of the data the model learned.
    binning
        Position discretisation.
    style_dim
        Style values the model is conditioned on (:mod:`citygen.style`; 0: unconditioned).
    split
        Whether the chain has split steps: a node placed on an earlier street, cutting it
        (:mod:`citygen.model.split`).
    grid_prior
        Whether the angle of a child gets a grid term: per angle bin, the alignment of the new
        street's absolute direction with the tile's dominant bearing (the style's
        ``grid_cos``/``grid_sin``), weighted by two coefficients the network computes from
        the step's context. Needs a style model.
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_pair: int = 64
    window: int = 96
    backbone: str = "transformer"
    position: str = "relative"
    max_steps: int = 768
    n_fourier: int = 16
    dropout: float = 0.0
    tile_size: float = 1000.0
    binning: Binning = field(default_factory=Binning)
    style_dim: int = 0
    split: bool = False
    grid_prior: bool = False

    @property
    def split_window(self) -> int | None:
        """The window of split decisions (``encode(..., split_window=)``), None without."""
        return self.window if self.split else None

    @property
    def n_types(self) -> int:
        """Step types: BORDER, CHILD, ROOT, END, and SPLIT for a split model."""
        return N_TYPES + int(self.split)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse settings no model can be built with (a hand-edited or foreign config.json).

        Raises
        ------
        UsageError
            Naming the setting.
        """
        sizes = {"d_model": self.d_model, "n_layers": self.n_layers, "n_heads": self.n_heads,
                 "d_pair": self.d_pair, "window": self.window, "max_steps": self.max_steps,
                 "n_fourier": self.n_fourier}  # fmt: skip
        for name, value in sizes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                msg = f"model setting {name} must be a positive integer, got {value!r}"
                raise UsageError(msg)
            if value > MAX_SIZES[name]:
                msg = f"model setting {name} must be at most {MAX_SIZES[name]:,}, got {value:,}"
                raise UsageError(msg)
        if self.backbone not in BACKBONES:
            msg = f"unknown backbone {self.backbone!r} (known: {', '.join(BACKBONES)})"
            raise UsageError(msg)
        if self.position not in POSITIONS:
            msg = f"unknown position encoding {self.position!r} (known: {', '.join(POSITIONS)})"
            raise UsageError(msg)
        if self.backbone == "transformer" and self.d_model % self.n_heads:
            msg = f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}"
            raise UsageError(msg)
        size = self.tile_size
        if not isinstance(size, int | float) or not math.isfinite(size) or size <= 0:
            msg = f"model tile_size must be a positive number of metres, got {size!r}"
            raise UsageError(msg)
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            msg = f"model dropout must be in [0, 1), got {self.dropout!r}"
            raise UsageError(msg)
        if self.grid_prior and (not self.style_dim or self.position != "relative"):
            msg = "model setting grid_prior needs a style model (style_dim > 0), relative positions"
            raise UsageError(msg)

    def to_dict(self) -> dict:
        """JSON-ready config."""
        d = asdict(self)
        d["binning"] = asdict(self.binning)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(d, dict):
            msg = f"model settings must be a JSON object, got {type(d).__name__}"
            raise ValueError(msg)
        if not isinstance(d.get("binning", {}), dict):
            msg = f"model setting binning must be a JSON object, got {type(d['binning']).__name__}"
            raise ValueError(msg)
        d = dict(d)
        binning = Binning(**d.pop("binning", {}))
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            msg = f"unknown model config keys: {sorted(unknown)}"
            raise ValueError(msg)
        return cls(binning=binning, **d)


class Fourier(nn.Module):
    """Random-free Fourier features of 2-D vectors: sin/cos at octave frequencies."""

    def __init__(self, n_freq: int, scale: float = 1.0) -> None:
        super().__init__()
        freqs = scale * math.pi * (2.0 ** torch.linspace(0, n_freq / 2 - 1, n_freq // 2))
        self.register_buffer("freqs", freqs, persistent=False)
        self.dim = 2 * 2 * (n_freq // 2) + 2

    def forward(self, xy: Tensor) -> Tensor:
        """``(..., 2)`` to ``(..., dim)``."""
        a = xy.unsqueeze(-1) * self.freqs  # (..., 2, f)
        feats = torch.cat([a.sin(), a.cos()], dim=-1).flatten(-2)
        return torch.cat([feats, xy], dim=-1)


class KVCache:
    """Keys and values of one attention layer during incremental decoding.

    Preallocated buffers ``(B, heads, capacity, d_head)`` that double when full, so a step
    writes its new keys in place instead of copying the whole cache (``torch.cat``), which
    cost a sampling step time proportional to the steps so far.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.n = 0  # steps held

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add ``T`` steps ``(B, heads, T, d_head)``; return all held keys and values (views)."""
        T = k.shape[2]
        if self.k is None or self.n + T > self.k.shape[2]:
            cap = max(64, 2 * (self.n + T))
            grown = [z.new_empty(*z.shape[:2], cap, z.shape[3]) for z in (k, v)]
            if self.k is not None:
                grown[0][:, :, : self.n] = self.k[:, :, : self.n]
                grown[1][:, :, : self.n] = self.v[:, :, : self.n]
            self.k, self.v = grown
        self.k[:, :, self.n : self.n + T] = k
        self.v[:, :, self.n : self.n + T] = v
        self.n += T
        return self.k[:, :, : self.n], self.v[:, :, : self.n]

    def select(self, index: Tensor) -> None:
        """Keep rows ``index (B',)`` of the batch (in that order, copies allowed)."""
        if self.k is not None:
            self.k, self.v = self.k[index], self.v[index]


class Block(nn.Module):
    """Pre-norm causal self-attention block with an optional key/value cache."""

    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.dropout = dropout

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        """``x``: ``(B, T, d)``; with ``cache``, ``T`` new steps are appended to it."""
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k, v = cache.append(k, v)
            causal = T > 1
        else:
            causal = True
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=drop)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp(self.ln2(x))


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class LayoutModel(nn.Module):
    """The autoregressive street-layout model (see the module docstring)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.check()  # tile_size may have been set after construction
        self.config = c = config
        b = c.binning
        d, dp = c.d_model, c.d_pair
        self.fourier_abs = Fourier(c.n_fourier)
        self.fourier_rel = Fourier(c.n_fourier, scale=2.0)
        fa, fr = self.fourier_abs.dim, self.fourier_rel.dim
        # node tokens
        self.bos = nn.Parameter(torch.zeros(d))
        self.tok_pos = nn.Linear(fa, d)
        self.tok_type = nn.Embedding(c.n_types, d)
        self.tok_rel = nn.Linear(fr, d)
        self.tok_edge = _mlp(fr + N_CLASSES, d, d)
        self.step_emb = nn.Embedding(c.max_steps + 1, d)
        # backbone
        if c.backbone == "transformer":
            self.blocks = nn.ModuleList(Block(d, c.n_heads, c.dropout) for _ in range(c.n_layers))
        elif c.backbone == "gru":
            self.gru = nn.GRU(d, d, num_layers=c.n_layers, batch_first=True)
        else:
            msg = f"unknown backbone {c.backbone!r}"
            raise ValueError(msg)
        self.ln_f = nn.LayerNorm(d)
        self.state_proj = nn.Sequential(nn.Linear(N_STATE + c.style_dim, d), nn.GELU(), nn.Linear(d, d))
        if c.style_dim:
            self.style_bos = nn.Linear(c.style_dim, d)  # the style also starts the sequence
        # heads
        self.head_type = nn.Linear(d, c.n_types)
        self.head_gap = _mlp(d, d, b.gap_bins)
        self.head_root = nn.Linear(d, b.root_grid * b.root_grid)
        self.ptr_q = nn.Linear(d, dp)
        self.ptr_k = nn.Linear(d, dp)
        self.ptr_state = nn.Embedding(4 * 16, dp)  # (is last parent, degree<16) x ...
        self.ptr_off = nn.Embedding(c.window + 1, dp)
        self.ptr_out = _mlp(dp, dp, 1)
        self.ctx_parent = nn.Linear(d + fa + 2 + N_SECTORS, d)
        if c.position == "relative":
            self.head_angle = _mlp(d, d, b.angle_bins)
            self.angle_emb = nn.Embedding(b.angle_bins, d)
            self.head_dist = _mlp(d, d, b.dist_bins)
            if c.grid_prior:  # starts at zero: a warm-started model draws as before
                self.grid_coef = nn.Linear(d, 2)
                nn.init.zeros_(self.grid_coef.weight)
                nn.init.zeros_(self.grid_coef.bias)
        else:
            self.head_x = _mlp(d, d, b.xy_bins)
            self.x_emb = nn.Embedding(b.xy_bins, d)
            self.head_y = _mlp(d, d, b.xy_bins)
        self.edge_q = nn.Linear(d + fa, dp)
        self.edge_k = nn.Linear(d, dp)
        self.edge_rel = nn.Linear(fr, dp)
        self.edge_state = nn.Embedding(2 * 16, dp)  # (is parent) x (degree < 16)
        self.edge_out = _mlp(dp, dp, 1 + N_CLASSES)
        if c.split:  # which street a split node cuts, then where on it
            self.split_q = nn.Linear(d, dp)
            self.split_ku = nn.Linear(d, dp)
            self.split_kv = nn.Linear(d, dp)
            self.split_geo = nn.Linear(2 * fa + 1, dp)
            self.split_out = _mlp(dp, dp, 1)
            self.split_ctx = nn.Linear(2 * d + 2 * fa + 1, d)
            self.head_split_t = _mlp(d, d, b.split_t_bins)
            self.split_t_emb = nn.Embedding(b.split_t_bins, d)
            self.head_split_f = _mlp(d, d, 2 * b.split_f_bins)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Total NLL per tile ``(B,)`` in nats of a teacher-forced batch (see likelihood)."""
        from citygen.model.likelihood import batch_nll  # likelihood needs no network at import

        return batch_nll(self, batch)

    # ----------------------------------------------------------------- tokens and backbone
    def node_tokens(self, pos: Tensor, types: Tensor, rel: Tensor, edge_msg: Tensor) -> Tensor:
        """Input tokens of nodes: ``pos (..., 2)``, ``types (...)``, ``rel (..., 2)``,
        ``edge_msg (..., d)`` (summed back-edge messages) to ``(..., d)``."""
        is_child = ((types == 1) | (types == N_TYPES)).unsqueeze(-1).to(pos.dtype)  # child, split
        return (
            self.tok_pos(self.fourier_abs(pos))
            + self.tok_type(types.clamp(0, self.config.n_types - 1))
            + is_child * self.tok_rel(self.fourier_rel(rel))
            + edge_msg
        )

    def edge_messages(self, rel: Tensor, classes: Tensor) -> Tensor:
        """Message of back edges: ``rel (..., 2)`` (other end minus node), ``classes (...)``."""
        onehot = F.one_hot(classes.clamp(0, N_CLASSES - 1), N_CLASSES).to(rel.dtype)
        return self.tok_edge(torch.cat([self.fourier_rel(rel), onehot], dim=-1))

    def backbone(self, x: Tensor, cache: list | None = None, start: int = 0) -> Tensor:
        """Causal backbone over token steps ``x (B, T, d)`` starting at step ``start``."""
        steps = torch.arange(start, start + x.shape[1], device=x.device).clamp(max=self.config.max_steps)
        x = x + self.step_emb(steps)
        if self.config.backbone == "transformer":
            for i, block in enumerate(self.blocks):
                x = block(x, None if cache is None else cache[i])
        else:
            h0 = None if cache is None or not cache else cache[0]
            x, h = self.gru(x, h0)
            if cache is not None:
                cache[:] = [h]
        return self.ln_f(x)

    def new_cache(self) -> list:
        """An empty incremental-decoding cache for :meth:`backbone`."""
        if self.config.backbone == "transformer":
            return [KVCache() for _ in range(self.config.n_layers)]
        return []

    # ----------------------------------------------------------------------------- heads
    def start_token(self, B: int, style: Tensor | None = None) -> Tensor:
        """The first token ``(B, d)``: BOS, plus the tile's style ``(B, style_dim)`` if any."""
        x = self.bos.expand(B, -1)
        if self.config.style_dim:
            x = x + self.style_bos(self._style(style, B, x))
        return x

    def _style(self, style: Tensor | None, B: int, like: Tensor) -> Tensor:
        if style is None or style.shape[-1] != self.config.style_dim:
            msg = f"this model is conditioned on {self.config.style_dim} style values per tile; give style (B, {self.config.style_dim})"
            raise ValueError(msg)
        return style.to(device=like.device, dtype=like.dtype).reshape(B, -1)

    def with_state(self, h: Tensor, state: Tensor, style: Tensor | None = None) -> Tensor:
        """Add the step-state summary ``(..., N_STATE)`` (and the tile's style ``(B, S)``, for
        a style model: every head at every step reads it) to backbone outputs ``(..., d)``."""
        if self.config.style_dim:
            s = self._style(style, state.shape[0], state)
            s = s.view(s.shape[0], *([1] * (state.dim() - 2)), s.shape[-1]).expand(*state.shape[:-1], -1)
            state = torch.cat([state, s], dim=-1)
        return h + self.state_proj(state)

    def pointer_logits(self, h: Tensor, kp: Tensor, is_last: Tensor, deg: Tensor) -> Tensor:
        """Parent pointer scores over window candidates.

        ``h (..., d)``; ``kp (..., M, dp)``: ``self.ptr_k`` of the candidates' backbone outputs
        (projected before gathering, to save memory); ``is_last`` and ``deg`` ``(..., M)``
        integer state. Returns ``(..., M)``.
        """
        off = torch.arange(kp.shape[-2], device=h.device)
        return self.pointer_scores(self.ptr_q(h).unsqueeze(-2), kp, is_last, deg, off)

    def pointer_scores(
        self, q: Tensor, kp: Tensor, is_last: Tensor, deg: Tensor, off: Tensor
    ) -> Tensor:
        """Pointer scores from a query ``q = ptr_q(h)`` against candidates at offsets ``off``.

        See :meth:`pointer_logits`; the sampler calls it on the (row, candidate) pairs that may
        be drawn only, ``(P, dp)``.
        """
        state = is_last.long() * 16 + deg.clamp(0, 15)
        z = q + kp + self.ptr_state(state) + self.ptr_off(off.clamp(max=self.config.window))
        return self.ptr_out(F.gelu(z)).squeeze(-1)

    def parent_context(self, h: Tensor, key_p: Tensor, pos_p: Tensor, ref: Tensor, sectors: Tensor) -> Tensor:
        """Context for the position of a child given its parent (all ``(..., *)``)."""
        ang = torch.stack([ref.cos(), ref.sin()], dim=-1)
        feats = torch.cat([key_p, self.fourier_abs(pos_p), ang, sectors], dim=-1)
        return h + self.ctx_parent(feats)

    def angle_logits(self, ctx: Tensor, grid: Tensor | None = None) -> Tensor:
        """Relative-angle bin logits ``(..., A)``.

        ``grid (..., 2)``: for a ``grid_prior`` model, :func:`grid_phase` of the parent's
        reference direction and the tile's style (required then, ignored otherwise).
        """
        logits = self.head_angle(ctx)
        if not self.config.grid_prior:
            return logits
        if grid is None:
            msg = "this model has a grid prior: give angle_logits the grid phase of each row"
            raise ValueError(msg)
        b = self.config.binning
        a = torch.arange(b.angle_bins, device=ctx.device, dtype=grid.dtype)
        c4 = 4.0 * (a + 0.5) * b.dtheta
        re = grid[..., :1] * c4.cos() - grid[..., 1:] * c4.sin()  # z e^{4i(ref + a)}
        im = grid[..., :1] * c4.sin() + grid[..., 1:] * c4.cos()
        coef = self.grid_coef(ctx).to(logits.dtype)
        return logits + coef[..., :1] * re.to(logits.dtype) + coef[..., 1:] * im.to(logits.dtype)

    def dist_logits(self, ctx: Tensor, angle_bin: Tensor) -> Tensor:
        """Log-distance bin logits given the angle bin, ``(..., D)``."""
        return self.head_dist(ctx + self.angle_emb(angle_bin))

    def x_logits(self, ctx: Tensor) -> Tensor:
        """Absolute x bin logits (``position="absolute"``)."""
        return self.head_x(ctx)

    def y_logits(self, ctx: Tensor, x_bin: Tensor) -> Tensor:
        """Absolute y bin logits given x (``position="absolute"``)."""
        return self.head_y(ctx + self.x_emb(x_bin))

    def _split_geometry(self, pos_u: Tensor, pos_v: Tensor) -> Tensor:
        length = (pos_v - pos_u).norm(dim=-1, keepdim=True).clamp(min=1e-6).log()
        return torch.cat([self.fourier_abs(pos_u), self.fourier_abs(pos_v), length], dim=-1)

    def split_logits(self, h: Tensor, ku: Tensor, kv: Tensor, pos_u: Tensor, pos_v: Tensor) -> Tensor:
        """Scores of the streets a split node may cut.

        ``h (R, d)``; ``ku``, ``kv (R, K, dp)``: ``self.split_ku`` / ``split_kv`` of the
        streets' near and far ends' backbone outputs; ``pos_u``, ``pos_v (R, K, 2)``. Returns
        ``(R, K)``.
        """
        z = self.split_q(h).unsqueeze(-2) + ku + kv + self.split_geo(self._split_geometry(pos_u, pos_v))
        return self.split_out(F.gelu(z)).squeeze(-1)

    def split_context(self, h: Tensor, node_u: Tensor, node_v: Tensor, pos_u: Tensor, pos_v: Tensor) -> Tensor:
        """Context for the position of a split node on the street ``u - v`` (all ``(R, *)``)."""
        feats = torch.cat([node_u, node_v, self._split_geometry(pos_u, pos_v)], dim=-1)
        return h + self.split_ctx(feats)

    def split_t_logits(self, ctx: Tensor) -> Tensor:
        """Bins of the position along the cut street, ``(R, split_t_bins)``."""
        return self.head_split_t(ctx)

    def split_f_logits(self, ctx: Tensor, t_bin: Tensor) -> Tensor:
        """Bins of the offset across it given the position along, ``(R, 2 split_f_bins)``."""
        return self.head_split_f(ctx + self.split_t_emb(t_bin))

    def edge_logits(
        self, h: Tensor, pos_t: Tensor, ke: Tensor, rel: Tensor, is_parent: Tensor, deg: Tensor
    ) -> Tensor:
        """Edge existence and class logits for window candidates.

        ``h (..., d)``, ``pos_t (..., 2)``; ``ke (..., M, dp)``: ``self.edge_k`` of the
        candidates' backbone outputs; ``rel (..., M, 2)`` (candidate minus new node);
        ``is_parent`` and ``deg`` ``(..., M)``. Returns ``(..., M, 1 + C)``.
        """
        return self.edge_scores(self.edge_query(h, pos_t).unsqueeze(-2), ke, rel, is_parent, deg)

    def edge_query(self, h: Tensor, pos_t: Tensor) -> Tensor:
        """The new node's side of the edge scores, ``(..., dp)``."""
        return self.edge_q(torch.cat([h, self.fourier_abs(pos_t)], dim=-1))

    def edge_scores(self, q: Tensor, ke: Tensor, rel: Tensor, is_parent: Tensor, deg: Tensor) -> Tensor:
        """Edge logits from a query ``q`` broadcast against candidates (see :meth:`edge_logits`);
        the likelihood calls it on (step, candidate) pairs that exist only, ``(P, dp)``."""
        state = is_parent.long() * 16 + deg.clamp(0, 15)
        z = q + ke + self.edge_rel(self.fourier_rel(rel)) + self.edge_state(state)
        return self.edge_out(F.gelu(z))
