"""PNG plots of layouts: one picture per layout and a contact sheet for a whole run.

Plots are drawn in the tile's own frame (metres, north up), so the scale bar is exact whatever
the placement on Earth. Streets are coloured and sized by road class (:data:`CLASS_STYLE`), the
tile's outline is drawn in light grey, and a label (the seed, or a tile id) sits in the top-left
corner. Matplotlib's Agg canvas is used directly, so plotting never opens a window and does not
touch pyplot's global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from citygen import atomic
from citygen.layout import ROAD_CLASSES

#: Colour and line width (points, for a 6-inch plot) of each road class.
CLASS_STYLE: dict[str, tuple[str, float]] = {
    "motorway": ("#d7263d", 3.4),
    "trunk": ("#f46036", 3.0),
    "primary": ("#f0a202", 2.6),
    "secondary": ("#c5b31b", 2.2),
    "tertiary": ("#6a994e", 1.8),
    "residential": ("#3d405b", 1.2),
    "service": ("#8d99ae", 0.8),
    "other": ("#b08968", 0.8),
}

_NICE = (1, 2, 5)


def scale_bar_length(extent_m: float) -> float:
    """Return a round length (1, 2 or 5 times a power of ten) at most ``extent_m / 4``."""
    target = max(extent_m / 4.0, 1e-9)
    power = 10.0 ** math.floor(math.log10(target))
    return max(k * power for k in _NICE if k * power <= target)


def _segments(G: nx.Graph, road_class: str) -> np.ndarray:
    """Straight edges of one class as an array ``(m, 2, 2)`` of metre coordinates."""
    segs = [
        ((G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"]))
        for u, v, d in G.edges(data=True)
        if d.get("highway", "other") == road_class
    ]
    return np.asarray(segs, dtype=np.float64).reshape(-1, 2, 2)


def _draw_scale_bar(ax: Axes, size: float, scale: float) -> None:
    length = scale_bar_length(size)
    x0, y0 = 0.04 * size, 0.04 * size
    halo = [patheffects.withStroke(linewidth=5.0 * scale, foreground="white")]
    ax.plot(
        [x0, x0 + length],
        [y0, y0],
        color="black",
        lw=2.0 * scale,
        solid_capstyle="butt",
        path_effects=halo,
        zorder=5,
    )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        x0 + length / 2,
        y0 + 0.015 * size,
        label,
        ha="center",
        va="bottom",
        fontsize=8 * scale,
        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
        zorder=5,
    )


def plot_layout(ax: Axes, G: nx.Graph, label: str = "", scale: float = 1.0) -> None:
    """Draw one layout on a matplotlib axes, in metres, with a scale bar and a corner label.

    Parameters
    ----------
    ax
        The axes to draw on.
    G
        A layout graph (see :mod:`citygen.layout`).
    label
        Text for the top-left corner (for example ``"seed 0 · layout 3"``).
    scale
        Factor for line widths and font sizes (smaller for sheets).
    """
    size = float(G.graph["tile_size"])
    ax.add_patch(Rectangle((0, 0), size, size, fill=False, ec="#cccccc", lw=0.8 * scale))
    for road_class in reversed(ROAD_CLASSES):  # most important drawn last, on top
        segs = _segments(G, road_class)
        if segs.size:
            colour, width = CLASS_STYLE[road_class]
            ax.add_collection(
                LineCollection(segs, colors=colour, linewidths=width * scale, capstyle="round")
            )
    _draw_scale_bar(ax, size, scale)
    if label:
        ax.text(
            0.02,
            0.98,
            label,
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=9 * scale,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 2},
        )
    pad = 0.02 * size
    ax.set_xlim(-pad, size + pad)
    ax.set_ylim(-pad, size + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _legend(ax: Axes, G: nx.Graph) -> None:
    present = {d.get("highway", "other") for _, _, d in G.edges(data=True)}
    handles = [
        Line2D([], [], color=CLASS_STYLE[c][0], lw=CLASS_STYLE[c][1], label=c)
        for c in ROAD_CLASSES
        if c in present
    ]
    if handles:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=4,
            fontsize=8,
            frameon=False,
        )


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    FigureCanvasAgg(fig)
    with atomic.atomic_path(path) as tmp, tmp.open("wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return Path(path)


def write_png(G: nx.Graph, path: str | Path, label: str = "", dpi: int = 150) -> Path:
    """Write one layout as a PNG (6 x 6 inches), atomically.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    path
        Output file, conventionally ``*.png``.
    label
        Text for the top-left corner, usually the seed.
    dpi
        Resolution, dots per inch.

    Returns
    -------
    Path
        The written file.
    """
    fig = Figure(figsize=(6, 6.4))
    ax = fig.add_axes((0.02, 0.08, 0.96, 0.9))
    plot_layout(ax, G, label)
    _legend(ax, G)
    return _save(fig, path, dpi)


def write_sheet(
    layouts: Sequence[nx.Graph],
    path: str | Path,
    labels: Sequence[str] | None = None,
    dpi: int = 110,
    cols: int | None = None,
) -> Path:
    """Write a contact sheet of several layouts in a grid, atomically.

    Parameters
    ----------
    layouts
        Layout graphs, drawn left to right, top to bottom.
    path
        Output file, conventionally ``sheet.png``.
    labels
        One corner label per layout (default: the layout's index).
    dpi
        Resolution, dots per inch.
    cols
        Panels per row (default: about the square root of the count).

    Returns
    -------
    Path
        The written file.
    """
    n = max(len(layouts), 1)
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3 * cols, 3 * rows))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.04, hspace=0.04)
    names = list(labels) if labels is not None else [f"layout {i}" for i in range(n)]
    for i, G in enumerate(layouts):
        plot_layout(fig.add_subplot(rows, cols, i + 1), G, names[i], scale=0.6)
    return _save(fig, path, dpi)
