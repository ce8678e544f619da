"""What a steering method returns: the chosen layouts with their objective values."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from citygen.objectives.combine import Combination
from citygen.objectives.functions import as_arrays


@dataclass(frozen=True)
class Steered:
    """Layouts chosen by a steering method.

    Attributes
    ----------
    layouts
        The layouts (:mod:`citygen.layout`), one per requested tile.
    scores
        Combined normalised score of each (higher is better), ``(n,)``.
    values
        Raw objective values of each, in their units.
    info
        Method and settings (JSON-ready), recorded in the export metadata.
    pool_scores
        Best-of-N: every candidate's score ``(n, N)``; SMC: every final particle's score
        ``(n, particles)``; else None.
    """

    layouts: list[nx.Graph]
    scores: np.ndarray
    values: list[dict[str, float]]
    info: dict = field(default_factory=dict)
    pool_scores: np.ndarray | None = None

    def mean_values(self) -> dict[str, float]:
        """Mean raw value of each objective over the layouts."""
        if not self.values:
            return {}
        return {k: float(np.mean([v[k] for v in self.values])) for k in self.values[0]}


def evaluate(layouts: list[nx.Graph], objective: Combination, info: dict) -> Steered:
    """Score layouts and wrap them as :class:`Steered` (the score is stored on each graph too)."""
    values = [objective.values(as_arrays(G)) for G in layouts]
    scores = np.array([objective.score_values(v) for v in values], dtype=np.float64)
    for G, s in zip(layouts, scores, strict=True):
        G.graph["objective_score"] = float(s)
    return Steered(layouts, scores, values, info)


def pick_best(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Index of the best valid entry of each row of ``scores (n, k)``.

    Rows with no valid entry fall back to the best score (and are logged).
    """
    masked = np.where(valid, scores, -np.inf)
    best = masked.argmax(-1)
    none = ~valid.any(-1)
    if none.any():
        logging.getLogger(__name__).warning("%d layouts had no valid candidate", int(none.sum()))
        best[none] = scores[none].argmax(-1)
    return best


def repeat_prefix(prefix: object, n: int, k: int) -> list:
    """Repeat a prefix (one for all, or one per layout) for ``k`` copies of each layout."""
    per = prefix if isinstance(prefix, list) else [prefix] * n
    if len(per) != n:
        from citygen.errors import UsageError

        msg = f"got {len(per)} prefixes for {n} layouts"
        raise UsageError(msg)
    return [p for p in per for _ in range(k)]
