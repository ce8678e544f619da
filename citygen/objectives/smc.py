"""Sequential Monte Carlo over partial layouts: particles that score well are copied.

For each requested layout, ``P`` particles are sampled together. Every ``every`` node steps
the partial layouts are scored by the objective (the combined, normalised score ``phi`` of
:class:`~citygen.objectives.combine.Combination`, computed on the graph built so far) and
each layout's particles are resampled (systematic resampling) with weights

    w = exp(beta * (phi_t - phi_prev))

where ``phi_prev`` is the particle's score at the previous resampling: the incremental
weights of a twisted SMC whose target is ``p_model(x) * exp(beta * phi(x))``. Resampling copies
the whole sampler state, key/value cache included (:meth:`SampleState.reindex`), so a copied
particle continues from exactly where its parent was. At the end the final particles are
finished as :func:`citygen.sampling.loop.sample` finishes layouts (dead ends snapped) and the one
with the best final score is kept; the objective's realism term counts only in this final
pick. ``beta = 0`` resamples nothing (plain sampling, then the best of ``P``: best-of-N in
distribution, though not the same draws, as plain sampling compacts its batch); a large ``beta`` is
a greedy beam search. Hard constraints are the sampler's masks; as a safety
net, a particle whose partial layout breaks one (:mod:`~citygen.objectives.validity`) gets
weight 0 and is never kept while its layout has a valid particle.
"""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import torch

from citygen.errors import UsageError
from citygen.model.network import LayoutModel
from citygen.objectives.combine import Combination
from citygen.objectives.result import Steered, evaluate, pick_best, repeat_prefix
from citygen.objectives.validity import validity_mask
from citygen.sampling.loop import SampleConfig, finish, run_steps
from citygen.sampling.styles import resolve_styles, style_tensor
from citygen.sampling.state import SampleState

log = logging.getLogger(__name__)

#: Node steps between resamplings, and the selection strength (per unit of normalised score).
DEFAULT_EVERY = 8
DEFAULT_BETA = 4.0


def systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling of each row: ``weights (G, P)`` -> ancestor indices ``(G, P)``.

    A particle of normalised weight ``w`` gets ``floor(P w)`` or ``ceil(P w)`` copies; equal
    weights keep every particle once, in order.
    """
    G, P = weights.shape
    w = weights / weights.sum(-1, keepdims=True)
    cum = np.cumsum(w, axis=-1)
    cum[:, -1] = 1.0
    u = (rng.random((G, 1)) + np.arange(P)[None, :]) / P  # (G, P)
    return np.stack([np.searchsorted(cum[g], u[g], side="right") for g in range(G)]).clip(0, P - 1)


class Resampler:
    """The ``run_steps`` callback: score partial layouts, resample each group's particles.

    Parameters
    ----------
    objective
        Scores partial layouts (without its realism term: whole-tile statistics say little
        about a partial layout; the final pick uses it).
    groups, particles
        The batch holds ``groups * particles`` rows, particles of a group adjacent.
    beta
        Selection strength.
    rng
        Draws the systematic-resampling offsets.
    """

    def __init__(
        self,
        objective: Combination,
        groups: int,
        particles: int,
        beta: float,
        rng: np.random.Generator,
    ) -> None:
        self.objective, self.G, self.P, self.beta, self.rng = (
            objective.without_realism(),
            groups,
            particles,
            beta,
            rng,
        )
        self.prev = np.zeros(groups * particles)
        self.ess: list[float] = []

    def weights(self, phi: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Normalised incremental weights ``(G, P)`` of scores ``phi (G * P,)``.

        Particles that break a hard rule (``valid`` False) get weight 0, unless their whole
        group does.
        """
        logw = (self.beta * (phi - self.prev)).reshape(self.G, self.P)
        if valid is not None:
            ok = valid.reshape(self.G, self.P)
            logw = np.where(ok | ~ok.any(-1, keepdims=True), logw, -np.inf)
        w = np.exp(logw - logw.max(-1, keepdims=True))
        return w / w.sum(-1, keepdims=True)

    def __call__(self, state: SampleState, t: int) -> None:
        """Score the partial layouts at step ``t`` and resample."""
        partial = state.layouts(seed=0)
        phi = self.objective.scores(partial)
        w = self.weights(phi, validity_mask(partial, state.cfg.min_dist))
        self.ess.append(float((1.0 / (w**2).sum(-1)).mean() / self.P))
        ancestors = systematic_resample(w, self.rng)  # (G, P) within each group
        index = (ancestors + self.P * np.arange(self.G)[:, None]).reshape(-1)
        state.reindex(torch.as_tensor(index, dtype=torch.long))
        state.fork(t)  # copies of a particle go on with streams of their own
        self.prev = phi[index]


def _check(particles: int, every: int, beta: float) -> None:
    if particles < 1:
        msg = f"--particles must be at least 1, got {particles}"
        raise UsageError(msg)
    if every < 1:
        msg = f"SMC resampling interval must be at least 1 step, got {every}"
        raise UsageError(msg)
    if not beta >= 0:
        msg = f"SMC beta must be >= 0, got {beta}"
        raise UsageError(msg)


@torch.no_grad()
def smc(
    model: LayoutModel,
    objective: Combination,
    n: int,
    seed: int = 0,
    particles: int = 16,
    every: int = DEFAULT_EVERY,
    beta: float = DEFAULT_BETA,
    prefix: object = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
) -> Steered:
    """Sample ``n`` layouts by sequential Monte Carlo with ``particles`` particles each.

    Parameters
    ----------
    model, objective
        The layout model and what to maximise (its realism term applies to the final pick).
    n, seed
        Layouts returned; the seed makes the run reproducible.
    particles
        Particles per layout.
    every
        Node steps between resamplings.
    beta
        Selection strength per unit of normalised score (0: no resampling).
    prefix, device, config
        As in :func:`citygen.sampling.loop.sample`.
    batch_size
        Rows sampled together; at least one layout's particles (``particles``) are.

    Returns
    -------
    Steered
        The best final particle of each layout; ``pool_scores`` are all final particles'.
    """
    if n < 1:
        msg = f"number of layouts must be at least 1, got {n}"
        raise UsageError(msg)
    _check(particles, every, beta)
    cfg = config or SampleConfig()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev).eval()
    rng = np.random.default_rng(seed)
    prefixes = repeat_prefix(prefix, n, particles)
    per_chunk = max(1, batch_size // particles)
    styles = resolve_styles(model, n, seed, None, cfg)  # one style per layout, shared by its particles
    if styles is not None:
        styles = np.repeat(styles, particles, axis=0)
    finals: list[nx.Graph] = []
    ess: list[float] = []
    for g0 in range(0, n, per_chunk):
        g = min(per_chunk, n - g0)
        rows = slice(g0 * particles, (g0 + g) * particles)
        state = SampleState(model, g * particles, cfg, dev, seed, prefixes[rows], g0 * particles)
        state.style = style_tensor(styles, g0 * particles, g * particles, dev)
        resampler = Resampler(objective, g, particles, beta, rng)
        run_steps(state, every=every if beta > 0 else 0, callback=resampler)
        finals += finish(state.layouts(seed=seed, first_index=g0 * particles), cfg)
        ess += resampler.ess
    scored = evaluate(finals, objective, {})
    grid = scored.scores.reshape(n, particles)  # (layouts, particles)
    valid = validity_mask(finals, cfg.min_dist).reshape(n, particles)
    best = pick_best(grid, valid) + particles * np.arange(n)
    layouts = [finals[int(j)] for j in best]
    for i, G in enumerate(layouts):
        G.graph["index"] = i
    mean_ess = float(np.mean(ess)) if ess else 1.0
    log.info(
        "smc: %d particles, mean score %.3f, mean ESS %.2f of P",
        particles,
        grid.max(-1).mean(),
        mean_ess,
    )
    info = {
        "method": "smc",
        "particles": particles,
        "every": every,
        "beta": beta,
        "mean_ess": round(mean_ess, 4),
    }
    return Steered(layouts, scored.scores[best], [scored.values[int(j)] for j in best], info, grid)
