"""Write the small OSM fixtures of the data-preparation tests (run once; outputs are committed).

A 7 x 7 street grid, 80 m apart, near Helsinki (UTM 35N), as the three things the loaders
read or download:

- ``grid.osm``: OSM XML as a file on disk (``--osm``), with ways osmnx's ``drive_service``
  filter drops (a footway, a parking aisle, a private drive) and a curved living street;
- ``grid_overpass.json``: the Overpass answer for the drivable ways (what ``--place`` and
  ``--bbox`` download), recorded in Overpass's JSON shape;
- ``grid_nominatim.json``: the Nominatim answer geocoding the place ``"Testikylä, Finland"``.

    python tests/data/make_grid.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pyproj import Transformer

HERE = Path(__file__).resolve().parent
ORIGIN = (385000.0, 6671000.0)  # UTM 35N metres, south-west grid node
STEP = 80.0
N = 7
TO_LONLAT = Transformer.from_crs("EPSG:32635", "EPSG:4326", always_xy=True)


def lonlat(e: float, n: float) -> tuple[float, float]:
    lon, lat = TO_LONLAT.transform(ORIGIN[0] + e, ORIGIN[1] + n)
    return round(lon, 7), round(lat, 7)


def build() -> tuple[dict[int, tuple[float, float]], list[tuple[int, list[int], dict[str, str]]]]:
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []

    def grid(i: int, j: int) -> int:
        return 100 + 10 * i + j

    for i in range(N):
        for j in range(N):
            nodes[grid(i, j)] = lonlat(i * STEP, j * STEP)
    for j in range(N):  # east-west streets
        hw = "primary" if j == 3 else "service" if j == 0 else "residential"
        ways.append((1000 + j, [grid(i, j) for i in range(N)], {"highway": hw}))
    for i in range(N):  # north-south streets
        hw = {3: "secondary", 6: "tertiary"}.get(i, "residential")
        tags = {"highway": hw} | ({"oneway": "yes"} if i == 1 else {})
        ways.append((2000 + i, [grid(i, j) for j in range(N)], tags))
    # not drivable: a footway across a block, a parking aisle, a private drive
    nodes[500] = lonlat(1.5 * STEP, 1.5 * STEP)
    ways.append((3000, [grid(1, 1), 500, grid(2, 2)], {"highway": "footway"}))
    nodes[501] = lonlat(4.4 * STEP, 4.4 * STEP)
    ways.append((3001, [grid(4, 4), 501], {"highway": "service", "service": "parking_aisle"}))
    nodes[502] = lonlat(5.5 * STEP, 1.4 * STEP)
    ways.append((3002, [grid(5, 1), 502], {"highway": "service", "access": "private"}))
    # drivable: a curved living street bulging east of the grid, a trunk link spur to the west
    arc = []
    for k in range(1, 8):
        a = -math.pi / 2 + k * math.pi / 8
        nodes[600 + k] = lonlat(6 * STEP + STEP * math.cos(a), 3 * STEP + STEP * math.sin(a))
        arc.append(600 + k)
    ways.append((4000, [grid(6, 2), *arc, grid(6, 4)], {"highway": "living_street"}))
    nodes[700] = lonlat(-60.0, 3 * STEP)
    ways.append((4001, [grid(0, 3), 700], {"highway": "trunk_link"}))
    return nodes, ways


def write_xml(nodes: dict[int, tuple[float, float]], ways: list) -> None:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<osm version="0.6" generator="citygen tests/data/make_grid.py">',
        '  <meta osm_base="2024-05-01T12:00:00Z"/>',
    ]
    for nid, (lon, lat) in sorted(nodes.items()):
        lines.append(f'  <node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    (HERE / "grid.osm").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_overpass(nodes: dict[int, tuple[float, float]], ways: list) -> None:
    drivable = [w for w in ways if w[0] < 3000 or w[0] >= 4000]
    used = sorted({r for _, refs, _ in drivable for r in refs})
    elements = [{"type": "node", "id": n, "lat": nodes[n][1], "lon": nodes[n][0]} for n in used]
    elements += [
        {"type": "way", "id": w, "nodes": refs, "tags": tags} for w, refs, tags in drivable
    ]
    doc = {
        "version": 0.6,
        "generator": "Overpass API (recorded for citygen tests)",
        "osm3s": {"timestamp_osm_base": "2024-05-01T12:00:00Z"},
        "elements": elements,
    }
    (HERE / "grid_overpass.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def write_nominatim() -> None:
    (w, s), (e, n) = lonlat(-100.0, -100.0), lonlat(7 * STEP + 100.0, 7 * STEP + 100.0)
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    result = {
        "place_id": 1,
        "licence": "Data (c) OpenStreetMap contributors, ODbL 1.0",
        "osm_type": "relation",
        "osm_id": 1,
        "lat": str(round((s + n) / 2, 7)),
        "lon": str(round((w + e) / 2, 7)),
        "class": "boundary",
        "type": "administrative",
        "place_rank": 16,
        "importance": 0.5,
        "addresstype": "village",
        "name": "Testikylä",
        "display_name": "Testikylä, Finland",
        "boundingbox": [str(s), str(n), str(w), str(e)],
        "geojson": {"type": "Polygon", "coordinates": [ring]},
    }
    text = json.dumps([result], indent=1, ensure_ascii=False) + "\n"
    (HERE / "grid_nominatim.json").write_text(text, encoding="utf-8")


def main() -> None:
    nodes, ways = build()
    write_xml(nodes, ways)
    write_overpass(nodes, ways)
    write_nominatim()


if __name__ == "__main__":
    main()
