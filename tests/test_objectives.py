"""Objective functions on hand-made layouts with known answers, and weighted combinations."""

import math

import networkx as nx
import numpy as np
import pytest

from citygen.errors import UsageError
from citygen.layout import add_street, new_layout
from citygen.objectives import (
    OBJECTIVES,
    calibrate,
    connectivity,
    dead_end_share,
    giant_share,
    length,
    meshedness,
    parse_objective,
    travel_report,
    travel_time,
)
from citygen.objectives.result import pick_best
from citygen.objectives.validity import is_valid

WALK_MS = 5.0 / 3.6


def layout(
    points: dict, streets: list, border: tuple = (), highway: str = "residential"
) -> nx.Graph:
    """A layout from ``{id: (x, y)}`` and ``[(u, v), ...]`` (metres, 1 km tile)."""
    G = new_layout(1000.0)
    for v, (x, y) in points.items():
        G.add_node(v, x=float(x), y=float(y), border=v in border)
    for u, v in streets:
        add_street(G, u, v, highway)
    return G


def grid(k: int = 4, step: float = 100.0, x0: float = 100.0) -> nx.Graph:
    pts = {(i, j): (x0 + i * step, x0 + j * step) for i in range(k) for j in range(k)}
    edges = [((i, j), (i + 1, j)) for i in range(k - 1) for j in range(k)]
    edges += [((i, j), (i, j + 1)) for i in range(k) for j in range(k - 1)]
    return layout(pts, edges)


def path(n: int = 5, border_ends: bool = False) -> nx.Graph:
    pts = {i: (100.0 + 100.0 * i, 500.0) for i in range(n)}
    return layout(pts, [(i, i + 1) for i in range(n - 1)], border=(0, n - 1) if border_ends else ())


def ring(n: int = 6) -> nx.Graph:
    pts = {
        i: (500 + 200 * math.cos(2 * math.pi * i / n), 500 + 200 * math.sin(2 * math.pi * i / n))
        for i in range(n)
    }
    return layout(pts, [(i, (i + 1) % n) for i in range(n)])


# ------------------------------------------------------------------------------ connectivity
def test_grid_4x4_known_values():
    G = grid()
    assert giant_share(G) == 1.0
    assert dead_end_share(G) == 0.0
    # e - n + c = 24 - 16 + 1 = 9 faces; the 4 corner bends are suppressed: n = 12
    assert meshedness(G) == pytest.approx(9 / 19)
    assert connectivity(G) == pytest.approx((1 + 1 + 9 / 19) / 3)
    assert length(G) == pytest.approx(2.4)  # 24 streets of 100 m


def test_tree_has_dead_ends_and_no_mesh():
    G = path(5)
    assert dead_end_share(G) == pytest.approx(2 / 5)
    assert meshedness(G) == 0.0
    assert connectivity(G) == pytest.approx((1 + 0.6 + 0) / 3)


def test_border_nodes_are_not_dead_ends():
    G = path(5, border_ends=True)
    assert dead_end_share(G) == 0.0
    assert connectivity(G) == pytest.approx(2 / 3)


def test_ring_is_fully_meshed():
    G = ring(6)
    assert (giant_share(G), dead_end_share(G), meshedness(G)) == (1.0, 0.0, 1.0)
    assert connectivity(G) == 1.0


def test_two_components():
    G = grid()
    G.add_node("a", x=800.0, y=800.0, border=False)
    G.add_node("b", x=900.0, y=900.0, border=False)
    add_street(G, "a", "b", "service")
    assert giant_share(G) == pytest.approx(16 / 18)
    assert dead_end_share(G) == pytest.approx(2 / 18)
    assert meshedness(G) == pytest.approx(9 / (2 * 14 - 5))  # 12 grid junctions + 2 ends


def test_bends_do_not_change_meshedness_but_count_in_length():
    G = grid()
    before = meshedness(G), length(G)
    G.remove_edge((0, 0), (1, 0))
    G.add_node("bend", x=150.0, y=110.0, border=False)
    add_street(G, (0, 0), "bend", "residential")
    add_street(G, "bend", (1, 0), "residential")
    assert meshedness(G) == pytest.approx(before[0])
    assert length(G) > before[1]


def test_empty_layout():
    G = new_layout(1000.0)
    assert (connectivity(G), length(G), giant_share(G)) == (0.0, 0.0, 0.0)
    rep = travel_report(G)
    assert rep.unreachable_share == 1.0
    assert math.isnan(rep.detour_ratio)


# ------------------------------------------------------------------------------- travel time
def street(highway: str = "residential") -> nx.Graph:
    return layout(
        {0: (0, 500), 1: (500, 500), 2: (1000, 500)},
        [(0, 1), (1, 2)],
        border=(0, 2),
        highway=highway,
    )


@pytest.mark.parametrize(
    ("highway", "kmh"), [("residential", 30), ("primary", 60), ("motorway", 100)]
)
def test_travel_time_by_road_class(highway, kmh):
    pairs = np.array([[[0, 500], [1000, 500]]], dtype=float)
    rep = travel_report(street(highway), pairs)
    assert rep.mean_time_s == pytest.approx(1000 / (kmh / 3.6))
    assert rep.detour_ratio == pytest.approx(1.0)
    assert rep.unreachable_share == 0.0


def test_access_legs_are_walked():
    pairs = np.array([[[0, 600], [1000, 600]]], dtype=float)  # 100 m off the street each end
    assert travel_report(street(), pairs).mean_time_s == pytest.approx(200 / WALK_MS + 120.0)


def test_unreachable_pairs_walk_the_straight_line():
    G = layout({0: (0, 500), 1: (400, 500), 2: (600, 500), 3: (1000, 500)}, [(0, 1), (2, 3)])
    pairs = np.array([[[0, 500], [1000, 500]], [[0, 500], [400, 500]]], dtype=float)
    rep = travel_report(G, pairs)
    assert rep.unreachable_share == 0.5
    assert rep.mean_time_s == pytest.approx((1000 / WALK_MS + 400 / (30 / 3.6)) / 2)


def test_detour_ratio_of_an_l_shaped_street():
    G = layout({0: (100, 100), 1: (100, 400), 2: (500, 400)}, [(0, 1), (1, 2)])
    pairs = np.array([[[100, 100], [500, 400]]], dtype=float)
    assert travel_report(G, pairs).detour_ratio == pytest.approx(700 / 500)


def test_travel_time_is_seeded_and_rewards_coverage():
    G = grid(4, step=250.0, x0=125.0)
    assert travel_time(G) == travel_time(G)
    sparse = path(3)
    assert travel_time(G) < travel_time(sparse) < travel_time(new_layout(1000.0))
    assert travel_time(new_layout(1000.0)) == pytest.approx(
        travel_report(new_layout(1000.0)).mean_time_s
    )


# ---------------------------------------------------------------------------- combinations
def test_directions_and_normalisation():
    assert OBJECTIVES["connectivity"].direction == "maximise"
    assert OBJECTIVES["travel_time"].direction == "minimise"
    G = grid()
    o = OBJECTIVES["length"]
    z = -(length(G) - o.loc) / o.scale
    assert parse_objective("length", realism=0).score(G) == pytest.approx(z)
    # weights are relative: 1,0.5 is the same as 2,1 (with or without the realism term)
    for r in (0.0, 0.5):
        a = parse_objective("connectivity,travel_time", "1,0.5", realism=r).score(G)
        b = parse_objective(["connectivity", "travel_time"], [2.0, 1.0], realism=r).score(G)
        assert a == pytest.approx(b)
    # a zero weight drops an objective
    c = parse_objective("connectivity,length", "1,0").score(G)
    assert c == pytest.approx(parse_objective("connectivity").score(G))


def test_realism_term_is_subtracted_from_the_score():
    G = grid()
    plain = parse_objective("length", realism=0)
    steered = parse_objective("length", realism=0.5)
    values = steered.values(G)
    assert set(values) == {"length", "typicality"}
    assert "typicality" not in plain.values(G)
    assert steered.score(G) == pytest.approx(plain.score(G) - 0.5 * values["typicality"])
    assert steered.without_realism().score(G) == pytest.approx(plain.score(G))
    assert steered.describe()["realism"] == 0.5
    assert "corpus" in steered.describe()["realism_reference"]


def test_better_layouts_score_higher():
    comb = parse_objective("connectivity,travel_time")
    assert (
        comb.score(grid(4, step=250.0, x0=125.0))
        > comb.score(path(3))
        > comb.score(new_layout(1000.0))
    )


def test_calibrate_centres_scores():
    layouts = [grid(), path(4), ring(5), path(6, border_ends=True)]
    comb = calibrate(layouts, parse_objective("connectivity,length", realism=0))
    assert np.mean([comb.score(G) for G in layouts]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("names", "weights", "match"),
    [
        ("walkability", None, "unknown objective"),
        ("connectivity,", None, "empty objective"),
        ("connectivity,travel_time", "1", "2 objectives"),
        ("connectivity", "1,2", "1 objectives"),
        ("connectivity,length", "1,-0.5", "non-negative"),
        ("connectivity", "nan", "non-negative"),
        ("connectivity", "abc", "not a number"),
        ("connectivity,length", "0,0", "positive"),
        ("length,length", None, "twice"),
    ],
)
def test_bad_objectives_and_weights(names, weights, match):
    with pytest.raises(UsageError, match=match):
        parse_objective(names, weights)


@pytest.mark.parametrize("realism", [-0.5, float("nan"), float("inf"), True, "0.5", None])
def test_bad_realism_weight(realism):
    with pytest.raises(UsageError, match="--realism"):
        parse_objective("connectivity", realism=realism)


def test_realism_weight_accepts_numpy_numbers():
    assert parse_objective("connectivity", realism=np.float32(0.25)).realism == 0.25


# -------------------------------------------------------------------------------- validity
def test_validity_of_hand_made_layouts():
    assert is_valid(grid())
    assert is_valid(new_layout(1000.0))
    crossing = layout(
        {0: (100, 100), 1: (300, 300), 2: (100, 300), 3: (300, 100)}, [(0, 1), (2, 3)]
    )
    assert not is_valid(crossing)
    close = layout({0: (100, 100), 1: (105, 100)}, [])
    assert not is_valid(close)
    assert is_valid(close, min_dist=4.0)
    # 0-2 runs along 0-1 (node 2 lies on it): an overlapping, duplicate street
    overlap = layout({0: (100, 100), 1: (300, 100), 2: (200, 100)}, [(0, 1), (0, 2)])
    assert not is_valid(overlap)


def test_selection_skips_invalid_candidates():
    scores = np.array([[3.0, 1.0, 2.0], [5.0, 4.0, 0.0]])
    valid = np.array([[False, True, True], [False, False, False]])
    assert pick_best(scores, valid).tolist() == [2, 0]  # no valid one: the best score
