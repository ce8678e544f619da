"""Batched, seeded sampling of street layouts with hard constraints applied as masks.

:func:`sample` runs the model one node step at a time for a batch of tiles (CPU or CUDA),
with a key/value cache. Constraints are masks on the model's choices, never rejection of whole
layouts:

- a new node is strictly inside the tile and at least ``min_dist`` metres from every node;
- no street crosses another except at a shared node, none passes within ``clearance`` metres
  of a node it does not end at, and a new node keeps ``clearance`` from every street;
- streets meeting at a node differ in direction by at least ``min_angle`` degrees (no
  overlapping or duplicate edges; zero-length edges are impossible by the distance rule).
- no node gets more than ``MAX_DEGREE`` (8) streets, the largest degree in the corpus; so
  every street of a node is known to the angle rule.

Position bins are masked where the bin centre breaks a rule (ray tests against all nodes and
streets at once); the exact point inside the chosen bin is checked again and, if it fails,
the choice is redrawn with that bin masked. Edge candidates are Bernoulli draws from the model
with the forbidden candidates masked, which for independent draws is the same as dropping them.

A ``prefix`` teacher-forces the first steps of each tile (for example the border nodes shared
with finished neighbour tiles) and samples the rest.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from citygen.errors import UsageError
from citygen.model.encode import BORDER, CHILD, END, ROOT
from citygen.model.network import LayoutModel
from citygen.sampling.rules import categorical
from citygen.sampling.state import SampleState
from citygen.sampling.styles import resolve_styles, style_tensor
from data_prep.order import Sequence

#: Intra-op torch threads while sampling (one per worker process; see :func:`sampling_threads`).
SAMPLING_THREADS = 1


@dataclass(frozen=True)
class SampleConfig:
    """Constraints and settings of sampling (distances in metres).

    Attributes
    ----------
    min_dist
        Least distance between two nodes.
    clearance
        Least distance between a street and a node it does not end at.
    min_angle
        Least angle in degrees between two streets at a node.
    max_nodes
        Largest number of nodes per tile (the tile ends there).
    temperature
        Softmax temperature of the geometry: positions, parent pointers, split places and
        road classes (1.0 samples them as learned). 0.6 draws straighter streets with
        longer hops, closer to real ones on the held-out cities (docs/evaluation.md, "Grid
        prior and temperature 0.6").
    structure_temperature
        Temperature of the step type (END included) and of the street decisions; None:
        ``temperature``. Kept at 1.0: a cooler Bernoulli draws fewer streets, and at 0.85 for
        everything the largest piece fell from 0.66 to 0.61 of the nodes. Both at 1.0 sample
        the model exactly as learned. Measured (docs/evaluation.md, "Sampling temperature"):
        0.85 and 1.0 scored 1.92 on the held-out cities against 2.11 at 1.0 for both; with
        the stop-22 model 0.6 and 1.0 scored 1.67 (three seeds).
    grid_strength
        For a ``grid_prior`` model: factor on the grid term of a child's angle (1.0: as
        learned; 0: off). 3 measured closer to the held-out cities than 1 (1.35 and 1.29
        pooled against 1.71 and 1.66 at seeds 1 and 2, n = 400; docs/evaluation.md) but
        stays off the default until --like, areas and infill are re-measured with it.
    max_tries
        Redraws of a position before the step is ended instead.
    snap
        Dead ends that stop less than this many metres short of a street, straight ahead, are
        joined to it after sampling (:mod:`citygen.sampling.snap`); 0 keeps the layouts as
        sampled. 40 m (was 25) measured closer to real streets on the held-out cities.
    bend_tolerance
        Bends of a street within this many metres of the straight line between its junctions
        are dropped after sampling (Douglas-Peucker, :mod:`citygen.sampling.simplify`); 0
        keeps every sampled bend. Prepare draws real streets at 5 m; sampled streets wiggle
        more (small angle errors that add up over many hops), and 10 m measured closer to
        real streets on the held-out cities (docs/evaluation.md, "Output steps").
    style_bank
        For a style model: raw style rows to draw from instead of the model's own bank (the
        tiles of a ``--like`` place, :mod:`citygen.like`), as a tuple of tuples.
    density, grid
        For a style model: explicit junction density (per km2) and orientation order.
    """

    min_dist: float = 10.0
    clearance: float = 2.0
    min_angle: float = 10.0
    max_nodes: int = 600
    temperature: float = 0.6
    structure_temperature: float | None = 1.0
    grid_strength: float = 1.0
    max_tries: int = 8
    snap: float = 40.0
    bend_tolerance: float = 10.0
    style_bank: tuple[tuple[float, ...], ...] | None = None
    density: float | None = None
    grid: float | None = None

    def __post_init__(self) -> None:
        from citygen.style import check_bank, check_overrides

        check_overrides(self.density, self.grid)
        if self.style_bank is not None:
            check_bank(np.asarray(self.style_bank), "style bank")
        if self.min_dist < 0 or self.clearance < 0 or not 0 <= self.min_angle < 90:
            msg = "min_dist and clearance must be >= 0 and min_angle in [0, 90)"
            raise UsageError(msg)
        if not self.snap >= 0:
            msg = f"snap must be >= 0 metres, got {self.snap}"
            raise UsageError(msg)
        if not (self.bend_tolerance >= 0 and math.isfinite(self.bend_tolerance)):
            msg = f"bend tolerance must be a finite number of metres >= 0, got {self.bend_tolerance}"
            raise UsageError(msg)
        if not (self.grid_strength >= 0 and math.isfinite(self.grid_strength)):
            msg = f"grid strength must be finite and >= 0, got {self.grid_strength}"
            raise UsageError(msg)
        ts = self.structure_temperature
        bad_ts = ts is not None and ts <= 0
        if self.max_nodes < 2 or self.temperature <= 0 or self.max_tries < 1 or bad_ts:
            msg = (
                "max_nodes must be >= 2, temperature > 0, structure temperature > 0 "
                "and max_tries >= 1"
            )
            raise UsageError(msg)


@torch.no_grad()
def sample(
    model: LayoutModel,
    n: int,
    seed: int = 0,
    prefix: Sequence | list[Sequence | None] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
    style: np.ndarray | None = None,
    first_index: int = 0,
) -> list[nx.Graph]:
    """Sample ``n`` street layouts from a model.

    Parameters
    ----------
    model
        A trained :class:`~citygen.model.LayoutModel` (``citygen.load_model()``).
    n
        Number of layouts.
    seed
        Seed; the same seed, model, settings and device give identical layouts. Each layout's
        draws depend only on the seed and its index, so layout ``i`` is the same whatever
        ``n``, ``batch_size`` or the number of worker processes.
    prefix
        One canonical sequence for every tile, or one per tile (None: unconditioned); its
        steps are teacher-forced and the rest is sampled.
    device
        Where to sample (default: the model's device).
    batch_size
        Tiles sampled together.
    config
        Constraints and temperature.
    style
        For a style model: raw style rows ``(n, STYLE_DIM)`` (:mod:`citygen.style`), one per
        layout; by default drawn from the model's style bank (its training tiles).
    first_index
        Index of the first layout (a worker sampling layouts ``first_index ..`` of a run).

    Returns
    -------
    list of networkx.Graph
        Layout graphs (:mod:`citygen.layout`) in metres, node ids in canonical order.
    """
    if n < 1:
        msg = f"number of layouts must be at least 1, got {n}"
        raise UsageError(msg)
    if batch_size < 1:
        msg = f"batch size must be at least 1, got {batch_size}"
        raise UsageError(msg)
    config = config or SampleConfig()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev).eval()
    prefixes = prefix if isinstance(prefix, list) else [prefix] * n
    if len(prefixes) != n:
        msg = f"got {len(prefixes)} prefixes for {n} layouts"
        raise UsageError(msg)
    styles = resolve_styles(model, n, seed, style, config, first_index)
    with sampling_threads():
        out = sample_batches(model, seed, prefixes, dev, batch_size, config, first_index, styles)
    if styles is not None:
        for G, row in zip(out, styles, strict=True):
            G.graph["style"] = style_dict(row)
    return finish(out, config)


@contextlib.contextmanager
def sampling_threads(n: int = SAMPLING_THREADS) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads inside, restoring the caller's setting after.

    Sampling runs many small operations: with more than one thread torch spin-waits between
    them, which is 2.6 to 5 times slower on a machine where other work runs (issue 14). Use
    processes for more cores (:func:`citygen.sampling.workers.sample_parallel`).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def sample_batches(
    model: LayoutModel,
    seed: int,
    prefixes: list,
    dev: torch.device,
    batch_size: int,
    config: SampleConfig,
    first_index: int,
    styles: np.ndarray | None = None,
    new_state: Callable[..., SampleState] = SampleState,
) -> list[nx.Graph]:
    """Raw layouts (before :func:`finish`) of every prefix slot, batch by batch.

    ``new_state(model, B, config, dev, seed, prefixes, first_index=...)`` makes each batch's
    state: :class:`SampleState`, or a subclass with more masks (city-scale areas do this).
    """
    n = len(prefixes)
    out: list[nx.Graph] = []
    for start in range(0, n, batch_size):
        chunk = prefixes[start : start + batch_size]
        base = first_index + start
        state = new_state(model, len(chunk), config, dev, seed, chunk, first_index=base)
        state.style = style_tensor(styles, start, len(chunk), dev)
        finished: dict[int, nx.Graph] = {}

        def harvest(st: SampleState, t: int) -> None:
            # drop finished tiles from the batch so the long tail of big tiles runs on few rows
            done = st.done.cpu()
            if int(done.sum()) >= max(1, st.B // 4) and not bool(done.all()):
                rows = torch.nonzero(done).squeeze(-1).tolist()
                for G in st.layouts(seed=seed, first_index=base, rows=rows):
                    finished[G.graph["index"] - base] = G
                st.reindex(torch.nonzero(~done).squeeze(-1))

        run_steps(state, every=COMPACT_EVERY, callback=harvest)
        for G in state.layouts(seed=seed, first_index=base):
            finished[G.graph["index"] - base] = G
        out += [finished[i] for i in range(len(chunk))]
    return out


def style_dict(row: np.ndarray) -> dict[str, float]:
    """A raw style row as ``{key: value}`` (:data:`citygen.style.STYLE_KEYS`)."""
    from citygen.style import STYLE_KEYS

    return {k: round(float(v), 6) for k, v in zip(STYLE_KEYS, row, strict=True)}


def finish(layouts: list[nx.Graph], config: SampleConfig) -> list[nx.Graph]:
    """Sampled layouts as a user gets them: dead ends joined (``config.snap``, if > 0), then
    bends within ``config.bend_tolerance`` dropped (if > 0)."""
    c = config
    if c.snap > 0:
        from citygen.sampling.snap import snap_dead_ends

        layouts = [snap_dead_ends(G, c.snap, c.min_dist, c.clearance, c.min_angle) for G in layouts]
    if c.bend_tolerance > 0:
        from citygen.sampling.simplify import simplify_bends

        layouts = [simplify_bends(G, c.bend_tolerance, c.clearance, c.min_angle) for G in layouts]
    return layouts


#: Steps between checks for finished tiles to drop from a sampling batch.
COMPACT_EVERY = 8


def run_steps(state: SampleState, every: int = 0, callback: Callable[[SampleState, int], None] | None = None) -> None:
    """Advance a batch of tiles step by step until every tile has ended.

    Parameters
    ----------
    state
        The batch being sampled.
    every, callback
        If given, ``callback(state, t)`` runs after every ``every`` steps; it may read the
        partial layouts (:meth:`SampleState.layouts`) and resample the batch
        (:meth:`SampleState.reindex`), as sequential Monte Carlo does.
    """
    with sampling_threads():
        _run_steps(state, every, callback)


def _run_steps(state: SampleState, every: int, callback: Callable | None) -> None:
    model = state.model
    state.token = model.start_token(state.B, state.style)
    for t in range(state.N):
        raw = model.backbone(state.token.unsqueeze(1), state.cache, start=t).squeeze(1)
        state.record_output(t, raw)
        h = model.with_state(raw, state.step_features(t), state.style)
        ty = state.choose_type(t, h)
        pos, parent = state.place(t, h, ty)
        ty = torch.where(state.done, END, ty)
        if bool((ty == END).all()):
            state.done |= True
            break
        state.token = state.commit(t, h, ty, pos, parent)
        if callback is not None and every > 0 and (t + 1) % every == 0:
            callback(state, t + 1)


__all__ = ["BORDER", "CHILD", "END", "ROOT", "SampleConfig", "categorical", "run_steps", "sample"]
