"""Validity and novelty of a set of layouts.

- Validity (:func:`validity`): the share of layouts that obey the sampler's hard rules, checked
  independently of it by :func:`citygen.objectives.validity.is_valid`: streets meet only at
  shared end nodes (planar), no two nodes closer than the minimum distance (10 m), no duplicate
  or zero-length street.
- Novelty (:func:`novelty`): the share of layouts that are not a near copy of any reference
  (training) tile. Two tiles' node sets are compared by the symmetric Chamfer distance, the mean
  over both sets of each node's distance to the nearest node of the other set, in metres; a
  layout is a near copy when, under any of the eight rotations by 90 degrees and reflections of
  the tile square, its Chamfer distance to some reference tile is below :data:`COPY_THRESHOLD_M`
  (twice the 10 m intersection consolidation tolerance of the data). Fixed training tiles are
  the references; windows drawn at random offsets during training are not. Candidates are
  shortlisted by a blurred node-density image, then compared exactly (:func:`nearest_chamfer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from citygen.metrics.stats import arrays
from citygen.objectives.functions import Arrays
from citygen.objectives.validity import MIN_DIST, is_valid

#: Chamfer distance (metres) under which a layout is a near copy of a reference tile.
COPY_THRESHOLD_M = 20.0
#: Side of the node-density image used to shortlist references, cells.
CELLS = 16
#: References compared exactly per layout and symmetry.
CANDIDATES = 8


#: ``min_dist`` that leaves only the planarity and duplicate rules (1 mm).
PLANAR_ONLY = 1e-3


def validity(layouts: Sequence, min_dist: float = MIN_DIST) -> float:
    """Share of layouts that pass :func:`~citygen.objectives.validity.is_valid`, in ``[0, 1]``.

    ``min_dist=PLANAR_ONLY`` checks planarity and duplicates only (real tiles often have nodes
    closer than 10 m: a street cut by the tile border next to a junction, or a tight bend).
    """
    if not layouts:
        return float("nan")
    return float(np.mean([is_valid(G, min_dist) for G in layouts]))


def _dihedral(xy: np.ndarray, size: float) -> list[np.ndarray]:
    c = xy - size / 2
    out = []
    for flip in (False, True):
        p = c * np.array([-1.0, 1.0]) if flip else c
        for k in range(4):
            out.append(p + size / 2)
            p = np.stack([-p[:, 1], p[:, 0]], axis=1)
    return out


def _grid(xy: np.ndarray, size: float) -> np.ndarray:
    """A blurred, normalised ``CELLS x CELLS`` node-density image of a tile (a cheap descriptor)."""
    h, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=CELLS, range=[[0, size], [0, size]])
    h = gaussian_filter(h, 1.0, mode="constant")
    return (h / max(h.sum(), 1e-12)).ravel()


def chamfer(
    a: np.ndarray, b: np.ndarray, tree_a: cKDTree | None = None, tree_b: cKDTree | None = None
) -> float:
    """Symmetric Chamfer distance between two point sets, metres (mean nearest distances, averaged)."""
    tree_a = tree_a or cKDTree(a)
    tree_b = tree_b or cKDTree(b)
    return 0.5 * (float(tree_b.query(a)[0].mean()) + float(tree_a.query(b)[0].mean()))


def nearest_chamfer(
    layouts: Sequence, references: Sequence, candidates: int = CANDIDATES
) -> np.ndarray:
    """Each layout's least Chamfer distance (m) to a reference, over the 8 symmetries, ``(n,)``.

    The references closest by a blurred node-density image (:data:`CANDIDATES` per symmetry)
    are compared exactly; a near copy has a near-identical image, so it is among them.
    """
    refs = [arrays(G) for G in references]
    refs = [r for r in refs if r.n]
    out = np.full(len(layouts), np.inf)
    if not refs:
        return out
    ref_grid = np.stack([_grid(r.xy, r.tile_size) for r in refs])
    ref_trees = [cKDTree(r.xy) for r in refs]
    for i, G in enumerate(layouts):
        a: Arrays = arrays(G)
        if a.n == 0:
            continue
        views = _dihedral(a.xy, a.tile_size)
        grids = np.stack([_grid(v, a.tile_size) for v in views])
        d = np.abs(grids[:, None, :] - ref_grid[None, :, :]).sum(-1)  # (8, R)
        k = min(candidates, len(refs))
        best = np.argpartition(d, k - 1, axis=1)[:, :k]
        for v, view in enumerate(views):
            tree = cKDTree(view)
            for r in best[v]:
                out[i] = min(out[i], chamfer(view, refs[r].xy, tree, ref_trees[r]))
    return out


def novelty(layouts: Sequence, references: Sequence, threshold: float = COPY_THRESHOLD_M) -> float:
    """Share of layouts that are not near copies of a reference (see the module docstring)."""
    if not layouts:
        return float("nan")
    return float((nearest_chamfer(layouts, references) >= threshold).mean())
