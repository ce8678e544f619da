"""Street and junction flags (``generated``, ``connector``, ``seam``) in every written format.

A hand-made layout: a real street (0-1-2) continued by a generated one (2-3-4) through a
degree-2 node, a generated connector (4-5), and a seam node (3) in the middle of the generated
street. Each file is read back with the tool a user would use (json, osmnx, ElementTree).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import osmnx as ox
import pytest

from citygen.layout import add_street, new_layout
from export.geo import resolve_placement
from export.geojson import write_geojson_network
from export.graphml import FLAG_DTYPES, from_osmnx, write_graphml_network
from export.osmxml import write_osm_network
from export.streets import StreetNetwork, chains, street_network

CENTER = (60.1699, 24.9384)


def flagged_layout():
    G = new_layout(1000.0)
    pts = [(100, 500), (300, 500), (500, 500), (600, 600), (700, 500), (900, 500)]
    for n, (x, y) in enumerate(pts):
        G.add_node(n, x=float(x), y=float(y), border=n == 0, seam=n == 3)
    for u, v, gen, conn in [
        (0, 1, False, False),
        (1, 2, False, False),
        (2, 3, True, False),
        (3, 4, True, False),
        (4, 5, True, True),
    ]:
        add_street(G, u, v, "residential")
        G.edges[u, v].update(generated=gen, connector=conn)
    return G


def _net(G) -> StreetNetwork:
    return street_network(G, resolve_placement(G, CENTER), {})


def test_a_segment_is_split_where_a_flag_changes():
    segs = {c.nodes: c.flags for c in chains(flagged_layout())}
    assert segs == {
        (0, 1, 2): frozenset(),
        (2, 3, 4): frozenset({"generated", "seam"}),
        (4, 5): frozenset({"generated", "connector"}),
    }


def test_a_plain_tile_carries_no_flags(tmp_path: Path):
    G = flagged_layout()
    for _, d in G.nodes(data=True):
        del d["seam"]
    for *_, d in G.edges(data=True):
        del d["generated"], d["connector"]
    net = _net(G)
    assert net.street_flags == ()
    assert net.junction_flags == ()
    assert len(net.streets) == 1  # one street again: nothing to split it
    fc = json.loads(write_geojson_network(net, tmp_path / "a.geojson").read_text())
    assert "generated" not in fc["features"][0]["properties"]
    assert "citygen:" not in write_osm_network(net, tmp_path / "a.osm").read_text()


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("flags")
    net = _net(flagged_layout())
    return {
        "geojson": write_geojson_network(net, out / "m.geojson"),
        "graphml": write_graphml_network(net, out / "m.graphml"),
        "osm": write_osm_network(net, out / "m.osm"),
    }


EXPECTED = {  # (first, last) junction -> (generated, connector, seam)
    (0, 2): (False, False, False),
    (2, 4): (True, False, True),
    (4, 5): (True, True, False),
}


def test_geojson_streets_and_junctions_carry_the_flags(written):
    fc = json.loads(written["geojson"].read_text())
    streets = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "street"]
    got = {(p["u"], p["v"]): (p["generated"], p["connector"], p["seam"]) for p in streets}
    assert got == EXPECTED
    assert all(type(p["generated"]) is bool for p in streets)
    junctions = {
        f["properties"]["node"]: f["properties"]["seam"]
        for f in fc["features"]
        if f["properties"]["kind"] == "junction"
    }
    assert junctions == {0: False, 2: False, 4: False, 5: False}  # node 3 is a bend


def test_osmnx_reads_the_flags_back_as_edge_attributes(written):
    G = ox.load_graphml(written["graphml"])
    assert {d["generated"] for *_, d in G.edges(data=True)} == {"True", "False"}
    G = ox.load_graphml(written["graphml"], edge_dtypes=FLAG_DTYPES, node_dtypes=FLAG_DTYPES)
    got = {
        (u, v): (d["generated"], d["connector"], d["seam"])
        for u, v, d in G.edges(data=True)
        if not d["reversed"]
    }
    assert got == EXPECTED
    assert all(type(d["generated"]) is bool for *_, d in G.edges(data=True))
    back = from_osmnx(G)
    assert back.street_flags == ("generated", "connector", "seam")
    assert [s.flags for s in back.streets] == [s.flags for s in _net(flagged_layout()).streets]


def test_osm_ways_carry_citygen_tags(written):
    root = ET.parse(written["osm"]).getroot()
    junction = {int(n.get("id")): -int(n.get("id")) - 1 for n in root.iter("node")}
    got = {}
    for way in root.iter("way"):
        refs = [int(nd.get("ref")) for nd in way.iter("nd")]
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        key = (junction[refs[0]], junction[refs[-1]])
        got[key] = tuple(tags[f"citygen:{f}"] == "yes" for f in ("generated", "connector", "seam"))
        assert {tags[f"citygen:{f}"] for f in ("generated", "connector", "seam")} <= {"yes", "no"}
    assert got == EXPECTED
