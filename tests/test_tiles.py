"""data_prep.tiles: cutting tiles and random windows out of a region, border nodes."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely

from citygen.errors import DatasetError
from citygen.layout import CLASS_ID, ROAD_CLASSES
from data_prep.clean import RegionGraph
from data_prep.tiles import TileSpec, cut, grid_specs, random_spec, random_window


def region_of(xy: list, edges: list, classes: list | None = None) -> RegionGraph:
    xy_arr = np.asarray(xy, dtype=np.float64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    cls = np.asarray(
        classes if classes is not None else [CLASS_ID["residential"]] * len(e), np.int8
    )
    hull = shapely.get_coordinates(shapely.convex_hull(shapely.multipoints(xy_arr)))
    return RegionGraph(xy=xy_arr, edges=e, classes=cls, crs="EPSG:32635", hull=hull)


def street_region(seed: int = 0, extent: float = 3000.0, step: float = 100.0) -> RegionGraph:
    """A jittered street grid with some diagonals and mixed classes, ``extent`` metres wide."""
    rng = np.random.default_rng(seed)
    k = int(extent / step) + 1
    ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    xy = np.stack([ii.ravel(), jj.ravel()], axis=1) * step + rng.uniform(-20, 20, size=(k * k, 2))
    edges = []
    for i in range(k):
        for j in range(k):
            n = i * k + j
            if i + 1 < k and rng.random() < 0.8:
                edges.append((n, n + k))
            if j + 1 < k and rng.random() < 0.8:
                edges.append((n, n + 1))
            if i + 1 < k and j + 1 < k and rng.random() < 0.1:
                edges.append((n, n + k + 1))
    classes = rng.integers(0, len(ROAD_CLASSES), size=len(edges))
    return region_of(xy.tolist(), edges, classes.tolist())


def border_rules(G: nx.Graph, spec: TileSpec, region: RegionGraph) -> None:
    """The facts every cut tile obeys, checked against the region in the map frame."""
    size = spec.size
    assert G.graph["tile_size"] == size
    for n, d in G.nodes(data=True):
        x, y = d["x"], d["y"]
        assert 0.0 <= x <= size
        assert 0.0 <= y <= size
        if d["border"]:
            assert min(x, y, size - x, size - y) == 0.0, "border nodes lie exactly on a side"
            assert n >= region.n_nodes, "border nodes are new nodes"
            on_map = spec.to_map(np.array([[x, y]]))[0]
            assert spec.polygon().exterior.distance(shapely.Point(on_map)) < 1e-6 * size
        else:
            assert 0.0 < x < size
            assert 0.0 < y < size
            np.testing.assert_allclose(spec.to_map(np.array([[x, y]]))[0], region.xy[n], atol=1e-6)
        assert G.degree(n) >= 1
    # nothing is lost or invented: the streets inside the tile, per class, by length
    square = spec.polygon()
    lines = shapely.linestrings(
        np.stack([region.xy[region.edges[:, 0]], region.xy[region.edges[:, 1]]], axis=1)
    )
    inside = shapely.length(shapely.intersection(lines, square))
    for c in range(len(ROAD_CLASSES)):
        want = inside[region.classes == c].sum()
        got = sum(d["length"] for _, _, d in G.edges(data=True) if d["highway"] == ROAD_CLASSES[c])
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_a_street_crossing_the_border_ends_in_a_border_node() -> None:
    # one street from (200, 500) inside to (1500, 500) outside a 1 km tile centred on (500, 500)
    region = region_of([[200.0, 500.0], [1500.0, 500.0]], [[0, 1]], [CLASS_ID["primary"]])
    G = cut(region, TileSpec((500.0, 500.0), 1000.0))
    assert G.number_of_nodes() == 2
    assert G.number_of_edges() == 1
    assert G.nodes[0] == {"x": 200.0, "y": 500.0, "border": False}
    (b,) = [n for n, d in G.nodes(data=True) if d["border"]]
    assert (G.nodes[b]["x"], G.nodes[b]["y"]) == (1000.0, 500.0)
    assert G.edges[0, b]["highway"] == "primary"
    assert G.edges[0, b]["length"] == pytest.approx(800.0)
    assert G.graph["center"] == [500.0, 500.0]
    assert G.graph["crs"] == "EPSG:32635"


def test_a_street_passing_through_is_cut_at_both_sides() -> None:
    region = region_of([[-100.0, -300.0], [1100.0, 900.0]], [[0, 1]])
    spec = TileSpec((500.0, 500.0), 1000.0)
    G = cut(region, spec)
    pts = sorted((d["x"], d["y"]) for _, d in G.nodes(data=True))
    assert all(d["border"] for _, d in G.nodes(data=True))
    np.testing.assert_allclose(pts, [(200.0, 0.0), (1000.0, 800.0)], atol=1e-9)
    assert G.number_of_edges() == 1
    border_rules(G, spec, region)


def test_streets_outside_or_touching_a_corner_are_left_out() -> None:
    region = region_of(
        [[1200.0, 500.0], [1500.0, 800.0], [900.0, 1100.0], [1100.0, 900.0]],
        [[0, 1], [2, 3]],  # the second one touches the NE corner (1000, 1000) only
    )
    G = cut(region, TileSpec((500.0, 500.0), 1000.0))
    assert G.number_of_nodes() == 0


def test_an_intersection_inside_stays_one_node() -> None:
    region = region_of(
        [[500.0, 500.0], [-200.0, 500.0], [500.0, 1300.0], [1400.0, 100.0], [600.0, 400.0]],
        [[0, 1], [0, 2], [0, 3], [0, 4]],
    )
    spec = TileSpec((500.0, 500.0), 1000.0)
    G = cut(region, spec)
    assert G.degree(0) == 4
    assert sum(d["border"] for _, d in G.nodes(data=True)) == 3
    assert G.number_of_nodes() == 5
    border_rules(G, spec, region)


def test_a_region_node_on_the_border_becomes_a_border_node() -> None:
    region = region_of([[1000.0, 500.0], [700.0, 500.0], [1300.0, 500.0]], [[0, 1], [0, 2]])
    G = cut(region, TileSpec((500.0, 500.0), 1000.0))
    assert G.number_of_edges() == 1
    (b,) = [n for n, d in G.nodes(data=True) if d["border"]]
    assert (G.nodes[b]["x"], G.nodes[b]["y"]) == (1000.0, 500.0)
    assert G.nodes[1]["border"] is False


def test_streets_meeting_on_the_border_share_one_border_node() -> None:
    # streets 0-1 and 2-3 cross the east side at the same point and share its border node;
    # street 2-4 crosses it elsewhere
    region = region_of(
        [[800.0, 500.0], [1200.0, 500.0], [800.0, 300.0], [1200.0, 700.0], [1200.0, 300.0]],
        [[0, 1], [2, 3], [2, 4]],
    )
    spec = TileSpec((500.0, 500.0), 1000.0)
    G = cut(region, spec)
    border = sorted((d["x"], d["y"]) for _, d in G.nodes(data=True) if d["border"])
    assert border == [(1000.0, 300.0), (1000.0, 500.0)]
    assert G.number_of_nodes() == 4
    border_rules(G, spec, region)


def test_tile_frame_rotation_and_reflection_are_inverse_maps() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(-5000, 5000, size=(50, 2))
    for rotation in (0.0, 0.3, math.pi / 2, 4.0):
        for reflect in (False, True):
            spec = TileSpec((123.0, -45.0), 700.0, rotation, reflect)
            np.testing.assert_allclose(spec.to_map(spec.to_tile(xy)), xy, atol=1e-9)
            corners = spec.to_tile(shapely.get_coordinates(spec.polygon())[:4])
            np.testing.assert_allclose(corners, [[0, 0], [700, 0], [700, 700], [0, 700]], atol=1e-9)
            # reflection mirrors: a counter-clockwise triangle turns clockwise
            tri = spec.to_tile(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]) + 77.0)
            (ax, ay), (bx, by) = tri[1] - tri[0], tri[2] - tri[0]
            cross = ax * by - ay * bx
            assert (cross < 0) == reflect
    # rotation is counter-clockwise from tile frame to map frame
    spec = TileSpec((0.0, 0.0), 2.0, math.pi / 2)
    np.testing.assert_allclose(spec.to_map(np.array([[2.0, 1.0]])), [[0.0, 1.0]], atol=1e-12)


def test_grid_tiles_obey_the_border_rules() -> None:
    region = street_region()
    specs = grid_specs(region, 1000.0)
    assert len(specs) == 9  # 3 km x 3 km data extent, 1 km tiles
    assert list(specs) == sorted(specs)
    for spec in specs.values():
        G = cut(region, spec)
        assert G.number_of_nodes() > 50
        border_rules(G, spec, region)


def test_grid_keeps_tiles_mostly_inside_the_data() -> None:
    # a right triangle of data: tiles less than 75 % inside it are dropped
    xy = [[0.0, 0.0], [4000.0, 0.0], [0.0, 4000.0], [100.0, 100.0]]
    region = region_of(xy, [[0, 3], [1, 3], [2, 3]])
    hull = shapely.Polygon(region.hull)
    specs = grid_specs(region, 1000.0)
    assert 0 < len(specs) < 16
    for spec in specs.values():
        assert shapely.intersection(hull, spec.polygon()).area >= 0.75 * 1000.0**2
    assert len(grid_specs(region, 1000.0, min_coverage=0.4)) > len(specs)
    with pytest.raises(DatasetError, match="tile size must be positive"):
        grid_specs(region, 0.0)
    with pytest.raises(DatasetError, match="tile size must be positive"):
        grid_specs(region, -10.0)


def test_random_windows_obey_the_border_rules() -> None:
    region = street_region(seed=1)
    reflected, rotations = set(), []
    for seed in range(12):
        spec = random_spec(region, 800.0, np.random.default_rng(seed))
        G = random_window(region, 800.0, np.random.default_rng(seed))
        assert G.graph["rotation"] == spec.rotation
        assert G.graph["reflect"] == spec.reflect
        assert G.graph["center"] == list(spec.center)
        assert shapely.Polygon(region.hull).contains(spec.polygon())
        assert G.number_of_nodes() > 20
        border_rules(G, spec, region)
        reflected.add(spec.reflect)
        rotations.append(spec.rotation)
    assert reflected == {False, True}
    assert len(set(rotations)) == 12
    assert all(0.0 <= r < 2 * math.pi for r in rotations)


def test_random_windows_are_reproducible_for_a_seeded_rng() -> None:
    region = street_region(seed=2)

    def draw(seed: int) -> list[nx.Graph]:
        rng = np.random.default_rng(seed)
        return [random_window(region, 500.0, rng) for _ in range(3)]

    def same(G: nx.Graph, H: nx.Graph) -> bool:
        return (
            G.graph == H.graph
            and dict(G.nodes(data=True)) == dict(H.nodes(data=True))
            and {frozenset((u, v)): d for u, v, d in G.edges(data=True)}
            == {frozenset((u, v)): d for u, v, d in H.edges(data=True)}
        )

    a, b, c = draw(5), draw(5), draw(6)
    assert all(same(G, H) for G, H in zip(a, b, strict=True))
    assert not same(a[0], c[0])
    assert not same(a[0], a[1])  # successive draws move on


def test_random_windows_stay_inside_the_given_area() -> None:
    region = street_region(seed=3)
    area = shapely.box(0.0, 0.0, 1500.0, 3000.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        spec = random_spec(region, 600.0, rng, within=area)
        assert area.contains(spec.polygon())
    with pytest.raises(DatasetError, match="no 600 m window fits"):
        random_spec(region, 600.0, rng, within=shapely.box(0.0, 0.0, 500.0, 500.0))
    with pytest.raises(DatasetError, match="window fits"):
        random_window(region, 5000.0, rng)
