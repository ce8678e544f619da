"""The style of the real streets around an infill site, from windows of the context."""

from __future__ import annotations

import networkx as nx
import pytest
import shapely

from citygen.area.surroundings import style_bank_around, window_corners, window_layout
from citygen.layout import add_street
from citygen.style import STYLE_KEYS


def grid(side: float = 5000.0, step: float = 100.0) -> nx.Graph:
    """A regular street grid of ``step`` blocks over ``side`` metres, origin at (0, 0)."""
    n = int(side / step) + 1
    G = nx.Graph()
    for i in range(n):
        for j in range(n):
            G.add_node(i * n + j, x=i * step, y=j * step)
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                add_street(G, i * n + j, (i + 1) * n + j, "residential")
            if j + 1 < n:
                add_street(G, i * n + j, i * n + j + 1, "residential")
    return G


def test_a_window_is_a_layout_cut_at_its_sides():
    H = window_layout(grid(), 1050.0, 1050.0, 1000.0)
    assert H.graph["tile_size"] == 1000.0
    border = [n for n, b in H.nodes(data="border") if b]
    assert len(border) == 4 * 10  # ten streets leave through each side
    assert all(0.0 <= d["x"] <= 1000.0 and 0.0 <= d["y"] <= 1000.0 for _, d in H.nodes(data=True))


def test_windows_around_a_site_leave_out_the_site_and_the_extract_edge():
    site = shapely.box(2000.0, 2000.0, 3000.0, 3000.0)
    corners = window_corners(site, 1000.0)
    assert len(corners) == 8  # the ring around the site; the site's own window is left out
    extent = shapely.box(0.0, 0.0, 3000.0, 5000.0)
    assert len(window_corners(site, 1000.0, extent)) == 5  # the east column lies outside


def test_the_bank_of_a_grid_is_a_dense_grid():
    site = shapely.box(2000.0, 2000.0, 3000.0, 3000.0)
    bank = style_bank_around(grid(), site, 1000.0)
    assert bank.shape == (8, len(STYLE_KEYS))
    style = dict(zip(STYLE_KEYS, bank.mean(0), strict=True))
    assert style["street_km"] == pytest.approx(20.0, rel=0.1)  # 100 m blocks: 20 km per km2
    assert style["density"] >= 81  # 9 x 9 inner four-way junctions at least
    assert style["grid"] > 0.95
    assert style["dead_end"] == 0.0


def test_an_extract_hardly_larger_than_the_site_gives_the_site_window():
    G = grid(side=1400.0)  # every window around the site reaches past the extract
    site = shapely.box(200.0, 200.0, 1200.0, 1200.0)
    assert window_corners(site, 1000.0, shapely.box(0.0, 0.0, 1400.0, 1400.0)) == []
    bank = style_bank_around(G, site, 1000.0)
    assert bank.shape == (1, len(STYLE_KEYS))  # the window over the site, its real streets
    assert bank[0, STYLE_KEYS.index("street_km")] == pytest.approx(20.0, rel=0.1)


def test_no_streets_around_gives_no_bank():
    G = grid(side=300.0, step=300.0)  # four nodes: fewer than a window needs
    assert style_bank_around(G, shapely.box(0.0, 0.0, 300.0, 300.0), 1000.0) is None
