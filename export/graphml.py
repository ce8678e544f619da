"""GraphML export for osmnx: a simplified, unprojected MultiDiGraph as osmnx builds them.

``osmnx.load_graphml(path)`` reads the file back, with no extra arguments, as a
:class:`networkx.MultiDiGraph` that osmnx's own functions (``basic_stats``, ``shortest_path``,
``plot_graph``, ``graph_to_gdfs``, ``project_graph``) use unchanged:

- graph: ``crs`` = ``"EPSG:4326"``, ``simplified`` = True, ``created_with``, and ``citygen``: the
  export metadata as a JSON string;
- nodes: keyed by layout node id; ``x`` = longitude, ``y`` = latitude (degrees),
  ``street_count`` (int), ``border`` ("True"/"False" after loading, as osmnx leaves unknown
  attributes as strings). Only junctions are nodes (see :mod:`export.streets`);
- edges: every street segment twice, ``u -> v`` with ``reversed`` False and ``v -> u`` with
  ``reversed`` True, each with ``osmid`` (segment index), ``highway``, ``length`` (metres),
  ``oneway`` False, ``name`` "" and its ``geometry`` (a LineString in the edge's direction);
- flags of areas and infill candidates (see :mod:`export.streets`): edge ``generated``,
  ``connector``, ``reclassed``, ``seam`` and node ``seam``, the flags the network carries,
  "True"/"False" like ``border``. osmnx converts only its own attributes, and crashes on a
  GraphML boolean (it calls ``str.startswith`` on every value), so they are strings; read them
  as booleans with ``ox.load_graphml(path, edge_dtypes=FLAG_DTYPES, node_dtypes=FLAG_DTYPES)``
  (:data:`FLAG_DTYPES`).

The XML is written directly (:func:`graphml_text`), as ``osmnx.save_graphml`` writes it
(every value a string): 1 ms per tile instead of 17 ms plus 1.1 s of importing osmnx, which the
hot path of ``citygen generate`` no longer imports. Coordinates keep full double precision
(``repr`` of the float, which reads back exactly).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import networkx as nx
import shapely

from citygen import atomic
from citygen._version import __version__
from export.geo import resolve_placement
from export.streets import EDGE_FLAGS, NODE_FLAGS, Junction, Street, StreetNetwork, street_network


def to_osmnx(net: StreetNetwork) -> nx.MultiDiGraph:
    """Build the osmnx-style MultiDiGraph of a placed street network.

    Parameters
    ----------
    net
        Placed street segments and junctions (see :func:`export.streets.street_network`).

    Returns
    -------
    networkx.MultiDiGraph
        Both directions of every segment; lon/lat coordinates, ``crs`` EPSG:4326.
    """
    G = nx.MultiDiGraph(
        crs="EPSG:4326",
        simplified=True,
        created_with=f"citygen {__version__}",
        citygen=json.dumps(net.metadata, sort_keys=True, default=str),
    )
    for j in net.junctions:
        flags = {f: f in j.flags for f in net.junction_flags}
        G.add_node(j.id, y=j.lat, x=j.lon, street_count=j.degree, border=j.border, **flags)
    for s in net.streets:
        line = shapely.LineString(s.coords)
        common = {"osmid": s.id, "highway": s.highway, "oneway": False, "name": ""}
        common |= {f: f in s.flags for f in net.street_flags}
        G.add_edge(s.u, s.v, **common, reversed=False, length=s.length_m, geometry=line)
        G.add_edge(s.v, s.u, **common, reversed=True, length=s.length_m, geometry=line.reverse())
    return G


def _as_bool(value: Any) -> bool:
    return value is True or str(value) == "True"


#: ``edge_dtypes``/``node_dtypes`` for ``osmnx.load_graphml`` that read the flags as booleans.
FLAG_DTYPES: dict[str, Any] = dict.fromkeys((*EDGE_FLAGS, *NODE_FLAGS), _as_bool)


def _flags(data: dict[str, Any], names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f for f in names if _as_bool(data.get(f, False)))


def _street(u: int, v: int, data: dict[str, Any], G: nx.MultiDiGraph) -> Street:
    geom = data.get("geometry")
    if geom is not None:
        coords = tuple((float(x), float(y)) for x, y in shapely.get_coordinates(geom))
    else:
        coords = tuple((float(G.nodes[n]["x"]), float(G.nodes[n]["y"])) for n in (u, v))
    flags = _flags(data, (*EDGE_FLAGS, *NODE_FLAGS))
    return Street(
        int(data["osmid"]),
        int(u),
        int(v),
        str(data["highway"]),
        float(data["length"]),
        coords,
        flags,
    )


def from_osmnx(G: nx.MultiDiGraph) -> StreetNetwork:
    """Read a street network back from a graph :func:`to_osmnx` built (or osmnx loaded).

    Parameters
    ----------
    G
        A MultiDiGraph as written by :func:`write_graphml` and read by ``osmnx.load_graphml``.

    Returns
    -------
    StreetNetwork
        The same segments (one per ``reversed`` False edge, in ``osmid`` order), junctions
        and metadata that were exported.
    """
    forward = [(u, v, d) for u, v, d in G.edges(data=True) if not _as_bool(d["reversed"])]
    streets = sorted((_street(u, v, d, G) for u, v, d in forward), key=lambda s: s.id)
    edge_keys = {k for *_, d in forward for k in d}
    node_keys = {k for _, d in G.nodes(data=True) for k in d}
    junctions = tuple(
        Junction(
            int(n),
            float(d["x"]),
            float(d["y"]),
            int(d["street_count"]),
            _as_bool(d.get("border", False)),
            _flags(d, NODE_FLAGS),
        )
        for n, d in sorted(G.nodes(data=True))
    )
    meta = G.graph.get("citygen", "{}")
    metadata = json.loads(meta) if isinstance(meta, str) else dict(meta)
    street_flags = tuple(f for f in (*EDGE_FLAGS, *NODE_FLAGS) if f in edge_keys)
    junction_flags = tuple(f for f in NODE_FLAGS if f in node_keys)
    return StreetNetwork(tuple(streets), junctions, metadata, street_flags, junction_flags)


_GRAPH_KEYS = ("crs", "simplified", "created_with", "citygen")
_NODE_KEYS = ("y", "x", "street_count", "border")
_EDGE_KEYS = ("osmid", "highway", "oneway", "name", "reversed", "length", "geometry")


def _data(key: str, value: object, indent: str) -> str:
    return f'{indent}<data key="{key}">{escape(str(value))}</data>'


def graphml_text(net: StreetNetwork) -> str:
    """The GraphML document of :func:`to_osmnx`'s graph, as ``osmnx.save_graphml`` writes it.

    Nodes in id order; edges grouped by source node in the order networkx keeps them (for
    each segment ``u -> v`` then ``v -> u``), each with its multigraph key.
    """
    node_keys = _NODE_KEYS + net.junction_flags
    edge_keys = _EDGE_KEYS + net.street_flags
    keys = {name: f"g{i}" for i, name in enumerate(_GRAPH_KEYS)}
    keys |= {name: f"n{i}" for i, name in enumerate(node_keys)}
    keys |= {name: f"e{i}" for i, name in enumerate(edge_keys)}
    out = [
        "<?xml version='1.0' encoding='utf-8'?>",
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    ]
    for kind, names in (("graph", _GRAPH_KEYS), ("node", node_keys), ("edge", edge_keys)):
        out += [
            f'  <key id="{keys[n]}" for="{kind}" attr.name="{n}" attr.type="string" />'
            for n in names
        ]
    out.append('  <graph edgedefault="directed">')
    node_open = [f'      <data key="{keys[n]}">' for n in node_keys]
    for j in net.junctions:
        out.append(f"    <node id={quoteattr(str(j.id))}>")
        values = (repr(j.lat), repr(j.lon), j.degree, j.border)
        values += tuple(f in j.flags for f in net.junction_flags)
        out += [f"{o}{v}</data>" for o, v in zip(node_open, values, strict=True)]  # no & < >
        out.append("    </node>")
    by_source: dict[int, list[tuple[int, Street, bool]]] = {j.id: [] for j in net.junctions}
    for s in net.streets:
        by_source.setdefault(s.u, []).append((s.v, s, False))
        by_source.setdefault(s.v, []).append((s.u, s, True))
    # a street's values but ``reversed`` and its geometry are the same both ways: built once
    keys_open = [f'      <data key="{keys[n]}">' for n in edge_keys]
    forward: dict[int, tuple[str, str, str, str]] = {}
    for s in net.streets:
        points = [f"{x!r} {y!r}" for x, y in s.coords]
        head = "".join(
            f"{o}{v}</data>\n"
            for o, v in zip(keys_open[:4], (s.id, escape(s.highway), False, ""), strict=True)
        )
        flag_keys = zip(keys_open[7:], net.street_flags, strict=True)
        tail = "".join(f"\n{o}{f in s.flags}</data>" for o, f in flag_keys)
        middle = f"</data>\n{keys_open[5]}{float(s.length_m)!r}</data>\n{keys_open[6]}"
        forward[s.id] = (head, middle, tail, points)
    rev_open = keys_open[4]
    seen: Counter[tuple[int, int]] = Counter()
    for u, outgoing in by_source.items():
        for v, s, rev in outgoing:
            key = seen[u, v]
            seen[u, v] += 1
            head, middle, tail, points = forward[s.id]
            wkt = "LINESTRING (" + ", ".join(points[::-1] if rev else points) + ")"
            out.append(f'    <edge source="{u}" target="{v}" id="{key}">')
            out.append(f"{head}{rev_open}{rev}{middle}{wkt}</data>{tail}")
            out.append("    </edge>")
    meta = json.dumps(net.metadata, sort_keys=True, default=str)
    graph = ("EPSG:4326", True, f"citygen {__version__}", meta)
    out += [_data(keys[n], v, "    ") for n, v in zip(_GRAPH_KEYS, graph, strict=True)]
    out += ["  </graph>", "</graphml>", ""]
    return "\n".join(out)


def _write_text(path: Path, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def write_graphml_network(net: StreetNetwork, path: str | Path) -> Path:
    """Write a placed street network as osmnx GraphML to ``path`` atomically."""
    text = graphml_text(net)
    with atomic.atomic_path(path) as tmp:
        _write_text(tmp, text)
    return Path(path)


def write_graphml(
    G: nx.Graph,
    path: str | Path,
    center: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write one layout as GraphML that ``osmnx.load_graphml`` reads.

    Parameters
    ----------
    G
        A layout graph (see :mod:`citygen.layout`).
    path
        Output file (its directory must exist), conventionally ``*.graphml``.
    center
        ``(latitude, longitude)`` of the tile's centre in degrees; None places the layout at
        its real place if it has one, else at :data:`export.geo.DEFAULT_CENTER`.
    metadata
        Stored as JSON in the graph attribute ``citygen``.

    Returns
    -------
    Path
        The written file.
    """
    net = street_network(G, resolve_placement(G, center), metadata)
    return write_graphml_network(net, path)
