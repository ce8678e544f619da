"""Read an infill site, and write infill candidates: networks in every format and pictures.

Files, in ``out_dir``::

    candidate_K/merged.{geojson,graphml,osm}   real + new streets, each flagged ``generated``
    candidate_K/new.{geojson,graphml,osm}      the new streets alone
    candidate_K/over_context.png               the new streets drawn over the real ones
    sheet.png                                  all candidates with their objective values
    candidates.json                            seeds, joins and objective values

Every street of every format carries ``generated`` (True for a new street, False for a real
one; GraphML "True"/"False", OSM XML ``citygen:generated=yes``/``no``) and ``connector``
(a straight joining street, not drawn by the model); see :mod:`export.streets`. Candidates
are numbered best first when an objective ranks them. The networks cover the site's
bounding box plus :data:`WINDOW_M` around it (real streets cut at the window's edge), placed at
their real position (the context's CRS).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyproj
import shapely

from citygen import atomic
from citygen.errors import InputDataError, UsageError

#: Real streets this far around the site are exported with each candidate, metres.
WINDOW_M = 500.0


def read_site(path: str | Path, crs: str) -> shapely.Geometry:
    """Read a site polygon (GeoJSON or any file GDAL reads, any CRS) into ``crs``.

    Raises
    ------
    InputDataError
        If the file cannot be read or holds no geometry.
    UsageError
        If its CRS has no units of length (nor degrees) to convert from.
    """
    import geopandas as gpd

    p = Path(path)
    if not p.is_file():
        msg = f"no such site file: {p}"
        raise InputDataError(msg)
    try:
        df = gpd.read_file(p)
    except Exception as exc:
        msg = (
            f"cannot read site {p}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
        raise InputDataError(msg) from None
    if df.empty or df.geometry.isna().all():
        msg = f"site file {p} holds no geometry"
        raise InputDataError(msg)
    src = pyproj.CRS.from_user_input(df.crs) if df.crs is not None else pyproj.CRS.from_epsg(4326)
    units = sorted({a.unit_name or "none" for a in src.axis_info})
    unitless = any(u.lower() in ("unity", "unknown", "none", "") for u in units)
    if not src.is_geographic and (unitless or not src.axis_info):
        msg = f"site CRS {src.name!r} has no units of length ({', '.join(units) or 'no axes'})"
        raise UsageError(msg)
    geom = shapely.union_all(df.geometry.dropna().to_numpy())
    if not shapely.is_valid(geom):
        msg = f"site polygon is invalid ({shapely.is_valid_reason(geom)})"
        raise InputDataError(msg)
    try:
        tr = pyproj.Transformer.from_crs(src, pyproj.CRS.from_user_input(crs), always_xy=True)
    except pyproj.exceptions.ProjError:
        msg = f"cannot convert the site from {src.name!r} to the context's {crs}"
        raise UsageError(msg) from None
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _window(G: nx.Graph, site: shapely.Geometry, new_only: bool = False) -> nx.Graph:
    """Copy of ``G`` cut to the site's box plus :data:`WINDOW_M`, in a frame for the exporters.

    Edge flags ``generated`` and ``connector`` are kept (False where unset); ``new_only``
    keeps the generated streets alone.
    """
    from citygen.area.crop import crop

    minx, miny, maxx, maxy = site.bounds
    ox, oy = minx - WINDOW_M, miny - WINDOW_M
    w, h = maxx - minx + 2 * WINDOW_M, maxy - miny + 2 * WINDOW_M
    H = nx.Graph()
    edges = [(u, v, d) for u, v, d in G.edges(data=True) if d.get("generated") or not new_only]
    nodes = {n for u, v, _ in edges for n in (u, v)} if new_only else set(G.nodes)
    for n in nodes:
        d = G.nodes[n]
        H.add_node(n, x=d["x"] - ox, y=d["y"] - oy, border=False)
    for u, v, d in edges:
        flags = {"generated": bool(d.get("generated")), "connector": bool(d.get("connector"))}
        H.add_edge(u, v, **{**d, **flags})
    crop(H, w, h, 0.0)
    H.graph.update(
        width_m=w,
        height_m=h,
        area_tile_m=w,
        crs=G.graph.get("crs"),
        center=[ox + w / 2, oy + h / 2],
        rotation=0.0,
        reflect=False,
    )
    return H


def _draw(
    ax: Any, H: nx.Graph, site: shapely.Geometry, origin: tuple[float, float], title: str
) -> None:
    from matplotlib.collections import LineCollection

    xy = {n: (d["x"], d["y"]) for n, d in H.nodes(data=True)}
    for gen, colour, lw in ((False, "#9a9a9a", 0.8), (True, "#d62728", 1.4)):
        segs = [[xy[u], xy[v]] for u, v, g in H.edges(data="generated") if bool(g) == gen]
        if segs:
            ax.add_collection(LineCollection(segs, colors=colour, linewidths=lw))
    for ring in getattr(site, "geoms", [site]):
        bx, by = ring.exterior.xy
        ax.plot(np.asarray(bx) - origin[0], np.asarray(by) - origin[1], "--", color="#1f77b4", lw=1)
    ax.set_xlim(0, H.graph["width_m"])
    ax.set_ylim(0, H.graph["height_m"])
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)


def _label(cand: Any) -> str:
    v = cand.values
    tt = v.get("travel_time", math.nan)
    return (
        f"seed {cand.seed} · connectivity {v.get('connectivity', math.nan):.2f} · "
        f"travel {tt:.0f} s · length {v.get('length', 0.0):.1f} km"
    )


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic.atomic_path(path) as tmp, tmp.open("wb") as fh:
        fig.savefig(fh, format="png", dpi=120, bbox_inches="tight", facecolor="white")
    return path


def write_candidates(
    cands: list,
    site: shapely.Geometry,
    out_dir: str | Path,
    formats: Any = "all",
    metadata: dict | None = None,
) -> list[Path]:
    """Write every candidate (see the module docstring); return the files written."""
    from matplotlib.figure import Figure

    from citygen.area.export import write_area
    from export.write import parse_formats, prepare_out_dir

    fmts = tuple(f for f in parse_formats(formats) if f != "png")
    out = prepare_out_dir(out_dir)
    minx, miny = site.bounds[0] - WINDOW_M, site.bounds[1] - WINDOW_M
    written: list[Path] = []
    n = len(cands)
    cols = min(4, n)
    sheet = Figure(figsize=(4 * cols, 4.2 * math.ceil(n / cols)))
    for k, cand in enumerate(cands):
        d = out / f"candidate_{k}"
        M = _window(cand.graph, site)
        N = _window(cand.graph, site, new_only=True)
        meta = {**(metadata or {}), "seed": cand.seed, "objective_values": cand.values}
        if fmts:
            written += write_area(M, d, fmts, None, meta, stem="merged")
            written += write_area(N, d, fmts, None, meta, stem="new")
        else:
            d.mkdir(exist_ok=True)
        fig = Figure(figsize=(6, 6.3))
        _draw(fig.add_subplot(1, 1, 1), M, site, (minx, miny), _label(cand))
        written.append(_save(fig, d / "over_context.png"))
        _draw(
            sheet.add_subplot(math.ceil(n / cols), cols, k + 1),
            M,
            site,
            (minx, miny),
            f"#{k} " + _label(cand),
        )
    written.append(_save(sheet, out / "sheet.png"))
    table = [
        {
            "candidate": k,
            "seed": c.seed,
            "tries": c.tries,
            "style_windows": c.style_windows,
            "fixed_nodes": len(c.fixed),
            "unjoined": len(c.unjoined),
            "components": nx.number_connected_components(c.graph),
            "values": c.values,
            "score": c.score,
        }
        for k, c in enumerate(cands)
    ]
    atomic.write_text(out / "candidates.json", json.dumps(table, indent=2) + "\n")
    written.append(out / "candidates.json")
    return written
