"""Best-of-N: sample N candidates per layout in batches and keep the one that scores best."""

from __future__ import annotations

import logging

import torch

from citygen.errors import UsageError
from citygen.model.network import LayoutModel
from citygen.objectives.combine import Combination
from citygen.objectives.result import Steered, evaluate, pick_best, repeat_prefix
from citygen.objectives.validity import validity_mask
from citygen.sampling.loop import SampleConfig, sample

log = logging.getLogger(__name__)


def best_of_n(
    model: LayoutModel,
    objective: Combination,
    n: int,
    seed: int = 0,
    candidates: int = 16,
    prefix: object = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
) -> Steered:
    """Sample ``candidates`` layouts per requested layout and keep the best of each group.

    A candidate that breaks a hard rule (:func:`~citygen.objectives.validity.is_valid`) is
    never kept while its group has a valid one.

    Parameters
    ----------
    model
        The layout model.
    objective
        What to maximise (:func:`~citygen.objectives.combine.parse_objective`).
    n
        Number of layouts returned.
    seed
        Sampling seed; candidates of layout ``i`` are samples ``i*N .. i*N + N - 1`` of one
        seeded run of :func:`citygen.sampling.loop.sample` over ``n * N`` tiles.
    candidates
        ``N``, candidates per layout (1 is plain sampling).
    prefix, device, batch_size, config
        As in :func:`citygen.sampling.loop.sample` (a prefix is shared by a layout's candidates).

    Returns
    -------
    Steered
        The chosen layouts; ``pool_scores`` holds every candidate's score ``(n, N)``.
    """
    if candidates < 1:
        msg = f"--candidates must be at least 1, got {candidates}"
        raise UsageError(msg)
    prefixes = repeat_prefix(prefix, n, candidates)
    pool = sample(
        model,
        n * candidates,
        seed=seed,
        prefix=prefixes,
        device=device,
        batch_size=batch_size,
        config=config,
    )
    scored = evaluate(pool, objective, {})
    grid = scored.scores.reshape(n, candidates)  # (layouts, candidates)
    valid = validity_mask(pool, (config or SampleConfig()).min_dist).reshape(n, candidates)
    best = pick_best(grid, valid)
    chosen = [i * candidates + int(k) for i, k in enumerate(best)]
    layouts = []
    for i, j in enumerate(chosen):
        G = pool[j]
        G.graph.update(index=i, candidate=int(best[i]))
        layouts.append(G)
    log.info(
        "best-of-%d: mean score %.3f (pool mean %.3f)", candidates, grid.max(-1).mean(), grid.mean()
    )
    info = {"method": "best-of-n", "candidates": candidates}
    return Steered(layouts, scored.scores[chosen], [scored.values[j] for j in chosen], info, grid)
