"""GeoJSON (RFC 7946) export: one FeatureCollection per layout.

Layout of a file (``layout_000.geojson``)::

    {"type": "FeatureCollection",
     "bbox": [west, south, east, north],
     "citygen": {"model": ..., "seed": ..., "objective": ..., "citygen_version": ...,
                 "layout": 0, "center": [lat, lon], "tile_size_m": 1000.0, ...},
     "features": [
        {"type": "Feature", "geometry": {"type": "LineString", ...},
         "properties": {"kind": "street", "highway": "residential", "length_m": 120.3,
                        "u": 0, "v": 23, "oneway": false, "name": ""}},
        ...,
        {"type": "Feature", "geometry": {"type": "Point", ...},
         "properties": {"kind": "junction", "node": 0, "degree": 1, "border": true}}]}

Areas and infill candidates add their flags (see :mod:`export.streets`) as boolean properties:
streets ``generated`` (infill), ``connector``, ``reclassed``, ``seam``; junctions ``seam``.

Coordinates are WGS84 ``[longitude, latitude]`` in degrees at full double precision (no
rounding, so every format of a layout carries the same numbers). One LineString per street
segment between junctions (see :mod:`export.streets`), then one Point per junction. Features
have no ``id`` member (GDAL would have to renumber clashing ids with a warning). The metadata
sits in the foreign member ``citygen``, which GIS readers ignore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from citygen import atomic
from export.geo import resolve_placement
from export.streets import Junction, Street, StreetNetwork, street_network

#: Name of the top-level foreign member that holds the metadata.
META_MEMBER = "citygen"


def _street_feature(street: Street, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in street.coords]},
        "properties": {
            "kind": "street",
            "highway": street.highway,
            "length_m": street.length_m,
            "u": street.u,
            "v": street.v,
            "oneway": False,
            "name": "",
        },
    }
    feature["properties"].update({f: f in street.flags for f in flags})
    return feature


def _junction_feature(junction: Junction, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [junction.lon, junction.lat]},
        "properties": {
            "kind": "junction",
            "node": junction.id,
            "degree": junction.degree,
            "border": junction.border,
        },
    }
    feature["properties"].update({f: f in junction.flags for f in flags})
    return feature


def feature_collection(net: StreetNetwork) -> dict[str, Any]:
    """Build the RFC 7946 FeatureCollection of a street network (a JSON-ready dict).

    Parameters
    ----------
    net
        Placed street segments and junctions (see :func:`export.streets.street_network`).

    Returns
    -------
    dict
        The FeatureCollection: street LineStrings, then junction Points, ``bbox`` and the
        metadata in the ``citygen`` foreign member.
    """
    features = [_street_feature(s, net.street_flags) for s in net.streets]
    features += [_junction_feature(j, net.junction_flags) for j in net.junctions]
    return {
        "type": "FeatureCollection",
        "bbox": list(net.bounds()),
        META_MEMBER: dict(net.metadata),
        "features": features,
    }


def dumps(net: StreetNetwork) -> str:
    """Serialise a street network as GeoJSON text (deterministic for equal input)."""
    return json.dumps(feature_collection(net), allow_nan=False, default=str) + "\n"


def write_geojson_network(net: StreetNetwork, path: str | Path) -> Path:
    """Write a placed street network to ``path`` atomically; return the path."""
    atomic.write_text(path, dumps(net))
    return Path(path)


def write_geojson(
    G: nx.Graph,
    path: str | Path,
    center: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write one layout as a GeoJSON FeatureCollection.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    path
        Output file (its directory must exist), conventionally ``*.geojson``.
    center
        ``(latitude, longitude)`` of the tile's centre in degrees; None places the layout at
        its real place if it has one, else at :data:`export.geo.DEFAULT_CENTER`.
    metadata
        Stored in the ``citygen`` foreign member (model, seed, objective, citygen version).

    Returns
    -------
    Path
        The written file.
    """
    net = street_network(G, resolve_placement(G, center), metadata)
    return write_geojson_network(net, path)
