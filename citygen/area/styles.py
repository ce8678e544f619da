"""One style field over an area: neighbouring tiles take similar styles (a style model's).

A style model (:mod:`citygen.style`) draws every tile's style from a bank of real tiles. Drawn
independently, the tiles of an area were a patchwork: a dense grid turned one way next to a
sparse organic tile turned another, so every 1 km window across a seam mixed two to four
unrelated orientations. Real places change style gradually; so here each tile takes one of
the :data:`NEAREST` bank rows nearest (in units of the bank's spread) to the style of one of its
finished west and south neighbours, at random; the first tile takes a random row. This is a
random walk on the bank's nearest-neighbour graph, so the area drifts from one style to
another over a few kilometres and, over many areas, the styles are spread as the bank's are
(choosing the row nearest to the neighbours' *mean* style instead pulled every area towards the
bank's middle: weakly ordered tiles, orientation order 0.17 against 0.33 for single tiles).

A tile sampled in the transposed frame (:class:`citygen.area.frame.TileSlot`) sees the area
mirrored, so its dominant bearing is mirrored too: ``grid_sin`` changes sign (a bearing
``theta`` from north becomes ``90 - theta`` degrees; ``sin 4 theta`` flips, ``cos`` stays).
"""

from __future__ import annotations

import numpy as np

from citygen.style import STYLE_KEYS, check_bank

#: Bank rows near a neighbour's style that a tile chooses from.
NEAREST = 16
_GRID_SIN = STYLE_KEYS.index("grid_sin")


def tile_rng(seed: int, col: int, row: int) -> np.random.Generator:
    """Random stream of one tile's style draw (depends on the seed and the tile alone)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, col, row, 0x5717])


def next_style(
    bank: np.ndarray, neighbours: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Raw style row of a tile from its finished neighbours' rows (see the module docstring).

    Parameters
    ----------
    bank
        Raw style rows to draw from, ``(k, STYLE_DIM)``.
    neighbours
        Raw style rows of the finished west and south neighbours (area frame); may be empty.
    rng
        The tile's random stream.

    Returns
    -------
    numpy.ndarray
        A bank row, ``(STYLE_DIM,)``, in the area frame.
    """
    if not neighbours:
        return bank[int(rng.integers(len(bank)))].copy()
    scale = bank.std(axis=0) + 1e-9
    ref = neighbours[int(rng.integers(len(neighbours)))]
    dist = (((bank - ref) / scale) ** 2).sum(axis=1)
    k = min(NEAREST, len(bank))
    near = np.argpartition(dist, k - 1)[:k]
    return bank[int(rng.choice(near))].copy()


def in_frame(row: np.ndarray, transpose: bool) -> np.ndarray:
    """Return an area-frame style row as the tile's (transposed or not) frame sees it."""
    out = np.asarray(row, dtype=np.float64).copy()
    if transpose:
        out[_GRID_SIN] = -out[_GRID_SIN]
    return out


class StyleField:
    """The styles of an area's tiles, drawn in wavefront order (see the module docstring)."""

    def __init__(self, bank: np.ndarray, seed: int) -> None:
        self.bank = check_bank(bank, "style bank")
        self.seed = seed
        self.rows: dict[tuple[int, int], np.ndarray] = {}

    def style(self, col: int, row: int) -> np.ndarray:
        """Raw style row of tile ``(col, row)`` in the area frame (drawn on first use)."""
        if (col, row) not in self.rows:
            near = [self.rows[k] for k in ((col - 1, row), (col, row - 1)) if k in self.rows]
            self.rows[col, row] = next_style(self.bank, near, tile_rng(self.seed, col, row))
        return self.rows[col, row]


def area_field(model: object, config: object, seed: int) -> StyleField | None:
    """Return the style field of an area, or None where tiles draw styles as single tiles do.

    None for a model without style input, and when ``config`` fixes ``density`` or ``grid``
    (every tile then takes those values anyway). The bank is ``config.style_bank`` (``--like``)
    or the model's own.
    """
    if not getattr(getattr(model, "config", None), "style_dim", 0):
        return None
    if getattr(config, "density", None) is not None or getattr(config, "grid", None) is not None:
        return None
    bank = getattr(config, "style_bank", None)
    bank = bank if bank is not None else getattr(model, "style_bank", None)
    return StyleField(np.asarray(bank, dtype=np.float64), seed) if bank is not None else None
