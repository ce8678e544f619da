"""data_prep.order: the canonical node order, the sequence format and its exact round trip."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay

from citygen.layout import ROAD_CLASSES, add_street, new_layout
from data_prep.order import (
    Sequence,
    canonical_order,
    perimeter_coordinate,
    to_layout,
    to_sequence,
)
from data_prep.shards import load_dataset
from data_prep.tiles import TileSpec, cut, random_window

# ---------------------------------------------------------------------------------------------
# helpers


def layout(size: float, nodes: dict[int, tuple[float, float, bool]], edges: list) -> nx.Graph:
    """A layout from ``{id: (x, y, border)}`` (metres) and ``[(u, v, class), ...]``."""
    G = new_layout(size)
    for n, (x, y, b) in nodes.items():
        G.add_node(n, x=float(x), y=float(y), border=b)
    for u, v, *cls in edges:
        add_street(G, u, v, cls[0] if cls else "residential")
    return G


def assert_round_trip(G: nx.Graph, H: nx.Graph, order: list[int]) -> None:
    """H (node ids = steps) is G with node ``order[i]`` renamed ``i``: positions, flags, edges."""
    size = float(G.graph["tile_size"])
    assert H.graph["tile_size"] == size
    assert H.number_of_nodes() == G.number_of_nodes() == len(order)
    for i, n in enumerate(order):
        a, b = G.nodes[n], H.nodes[i]
        assert abs(a["x"] - b["x"]) <= 1e-6 * size
        assert abs(a["y"] - b["y"]) <= 1e-6 * size
        assert bool(a.get("border", False)) == b["border"]
    index = {n: i for i, n in enumerate(order)}
    want = {frozenset((index[u], index[v])): d["highway"] for u, v, d in G.edges(data=True)}
    got = {frozenset((u, v)): d["highway"] for u, v, d in H.edges(data=True)}
    assert got == want
    for u, v, d in H.edges(data=True):
        assert d["length"] == pytest.approx(G.edges[order[u], order[v]]["length"], abs=1e-6 * size)


def neighbour_key(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """The documented visiting rule: angle counter-clockwise from east around p, then distance."""
    d = q - p
    return math.atan2(d[1], d[0]) % (2 * math.pi), math.hypot(d[0], d[1])


def check_canonical(G: nx.Graph, seq: Sequence) -> None:
    """Assert every documented property of the canonical order on G and its sequence."""
    order = canonical_order(G)
    n = G.number_of_nodes()
    assert sorted(order) == sorted(G.nodes)
    index = {v: i for i, v in enumerate(order)}
    pos = seq.pos
    # border nodes first, counter-clockwise along the perimeter from the north-west corner
    nb = seq.n_border
    assert seq.border.tolist() == [True] * nb + [False] * (n - nb)
    perim = [perimeter_coordinate(*pos[i]) for i in range(nb)]
    assert perim == sorted(perim)
    # each step's edges go to earlier nodes only, sorted by (i, j)
    assert seq.edges.dtype == np.int32
    assert seq.classes.dtype == np.int8
    if seq.edges.shape[0]:
        assert np.all(seq.edges[:, 1] < seq.edges[:, 0])
        assert np.all(seq.edges[:, 1] >= 0)
        assert [tuple(e) for e in seq.edges.tolist()] == sorted(map(tuple, seq.edges.tolist()))
        assert seq.bandwidth() == int((seq.edges[:, 0] - seq.edges[:, 1]).max())
    else:
        assert seq.bandwidth() == 0
    assert seq.edges.shape[0] == G.number_of_edges()
    # interior nodes: breadth-first from the border
    earlier: list[list[int]] = [[] for _ in range(n)]
    for i, j in seq.edges.tolist():
        earlier[i].append(j)
    last_parent = -1
    children: dict[int, list[int]] = {}
    for i in range(nb, n):
        if earlier[i]:
            parent = min(earlier[i])  # the node whose expansion discovered i
            assert parent >= last_parent, "BFS discovers nodes in the order of their parents"
            last_parent = parent
            children.setdefault(parent, []).append(i)
        else:  # a root: a component that no border node reaches
            comp = nx.node_connected_component(G, order[i])
            assert not any(G.nodes[m].get("border", False) for m in comp)
            assert min(index[m] for m in comp) == i
            nw = {m: math.hypot(pos[index[m]][0], 1.0 - pos[index[m]][1]) for m in comp}
            assert nw[order[i]] == min(nw.values())
            last_parent = i
    for parent, kids in children.items():
        assert kids == list(range(kids[0], kids[0] + len(kids))), "siblings are consecutive"
        keys = [neighbour_key(pos[parent], pos[k]) for k in kids]
        assert keys == sorted(keys), "siblings by angle, then distance"


# ---------------------------------------------------------------------------------------------
# known answers


def test_perimeter_coordinate_runs_counter_clockwise_from_the_north_west_corner() -> None:
    assert perimeter_coordinate(0.0, 1.0) == 0.0  # NW corner
    assert perimeter_coordinate(0.0, 0.75) == pytest.approx(0.25)  # west side, going down
    assert perimeter_coordinate(0.0, 0.0) == 1.0  # SW corner
    assert perimeter_coordinate(0.25, 0.0) == 1.25  # south side, going east
    assert perimeter_coordinate(1.0, 0.0) == 2.0  # SE corner
    assert perimeter_coordinate(1.0, 0.5) == 2.5  # east side, going up
    assert perimeter_coordinate(1.0, 1.0) == 3.0  # NE corner
    assert perimeter_coordinate(0.25, 1.0) == 3.75  # north side, going west
    # the corners agree whichever side they are read from
    assert perimeter_coordinate(0.0, 1e-12) == pytest.approx(1.0)
    assert perimeter_coordinate(1e-12, 0.0) == pytest.approx(1.0)


def hand_tile() -> nx.Graph:
    # tile of 100 m: five border nodes, a connected interior and a separate interior component
    nodes = {
        10: (100.0, 50.0, True),  # E side
        11: (0.0, 30.0, True),  # W side, lower
        12: (60.0, 100.0, True),  # N side
        13: (40.0, 0.0, True),  # S side
        14: (0.0, 70.0, True),  # W side, upper
        20: (30.0, 60.0, False),  # A
        21: (50.0, 50.0, False),  # B
        22: (70.0, 70.0, False),  # C, north-east of B
        23: (30.0, 40.0, False),  # F, south-west of B
        24: (80.0, 20.0, False),  # D, nearer the NW corner than E
        25: (90.0, 10.0, False),  # E
    }
    edges = [
        (20, 14, "primary"),
        (20, 11),
        (21, 13, "service"),
        (21, 10),
        (21, 12, "tertiary"),
        (21, 20),
        (22, 21),
        (23, 21, "other"),
        (24, 25, "motorway"),
    ]
    return layout(100.0, nodes, edges)


def test_canonical_order_of_a_hand_made_tile() -> None:
    G = hand_tile()
    # border: W upper, W lower, S, E, N; then BFS: A (from W upper), B (from S), then B's
    # unseen neighbours by angle from east: C (45 deg) before F (207 deg); then the separate
    # component from its node nearest the NW corner (D), then E
    assert canonical_order(G) == [14, 11, 13, 10, 12, 20, 21, 22, 23, 24, 25]
    seq = to_sequence(G)
    assert seq.n_nodes == 11
    assert seq.n_border == 5
    assert seq.edges.tolist() == [
        [5, 0],
        [5, 1],
        [6, 2],
        [6, 3],
        [6, 4],
        [6, 5],
        [7, 6],
        [8, 6],
        [10, 9],
    ]
    classes = [ROAD_CLASSES[c] for c in seq.classes]
    assert classes == ["primary", "residential", "service", "residential", "tertiary",
                       "residential", "residential", "other", "motorway"]  # fmt: skip
    assert seq.bandwidth() == 5
    np.testing.assert_array_equal(seq.pos[0], [0.0, 0.7])
    np.testing.assert_array_equal(seq.pos[5], [0.3, 0.6])
    assert seq.tile_size == 100.0
    check_canonical(G, seq)


def test_neighbours_at_the_same_angle_are_visited_nearest_first() -> None:
    nodes = {
        1: (0.0, 50.0, True),
        2: (50.0, 50.0, False),
        3: (90.0, 50.0, False),
        4: (70.0, 50.0, False),
    }
    G = layout(100.0, nodes, [(1, 2), (2, 3), (2, 4)])
    assert canonical_order(G) == [1, 2, 4, 3]


def test_roots_equally_near_the_north_west_corner_are_taken_by_node_id() -> None:
    # (16, 32) and (32, 48) in a 64 m tile are exactly equally far from the NW corner
    def tile(a: int, b: int) -> nx.Graph:
        nodes = {a: (16.0, 32.0, False), a + 100: (16.0, 8.0, False), b: (32.0, 48.0, False),
                 b + 100: (56.0, 48.0, False)}  # fmt: skip
        return layout(64.0, nodes, [(a, a + 100), (b, b + 100)])

    assert canonical_order(tile(9, 3))[:1] == [3]
    assert canonical_order(tile(2, 3))[:1] == [2]
    for _ in range(3):  # and it is the same every time
        assert canonical_order(tile(9, 3)) == [3, 103, 9, 109]


def test_order_does_not_depend_on_insertion_order() -> None:
    G = hand_tile()
    rng = np.random.default_rng(0)
    for _ in range(5):
        H = new_layout(100.0)
        nodes = list(G.nodes(data=True))
        for k in rng.permutation(len(nodes)):
            H.add_node(nodes[k][0], **nodes[k][1])
        edges = list(G.edges(data=True))
        for k in rng.permutation(len(edges)):
            u, v, d = edges[k]
            H.add_edge(*((v, u) if rng.random() < 0.5 else (u, v)), **d)
        assert canonical_order(H) == canonical_order(G)


def test_empty_and_edgeless_tiles() -> None:
    seq = to_sequence(new_layout(500.0))
    assert (seq.n_nodes, seq.edges.shape, seq.classes.shape, seq.bandwidth()) == (
        0,
        (0, 2),
        (0,),
        0,
    )
    assert seq.pos.shape == (0, 2)
    assert to_layout(seq).number_of_nodes() == 0


def test_round_trip_hand_made_tile_and_graph_attributes() -> None:
    G = hand_tile()
    seq = to_sequence(G)
    H = to_layout(seq, source="hand", crs="EPSG:32635")
    assert H.graph["source"] == "hand"
    assert H.graph["crs"] == "EPSG:32635"
    assert_round_trip(G, H, canonical_order(G))
    again = to_sequence(H)  # a canonical layout is its own canonical order
    np.testing.assert_allclose(again.pos, seq.pos, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(again.edges, seq.edges)
    np.testing.assert_array_equal(again.classes, seq.classes)
    np.testing.assert_array_equal(again.border, seq.border)


# ---------------------------------------------------------------------------------------------
# property-based: random planar graphs


def delaunay_tile(seed: int, n_inner: int, n_border: int, keep: float, size: float) -> nx.Graph:
    """A thinned Delaunay triangulation of random points, some of them on the tile border."""
    rng = np.random.default_rng(seed)
    inner = rng.uniform(0.02, 0.98, size=(n_inner, 2))
    t = rng.uniform(0.02, 0.98, size=n_border)
    side = rng.integers(0, 4, size=n_border)
    border = np.stack(
        [np.where(side == 0, 0.0, np.where(side == 2, 1.0, t)),
         np.where(side == 1, 0.0, np.where(side == 3, 1.0, t))], axis=1,
    )  # fmt: skip
    pts = np.concatenate([inner, border])
    ids = rng.choice(10 * len(pts) + 10, size=len(pts), replace=False)  # ids unrelated to place
    G = new_layout(size)
    for k, (x, y) in enumerate(pts):
        G.add_node(int(ids[k]), x=float(x * size), y=float(y * size), border=bool(k >= n_inner))
    pairs = set()
    for tri in Delaunay(pts).simplices:
        for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[0], tri[2])):
            pairs.add((min(a, b), max(a, b)))
    for a, b in sorted(pairs):
        if rng.random() < keep:
            add_street(G, int(ids[a]), int(ids[b]), ROAD_CLASSES[int(rng.integers(0, 8))])
    return G


def grid_tile(seed: int, cols: int, rows: int, keep: float, inset: bool, size: float) -> nx.Graph:
    """A regular grid, thinned; its outer ring on the border unless ``inset``."""
    rng = np.random.default_rng(seed)
    lo, hi = (0.1, 0.9) if inset else (0.0, 1.0)
    G = new_layout(size)
    for i in range(cols):
        for j in range(rows):
            x, y = lo + (hi - lo) * i / (cols - 1), lo + (hi - lo) * j / (rows - 1)
            on_border = not inset and (i in (0, cols - 1) or j in (0, rows - 1))
            G.add_node(i * rows + j, x=x * size, y=y * size, border=on_border)
    for i in range(cols):
        for j in range(rows):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < cols and j + dj < rows and rng.random() < keep:
                    cls = ROAD_CLASSES[int(rng.integers(0, 8))]
                    add_street(G, i * rows + j, (i + di) * rows + j + dj, cls)
    return G


SIZES = st.sampled_from([1.0, 250.0, 1000.0, 1234.5])


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_inner=st.integers(3, 40),
    n_border=st.integers(0, 12),
    keep=st.floats(0.2, 1.0),
    size=SIZES,
)
def test_delaunay_tiles_order_and_round_trip(
    seed: int, n_inner: int, n_border: int, keep: float, size: float
) -> None:
    G = delaunay_tile(seed, n_inner, n_border, keep, size)
    seq = to_sequence(G)
    check_canonical(G, seq)
    assert_round_trip(G, to_layout(seq), canonical_order(G))
    # geometry decides the order, not node ids: relabel at random, same sequence
    rng = np.random.default_rng(seed + 1)
    H = nx.relabel_nodes(
        G, dict(zip(G.nodes, rng.permutation(10**6)[: G.number_of_nodes()].tolist(), strict=True))
    )
    other = to_sequence(H)
    np.testing.assert_array_equal(other.pos, seq.pos)
    np.testing.assert_array_equal(other.edges, seq.edges)
    np.testing.assert_array_equal(other.classes, seq.classes)
    # a canonical layout is its own canonical order
    assert canonical_order(to_layout(seq)) == list(range(seq.n_nodes))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cols=st.integers(2, 7),
    rows=st.integers(2, 7),
    keep=st.floats(0.3, 1.0),
    inset=st.booleans(),
    size=SIZES,
)
def test_grid_tiles_order_and_round_trip(
    seed: int, cols: int, rows: int, keep: float, inset: bool, size: float
) -> None:
    G = grid_tile(seed, cols, rows, keep, inset, size)
    seq = to_sequence(G)
    check_canonical(G, seq)
    assert_round_trip(G, to_layout(seq), canonical_order(G))
    assert to_sequence(G).edges.tolist() == seq.edges.tolist()  # deterministic


# ---------------------------------------------------------------------------------------------
# real data: every tile of both bundled extracts


@pytest.mark.parametrize(
    ("which", "min_tiles"),
    [("bundled_test_dir", 2), ("bundled_helsinki_dir", 1), ("bundled_small_dir", 60)],
)
def test_round_trip_is_exact_on_every_tile_of_the_bundled_extracts(
    which: str, min_tiles: int, request: pytest.FixtureRequest
) -> None:
    # 1 km tiles of each extract, and 250 m tiles of both (Helsinki's extract is small)
    root: Path = request.getfixturevalue(which)
    ds = load_dataset(root)
    tiles = ds.tiles()
    assert len(tiles) >= min_tiles
    size = ds.tile_size
    for tile in tiles:
        region = ds.region(tile.region)
        G = cut(region, TileSpec(tuple(tile.info["center"]), size))  # the tile graph, recut
        seq = to_sequence(G)
        stored = tile.sequence  # read back from the shard on disk
        np.testing.assert_array_equal(stored.pos, seq.pos)
        np.testing.assert_array_equal(stored.border, seq.border)
        np.testing.assert_array_equal(stored.edges, seq.edges)
        np.testing.assert_array_equal(stored.classes, seq.classes)
        assert stored.tile_size == size
        assert_round_trip(G, tile.layout(), canonical_order(G))
        check_canonical(G, stored)
        assert tile.info["bandwidth"] == stored.bandwidth()
        assert np.all((stored.pos >= 0.0) & (stored.pos <= 1.0))


def test_round_trip_is_exact_on_random_windows_of_helsinki(bundled_helsinki_dir: Path) -> None:
    ds = load_dataset(bundled_helsinki_dir)
    region = ds.region(ds.region_names[0])
    rng = np.random.default_rng(7)
    for _ in range(20):
        G = random_window(region, 500.0, rng)
        seq = to_sequence(G)
        check_canonical(G, seq)
        assert_round_trip(G, to_layout(seq), canonical_order(G))
