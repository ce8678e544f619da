"""OSM XML export (``.osm``) for JOSM, SUMO ``netconvert`` and other OSM tools.

One file per layout, API 0.6 format::

    <osm version="0.6" generator="citygen X.Y" upload="never">
      <!-- citygen {...metadata as JSON...} -->
      <bounds minlat=".." minlon=".." maxlat=".." maxlon=".."/>
      <node id="-1" version="1" visible="true" lat=".." lon=".."/>  ...
      <way id="-1" version="1" visible="true">
        <nd ref="-1"/> <nd ref="-24"/> ...
        <tag k="highway" v="residential"/> <tag k="oneway" v="no"/>
      </way> ...
    </osm>

- Ids are negative, which OSM editors read as new, never-uploaded objects; ``upload="never"``
  also makes JOSM refuse to upload the synthetic streets to OpenStreetMap.
- Junction ``u`` (a layout node id) is node ``-(u + 1)``; bend points get the free ids
  below all junction ids. Street segment ``i`` is way ``-(i + 1)``, so one way per
  segment, from junction to junction (see :mod:`export.streets`).
- Road classes map to valid OSM ``highway`` values (:data:`OSM_HIGHWAY`); class ``other``
  becomes ``unclassified``. Every way is two-way (``oneway=no``) and has no name tag.
- Flags of areas and infill candidates (see :mod:`export.streets`) are tags in the
  ``citygen:`` namespace, which JOSM shows and SUMO ``netconvert`` ignores: every way has
  ``citygen:generated``, ``citygen:connector``, ... ``=yes`` or ``no`` for each flag the network
  carries; a junction node that is a seam node has ``citygen:seam=yes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import networkx as nx

from citygen import atomic
from citygen._version import __version__
from export.geo import resolve_placement
from export.streets import StreetNetwork, street_network

#: OSM ``highway`` value written for each road class.
OSM_HIGHWAY: dict[str, str] = {
    "motorway": "motorway",
    "trunk": "trunk",
    "primary": "primary",
    "secondary": "secondary",
    "tertiary": "tertiary",
    "residential": "residential",
    "service": "service",
    "other": "unclassified",
}

_COMMON = {"version": "1", "visible": "true"}
#: Key prefix of the flag tags.
TAG_PREFIX = "citygen:"


def osm_highway(road_class: str) -> str:
    """Return the OSM ``highway`` tag value for a road class (unknown: ``unclassified``)."""
    return OSM_HIGHWAY.get(road_class, "unclassified")


def node_ids(net: StreetNetwork) -> list[list[int]]:
    """OSM node ids of every point of every street, in the streets' order.

    Junction ``u`` is ``-(u + 1)``; bend points get the next free negative ids, in order.
    """
    next_id = -(max((j.id for j in net.junctions), default=-1) + 2)
    out = []
    for s in net.streets:
        ids = [-(s.u + 1)]
        for _ in s.coords[1:-1]:
            ids.append(next_id)
            next_id -= 1
        ids.append(-(s.v + 1))
        out.append(ids)
    return out


def _node(
    parent: ET.Element, osm_id: int, lon: float, lat: float, flags: frozenset[str] = frozenset()
) -> None:
    node = ET.SubElement(parent, "node", id=str(osm_id), **_COMMON, lat=repr(lat), lon=repr(lon))
    for flag in sorted(flags):
        ET.SubElement(node, "tag", k=TAG_PREFIX + flag, v="yes")


def to_element(net: StreetNetwork) -> ET.Element:
    """Build the ``<osm>`` element tree of a placed street network."""
    root = ET.Element("osm", version="0.6", generator=f"citygen {__version__}", upload="never")
    meta = json.dumps(net.metadata, sort_keys=True, default=str).replace("--", "- -")
    root.append(ET.Comment(f" citygen {meta} "))
    west, south, east, north = net.bounds()
    ET.SubElement(
        root, "bounds", minlat=repr(south), minlon=repr(west), maxlat=repr(north), maxlon=repr(east)
    )
    ids = node_ids(net)
    for j in net.junctions:
        _node(root, -(j.id + 1), j.lon, j.lat, j.flags & set(net.junction_flags))
    for s, refs in zip(net.streets, ids, strict=True):
        for ref, (lon, lat) in zip(refs[1:-1], s.coords[1:-1], strict=True):
            _node(root, ref, lon, lat)
    for s, refs in zip(net.streets, ids, strict=True):
        way = ET.SubElement(root, "way", id=str(-(s.id + 1)), **_COMMON)
        for ref in refs:
            ET.SubElement(way, "nd", ref=str(ref))
        ET.SubElement(way, "tag", k="highway", v=osm_highway(s.highway))
        ET.SubElement(way, "tag", k="oneway", v="no")
        for flag in net.street_flags:
            ET.SubElement(way, "tag", k=TAG_PREFIX + flag, v="yes" if flag in s.flags else "no")
    return root


def tobytes(net: StreetNetwork) -> bytes:
    """Serialise a street network as OSM XML (UTF-8, with XML declaration)."""
    tree = ET.ElementTree(to_element(net))
    ET.indent(tree, space="  ")
    return ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True) + b"\n"


def write_osm_network(net: StreetNetwork, path: str | Path) -> Path:
    """Write a placed street network as OSM XML to ``path`` atomically; return the path."""
    atomic.write_bytes(path, tobytes(net))
    return Path(path)


def write_osm(
    G: nx.Graph,
    path: str | Path,
    center: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write one layout as an OSM XML file.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    path
        Output file (its directory must exist), conventionally ``*.osm``.
    center
        ``(latitude, longitude)`` of the tile's centre in degrees; None places the layout at
        its real place if it has one, else at :data:`export.geo.DEFAULT_CENTER`.
    metadata
        Stored as JSON in an XML comment at the top of the file.

    Returns
    -------
    Path
        The written file.
    """
    net = street_network(G, resolve_placement(G, center), metadata)
    return write_osm_network(net, path)
