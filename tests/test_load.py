"""data_prep.load: OSM files, pyrosm's bundled extracts, and osmnx downloads (mocked, offline)."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import networkx as nx
import osmnx as ox
import pyrosm
import pytest
import requests

from citygen.errors import InputDataError, NetworkUnavailableError, UsageError
from data_prep import load

DATA = Path(__file__).resolve().parent / "data"
GRID_OSM = DATA / "grid.osm"
TEST_PBF = Path(pyrosm.get_data("test_pbf"))
PLACE = "Testikylä, Finland"
BBOX = (24.93, 60.15, 24.96, 60.16)
DRIVABLE_WAYS = 7 + 7 + 2  # grid streets, the living street and the trunk link

pytestmark = pytest.mark.usefixtures("no_network")


def both_directions(G: nx.MultiDiGraph) -> bool:
    return all(G.has_edge(v, u) for u, v in G.edges())


# ---------------------------------------------------------------------------------------------
# files


def test_find_osm_files(tmp_path: Path) -> None:
    for name in ("b.osm.pbf", "a.osm.gz", "c.osm.bz2", "d.xml", "e.osm", "readme.md", "f.osm.xml"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.osm").mkdir()
    names = [p.name for p in load.find_osm_files(tmp_path)]
    assert names == ["a.osm.gz", "b.osm.pbf", "c.osm.bz2", "d.xml", "e.osm", "f.osm.xml"]
    assert load.find_osm_files(tmp_path / "readme.md") == [tmp_path / "readme.md"]
    with pytest.raises(InputDataError, match="no such file or directory"):
        load.find_osm_files(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputDataError, match="no OSM files"):
        load.find_osm_files(empty)


def test_bundled_extracts_are_pyrosms_shipped_files() -> None:
    assert load.bundled_path("test") == TEST_PBF
    assert load.bundled_path("helsinki").name == "Helsinki.osm.pbf"
    assert load.bundled_path("helsinki").is_file()
    with pytest.raises(UsageError, match="unknown bundled extract 'paris'"):
        load.bundled_path("paris")


def test_load_pbf_gives_a_raw_lonlat_street_graph() -> None:
    G = load.load_file(TEST_PBF)
    assert isinstance(G, nx.MultiDiGraph)
    assert G.graph["crs"] == "EPSG:4326"
    assert G.number_of_edges() > 100
    assert both_directions(G)
    xs = [d["x"] for _, d in G.nodes(data=True)]
    ys = [d["y"] for _, d in G.nodes(data=True)]
    assert 20 < min(xs) < max(xs) < 32  # in Finland (south-east of Helsinki)
    assert 59 < min(ys) < max(ys) < 71
    assert max(xs) - min(xs) < 0.2
    highways = {d["highway"] for _, _, d in G.edges(data=True)}
    assert "residential" in highways
    assert not highways & {"footway", "cycleway", "path", "steps", "pedestrian"}
    assert all(isinstance(d["osmid"], int) for _, _, d in G.edges(data=True))


def test_load_xml_keeps_the_tags_the_drivable_filter_reads() -> None:
    before = list(ox.settings.useful_tags_way)
    G = load.load_file(GRID_OSM)
    assert ox.settings.useful_tags_way == before  # osmnx's settings are left as they were
    assert G.graph["crs"].upper() == "EPSG:4326"
    assert both_directions(G)  # oneway streets too: the network is undirected later
    by_way = {d["osmid"]: d for _, _, d in G.edges(data=True)}
    assert len(by_way) == 7 + 7 + 3 + 2
    assert by_way[3001]["service"] == "parking_aisle"
    assert by_way[3002]["access"] == "private"
    assert by_way[1003]["highway"] == "primary"


def test_load_compressed_xml(tmp_path: Path) -> None:
    gz = tmp_path / "grid.osm.gz"
    gz.write_bytes(gzip.compress(GRID_OSM.read_bytes()))
    G = load.load_file(gz)
    H = load.load_file(GRID_OSM)
    assert sorted(G.edges()) == sorted(H.edges())


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.osm.pbf", b"", "empty file"),
        ("empty.osm", b"", "empty file"),
        ("random.osm.pbf", bytes(range(256)) * 40, "cannot read PBF"),
        ("random.osm.gz", bytes(range(256)) * 40, "cannot read OSM XML"),
        ("random.osm.bz2", b"BZh9" + bytes(range(256)) * 4, "cannot read OSM XML"),
        (
            "truncated.osm",
            b'<?xml version="1.0"?>\n<osm version="0.6">\n  <node id="1" lat=',
            "cannot read OSM XML",
        ),
        ("notes.txt", b"hello", "unknown OSM file type"),
    ],
)
def test_bad_files_raise_input_data_error(
    tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=match) as info:
        load.load_file(path)
    assert str(path) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(InputDataError, match="no such file"):
        load.load_file("/nonexistent/city.osm.pbf")


def test_osmnx_tag_setting_is_safe_across_threads() -> None:
    # Dask runs regions in threads: one loader leaving the tag context must not take the tags
    # away from another loader still inside it
    before = list(ox.settings.useful_tags_way)
    first_in, first_out = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with load._osmnx_way_tags():
            first_in.set()
            threading.Event().wait(0.2)
        first_out.set()

    def second() -> None:
        first_in.wait()
        with load._osmnx_way_tags():
            first_out.wait(5)
            seen.append(set(load.WAY_TAGS) <= set(ox.settings.useful_tags_way))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [True]
    assert ox.settings.useful_tags_way == before


# ---------------------------------------------------------------------------------------------
# bounding boxes


def test_parse_bbox() -> None:
    assert load.parse_bbox("24.9,60.1,25.0,60.2") == (24.9, 60.1, 25.0, 60.2)
    assert load.parse_bbox(" -74.1, 40.6 ,-73.9,40.8") == (-74.1, 40.6, -73.9, 40.8)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("24.9,60.1,25.0", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("1,2,3,4,5", "four numbers"),
        ("25.0,60.1,24.9,60.2", "W < E"),
        ("24.9,60.2,25.0,60.1", "S < N"),
        ("24.9,60.1,24.9,60.2", "W < E"),
        ("170,10,190,20", "outside the longitude/latitude range"),
        ("10,-95,20,10", "outside the longitude/latitude range"),
        ("nan,60.1,25.0,60.2", "outside the longitude/latitude range"),
    ],
)
def test_parse_bbox_rejects(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        load.parse_bbox(text)


# ---------------------------------------------------------------------------------------------
# online: osmnx's real graph builders, with Nominatim and Overpass answered from recordings


def test_load_place_builds_the_drive_service_network(recorded_osm: list[str]) -> None:
    G = load.load_place(PLACE)
    assert recorded_osm[0] == f"nominatim search {PLACE}"
    assert any(
        '["service"!~"emergency_access|parking|parking_aisle|private' in q for q in recorded_osm[1:]
    )
    assert G.graph["crs"] == "epsg:4326"
    assert {d["osmid"] for _, _, d in G.edges(data=True)} == set(range(1000, 1007)) | set(
        range(2000, 2007)
    ) | {
        4000,
        4001,
    }
    assert G.number_of_nodes() == 49 + 7 + 1
    from data_prep.clean import clean

    region = clean(G)
    assert region.n_edges > 80


def test_load_bbox_passes_west_south_east_north(
    recorded_osm: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    got: list = []
    real = ox.graph_from_bbox

    def spy(bbox, **kwargs):
        got.append((bbox, kwargs))
        return real(bbox, **kwargs)

    monkeypatch.setattr(ox, "graph_from_bbox", spy)
    nominatim = json.loads((DATA / "grid_nominatim.json").read_text(encoding="utf-8"))[0]
    south, north, west, east = map(float, nominatim["boundingbox"])
    G = load.load_bbox((west, south, east, north))
    assert got == [
        (
            (west, south, east, north),
            {"network_type": "drive_service", "simplify": False, "retain_all": True},
        )
    ]
    assert G.number_of_nodes() == 49 + 7 + 1
    assert len(recorded_osm) == 1  # one Overpass query, no geocoding


def test_unknown_place_is_an_input_error(recorded_osm: list[str]) -> None:
    with pytest.raises(InputDataError, match="could not build a street graph for place 'Atlantis'"):
        load.load_place("Atlantis")


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("no route to host"),
        requests.exceptions.ReadTimeout("timed out"),
    ],
)
def test_download_failure_is_network_unavailable(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(ox, "graph_from_place", fail)
    monkeypatch.setattr(ox, "graph_from_bbox", fail)
    with pytest.raises(
        NetworkUnavailableError, match="could not download place 'Helsinki'"
    ) as info:
        load.load_place("Helsinki")
    assert "--bundled helsinki" in str(info.value)
    with pytest.raises(
        NetworkUnavailableError, match=r"could not download bbox \(24.9, 60.1, 25.0, 60.2\)"
    ):
        load.load_bbox((24.9, 60.1, 25.0, 60.2))
    assert isinstance(info.value, ConnectionError)


def test_osmnx_without_network_is_network_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real osmnx request path, with every socket refused (the no_network fixture)
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)  # else osmnx waits 60 s
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    monkeypatch.setattr(ox._nominatim.time, "sleep", lambda _s: None)
    with pytest.raises(NetworkUnavailableError, match="could not download place"):
        load.load_place("Helsinki, Finland")
    with pytest.raises(NetworkUnavailableError, match="could not download bbox"):
        load.load_bbox(BBOX)


def test_a_device_or_pipe_is_an_input_error():
    """--osm /dev/null used to end in NotADirectoryError (it is neither file nor folder)."""
    with pytest.raises(InputDataError, match="neither a file nor a folder"):
        load.find_osm_files("/dev/null")
