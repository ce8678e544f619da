"""Write a generated area as one file per format: GeoJSON, GraphML, OSM XML and a PNG.

Files, in ``out_dir``: ``area.geojson``, ``area.graphml``, ``area.osm``, ``area.png`` (the
formats asked for). The area is placed with its centre at ``center`` (latitude, longitude;
default Helsinki), north up, through the same local projection as single tiles
(:mod:`export.geo`). Every check runs before the first file is written, and every file is
written atomically.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import networkx as nx

from export.geo import check_center, resolve_placement
from export.streets import street_network
from export.write import FORMATS, parse_formats, prepare_out_dir, run_metadata

#: File stem of an area's files.
STEM = "area"
_WRITERS = {
    "geojson": "export.geojson:write_geojson_network",
    "graphml": "export.graphml:write_graphml_network",
    "osm": "export.osmxml:write_osm_network",
}


def centred(A: nx.Graph) -> nx.Graph:
    """Copy of an area graph in the square that exporters place (area centred in it)."""
    side = float(max(A.graph["width_m"], A.graph["height_m"]))
    dx, dy = (side - A.graph["width_m"]) / 2, (side - A.graph["height_m"]) / 2
    G = A.copy()
    G.graph["tile_size"] = side
    if dx or dy:
        for _, d in G.nodes(data=True):
            d["x"] += dx
            d["y"] += dy
    return G


def write_area(
    A: nx.Graph,
    out_dir: str | Path,
    formats: str | tuple[str, ...] | None = ("geojson", "png"),
    center: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
    stem: str = STEM,
) -> list[Path]:
    """Export an area graph, one file per format.

    Parameters
    ----------
    A
        An area graph (:func:`citygen.area.generate_area`).
    out_dir
        Output directory (created if missing).
    formats
        Names from :data:`export.write.FORMATS`, a sequence or ``"geojson,osm"``.
    center
        ``(latitude, longitude)`` of the area's centre, degrees (default Helsinki).
    metadata
        Run facts stored in the files (model, seed, objective); the area's size and
        generation statistics are added.
    stem
        File name stem.

    Returns
    -------
    list of Path
        The files written, in format order.
    """
    fmts = parse_formats(formats)
    if center is not None:
        center = check_center(center)
    G = centred(A)
    meta = run_metadata(
        {
            **(metadata or {}),
            "area_m": [A.graph["width_m"], A.graph["height_m"]],
            "area_tile_m": A.graph["area_tile_m"],
            "area_stats": A.graph.get("stats"),
        }
    )
    net = street_network(G, resolve_placement(G, center), meta) if set(fmts) - {"png"} else None
    out = prepare_out_dir(out_dir)
    written = []
    for fmt in fmts:
        path = out / f"{stem}{FORMATS[fmt]}"
        if fmt == "png":
            from export import plot

            km = G.graph["tile_size"] / 1000.0
            label = f"seed {meta.get('seed')} · {A.graph['width_m']:g} x {A.graph['height_m']:g} m"
            plot.write_png(G, path, label, dpi=int(min(600, max(150, 60 * math.ceil(km)))))
        else:
            module, name = _WRITERS[fmt].split(":")
            getattr(importlib.import_module(module), name)(net, path)
        written.append(path)
    return written
