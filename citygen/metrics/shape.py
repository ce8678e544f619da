"""The shape of a set of tiles as a planner reads it: sparse tiles, dead ends, pieces, 4-ways.

Four plain shares that say whether generated tiles look built up and joined up, next to the
distribution distances of the report (numbers a reader checks against a map at a glance):

- ``sparse``: share of tiles with fewer than :data:`SPARSE_NODES` interior nodes (junctions
  or bends; border nodes do not count);
- over the other tiles, means of per-tile values: ``dead_end`` (share of junctions that are
  dead ends, :func:`~citygen.metrics.stats.dead_end_share`), ``largest_piece`` (share of nodes
  in the largest connected piece) and ``four_way`` (share of junctions with 4 or more
  streets; junctions as in :mod:`citygen.metrics.stats`: interior nodes that are not bends).
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from citygen.metrics.stats import arrays, dead_end_share, junction_mask
from citygen.objectives.functions import Arrays, _degrees, giant_share

#: Tiles with fewer interior nodes than this are *sparse*.
SPARSE_NODES = 10
#: The shares of :func:`shape_summary`, in report order.
SHAPE_KEYS: tuple[str, ...] = ("sparse", "dead_end", "largest_piece", "four_way")


def interior_nodes(a: Arrays) -> int:
    """Number of nodes that are not border nodes."""
    return int((~a.border).sum())


def four_way_share(a: Arrays) -> float:
    """Share of junctions (interior nodes that are not bends) with 4+ streets (NaN for none)."""
    junction = junction_mask(a)
    if not junction.any():
        return float("nan")
    return float((_degrees(a)[junction] >= 4).mean())


def shape_summary(layouts: Sequence[nx.Graph | Arrays]) -> dict[str, float]:
    """The four shares of the module docstring for a set of tiles (NaN where undefined)."""
    a = [arrays(G) for G in layouts]
    if not a:
        return dict.fromkeys(SHAPE_KEYS, float("nan"))
    full = [x for x in a if interior_nodes(x) >= SPARSE_NODES]

    def mean(values: list[float]) -> float:
        vals = [v for v in values if np.isfinite(v)]
        return float(np.mean(vals)) if vals else float("nan")

    return {
        "sparse": 1.0 - len(full) / len(a),
        "dead_end": mean([dead_end_share(x) for x in full]),
        "largest_piece": mean([giant_share(x) for x in full]),
        "four_way": mean([four_way_share(x) for x in full]),
    }
