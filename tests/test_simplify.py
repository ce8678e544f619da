"""Sampled streets are drawn as prepare draws real ones: bends within 5 m dropped, rules kept."""

import networkx as nx
import pytest

from citygen.layout import add_street, new_layout
from citygen.sampling.loop import SampleConfig
from citygen.sampling.simplify import simplify_bends
from citygen.errors import UsageError


def _layout(points: list[tuple[float, float]], classes: list[str] | None = None, border=()) -> nx.Graph:
    G = new_layout(1000.0, seed=0, index=0, source="test")
    for i, (x, y) in enumerate(points):
        G.add_node(i, x=x, y=y, border=i in border)
    for i in range(len(points) - 1):
        add_street(G, i, i + 1, (classes or ["residential"] * len(points))[i])
    return G


def test_a_wiggly_straight_street_becomes_one_street():
    G = _layout([(100, 100), (200, 102), (300, 99), (400, 101), (500, 100)])
    H = simplify_bends(G, 5.0)
    assert sorted(H.nodes) == [0, 4] and H.has_edge(0, 4)
    assert H.edges[0, 4]["length"] == pytest.approx(400.0)
    assert G.number_of_nodes() == 5  # the input is left as it was


def test_a_real_bend_is_kept():
    G = _layout([(100, 100), (200, 131), (300, 160), (400, 128), (500, 100)])
    H = simplify_bends(G, 5.0)
    assert 2 in H.nodes and 1 not in H.nodes and 3 not in H.nodes
    assert nx.has_path(H, 0, 4)


def test_class_changes_and_junctions_stay():
    G = _layout([(100, 100), (200, 101), (300, 100)], classes=["residential", "primary"])
    assert simplify_bends(G, 5.0).number_of_nodes() == 3
    G = _layout([(100, 100), (200, 101), (300, 100)])
    G.add_node(9, x=200, y=300, border=False)
    add_street(G, 1, 9, "residential")  # node 1 is a junction now
    assert simplify_bends(G, 5.0).number_of_nodes() == 4


def test_a_chord_that_would_break_a_rule_is_not_taken():
    # the chord 0-2 would pass 1 m from node 5 (clearance 2 m): the bend is kept
    G = _layout([(100, 100), (200, 104), (300, 100)])
    G.add_node(5, x=200, y=101, border=False)
    G.add_node(6, x=200, y=50, border=False)
    add_street(G, 5, 6, "residential")
    H = simplify_bends(G, 5.0)
    assert 1 in H.nodes
    # without that node it is dropped
    G.remove_node(5)
    assert 1 not in simplify_bends(G, 5.0).nodes


def test_border_nodes_are_never_dropped_and_zero_keeps_everything():
    G = _layout([(0, 100), (100, 101), (200, 100)], border={1})
    assert simplify_bends(G, 5.0).number_of_nodes() == 3
    G = _layout([(100, 100), (200, 101), (300, 100)])
    assert simplify_bends(G, 0.0) is G


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_tolerance_is_refused(bad):
    with pytest.raises(UsageError, match="bend tolerance"):
        SampleConfig(bend_tolerance=bad)
