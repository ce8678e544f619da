"""Placing tiles on Earth: --center parsing, exact inverse, tile centre at the centre."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pyproj
import pytest

from citygen.errors import UsageError
from citygen.layout import add_street, new_layout
from data_prep.tiles import TileSpec
from export.geo import (
    DEFAULT_CENTER,
    Placement,
    check_center,
    geodesic_distance_m,
    geodesic_length_m,
    parse_center,
    resolve_placement,
)

HELSINKI = (60.1699, 24.9384)


def _tiny_layout(**attrs: object) -> nx.Graph:
    G = new_layout(1000.0, **attrs)
    G.add_node(0, x=100.0, y=500.0, border=False)
    G.add_node(1, x=900.0, y=500.0, border=False)
    add_street(G, 0, 1, "residential")
    return G


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60.1699,24.9384", (60.1699, 24.9384)),
        (" -33.9 , 18.4 ", (-33.9, 18.4)),
        ("0,-180", (0, -180)),
    ],
)
def test_parse_center_accepts_lat_lon(text: str, expected: tuple[float, float]) -> None:
    assert parse_center(text) == expected


@pytest.mark.parametrize(
    "text", ["abc", "60.1", "1,2,3", "95,0", "-90.5,0", "0,181", "nan,0", "inf,0", "", "60;24"]
)
def test_parse_center_rejects_malformed_or_out_of_range(text: str) -> None:
    with pytest.raises(UsageError):
        parse_center(text)


def test_check_center_rejects_non_numbers() -> None:
    with pytest.raises(UsageError, match="two numbers"):
        check_center(("north", 1))  # type: ignore[arg-type]


def test_tile_centre_lands_on_the_centre_and_north_is_up() -> None:
    p = Placement.at_center(HELSINKI, 1000.0)
    lat, lon = p.center_latlon()
    assert geodesic_distance_m((lon, lat), HELSINKI[::-1]) < 1e-6
    north, east = p.to_lonlat(np.array([[500.0, 1000.0], [1000.0, 500.0]]))
    assert north[0] == pytest.approx(HELSINKI[1], abs=1e-12)
    assert north[1] > HELSINKI[0]
    assert east[0] > HELSINKI[1]
    assert east[1] == pytest.approx(HELSINKI[0], abs=1e-6)
    assert geodesic_distance_m(tuple(north), HELSINKI[::-1]) == pytest.approx(500.0, abs=1e-6)


def test_inverse_is_exact_and_distances_are_kept() -> None:
    p = Placement.at_center((-33.9, 18.4), 1000.0)
    xy = np.random.default_rng(0).uniform(0.0, 1000.0, size=(200, 2))
    lonlat = p.to_lonlat(xy)
    assert np.abs(p.to_tile(lonlat) - xy).max() < 1e-6  # metres
    planar = np.hypot(*(xy[1:] - xy[:-1]).T)
    geodesic = [geodesic_length_m(lonlat[i : i + 2]) for i in range(len(xy) - 1)]
    np.testing.assert_allclose(geodesic, planar, rtol=1e-6)


@pytest.mark.parametrize("center", [(0.0, 179.999), (0.0, -179.9995), (89.9999, 10.0)])
def test_tiles_over_the_antimeridian_or_a_pole_are_refused(center: tuple[float, float]) -> None:
    with pytest.raises(UsageError, match="antimeridian or a pole"):
        Placement.at_center(center, 1000.0)


def test_near_the_antimeridian_but_inside_is_fine() -> None:
    lonlat = Placement.at_center((0.0, 179.99), 1000.0).to_lonlat(np.array([[1000.0, 0.0]]))
    assert 179.99 < lonlat[0, 0] < 180.0


def test_real_place_follows_the_tile_crs_rotation_and_reflection() -> None:
    spec = TileSpec((496753.16, 6709939.99), 1000.0, rotation=0.3, reflect=True)
    G = _tiny_layout(crs="EPSG:32635", center=list(spec.center), rotation=0.3, reflect=True)
    p = resolve_placement(G, None)
    xy = np.array([[0.0, 0.0], [1000.0, 250.0], [500.0, 500.0]])
    to_wgs = pyproj.Transformer.from_crs("EPSG:32635", "EPSG:4326", always_xy=True)
    expected = np.column_stack(to_wgs.transform(*spec.to_map(xy).T))
    np.testing.assert_allclose(p.to_lonlat(xy), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.to_tile(expected), xy, atol=1e-6)


def test_resolve_placement_prefers_center_then_real_place_then_helsinki() -> None:
    real = _tiny_layout(crs="EPSG:32635", center=[496753.16, 6709939.99])
    assert resolve_placement(real, (10.0, 20.0)).center_latlon() == pytest.approx((10.0, 20.0))
    to_wgs = pyproj.Transformer.from_crs("EPSG:32635", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(496753.16, 6709939.99)
    assert resolve_placement(real, None).center_latlon() == pytest.approx((lat, lon), abs=1e-12)
    assert resolve_placement(_tiny_layout(), None).center_latlon() == pytest.approx(DEFAULT_CENTER)


def test_geodesic_length_of_one_degree_on_the_equator() -> None:
    assert geodesic_length_m(np.array([[0.0, 0.0], [1.0, 0.0]])) == pytest.approx(
        111319.49, abs=0.01
    )
    assert geodesic_length_m(np.zeros((1, 2))) == 0.0
    assert math.isclose(geodesic_distance_m((0, 0), (0, 0)), 0.0)
