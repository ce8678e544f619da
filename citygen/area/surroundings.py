"""The style of the real streets around a site: style rows of tile-sized windows of the context.

A style model (:mod:`citygen.style`) draws each tile's style from a bank of real tiles' styles;
left to the model's own bank, an infill site in central Milan gets the style of a random
training tile (a village as often as a city centre), and the model fills it as sparsely as that
style asks (55 to 88% of the new street length was then straight joining streets). The windows
of :func:`style_bank_around` are the real streets next to the site, so the new streets are drawn
in the style of their neighbourhood, as the issue's infill asks ("the model fills the inside").
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import shapely

from citygen.area.crop import crop

#: A window that lies more than this share inside the site says little about its surroundings.
MAX_INSIDE = 0.5
#: Windows with fewer street nodes are left out, as ``prepare`` leaves out such tiles.
MIN_NODES = 8
#: A window must lie this much inside the context's extent (the hull of its nodes): one at the
#: edge of an extract has streets on part of it only, and looks sparser than the place is.
MIN_COVERED = 0.9


def window_layout(G: nx.Graph, x0: float, y0: float, size: float) -> nx.Graph:
    """Return the streets of ``G`` in the window ``[x0, x0 + size] x [y0, y0 + size]``.

    Parameters
    ----------
    G
        Street graph (node ``x``, ``y`` metres; edge ``highway``, ``length``).
    x0, y0
        South-west corner of the window, metres.
    size
        Side of the window, metres.

    Returns
    -------
    networkx.Graph
        A layout in the window's frame (origin at its corner, ``tile_size`` = ``size``):
        streets leaving it are cut at its side and end in ``border`` nodes.
    """
    reach = size  # edges longer than the window are rare; their far ends lie within this
    near = [
        n
        for n, d in G.nodes(data=True)
        if x0 - reach <= d["x"] <= x0 + size + reach and y0 - reach <= d["y"] <= y0 + size + reach
    ]
    H = nx.Graph(tile_size=float(size))
    for n in near:
        d = G.nodes[n]
        H.add_node(n, x=d["x"] - x0, y=d["y"] - y0, border=False)
    for u, v, d in G.subgraph(near).edges(data=True):
        H.add_edge(u, v, highway=d.get("highway", "other"), length=float(d["length"]))
    return crop(H, size, size, 0.0)


def window_corners(
    site: shapely.Geometry,
    size: float,
    extent: shapely.Geometry | None = None,
    max_inside: float = MAX_INSIDE,
) -> list[tuple[float, float]]:
    """South-west corners of the windows around a site (see :func:`style_bank_around`)."""
    minx, miny, maxx, maxy = site.bounds
    nx_, ny_ = math.ceil((maxx - minx) / size - 1e-9), math.ceil((maxy - miny) / size - 1e-9)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    x_first = cx - (nx_ / 2 + 1) * size  # the site's grid, one window wider on every side
    y_first = cy - (ny_ / 2 + 1) * size
    out = []
    for i in range(nx_ + 2):
        for j in range(ny_ + 2):
            x0, y0 = x_first + i * size, y_first + j * size
            box = shapely.box(x0, y0, x0 + size, y0 + size)
            if shapely.area(shapely.intersection(box, site)) > max_inside * size * size:
                continue
            if extent is not None and (
                shapely.area(shapely.intersection(box, extent)) < MIN_COVERED * size * size
            ):
                continue
            out.append((x0, y0))
    return out


def style_bank_around(
    context: nx.Graph, site: shapely.Geometry, size: float, min_nodes: int = MIN_NODES
) -> np.ndarray | None:
    """Raw style rows of the real streets in ``size`` windows around a site.

    The windows tile the site's bounding box, centred on it, plus one window on every side;
    those lying more than :data:`MAX_INSIDE` inside the site or less than :data:`MIN_COVERED`
    inside the context's extent are left out, and so are windows with fewer than ``min_nodes``
    street nodes. If no window is left (an extract hardly larger than the site), the windows
    over the site count too, with the real streets inside it (the context is uncut).

    Parameters
    ----------
    context
        Real streets (node ``x``, ``y`` metres; edge ``highway``, ``length``), uncut.
    site
        Site polygon, same CRS.
    size
        Window side, metres (the model's tile size).
    min_nodes
        Least nodes of a window that counts.

    Returns
    -------
    numpy.ndarray or None
        ``(k, STYLE_DIM)`` raw style rows (:func:`citygen.style.style_of_layout`); None if no
        window has streets enough.
    """
    from citygen.style import style_of_layout

    xy = np.array([(d["x"], d["y"]) for _, d in context.nodes(data=True)]).reshape(-1, 2)
    extent = shapely.MultiPoint(xy).convex_hull if len(xy) >= 3 else None
    for max_inside in (MAX_INSIDE, 1.0):
        rows = []
        for x0, y0 in window_corners(site, size, extent, max_inside):
            H = window_layout(context, x0, y0, size)
            if H.number_of_nodes() >= min_nodes and H.number_of_edges() > 0:
                rows.append(style_of_layout(H))
        if rows:
            return np.array(rows)
    return None
