"""Sampling in worker processes: one torch thread each, the same layouts as one process.

Each layout's draws depend only on the seed and its index (:func:`citygen.sampling.rules.
layout_keys`), so splitting the layouts over processes gives exactly the layouts that
:func:`citygen.sampling.loop.sample` gives in one. On Linux the workers are forked and share
the loaded model; elsewhere (and for CUDA) they are spawned and get a copy.
"""

from __future__ import annotations

import math
import multiprocessing as mp
from typing import Any

import networkx as nx
import torch

from citygen.errors import UsageError
from citygen.model.network import LayoutModel
from citygen.sampling.loop import SampleConfig, sample

_WORKER: dict[str, Any] = {}


def _init(
    model: LayoutModel, seed: int, device: str, batch_size: int, config: SampleConfig
) -> None:
    torch.set_num_threads(1)
    _WORKER.update(model=model, seed=seed, device=device, batch_size=batch_size, config=config)


def _work(start: int, prefixes: list, style: Any = None) -> list[nx.Graph]:
    w = _WORKER
    return sample(
        w["model"],
        len(prefixes),
        seed=w["seed"],
        prefix=prefixes,
        device=w["device"],
        batch_size=w["batch_size"],
        config=w["config"],
        style=style,
        first_index=start,
    )


def sample_parallel(
    model: LayoutModel,
    n: int,
    seed: int = 0,
    workers: int = 1,
    prefix: Any = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
    style: Any = None,
) -> list[nx.Graph]:
    """:func:`citygen.sampling.loop.sample` over ``workers`` processes (identical layouts).

    Parameters
    ----------
    model, n, seed, prefix, device, batch_size, config, style
        As in :func:`citygen.sampling.loop.sample`.
    workers
        Processes (1: sample in this process). Use one per CPU core the run may take.

    Returns
    -------
    list of networkx.Graph
        The layouts in index order, the same for any ``workers``.
    """
    if workers < 1:
        msg = f"--workers must be at least 1, got {workers}"
        raise UsageError(msg)
    if n < 1:
        msg = f"number of layouts must be at least 1, got {n}"
        raise UsageError(msg)
    prefixes = prefix if isinstance(prefix, list) else [prefix] * n
    if len(prefixes) != n:
        msg = f"got {len(prefixes)} prefixes for {n} layouts"
        raise UsageError(msg)
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    if workers == 1 or n == 1:
        return sample(model, n, seed, prefixes, dev, batch_size, config, style)
    chunk = max(1, min(batch_size, math.ceil(n / workers)))
    tasks = [
        (s, prefixes[s : s + chunk], None if style is None else style[s : s + chunk])
        for s in range(0, n, chunk)
    ]
    fork = dev.type == "cpu" and "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if fork else "spawn")
    init = (model.to(dev).eval(), seed, str(dev), batch_size, config or SampleConfig())
    with ctx.Pool(min(workers, len(tasks)), initializer=_init, initargs=init) as pool:
        parts = pool.starmap(_work, tasks, chunksize=1)
    return [G for part in parts for G in part]
