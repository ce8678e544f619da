"""Train / validation / test split by area: whole blocks of tiles go to one split.

Tiles are grouped into square blocks of ``block`` x ``block`` grid tiles. Blocks are taken in
an order fixed by a hash of their name, and each goes to the split furthest below its target
share of tiles. Test tiles are therefore never overlapping copies of training tiles, and the
split is deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence as Seq

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The split of every tile of a region held out of training as a whole (``--holdout-regions``).
HOLDOUT = "holdout"
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def block_of(grid: tuple[int, int], block: int) -> tuple[int, int]:
    """Block index of a grid tile index."""
    return grid[0] // block, grid[1] // block


def _block_hash(region: str, blk: tuple[int, int]) -> str:
    return hashlib.sha256(f"{region}:{blk[0]}:{blk[1]}".encode()).hexdigest()


def assign_blocks(
    counts: dict[tuple[str, tuple[int, int]], int],
    fractions: Seq[float] = DEFAULT_FRACTIONS,
) -> dict[tuple[str, tuple[int, int]], str]:
    """Assign each block to a split so that tile shares approach ``fractions``.

    Parameters
    ----------
    counts
        Tiles per ``(region, block index)``.
    fractions
        Target shares of tiles for train, val and test; they must sum to 1.

    Returns
    -------
    dict
        Split name per block.
    """
    assigned = dict.fromkeys(SPLITS, 0)
    total = 0
    out: dict[tuple[str, tuple[int, int]], str] = {}
    for key in sorted(counts, key=lambda k: _block_hash(*k)):
        n = counts[key]
        total += n
        deficits = [fractions[i] * total - assigned[s] for i, s in enumerate(SPLITS)]
        split = SPLITS[max(range(len(SPLITS)), key=lambda i: (deficits[i], -i))]
        assigned[split] += n
        out[key] = split
    return out
