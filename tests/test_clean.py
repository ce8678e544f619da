"""data_prep.clean: drivable streets, UTM metres, consolidation, road classes, simple graph."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely
from scipy.spatial import cKDTree

from citygen.errors import InputDataError
from citygen.layout import CLASS_ID, ROAD_CLASSES, road_class
from data_prep.clean import RegionGraph, clean, drivable
from data_prep.shards import load_dataset
from data_prep.tiles import TileSpec, cut

# Hand-made raw graphs are drawn in UTM 35N metres (Helsinki) and stored in lon/lat, as the
# loaders give them; cleaning must project them back to the same metres.
E0, N0 = 385000.0, 6671000.0
TO_LONLAT = pyproj.Transformer.from_crs("EPSG:32635", "EPSG:4326", always_xy=True)
GEOD = pyproj.Geod(ellps="WGS84")


def raw_graph(
    points: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]
) -> nx.MultiDiGraph:
    """A raw osmnx-style graph: ``points`` in metres from (E0, N0), ways in both directions."""
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (e, north) in points.items():
        lon, lat = TO_LONLAT.transform(E0 + e, N0 + north)
        G.add_node(n, x=lon, y=lat)
    for k, (refs, tags) in enumerate(ways):
        for a, b in itertools.pairwise(refs):
            G.add_edge(a, b, osmid=1000 + k, **tags)
            G.add_edge(b, a, osmid=1000 + k, **tags)
    return G


def local(region: RegionGraph) -> np.ndarray:
    return region.xy - np.array([E0, N0])


def edge_at(region: RegionGraph, a: tuple[float, float], b: tuple[float, float]) -> int:
    """Index of the region edge from near ``a`` to near ``b`` (metres from the origin)."""
    xy = local(region)
    tree = cKDTree(xy)
    ia, ib = (int(tree.query(p)[1]) for p in (a, b))
    assert np.hypot(*(xy[ia] - a)) < 0.01
    assert np.hypot(*(xy[ib] - b)) < 0.01
    key = [min(ia, ib), max(ia, ib)]
    (i,) = np.flatnonzero((region.edges == key).all(axis=1))
    return int(i)


# a comb: a primary street along y = 0 with a 100 m branch every 100 m, each branch tagged
BRANCHES: dict[int, dict | None] = {  # x / 100 -> tags; None: not drivable, must be dropped
    1: {"highway": "motorway_link"},
    2: {"highway": "trunk"},
    3: {"highway": "secondary"},
    4: {"highway": "tertiary_link"},
    5: {"highway": "living_street"},
    6: {"highway": "service"},
    7: {"highway": "unclassified"},
    8: None,  # footway
    9: None,  # parking aisle
    10: None,  # private
    11: None,  # area
    12: None,  # construction
}
DROPPED_TAGS = {
    8: {"highway": "footway"},
    9: {"highway": "service", "service": "parking_aisle"},
    10: {"highway": "residential", "access": "private"},
    11: {"highway": "residential", "area": "yes"},
    12: {"highway": "construction"},
}
EXPECTED_CLASS = {1: "motorway", 2: "trunk", 3: "secondary", 4: "tertiary", 5: "residential",
                  6: "service", 7: "other", 13: "tertiary"}  # fmt: skip


def comb() -> nx.MultiDiGraph:
    points = {i: (100.0 * i, 0.0) for i in range(15)}
    ways: list[tuple[list[int], dict]] = [(list(range(15)), {"highway": "primary"})]
    for i in range(1, 13):
        points[100 + i] = (100.0 * i, 100.0)
        ways.append(([i, 100 + i], BRANCHES[i] or DROPPED_TAGS[i]))
    # branch 13: a tertiary half and a residential half, joined at a node of degree 2
    points[113], points[200] = (1300.0, 100.0), (1300.0, 50.0)
    ways += [([13, 200], {"highway": "tertiary"}), ([200, 113], {"highway": "residential"})]
    return raw_graph(points, ways)


@pytest.fixture(scope="module")
def comb_region() -> RegionGraph:
    return clean(comb())


def test_drivable_keeps_what_osmnx_drive_service_keeps() -> None:
    H = drivable(comb())
    kept = {d["highway"] for _, _, d in H.edges(data=True)}
    assert kept == {
        "primary",
        "motorway_link",
        "trunk",
        "secondary",
        "tertiary_link",
        "living_street",
        "service",
        "unclassified",
        "tertiary",
        "residential",
    }
    assert not any(d.get("service") == "parking_aisle" for _, _, d in H.edges(data=True))
    assert not any(d.get("access") == "private" for _, _, d in H.edges(data=True))
    assert not any(d.get("area") == "yes" for _, _, d in H.edges(data=True))
    assert all(H.degree(n) > 0 for n in H.nodes)  # the dropped branches' end nodes are gone
    assert 108 not in H
    assert 107 in H


def test_clean_projects_to_the_local_utm_zone_in_metres(comb_region: RegionGraph) -> None:
    crs = pyproj.CRS(comb_region.crs)
    assert crs.is_projected
    assert crs.to_epsg() == 32635  # UTM 35N for Helsinki
    assert crs.axis_info[0].unit_name == "metre"
    want = [(100.0 * i, 0.0) for i in (0, 1, 2, 3, 4, 5, 6, 7, 13, 14)]
    want += [(100.0 * i, 100.0) for i in (1, 2, 3, 4, 5, 6, 7, 13)]
    got = sorted(map(tuple, np.round(local(comb_region), 3).tolist()))
    assert got == sorted(want)
    # 1400 m of main street and eight 100 m branches
    assert comb_region.length_km() == pytest.approx(2.2, rel=1e-6)


def test_road_classes_come_from_the_highway_tag(comb_region: RegionGraph) -> None:
    for i, name in EXPECTED_CLASS.items():
        e = edge_at(comb_region, (100.0 * i, 0.0), (100.0 * i, 100.0))
        assert ROAD_CLASSES[comb_region.classes[e]] == name, i
    main = edge_at(comb_region, (700.0, 0.0), (1300.0, 0.0))  # through the dropped branches
    assert ROAD_CLASSES[comb_region.classes[main]] == "primary"
    assert comb_region.n_edges == 17


def test_edge_lengths_are_metres_on_the_ground(comb_region: RegionGraph) -> None:
    G = cut(comb_region, TileSpec((E0 + 700.0, N0 + 50.0), 2000.0))
    assert G.number_of_edges() == comb_region.n_edges
    lengths = sorted(round(d["length"], 3) for _, _, d in G.edges(data=True))
    assert lengths == [100.0] * 16 + [600.0]
    lon, lat = TO_LONLAT.transform([E0 + 100.0, E0 + 100.0], [N0, N0 + 100.0])
    _, _, ground = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    assert ground == pytest.approx(100.0, rel=1e-3)  # UTM metres are ground metres to 0.1 %


@pytest.mark.parametrize(
    ("highway", "expected"),
    [
        ("motorway", "motorway"),
        ("motorway_link", "motorway"),
        ("trunk_link", "trunk"),
        ("primary_link", "primary"),
        ("secondary_link", "secondary"),
        ("tertiary", "tertiary"),
        ("residential", "residential"),
        ("living_street", "residential"),
        ("service", "service"),
        ("unclassified", "other"),
        ("road", "other"),
        (None, "other"),
        (["residential", "primary"], "primary"),
        (["service", "unclassified"], "service"),
        ([], "other"),
    ],
)
def test_road_class_mapping(highway: object, expected: str) -> None:
    assert road_class(highway) == expected
    assert expected in CLASS_ID


def staggered_junction() -> nx.MultiDiGraph:
    # two T-junctions 8 m apart on one street: one intersection in reality
    points = {
        1: (-300.0, 0.0),
        2: (-4.0, 0.0),
        3: (4.0, 0.0),
        4: (300.0, 0.0),
        5: (-4.0, 300.0),
        6: (4.0, -300.0),
    }
    ways = [([1, 2, 3, 4], {"highway": "secondary"}), ([2, 5], {"highway": "residential"}),
            ([3, 6], {"highway": "residential"})]  # fmt: skip
    return raw_graph(points, ways)


@pytest.mark.parametrize(
    ("tolerance", "nodes", "edges"), [(0.0, 6, 5), (3.0, 6, 5), (5.0, 5, 4), (10.0, 5, 4)]
)
def test_consolidation_tolerance_merges_close_intersections(
    tolerance: float, nodes: int, edges: int
) -> None:
    # osmnx buffers each node by the tolerance: nodes up to 2 x tolerance apart merge
    region = clean(staggered_junction(), tolerance=tolerance)
    assert (region.n_nodes, region.n_edges) == (nodes, edges)
    if nodes == 5:
        centre = local(region)[np.argmin(np.hypot(*local(region).T))]
        np.testing.assert_allclose(centre, [0.0, 0.0], atol=0.01)


def test_clean_gives_an_undirected_simple_graph() -> None:
    points = {1: (0.0, 0.0), 2: (200.0, 0.0), 3: (400.0, 0.0)}
    ring = list(range(10, 18))
    for k, n in enumerate(ring):  # an octagonal loop road of radius 50 m hanging off node 3
        a = 2 * np.pi * k / 8 + np.pi
        points[n] = (450.0 + 50.0 * np.cos(a), 50.0 * np.sin(a))
    ways = [
        ([1, 2], {"highway": "residential"}),
        ([2, 1], {"highway": "secondary"}),  # the same street again, drawn the other way
        ([1, 2], {"highway": "residential"}),  # and a third time
        ([2, 3], {"highway": "residential"}),
        ([3, *ring[1:], 3], {"highway": "residential"}),
    ]
    points.pop(ring[0])  # node 3 is the ring's west end
    points[3] = (400.0, 0.0)
    region = clean(raw_graph(points, ways))
    assert np.all(region.edges[:, 0] < region.edges[:, 1])  # u < v: undirected, no self-loop
    assert len({tuple(e) for e in region.edges.tolist()}) == region.n_edges  # no duplicates
    assert region.edges.tolist() == sorted(region.edges.tolist())
    assert np.array_equal(np.unique(region.edges), np.arange(region.n_nodes))  # no isolated node
    G = nx.Graph(region.edges.tolist())
    assert nx.number_of_selfloops(G) == 0
    dup = edge_at(region, (0.0, 0.0), (200.0, 0.0))
    assert ROAD_CLASSES[region.classes[dup]] == "secondary"  # the more important class wins
    # the loop is drawn with straight edges through its bends: 400 m + an octagon of radius 50 m
    assert region.length_km() * 1000 == pytest.approx(400.0 + 8 * 100 * np.sin(np.pi / 8), rel=1e-3)
    assert nx.cycle_basis(G)  # the loop is still a loop


def test_clean_raises_when_nothing_is_drivable() -> None:
    G = raw_graph({1: (0.0, 0.0), 2: (100.0, 0.0)}, [([1, 2], {"highway": "footway"})])
    with pytest.raises(InputDataError, match="no drivable streets"):
        clean(G)
    with pytest.raises(InputDataError, match="no drivable streets"):
        clean(nx.MultiDiGraph(crs="EPSG:4326"))


def test_cleaned_bundled_extract_is_a_simple_metric_graph(bundled_test_dir: Path) -> None:
    ds = load_dataset(bundled_test_dir)
    region = ds.region("test")
    assert pyproj.CRS(region.crs).to_epsg() == 32635
    assert region.xy.dtype == np.float64
    assert region.edges.dtype == np.int64
    assert region.classes.dtype == np.int8
    assert np.all(region.edges[:, 0] < region.edges[:, 1])
    assert len({tuple(e) for e in region.edges.tolist()}) == region.n_edges
    assert np.array_equal(np.unique(region.edges), np.arange(region.n_nodes))
    assert set(region.classes.tolist()) <= set(range(len(ROAD_CLASSES)))
    assert len(set(region.classes.tolist())) >= 3
    d = np.hypot(*(region.xy[region.edges[:, 0]] - region.xy[region.edges[:, 1]]).T)
    assert d.min() > 0.5  # no zero-length edge
    assert not cKDTree(region.xy).query_pairs(0.5)  # coincident nodes were merged
    hull = shapely.Polygon(region.hull)
    assert hull.buffer(1e-6).contains(shapely.multipoints(region.xy))
    assert 10 < region.length_km() < 1000
