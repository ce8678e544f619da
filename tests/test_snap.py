"""Joining near-miss dead ends: T junctions made, rules kept, nothing else touched."""

import networkx as nx
import pytest

from citygen.layout import add_street, new_layout, total_length_m
from citygen.objectives.validity import is_valid
from citygen.sampling.snap import snap_dead_ends


def layout(points, edges, border=(), classes=None):
    G = new_layout(1000.0)
    for k, (x, y) in points.items():
        G.add_node(k, x=float(x), y=float(y), border=k in border)
    for i, (u, v) in enumerate(edges):
        add_street(G, u, v, (classes or {}).get(i, "residential"))
    return G


def t_gap(gap: float) -> nx.Graph:
    """A through street along y=500 and a street from the south stopping ``gap`` m short of it."""
    return layout({0: (300, 500), 1: (700, 500), 2: (480, 200), 3: (480, 500 - gap)}, [(0, 1), (2, 3)], classes={0: "primary"})


def test_short_gap_becomes_a_t_junction():
    G = t_gap(15.0)
    H = snap_dead_ends(G)
    assert G.number_of_edges() == 2  # the input is not changed
    new = set(H.nodes) - set(G.nodes)
    assert len(new) == 1
    x = new.pop()
    assert H.nodes[x]["y"] == pytest.approx(500.0) and H.nodes[x]["x"] == pytest.approx(480.0)
    assert sorted(H.neighbors(x)) == [0, 1, 3]
    assert H.edges[0, x]["highway"] == H.edges[x, 1]["highway"] == "primary"
    assert total_length_m(H) == pytest.approx(total_length_m(G) + 15.0)
    assert is_valid(H)


def test_gap_shorter_than_min_dist_moves_the_end_onto_the_street():
    H = snap_dead_ends(t_gap(4.0))
    assert set(H.nodes) == {0, 1, 2, 3}
    assert (H.nodes[3]["x"], H.nodes[3]["y"]) == pytest.approx((480.0, 500.0))
    assert sorted(H.neighbors(3)) == [0, 1, 2]
    assert is_valid(H)


def test_meeting_near_an_end_joins_that_end():
    G = layout({0: (475, 500), 1: (700, 500), 2: (480, 200), 3: (480, 480)}, [(0, 1), (2, 3)])
    H = snap_dead_ends(G)
    assert H.has_edge(3, 0) and set(H.nodes) == set(G.nodes)
    assert is_valid(H)


def test_far_gaps_borders_and_crossings_are_left_alone():
    assert snap_dead_ends(t_gap(40.0)).number_of_edges() == 2
    border = layout({0: (300, 500), 1: (700, 500), 2: (480, 200), 3: (480, 485)}, [(0, 1), (2, 3)], border={3})
    assert snap_dead_ends(border).number_of_edges() == 2
    # a third street lies between the dead end and the street ahead: joining would cross it
    G = layout({0: (300, 500), 1: (700, 500), 2: (480, 200), 3: (480, 480), 4: (470, 490), 5: (300, 490)},
               [(0, 1), (2, 3), (4, 5)])
    H = snap_dead_ends(G)
    assert is_valid(H)
    assert not any(H.has_edge(3, w) for w in H.nodes if w != 2) or is_valid(H)
    assert snap_dead_ends(t_gap(15.0), snap=0).number_of_edges() == 2


@pytest.mark.parametrize(("spokes", "joined"), [(7, True), (8, False)])
def test_a_node_never_gets_more_than_eight_streets(spokes, joined):
    """A dead end pointing at a junction joins it, unless the junction already has 8 streets
    (the sampler's cap and the largest degree in the corpus)."""
    import math

    def at(r, deg):
        return (500 + r * math.cos(math.radians(deg)), 500 + r * math.sin(math.radians(deg)))

    points = {0: (500, 500)} | {k: at(100, 45 * (k - 1)) for k in range(1, spokes + 1)}
    points |= {10: at(20, 22.5), 11: at(80, 22.5)}
    G = layout(points, [(0, k) for k in range(1, spokes + 1)] + [(11, 10)])
    H = snap_dead_ends(G)
    assert H.has_edge(10, 0) is joined
    assert max(d for _, d in H.degree()) <= 8
    assert is_valid(H)
