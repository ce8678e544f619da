"""Training examples: the fixed training tiles plus fresh random windows, batched by length.

Every batch is a pure function of ``(seed, epoch)``: the windows of an epoch are drawn from a
generator seeded with ``[seed, epoch]``, and the batch order from the same generator. An
interrupted run that resumes at step ``s`` therefore sees exactly the batches it would have
seen, which is what makes ``--resume`` bit-identical.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from citygen.errors import DatasetError
from citygen.model.batch import tile_arrays
from citygen.model.encode import Binning, encode
from data_prep.order import to_sequence
from data_prep.shards import Dataset
from citygen.style import bank_of_sequences, style_of_sequence
from data_prep.tiles import random_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamConfig:
    """How training examples are drawn.

    Attributes
    ----------
    windows_per_epoch
        Random windows (offset, rotation, reflection) added to each epoch; -1 means as many as
        there are fixed training tiles.
    min_nodes
        Windows with fewer nodes are redrawn.
    max_nodes
        Tiles and windows with more nodes are skipped (bounds memory).
    batch_size
        Most tiles per batch.
    max_batch_nodes
        Most node steps per batch (bounds memory: big tiles go in smaller batches).
    """

    windows_per_epoch: int = -1
    min_nodes: int = 8
    max_nodes: int = 600
    batch_size: int = 16
    max_batch_nodes: int = 2048


class TrainingStream:
    """Deterministic epochs of teacher-forcing arrays from a prepared data set.

    Parameters
    ----------
    data
        The prepared data set; its ``train`` split and the training areas of its regions.
    binning, window
        Model discretisation and candidate window (from the model config).
    config
        Stream settings.
    seed
        Base seed of the run.
    """

    def __init__(
        self,
        data: Dataset,
        binning: Binning,
        window: int,
        config: StreamConfig,
        seed: int,
        style: bool = False,
        split: bool = False,
    ) -> None:
        self.data, self.binning, self.window, self.config, self.seed = data, binning, window, config, seed
        self.style = style
        self.split_window = window if split else None  # a split model's chains (citygen.model.split)
        seqs = [s for s in data.sequences("train") if config.min_nodes <= s.n_nodes <= config.max_nodes]
        #: raw style rows of the fixed training tiles (the style bank a style model ships with)
        self.bank = bank_of_sequences(seqs) if style else None
        self.fixed = [
            tile_arrays(encode(s, binning, self.split_window), window, None if self.bank is None else self.bank[i])
            for i, s in enumerate(seqs)
        ]
        if not self.fixed:
            msg = f"data set {data.root} has no training tiles with {config.min_nodes}+ nodes"
            raise DatasetError(msg)
        self.areas, weights = [], []
        for name in data.region_names:
            area = data.area(name, "train")
            if area.area >= data.tile_size**2:
                self.areas.append((name, area))
                weights.append(area.area)
        self.area_weights = np.asarray(weights) / max(sum(weights), 1.0)
        n_win = config.windows_per_epoch
        self.n_windows = len(self.fixed) if n_win < 0 else n_win
        if not self.areas:
            self.n_windows = 0

    def _window(self, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        for _ in range(20):
            name, area = self.areas[int(rng.choice(len(self.areas), p=self.area_weights))]
            try:
                G = random_window(self.data.region(name), self.data.tile_size, rng, within=area)
            except DatasetError:
                continue
            if self.config.min_nodes <= G.number_of_nodes() <= self.config.max_nodes and G.number_of_edges():
                seq = to_sequence(G)
                style = style_of_sequence(seq) if self.style else None  # of the rotated window
                return tile_arrays(encode(seq, self.binning, self.split_window), self.window, style)
        return None

    def epoch(self, epoch: int) -> list[list[dict[str, np.ndarray]]]:
        """The batches of one epoch, in order (deterministic in ``seed`` and ``epoch``)."""
        rng = np.random.default_rng([self.seed, epoch])
        items = list(self.fixed)
        for _ in range(self.n_windows):
            w = self._window(rng)
            if w is not None:
                items.append(w)
        order = rng.permutation(len(items))
        # sort chunks by length to reduce padding, cut batches by tile count and node budget,
        # then shuffle the batches
        chunk = 8 * self.config.batch_size
        batches: list[list[dict[str, np.ndarray]]] = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=lambda i: int(items[i]["n"]))
            batches += self._cut(part, items)
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, part: list[int], items: list[dict[str, np.ndarray]]) -> list[list[dict[str, np.ndarray]]]:
        """Consecutive batches of length-sorted items within the tile and node budgets."""
        out, cur, longest = [], [], 0
        for i in part:
            n = int(items[i]["n"]) + 1
            too_many = len(cur) >= self.config.batch_size
            if cur and (too_many or max(longest, n) * (len(cur) + 1) > self.config.max_batch_nodes):
                out.append(cur)
                cur, longest = [], 0
            cur.append(items[i])
            longest = max(longest, n)
        if cur:
            out.append(cur)
        return out
