"""PNG plots: class styles, scale bar, corner label, sheets."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.image as mpimg
import networkx as nx
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from citygen.layout import add_street, new_layout
from export.plot import CLASS_STYLE, plot_layout, scale_bar_length, write_png, write_sheet


def two_classes() -> nx.Graph:
    """A primary street crossed by a residential one in a 1000 m tile."""
    G = new_layout(1000.0)
    for n, (x, y) in enumerate([(0, 500), (500, 500), (1000, 500), (500, 0), (500, 1000)]):
        G.add_node(n, x=float(x), y=float(y), border=n != 1)
    add_street(G, 0, 1, "primary")
    add_street(G, 1, 2, "primary")
    add_street(G, 3, 1, "residential")
    add_street(G, 1, 4, "residential")
    return G


@pytest.mark.parametrize(
    ("extent", "expected"), [(1000.0, 200.0), (2000.0, 500.0), (80.0, 20.0), (4000.0, 1000.0)]
)
def test_scale_bar_is_a_round_length(extent: float, expected: float) -> None:
    assert scale_bar_length(extent) == expected


def test_streets_are_coloured_and_sized_by_class() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    plot_layout(ax, two_classes(), "seed 4")
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    styles = {
        (mcolors.to_hex(c.get_colors()[0]), float(c.get_linewidths()[0])): len(c.get_segments())
        for c in lines
    }
    assert styles == {CLASS_STYLE["residential"]: 2, CLASS_STYLE["primary"]: 2}
    texts = [t.get_text() for t in ax.texts]
    assert "seed 4" in texts
    assert "200 m" in texts  # the scale bar of a 1 km tile


def test_png_and_sheet_are_written(tmp_path: Path) -> None:
    png = write_png(two_classes(), tmp_path / "one.png", "seed 0", dpi=50)
    image = mpimg.imread(png)
    assert image.shape[0] > 200
    assert image.shape[1] > 200
    sheet = write_sheet([two_classes()] * 3, tmp_path / "sheet.png", ["a", "b", "c"], dpi=40)
    assert mpimg.imread(sheet).shape[1] == pytest.approx(2 * 3 * 40, abs=4)  # 2 columns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "sheet.png"]
