"""One style field over an area: neighbouring tiles take similar styles, mirrored frames too."""

from __future__ import annotations

import numpy as np

from citygen.area.styles import NEAREST, StyleField, in_frame, next_style, tile_rng
from citygen.style import STYLE_DIM, STYLE_KEYS


def bank(k: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.random((k, STYLE_DIM))
    out[:, 0] *= 200.0  # junction density per km2
    return out


def test_a_tile_takes_a_bank_row_near_its_neighbour():
    B = bank()
    scale = B.std(axis=0)
    ref = B[7]
    dist = (((B - ref) / scale) ** 2).sum(axis=1)
    nearest = set(np.argsort(dist)[:NEAREST].tolist())
    for s in range(50):
        row = next_style(B, [ref], tile_rng(s, 1, 0))
        (i,) = np.flatnonzero((row == B).all(axis=1))
        assert int(i) in nearest


def test_neighbouring_tiles_are_closer_in_style_than_random_tiles():
    B = bank()
    field = StyleField(B, seed=3)
    rows = {
        (c, r): field.style(c, r)
        for d in range(9)
        for c in range(5)
        for r in range(5)
        if c + r == d
    }
    scale = B.std(axis=0)

    def dist(a, b):
        return float(np.sqrt((((a - b) / scale) ** 2).sum()))

    near = np.mean([dist(rows[c, r], rows[c + 1, r]) for c in range(4) for r in range(5)])
    rng = np.random.default_rng(1)
    rand = np.mean([dist(*B[rng.choice(len(B), 2, replace=False)]) for _ in range(200)])
    assert near < 0.75 * rand  # independent draws: 1.0


def test_the_same_seed_gives_the_same_field():
    B = bank()
    a, b = StyleField(B, seed=5), StyleField(B, seed=5)
    for c, r in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        assert np.array_equal(a.style(c, r), b.style(c, r))


def test_a_transposed_tile_sees_the_dominant_bearing_mirrored():
    row = np.arange(STYLE_DIM, dtype=float)
    got = in_frame(row, transpose=True)
    i = STYLE_KEYS.index("grid_sin")
    assert got[i] == -row[i]
    assert np.array_equal(np.delete(got, i), np.delete(row, i))
    assert np.array_equal(in_frame(row, transpose=False), row)
