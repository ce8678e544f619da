"""Street statistics on hand-made layouts with known answers (grid, tree, ring, corner)."""

import math

import networkx as nx
import numpy as np
import osmnx as ox
import pytest

from citygen.layout import add_street, new_layout
from citygen.metrics import stats
from citygen.metrics.catalog import STATISTICS, histogram, layout_profile


def layout(points: dict, edges: list, border: set = frozenset(), size: float = 1000.0) -> nx.Graph:
    G = new_layout(size)
    for k, (x, y) in points.items():
        G.add_node(k, x=float(x), y=float(y), border=k in border)
    for u, v in edges:
        add_street(G, u, v, "residential")
    return G


def grid(k: int = 4, spacing: float = 100.0, offset: float = 100.0) -> nx.Graph:
    pts = {(i, j): (offset + i * spacing, offset + j * spacing) for i in range(k) for j in range(k)}
    edges = [((i, j), (i + 1, j)) for i in range(k - 1) for j in range(k)]
    edges += [((i, j), (i, j + 1)) for i in range(k) for j in range(k - 1)]
    return layout(pts, edges)


def test_grid_statistics():
    G = grid()
    assert sorted(stats.junction_degrees(G).tolist()) == [3] * 8 + [4] * 4  # corners are bends
    seg = np.sort(stats.segment_lengths(G))
    np.testing.assert_allclose(seg, [100.0] * 16 + [200.0] * 4)
    h = stats.bearing_histogram(G)
    np.testing.assert_allclose(h[[0, 9, 18, 27]], 0.25)
    assert h.sum() == pytest.approx(1.0)
    assert stats.orientation_entropy(G) == pytest.approx(math.log(4))
    assert stats.orientation_order(G) == pytest.approx(1.0)
    angles = np.sort(stats.intersection_angles(G))
    np.testing.assert_allclose(angles, [90.0] * 32 + [180.0] * 8)
    assert stats.intersection_density(G) == pytest.approx(12.0)  # per km2, tile of 1 km2
    assert stats.street_density(G) == pytest.approx(2.4)
    assert stats.dead_end_share(G) == 0.0
    assert stats.meshedness(G) == pytest.approx(9 / 19)
    np.testing.assert_allclose(np.sort(stats.block_areas(G)), [10_000.0] * 9)
    c = stats.circuity(G)
    assert 1.0 <= c < 1.5


def test_tree_statistics():
    arms = {
        i: (500 + 200 * math.cos(a), 500 + 200 * math.sin(a))
        for i, a in enumerate((0.3, 0.3 + 2 * math.pi / 3, 0.3 + 4 * math.pi / 3))
    }
    G = layout({"c": (500, 500), **arms}, [("c", i) for i in range(3)])
    assert sorted(stats.junction_degrees(G).tolist()) == [1, 1, 1, 3]
    assert stats.dead_end_share(G) == pytest.approx(0.75)
    assert stats.meshedness(G) == 0.0
    assert stats.block_areas(G).size == 0
    np.testing.assert_allclose(np.sort(stats.intersection_angles(G)), [120.0] * 3)
    assert stats.circuity(G) >= 1.0 - 1e-12


def test_corner_circuity_is_sqrt2_and_border_is_not_a_dead_end():
    G = layout({0: (0, 500), 1: (300, 500), 2: (300, 800)}, [(0, 1), (1, 2)], border={0})
    assert stats.circuity(G) == pytest.approx(math.sqrt(2))
    assert stats.dead_end_share(G) == 1.0  # node 2 is the only junction (1 a bend, 0 border)
    G.add_node(3, x=0.0, y=900.0, border=False)
    add_street(G, 2, 3, "residential")
    assert stats.dead_end_share(G) == 1.0  # 2 became a bend; 3 is the dead end
    G.nodes[0]["border"] = False
    assert stats.dead_end_share(G) == 1.0  # both ends are dead ends now


def test_ring_statistics():
    G = layout(
        {0: (100, 100), 1: (200, 100), 2: (200, 200), 3: (100, 200)},
        [(0, 1), (1, 2), (2, 3), (3, 0)],
    )
    assert stats.junction_degrees(G).size == 0
    np.testing.assert_allclose(stats.segment_lengths(G), [400.0])
    np.testing.assert_allclose(stats.block_areas(G), [10_000.0])
    assert stats.meshedness(G) == 1.0
    assert math.isnan(stats.circuity(G))  # no junction pair


def test_bearings_are_compass_and_length_weighted():
    G = layout({0: (0, 0), 1: (100, 100), 2: (0, 300)}, [(0, 1), (0, 2)])  # NE 141 m, N 300 m
    h = stats.bearing_histogram(G)
    w = np.array([math.hypot(100, 100), 300.0])
    np.testing.assert_allclose(
        h[[5, 23]], w[0] / (2 * w.sum())
    )  # 45 and 225 degrees: bins [45, 55) and [225, 235)
    np.testing.assert_allclose(h[[0, 18]], w[1] / (2 * w.sum()))


def test_orientation_entropy_matches_osmnx():
    rng = np.random.default_rng(3)
    pts = {i: tuple(rng.uniform(0, 1000, 2)) for i in range(30)}
    edges = [(i, i + 1) for i in range(29)]
    G = layout(pts, edges)
    M = nx.MultiGraph(crs="EPSG:4326")  # osmnx insists on unprojected graphs; bearings are given
    for v, d in G.nodes(data=True):
        M.add_node(v, x=d["x"], y=d["y"])
    for u, v, d in G.edges(data=True):
        dx, dy = G.nodes[v]["x"] - G.nodes[u]["x"], G.nodes[v]["y"] - G.nodes[u]["y"]
        M.add_edge(u, v, length=d["length"], bearing=math.degrees(math.atan2(dx, dy)) % 360)
    expected = ox.bearing.orientation_entropy(M, num_bins=36, weight="length")
    assert stats.orientation_entropy(G) == pytest.approx(expected, rel=1e-9)


def test_profile_histograms_have_mass_one():
    prof = layout_profile(grid())
    empty = layout_profile(layout({0: (1, 1)}, []))
    for s in STATISTICS:
        if s.kind == "hist":
            assert prof[s.name].sum() == pytest.approx(1.0)
            assert empty[s.name].sum() == pytest.approx(1.0)
    blocks = next(s for s in STATISTICS if s.name == "block_area")
    assert histogram(blocks, np.array([]))[0] == 1.0  # the "none" bin
