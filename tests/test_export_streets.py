"""Street segments between junctions: hand-made layouts with known answers."""

from __future__ import annotations

import networkx as nx
import pytest

from citygen.layout import add_street, new_layout, total_length_m
from export.geo import Placement
from export.streets import chains, merge_coincident, street_network


def layout(
    points: dict[int, tuple[float, float]], edges: list[tuple], border: tuple[int, ...] = ()
) -> nx.Graph:
    """A 1000 m layout from node positions and ``(u, v)`` or ``(u, v, class)`` edges."""
    G = new_layout(1000.0)
    for n, (x, y) in points.items():
        G.add_node(n, x=float(x), y=float(y), border=n in border)
    for e in edges:
        add_street(G, e[0], e[1], e[2] if len(e) > 2 else "residential")
    return G


def grid_2x2() -> nx.Graph:
    """Two by two blocks of 100 m: 9 nodes, 12 edges, 1200 m; corners are bends."""
    pts = {3 * j + i: (400 + 100 * i, 400 + 100 * j) for j in range(3) for i in range(3)}
    edges = [(n, n + 1) for n in pts if n % 3 < 2] + [(n, n + 3) for n in pts if n < 6]
    return layout(pts, edges)


def _covered_edges(G: nx.Graph) -> list[frozenset]:
    return sorted(
        (frozenset(p) for c in chains(G) for p in zip(c.nodes[:-1], c.nodes[1:], strict=True)),
        key=sorted,
    )


def test_grid_gives_eight_segments_between_five_junctions() -> None:
    G = grid_2x2()
    segs = chains(G)
    assert sorted(round(c.length_m, 9) for c in segs) == [100.0] * 4 + [200.0] * 4
    assert {n for c in segs for n in (c.nodes[0], c.nodes[-1])} == {1, 3, 4, 5, 7}
    assert all(len(c.nodes) == 3 for c in segs if c.length_m > 150)  # mid, corner, mid
    assert _covered_edges(G) == sorted((frozenset(e) for e in G.edges), key=sorted)


def test_class_change_and_border_split_a_chain() -> None:
    pts = {0: (0, 500), 1: (300, 500), 2: (600, 520), 3: (900, 500), 4: (1000, 480)}
    G = layout(pts, [(0, 1, "primary"), (1, 2, "primary"), (2, 3, "tertiary"), (3, 4, "tertiary")])
    assert [c.nodes for c in chains(G)] == [(0, 1, 2), (2, 3, 4)]
    G.nodes[1]["border"] = True  # a street touching the border in the middle ends there too
    assert [c.nodes for c in chains(G)] == [(0, 1), (1, 2), (2, 3, 4)]


def test_loop_at_a_junction_is_split_at_its_middle() -> None:
    pts = {0: (500, 100), 1: (500, 500), 2: (400, 700), 3: (500, 800), 4: (600, 700)}
    G = layout(pts, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 1)])
    segs = chains(G)
    assert [c.nodes for c in segs] == [(0, 1), (1, 2, 3), (3, 4, 1)]
    assert all(c.nodes[0] != c.nodes[-1] for c in segs)
    assert sum(c.length_m for c in segs) == pytest.approx(total_length_m(G), rel=1e-12)


def test_isolated_ring_becomes_two_segments_and_lone_nodes_are_dropped() -> None:
    pts = {5: (100, 100), 6: (200, 100), 7: (200, 200), 8: (100, 200), 9: (700, 700)}
    G = layout(pts, [(5, 6), (6, 7), (7, 8), (8, 5)])
    assert [c.nodes for c in chains(G)] == [(5, 6, 7), (7, 8, 5)]
    net = street_network(G, Placement.at_center((60.0, 25.0), 1000.0))
    assert [j.id for j in net.junctions] == [5, 7]
    assert [j.degree for j in net.junctions] == [2, 2]
    assert net.total_length_m() == pytest.approx(400.0, rel=1e-12)


def test_merge_coincident_turns_a_spike_into_a_stub() -> None:
    # 0 -> 1 -> 2 (9 m away) -> 3 (where 1 is) -> 4: a street running out and back
    pts = {0: (100, 500), 1: (400, 500), 2: (400, 509), 3: (400, 500), 4: (700, 500)}
    G = layout(pts, [(0, 1), (1, 2), (2, 3), (3, 4)])
    H = merge_coincident(G)
    assert sorted(H.nodes) == [0, 1, 2, 4]
    assert sorted(map(sorted, H.edges)) == [[0, 1], [1, 2], [1, 4]]
    assert total_length_m(H) == pytest.approx(total_length_m(G) - 9.0)
    assert [c.nodes for c in chains(H)] == [(0, 1), (1, 2), (1, 4)]
    assert G.number_of_nodes() == 5  # the input is not modified


def test_merge_coincident_drops_a_street_drawn_twice_and_keeps_the_better_class() -> None:
    pts = {0: (100, 100), 1: (500, 300), 2: (500, 300 + 4e-4), 3: (900, 100)}
    G = layout(pts, [(0, 1, "service"), (1, 3, "service"), (0, 2, "primary"), (2, 3, "primary")])
    G.nodes[2]["border"] = True
    H = merge_coincident(G)
    assert sorted(H.nodes) == [0, 1, 3]
    assert {H.edges[e]["highway"] for e in H.edges} == {"primary"}
    assert H.nodes[1]["border"] is True
    plain = grid_2x2()
    assert merge_coincident(plain) is plain


def test_street_network_shares_junction_points_between_streets() -> None:
    net = street_network(grid_2x2(), Placement.at_center((60.1699, 24.9384), 1000.0), {"seed": 1})
    where = {j.id: (j.lon, j.lat) for j in net.junctions}
    for s in net.streets:
        assert s.coords[0] == where[s.u]
        assert s.coords[-1] == where[s.v]
        assert len(set(s.coords)) == len(s.coords)
    assert {j.id: j.degree for j in net.junctions} == {1: 3, 3: 3, 4: 4, 5: 3, 7: 3}
    assert net.metadata["seed"] == 1
    assert net.metadata["center"] == pytest.approx([60.1699, 24.9384])
    assert net.total_length_m() == pytest.approx(1200.0, rel=1e-12)
