"""The decision chain of a tile is a bijection with the tile (citygen/model/encode.py)."""

import math

import networkx as nx
import numpy as np
import pytest

from citygen.layout import add_street, new_layout
from citygen.model.encode import BORDER, CHILD, END, ROOT, Binning, encode, parents_of
from data_prep.order import to_sequence


def _tile() -> nx.Graph:
    """A 100 m tile: a street from the west border to a T junction, plus a lone pair."""
    G = new_layout(100.0)
    pts = {0: (0, 50, True), 1: (30, 50, False), 2: (60, 50, False), 3: (60, 80, False),
           4: (60, 20, False), 5: (85, 85, False), 6: (90, 70, False)}
    for n, (x, y, b) in pts.items():
        G.add_node(n, x=float(x), y=float(y), border=b)
    for u, v in [(0, 1), (1, 2), (2, 3), (2, 4), (5, 6)]:
        add_street(G, u, v, "residential")
    return G


def test_types_parents_and_end():
    e = encode(to_sequence(_tile()), Binning())
    assert e.types[-1] == END
    assert e.types[0] == BORDER
    # everything reachable from the border is a child of its smallest-index neighbour
    assert list(e.types[1:5]) == [CHILD] * 4
    assert list(e.parent[:5]) == [-1, 0, 1, 2, 2]
    # the separate pair: one root (no earlier neighbour), then its child
    assert e.types[5] == ROOT and e.types[6] == CHILD and e.parent[6] == 5


def test_relative_geometry_is_turtle_like():
    b = Binning()
    e = encode(to_sequence(_tile()), b)
    # node 2 continues straight east from node 1, which came east from border node 0
    assert e.angle_bin[2] == b.angle_bin(np.array([0.0]))[0]
    r = np.hypot(*e.rel[2])
    assert r == pytest.approx(0.3)
    assert e.dist_bin[2] == b.dist_bin(np.array([r]))[0]
    # the two branches of the T are at +90 and -90 degrees from the incoming street
    assert {int(e.angle_bin[3]), int(e.angle_bin[4])} == {
        int(b.angle_bin(np.array([math.pi / 2]))[0]),
        int(b.angle_bin(np.array([-math.pi / 2]))[0]),
    }
    # border node 0 is on the west side: its reference is the inward normal (east)
    assert e.ref_angle[0] == pytest.approx(0.0)
    # its perimeter coordinate (west side, from the NW corner down) is its gap from 0
    assert e.gap[0] == pytest.approx(0.5) and e.remaining[0] == 4.0


def test_parent_is_smallest_earlier_neighbour():
    border = np.array([True, True, False, False])
    edges = np.array([[2, 1], [2, 0], [3, 2], [3, 1]])
    assert list(parents_of(4, border, edges)) == [-1, -1, 0, 1]


def test_bins_cover_range_and_clamp():
    b = Binning()
    assert b.dist_bin(np.array([1e-9]))[0] == 0
    assert b.dist_bin(np.array([10.0]))[0] == b.dist_bins - 1
    assert b.angle_bin(np.array([2 * math.pi - 1e-12]))[0] == b.angle_bins - 1
    assert b.gap_bin(np.array([3.9999999]))[0] == b.gap_bins - 1
    assert b.gap_bin(np.array([0.0]))[0] == 0
    assert b.gap_bin(np.array([b.gap_min * 1.0001]))[0] == 1


def test_rejects_non_canonical_sequence():
    seq = to_sequence(_tile())
    bad = type(seq)(pos=seq.pos[::-1], border=seq.border[::-1], edges=seq.edges,
                    classes=seq.classes, tile_size=seq.tile_size)
    with pytest.raises(ValueError, match="border nodes must come first"):
        encode(bad, Binning())
