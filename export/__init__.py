"""Export layouts to GIS (GeoJSON), osmnx (GraphML), JOSM and SUMO (OSM XML) and PNG.

One module per concept:

- :mod:`export.geo`: placing a tile on Earth (pyproj), ``--center`` parsing;
- :mod:`export.streets`: street segments between junctions, the unit all formats share;
- :mod:`export.geojson`, :mod:`export.graphml`, :mod:`export.osmxml`, :mod:`export.plot`:
  one format each, with a ``write_<format>(layout, path, center, metadata)`` function;
- :mod:`export.write`: every format of a run at once (:func:`write_layouts`).

>>> from export import write_layouts
>>> write_layouts(layouts, "out", formats="geojson,png", metadata={"seed": 0})  # doctest: +SKIP

Names are imported lazily, so ``import export`` stays cheap until a writer is used.
"""

from __future__ import annotations

from typing import Any

_LAZY: dict[str, str] = {
    "DEFAULT_CENTER": "export.geo",
    "parse_center": "export.geo",
    "FORMATS": "export.write",
    "parse_formats": "export.write",
    "write_layouts": "export.write",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'export' has no attribute {name!r}"
    raise AttributeError(msg)
