"""data_prep.split: train/val/test by area, whole blocks of tiles, deterministic."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from data_prep.split import DEFAULT_FRACTIONS, SPLITS, assign_blocks, block_of


def test_block_of_groups_grid_tiles_into_square_blocks() -> None:
    assert block_of((0, 0), 3) == (0, 0)
    assert block_of((2, 2), 3) == (0, 0)
    assert block_of((3, 2), 3) == (1, 0)
    assert block_of((4, 7), 3) == (1, 2)
    assert block_of((4, 7), 1) == (4, 7)


def test_every_block_goes_to_one_split_with_the_target_shares() -> None:
    counts = {("city", (bx, by)): 9 for bx in range(10) for by in range(10)}
    split = assign_blocks(counts)
    assert set(split) == set(counts)
    assert set(split.values()) == set(SPLITS)
    tiles = {s: sum(counts[k] for k, v in split.items() if v == s) for s in SPLITS}
    assert tiles == {"train": 720, "val": 90, "test": 90}


def test_split_is_deterministic_and_ignores_input_order() -> None:
    counts = {
        (r, (bx, by)): 1 + (bx * 7 + by) % 9
        for r in ("a", "b")
        for bx in range(6)
        for by in range(4)
    }
    first = assign_blocks(counts)
    items = list(counts.items())
    random.Random(0).shuffle(items)
    assert assign_blocks(dict(items)) == first
    assert assign_blocks(counts, (0.8, 0.1, 0.1)) == first


def test_split_depends_on_region_names_not_on_their_order() -> None:
    # the block order is a hash of (region, block): renaming a region reshuffles its blocks
    counts = {("a", (i, 0)): 5 for i in range(30)}
    renamed = {("z", (i, 0)): 5 for i in range(30)}
    a = [assign_blocks(counts)[("a", (i, 0))] for i in range(30)]
    z = [assign_blocks(renamed)[("z", (i, 0))] for i in range(30)]
    assert a != z


def test_other_fractions_are_honoured() -> None:
    counts = {("r", (i, 0)): 1 for i in range(100)}
    split = assign_blocks(counts, (0.5, 0.25, 0.25))
    assert sorted(split.values()).count("train") == 50
    assert sorted(split.values()).count("val") == 25


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=60),
    fractions=st.sampled_from(
        [DEFAULT_FRACTIONS, (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.34, 0.33, 0.33)]
    ),
)
def test_shares_stay_within_one_block_of_the_target(sizes: list[int], fractions: tuple) -> None:
    counts = {("r", (i, i % 3)): n for i, n in enumerate(sizes)}
    split = assign_blocks(counts, fractions)
    total = sum(sizes)
    for s, f in zip(SPLITS, fractions, strict=True):
        got = sum(counts[k] for k, v in split.items() if v == s)
        assert abs(got - f * total) <= 4 / 3 * max(sizes) + 1e-9
        if f == 0.0:
            assert got == 0
