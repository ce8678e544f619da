"""The GraphML written directly reads back in osmnx as the graph osmnx itself would write."""

import subprocess
import sys
from pathlib import Path

import shapely

from citygen.layout import add_street, new_layout
from export.geo import resolve_placement
from export.graphml import to_osmnx, write_graphml_network
from export.streets import street_network


def awkward_layout():
    """Parallel streets between two junctions, a loop street and a metadata string to escape."""
    G = new_layout(1000.0, seed=0, index=3, source="citygen")
    pts = {0: (0, 500, True), 1: (300, 500, False), 2: (500, 300, False), 3: (700, 500, False),
           4: (500, 700, False), 5: (300, 800, False), 6: (150, 850, False), 7: (1000, 500, True)}
    for n, (x, y, b) in pts.items():
        G.add_node(n, x=float(x), y=float(y), border=b)
    for u, v, c in [(0, 1, "primary"), (1, 2, "residential"), (2, 3, "residential"),
                    (1, 4, "residential"), (4, 3, "residential"), (3, 7, "primary"),
                    (1, 5, "service"), (5, 6, "service"), (6, 1, "service")]:
        add_street(G, u, v, c)
    return G


def _facts(G) -> tuple:
    nodes = sorted((n, d["x"], d["y"], d["street_count"], d["border"]) for n, d in G.nodes.items())
    edges = sorted(
        (u, v, k, d["osmid"], d["highway"], d["length"], d["reversed"], d["oneway"], d["name"],
         tuple(map(tuple, shapely.get_coordinates(d["geometry"]).tolist())))
        for u, v, k, d in G.edges(keys=True, data=True)
    )
    return nodes, edges, dict(G.graph)


def test_direct_graphml_equals_osmnx_save_graphml(tmp_path: Path) -> None:
    import osmnx as ox  # not at module level: the next test imports this module without it

    G = awkward_layout()
    net = street_network(G, resolve_placement(G, None), {"note": "a <b> & 'c'"})
    direct = write_graphml_network(net, tmp_path / "direct.graphml")
    ox.save_graphml(to_osmnx(net), tmp_path / "osmnx.graphml")
    mine, theirs = ox.load_graphml(direct), ox.load_graphml(tmp_path / "osmnx.graphml")
    assert mine.number_of_edges() == theirs.number_of_edges() >= 8  # both directions
    assert _facts(mine) == _facts(theirs)
    assert "a <b> & 'c'" in mine.graph["citygen"]


def test_writing_graphml_does_not_import_osmnx(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tests.test_export_graphml_direct import awkward_layout\n"
        "from export.write import write_layouts\n"
        f"write_layouts([awkward_layout()], {str(tmp_path)!r}, formats='graphml,osm')\n"
        "assert 'osmnx' not in sys.modules, 'osmnx imported'\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.suffix for p in tmp_path.iterdir() if p.suffix != ".json")
    assert written == [".graphml", ".osm"]
