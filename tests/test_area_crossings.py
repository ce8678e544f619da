"""Joining the streets that cross an infill site's boundary to the new streets inside."""

from __future__ import annotations

import networkx as nx
import pytest
import shapely

from citygen.area.crossings import join_fixed
from citygen.layout import add_street
from citygen.sampling.loop import SampleConfig

SITE = shapely.box(-100.0, -200.0, 500.0, 200.0)


def merged(new_nodes: dict[int, tuple[float, float]], new_edges: list) -> nx.Graph:
    """A real street from the south ending at fixed node 1 on the site boundary, plus new ones."""
    M = nx.Graph()
    M.add_node(0, x=200.0, y=-400.0, real=True)
    M.add_node(1, x=200.0, y=-200.0, real=True, fixed=True)
    add_street(M, 0, 1, "secondary")
    M.edges[0, 1]["generated"] = False
    for n, (x, y) in new_nodes.items():
        M.add_node(n, x=x, y=y, real=False)
    for u, v in new_edges:
        add_street(M, u, v, "residential")
        M.edges[u, v]["generated"] = True
    return M


def test_a_crossing_meets_a_new_street_in_a_t_junction():
    M = merged({10: (0.0, 0.0), 11: (400.0, 0.0)}, [(10, 11)])
    gen = {10, 11}
    assert join_fixed(M, [1], gen, SITE, SampleConfig()) == []
    (tee,) = gen - {10, 11}
    assert (M.nodes[tee]["x"], M.nodes[tee]["y"]) == pytest.approx((200.0, 0.0))
    assert sorted(M.neighbors(tee)) == [1, 10, 11]
    join = M.edges[1, tee]
    assert join["generated"]
    assert join["connector"]
    assert join["highway"] == "secondary"  # the class of the street it continues
    assert join["length"] == pytest.approx(200.0)
    halves = M.edges[10, tee]["length"] + M.edges[tee, 11]["length"]
    assert halves == pytest.approx(400.0)  # the split street keeps its length
    assert not M.has_edge(10, 11)
    assert M.edges[10, tee]["generated"]
    assert not M.edges[10, tee].get("connector")


def test_a_nearer_node_wins_over_a_t_junction():
    M = merged({10: (190.0, -50.0), 11: (190.0, 100.0)}, [(10, 11)])
    assert join_fixed(M, [1], {10, 11}, SITE, SampleConfig()) == []
    assert M.has_edge(1, 10)  # 150 m straight ahead, nearer than any point of 10-11


def test_no_join_crosses_a_street():
    # the new street 10-11 is walled off from node 1 by a real street along y = -100
    M = merged({10: (0.0, 0.0), 11: (400.0, 0.0)}, [(10, 11)])
    for n, x in ((20, -150.0), (21, 550.0)):
        M.add_node(n, x=x, y=-100.0, real=True)
    add_street(M, 20, 21, "residential")
    M.edges[20, 21]["generated"] = False
    assert join_fixed(M, [1], {10, 11}, SITE, SampleConfig()) == [1]
    assert M.degree(1) == 1


def test_a_corner_street_left_at_a_seam_is_dropped_once_every_tile_has_joined():
    """A street cutting a tile's corner joins two seam nodes (seed 0, 10 x 10 km). When a
    later tile drops the crossing at one end, the other end must not stay as a street that
    stops at the seam; but while tiles of the same wavefront still sample it may be their
    fixed node, so it is removed only by the final pass."""
    from citygen.area.seam_rules import drop_crossing, drop_dangling_seams
    from citygen.area.seams import check_area

    A = nx.Graph(width_m=3000.0, height_m=3000.0, area_tile_m=1000.0)
    nodes = {
        1: (900.0, 1100.0, False),
        2: (960.0, 1040.0, False),
        3: (973.9, 1000.0, True),  # on the seam y = 1000
        4: (1000.0, 964.9, True),  # on the seam x = 1000
        5: (1047.3, 1000.0, True),  # on y = 1000, waiting for the tile above
    }
    for n, (x, y, seam) in nodes.items():
        A.add_node(n, x=x, y=y, border=False, seam=seam)
    for u, v in [(1, 2), (2, 3), (3, 4), (4, 5)]:
        add_street(A, u, v, "residential")
    assert check_area(A).counts["unjoined"] == 1  # node 5, still waiting
    assert drop_crossing(A, 5) == 1
    assert 4 in A  # it may be a fixed node of a tile still sampling: kept until the end
    assert check_area(A).counts["unjoined"] == 1
    assert drop_dangling_seams(A) == 2  # 4, then 3 (left with one street)
    assert set(A.nodes) == {1, 2}
    assert check_area(A).total == 0


def test_dropping_a_crossing_keeps_a_seam_node_another_tile_still_continues():
    """A corner street from seam node 2 (fixed for the tile east of it) to seam node 1 (fixed
    for the tile north of it, same wavefront): dropping 1 must leave 2 for its tile."""
    from citygen.area.seam_rules import drop_crossing, drop_dangling_seams

    A = nx.Graph(width_m=3000.0, height_m=3000.0, area_tile_m=1000.0)
    A.add_node(1, x=973.9, y=1000.0, border=False, seam=True)
    A.add_node(2, x=1000.0, y=964.9, border=False, seam=True)
    add_street(A, 1, 2, "residential")
    assert drop_crossing(A, 1) == 1
    assert 2 in A and A.degree(2) == 0
    assert drop_dangling_seams(A) == 1 and A.number_of_nodes() == 0

