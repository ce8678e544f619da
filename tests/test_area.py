"""City-scale areas: tiles joined across seams into one network that keeps the hard rules."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from citygen.area import check_area, generate_area
from citygen.area.connect import connect_pieces, open_through_access_roads
from citygen.area.frame import TileSlot, prefix_order
from citygen.area.seams import inner_lines
from citygen.area.tiling import giant_length_share, wavefronts
from citygen.model.checkpoint import load_model
from citygen.errors import UsageError
from citygen.layout import add_street


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def area(model):
    return generate_area(model, 2000, 2000, seed=3)


def seam_nodes(A: nx.Graph) -> list:
    xs, ys = inner_lines(A)
    return [
        n
        for n, d in A.nodes(data=True)
        if np.isclose(d["x"], xs).any() or np.isclose(d["y"], ys).any()
    ]


def test_wavefronts_are_anti_diagonals():
    fronts = wavefronts(3, 2)
    assert fronts == [[(0, 0)], [(0, 1), (1, 0)], [(1, 1), (2, 0)], [(2, 1)]]


def test_transposed_slot_puts_the_fixed_south_side_first():
    slot = TileSlot.at(0, 2, 1000.0)
    assert slot.transpose
    assert slot.fixed_sides == ("S",)
    pts = np.array([[700.0, 2000.0], [200.0, 2000.0]])  # on the area's south side of the tile
    order, pos = prefix_order(slot, pts)
    assert (pos[:, 0] == 0).all()  # the frame's west side
    np.testing.assert_allclose(slot.to_area(pos[order.argsort()] * 1000.0), pts)
    assert order.tolist() == [0, 1]  # west side runs top to bottom: x=700 first


def test_area_has_no_seam_defects_and_keeps_the_rules(area):
    report = check_area(area)
    assert report.total == 0, report
    seams = seam_nodes(area)
    assert seams, "a 2 x 2 km area has streets crossing its inner tile borders"
    assert all(area.degree(n) >= 2 for n in seams)
    assert all(area.nodes[n]["seam"] and not area.nodes[n]["border"] for n in seams)


def test_connectors_join_pieces_and_keep_the_rules(area):
    stats = area.graph["stats"]
    assert stats["connectors"] > 0
    assert stats["giant_length_share"] > stats["giant_length_share_before_connect"]
    assert giant_length_share(area) == pytest.approx(stats["giant_length_share"], abs=1e-4)
    connectors = [e for e in area.edges if area.edges[e].get("connector")]
    assert len(connectors) == stats["connectors"]
    assert all(area.edges[e]["length"] <= 500.0 + 1e-6 for e in connectors)
    total = sum(area.edges[e]["length"] for e in connectors)
    assert stats["connector_length_m"] == pytest.approx(total, abs=0.1)


def _two_streets(gap: float) -> nx.Graph:
    G = nx.Graph(width_m=1000.0, height_m=1000.0, area_tile_m=1000.0)
    for n, (x, y) in enumerate([(100, 100), (100, 400), (100 + gap, 100), (100 + gap, 400)]):
        G.add_node(n, x=float(x), y=float(y), border=False, seam=False)
    add_street(G, 0, 1, "residential")
    add_street(G, 2, 3, "residential")
    return G


def test_connect_pieces_joins_near_pieces_only_without_crossing():
    G = _two_streets(80.0)
    assert connect_pieces(G, max_len=150.0) == 1
    assert nx.is_connected(G)
    assert check_area(G).total == 0
    assert connect_pieces(_two_streets(200.0), max_len=150.0) == 0
    G = _two_streets(80.0)  # a street between them, crossing every straight connector
    for n, (x, y) in ((4, (140, 0)), (5, (140, 1000))):
        G.add_node(n, x=float(x), y=float(y), border=True, seam=False)
    add_street(G, 4, 5, "residential")
    connect_pieces(G, max_len=150.0)
    assert not G.has_edge(0, 2)
    assert check_area(G).counts["crossing"] == 0


def test_outer_edge_streets_end_in_flagged_boundary_nodes(area):
    w, h = area.graph["width_m"], area.graph["height_m"]
    flagged = [n for n, d in area.nodes(data=True) if d["border"]]
    assert flagged
    for n in flagged:
        x, y = area.nodes[n]["x"], area.nodes[n]["y"]
        assert min(x, y, w - x, h - y) == pytest.approx(0.0, abs=1e-6)
        assert area.degree(n) >= 1


def test_same_seed_same_area_other_seed_other_area(model, area):
    again = generate_area(model, 2000, 2000, seed=3)
    key = lambda G: sorted((round(d["x"], 6), round(d["y"], 6)) for _, d in G.nodes(data=True))  # noqa: E731
    assert key(again) == key(area)
    assert sorted(map(sorted, again.edges)) == sorted(map(sorted, area.edges))
    other = generate_area(model, 2000, 2000, seed=4)
    assert key(other) != key(area)


def test_area_not_a_multiple_of_the_tile_is_cut_cleanly(model):
    A = generate_area(model, 1500, 1200, seed=1)
    xy = np.array([(d["x"], d["y"]) for _, d in A.nodes(data=True)])
    assert (xy >= -1e-9).all()
    assert (xy <= np.array([1500, 1200]) + 1e-9).all()
    assert check_area(A).total == 0


def _seam_node_with_streets_on_both_sides(A: nx.Graph):
    for n in seam_nodes(A):
        if A.degree(n) == 2:
            return n
    raise AssertionError("no seam node")


def test_seam_checker_fails_on_a_street_that_stops_at_the_seam(area):
    A = area.copy()
    n = _seam_node_with_streets_on_both_sides(A)
    A.remove_edge(n, next(iter(A.neighbors(n))))
    assert check_area(A).counts["unjoined"] >= 1


def test_seam_checker_fails_on_a_duplicate_node_at_the_seam(area):
    A = area.copy()
    n = _seam_node_with_streets_on_both_sides(A)
    m = max(A.nodes) + 1
    A.add_node(m, x=A.nodes[n]["x"] + 0.5, y=A.nodes[n]["y"], border=False, seam=False)
    add_street(A, m, next(iter(A.neighbors(n))), "residential")
    counts = check_area(A).counts
    assert counts["near_duplicate"] >= 1


def test_seam_checker_fails_on_streets_crossing_at_a_seam(area):
    A = area.copy()
    # a street between two far nodes, through every seam, crosses streets on the way
    far = sorted(A.nodes, key=lambda k: A.nodes[k]["x"] + A.nodes[k]["y"])
    add_street(A, far[0], far[-1], "residential")
    assert check_area(A).counts["crossing"] >= 1


@pytest.mark.parametrize("size", [(0, 1000), (-5, 1000), (float("nan"), 1000), (30000, 30000)])
def test_bad_area_sizes_are_refused(model, size):
    with pytest.raises(UsageError):
        generate_area(model, *size)


def test_service_streets_that_link_parts_become_residential_spurs_stay():
    G = nx.Graph()
    for n, x in enumerate([0, 100, 200, 300, 400]):
        G.add_node(n, x=float(x), y=0.0)
    G.add_node(5, x=200.0, y=100.0)
    add_street(G, 0, 1, "residential")
    add_street(G, 1, 2, "service")  # 1-2-3: the only link between 0-1 and 3-4
    add_street(G, 2, 3, "service")
    add_street(G, 3, 4, "primary")
    add_street(G, 4, 5, "service")  # a driveway off 4: stays
    assert open_through_access_roads(G) == 2
    assert G.edges[1, 2]["highway"] == G.edges[2, 3]["highway"] == "residential"
    assert G.edges[2, 3]["reclassed"]
    assert G.edges[4, 5]["highway"] == "service"


def test_a_crossing_street_keeps_its_class_across_the_seam(area):
    seams = [n for n in seam_nodes(area) if area.degree(n) == 2]
    same = [n for n in seams if len({area.edges[n, m]["highway"] for m in area.neighbors(n)}) == 1]
    assert seams
    assert len(same) >= 0.9 * len(seams)


def test_carry_class_follows_the_street_to_its_first_junction():
    from citygen.area.seam_rules import carry_class

    G = nx.Graph()
    for n, (x, y) in enumerate([(0, 0), (10, 0), (20, 0), (30, 0), (30, 10), (30, -10)]):
        G.add_node(n, x=float(x), y=float(y), border=n == 0)
    for u, v in [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5)]:
        add_street(G, u, v, "residential")
    assert carry_class(G, 0, "primary") == 3
    assert [G.edges[e]["highway"] for e in [(0, 1), (1, 2), (2, 3)]] == ["primary"] * 3
    assert G.edges[3, 4]["highway"] == G.edges[3, 5]["highway"] == "residential"


def test_carry_class_splits_a_street_between_two_crossings():
    """One street from crossing 0 to crossing 4: each crossing's half takes its own class."""
    from citygen.area.seam_rules import carry_class

    G = nx.Graph()
    for n in range(5):
        G.add_node(n, x=10.0 * n, y=0.0, border=n in (0, 4))
    for u in range(4):
        add_street(G, u, u + 1, "other")
    assert carry_class(G, 0, "tertiary", fixed=(0, 4)) == 2
    assert carry_class(G, 4, "other", fixed=(0, 4)) == 0
    assert [G.edges[u, u + 1]["highway"] for u in range(4)] == ["tertiary"] * 2 + ["other"] * 2
    assert carry_class(G, 4, "primary") == 4  # without fixed nodes the whole street, as before


def test_a_street_too_close_to_a_node_is_removed_last() -> None:
    from citygen.area.repair import drop_clearance_breaks

    A = nx.Graph()
    for n, (x, y) in enumerate([(0, 0), (100, 0), (50, 1.5), (50, 40), (200, 0)]):
        A.add_node(n, x=float(x), y=float(y))
    A.add_edge(0, 1, highway="residential", length=100.0)  # passes 1.5 m from node 2
    A.add_edge(2, 3, highway="residential", length=38.5)
    A.add_edge(1, 4, highway="residential", length=100.0)
    assert drop_clearance_breaks(A, 2.0) == 1
    assert not A.has_edge(0, 1)
    assert A.has_edge(2, 3)
    assert A.has_edge(1, 4)
    assert 0 not in A  # left without a street
    assert drop_clearance_breaks(A, 2.0) == 0
