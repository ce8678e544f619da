"""Write a run of layouts in several formats at once (``citygen generate`` and ``export``).

Files of a run, in ``out_dir`` (``NAME`` is ``layout_000``, ``layout_001``, ... unless names
are given)::

    NAME.geojson   GeoJSON FeatureCollection (RFC 7946), format "geojson" (the default)
    NAME.graphml   GraphML for osmnx.load_graphml,           format "graphml"
    NAME.osm       OSM XML for JOSM and SUMO netconvert,      format "osm"
    NAME.png       plot of the layout,                        format "png"
    sheet.png      all layouts of the run on one sheet,       format "png"

Everything that can be checked is checked before the first file is written (format names,
centre, output directory, placement of every layout), and every file is written atomically,
so a failed call leaves no half-written file behind.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
from tqdm import tqdm

from citygen._version import __version__
from citygen.errors import OutputError, UsageError
from export.geo import check_center, resolve_placement
from export.streets import StreetNetwork, street_network

log = logging.getLogger(__name__)

#: Format names, in the order files are written, and their file suffixes.
FORMATS: dict[str, str] = {
    "geojson": ".geojson",
    "graphml": ".graphml",
    "osm": ".osm",
    "png": ".png",
}
#: Format used when none is asked for.
DEFAULT_FORMATS: tuple[str, ...] = ("geojson",)
#: Keys every run's metadata has (None when unknown).
METADATA_KEYS: tuple[str, ...] = ("model", "seed", "objective", "citygen_version")
#: File name of the run's sheet of plots.
SHEET = "sheet.png"


def parse_formats(formats: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``"geojson,graphml"`` or a list of names into a tuple of known formats.

    Parameters
    ----------
    formats
        Comma-separated names, a sequence of names, or None for :data:`DEFAULT_FORMATS`.
        Names are case-insensitive; ``all`` means every format.

    Returns
    -------
    tuple of str
        Unique names in :data:`FORMATS` order.

    Raises
    ------
    UsageError
        On an unknown or empty format name.
    """
    if formats is None:
        return DEFAULT_FORMATS
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = {str(f).strip().lower() for f in items}
    if "all" in names:
        names = (names - {"all"}) | set(FORMATS)
    unknown = sorted(n for n in names if n not in FORMATS)
    if unknown or not names:
        bad = ", ".join(map(repr, unknown)) or repr("")
        msg = f"unknown format {bad}; choose from {', '.join(FORMATS)}"
        raise UsageError(msg)
    return tuple(f for f in FORMATS if f in names)


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create the output directory if needed and check that files can be written in it.

    Raises
    ------
    OutputError
        If the path is an existing file, cannot be created, or is not writable.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"output path {out} is a file, not a directory"
        raise OutputError(msg)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create output directory {out}: {exc.strerror or exc}"
        raise OutputError(msg) from exc
    if not os.access(out, os.W_OK | os.X_OK):
        msg = f"output directory {out} is not writable"
        raise OutputError(msg)
    return out


def run_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Complete the run's metadata: every key of :data:`METADATA_KEYS` present."""
    meta: dict[str, Any] = dict.fromkeys(METADATA_KEYS)
    meta["citygen_version"] = __version__
    meta.update(metadata or {})
    return meta


def _label(meta: dict[str, Any], name: str) -> str:
    """Corner label of a plot: the seed when there is one, else the layout's name."""
    return f"seed {meta['seed']} · {name}" if meta.get("seed") is not None else name


def _networks(
    layouts: Sequence[nx.Graph],
    names: Sequence[str],
    center: tuple[float, float] | None,
    meta: dict[str, Any],
) -> list[StreetNetwork]:
    nets = []
    for i, (G, name) in enumerate(zip(layouts, names, strict=True)):
        layout_meta = {**meta, "layout": i, "name": name}
        if "seed" in G.graph:
            layout_meta["seed"] = G.graph["seed"]
        nets.append(street_network(G, resolve_placement(G, center), layout_meta))
    return nets


#: Writer of each network format, ``module:function`` (imported on first use: osmnx, which the
#: GraphML writer needs, takes longer to import than writing 64 GeoJSON files).
_NETWORK_WRITERS = {
    "geojson": "export.geojson:write_geojson_network",
    "graphml": "export.graphml:write_graphml_network",
    "osm": "export.osmxml:write_osm_network",
}


def _network_writer(fmt: str) -> Any:
    module, name = _NETWORK_WRITERS[fmt].split(":")
    return getattr(importlib.import_module(module), name)


def write_layouts(
    layouts: Sequence[nx.Graph],
    out_dir: str | Path,
    formats: str | Sequence[str] | None = DEFAULT_FORMATS,
    center: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Export layouts in the given formats; one file per layout and format.

    Parameters
    ----------
    layouts
        Layout graphs (see :mod:`citygen.layout`).
    out_dir
        Output directory; created if missing. Existing files of the same name are replaced.
    formats
        Names from :data:`FORMATS` (a sequence or ``"geojson,png"``); default GeoJSON only.
    center
        ``(latitude, longitude)`` in degrees where each tile's centre is placed. None puts a
        layout at its real place if it has one (a prepared tile), else at
        :data:`export.geo.DEFAULT_CENTER` (Helsinki).
    metadata
        Run facts stored in every file: ``model``, ``seed``, ``objective``,
        ``citygen_version`` (missing keys are None; the version defaults to this citygen's).
        A layout's own graph attribute ``seed``, if any, overrides the run's seed.
    names
        File stems, one per layout; default ``layout_000``, ``layout_001``, ...
    progress
        Show a progress bar over the layouts (tqdm, on stderr).

    Returns
    -------
    list of Path
        The written files: per layout in format order, then ``sheet.png`` if PNG was asked.

    Raises
    ------
    UsageError
        On an unknown format, a bad centre, or a layout that cannot be placed there.
    OutputError
        If the output directory is a file or cannot be written.
    """
    fmts = parse_formats(formats)
    if center is not None:
        center = check_center(center)
    stems = list(names) if names is not None else [f"layout_{i:03d}" for i in range(len(layouts))]
    if len(stems) != len(layouts):
        msg = f"got {len(stems)} names for {len(layouts)} layouts"
        raise UsageError(msg)
    meta = run_metadata(metadata)
    nets = _networks(layouts, stems, center, meta)
    out = prepare_out_dir(out_dir)
    written: list[Path] = []
    bar = tqdm(total=len(layouts), desc="writing", unit="layout", disable=not progress)
    for G, net, stem in zip(layouts, nets, stems, strict=True):
        for fmt in fmts:
            path = out / f"{stem}{FORMATS[fmt]}"
            if fmt == "png":
                from export import plot  # matplotlib only when pictures are asked for

                plot.write_png(G, path, _label(net.metadata, stem))
            else:
                _network_writer(fmt)(net, path)
            written.append(path)
        log.info("exported %s (%d streets)", stem, len(net.streets))
        bar.update(1)
    bar.close()
    if "png" in fmts and layouts:
        labels = [_label(n.metadata, s) for n, s in zip(nets, stems, strict=True)]
        from export import plot

        written.append(plot.write_sheet(layouts, out / SHEET, labels))
    return written
