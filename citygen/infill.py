"""Site infill: new streets inside a planner's site, joined to the real streets around it.

``citygen infill --site SITE.geojson --context SOURCE``. In the context's projected CRS (the
local UTM zone that :func:`data_prep.clean.clean` chooses):

1. the real streets are cut at the site boundary: the parts outside are kept, each street
   crossing the boundary ends there in a *fixed* node, the parts inside are removed (kept with
   ``keep_existing``);
2. the model generates a network over the site's bounding box (:func:`citygen.generate_area`),
   in the style of the real streets around the site (a style model's styles drawn from
   windows of the context, :mod:`citygen.area.surroundings`), masked to the site shrunk by
   ``min_dist`` (so new nodes keep the rules against real ones);
   with ``keep_existing``, new nodes and streets too close to real ones are dropped;
3. every fixed node is joined to the new streets by the shortest straight street inside the
   site that keeps the hard rules, at a new node or a T-junction on a new street (or, failing
   that, to another fixed node; :mod:`citygen.area.crossings`); pieces of new
   streets are joined by connectors inside the site (:mod:`citygen.area.connect`); new pieces
   that still reach no real street are dropped.

The result is one graph in the CRS (node ``x``, ``y`` metres; edge ``generated``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import shapely
import shapely.prepared

from citygen.area.connect import connect_pieces
from citygen.area.crossings import JOIN_M, join_fixed
from citygen.errors import InputDataError, UsageError
from citygen.layout import ROAD_CLASSES, add_street

#: Largest site, km2.
MAX_SITE_KM2 = 25.0
#: Draws per candidate until every crossing street is joined and the merged network has no
#: more components than the context (the last draw is kept either way, and reported).
TRIES = 4
#: Generated node ids start here (real and fixed nodes lie below).
GEN_OFFSET = 10_000_000


@dataclass
class Candidate:
    """One infill candidate: the merged network and facts about it."""

    graph: nx.Graph
    seed: int
    fixed: list[int]
    unjoined: list[int]
    values: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    tries: int = 1
    style_windows: int = 0


def context_graph(region: Any) -> nx.Graph:
    """Return a :class:`data_prep.clean.RegionGraph` as a graph: node ``x``, ``y`` m; edge class."""
    G = nx.Graph(crs=region.crs)
    for i, (x, y) in enumerate(region.xy):
        G.add_node(i, x=float(x), y=float(y), border=False, real=True)
    for (u, v), c in zip(region.edges, region.classes, strict=True):
        add_street(G, int(u), int(v), ROAD_CLASSES[int(c)])
        G.edges[int(u), int(v)]["generated"] = False
    return G


def check_site(site: shapely.Geometry, context: nx.Graph) -> shapely.Geometry:
    """Refuse empty, invalid, too large or non-overlapping sites; return the polygon."""
    if site is None or site.is_empty:
        msg = "site polygon is empty"
        raise InputDataError(msg)
    if site.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"site must be a polygon, got a {site.geom_type}"
        raise InputDataError(msg)
    if not site.is_valid:
        msg = f"site polygon is invalid ({shapely.is_valid_reason(site)})"
        raise InputDataError(msg)
    km2 = site.area / 1e6
    if km2 > MAX_SITE_KM2:
        msg = f"site of {km2:.1f} km2 is too large; at most {MAX_SITE_KM2:g} km2"
        raise InputDataError(msg)
    if km2 <= 0:
        msg = "site polygon has no area"
        raise InputDataError(msg)
    xy = np.array([(d["x"], d["y"]) for _, d in context.nodes(data=True)]).reshape(-1, 2)
    hull = shapely.MultiPoint(xy).convex_hull if len(xy) else shapely.Polygon()
    if not hull.intersects(site):
        msg = "site does not overlap the context's streets"
        raise InputDataError(msg)
    return site


def cut_context(
    C: nx.Graph, site: shapely.Geometry, keep_existing: bool, min_dist: float = 10.0
) -> tuple[nx.Graph, list[int]]:
    """Cut the real streets at the site boundary; return the kept graph and the fixed nodes.

    A street with less than ``min_dist`` of its length inside the site (it clips a corner) is
    kept whole; two fixed nodes closer than ``min_dist`` become one.
    """
    K = C.copy()
    if keep_existing:
        return K, []
    prep = shapely.prepared.prep(site)
    next_id = max(K.nodes, default=-1) + 1
    fixed: list[int] = []
    for u, v, d in list(C.edges(data=True)):
        a = (C.nodes[u]["x"], C.nodes[u]["y"])
        b = (C.nodes[v]["x"], C.nodes[v]["y"])
        seg = shapely.LineString([a, b])
        clips = not prep.intersects(seg) or seg.intersection(site).length < min_dist
        if clips and not (shapely.contains_xy(site, *a) or shapely.contains_xy(site, *b)):
            continue  # outside, or only clipping a corner of the site: kept whole
        K.remove_edge(u, v)
        outside = seg.difference(site)
        for piece in getattr(outside, "geoms", [outside]):
            if piece.is_empty or piece.length <= 0:
                continue
            ends = []
            for p in (piece.coords[0], piece.coords[-1]):
                if _same(p, a):
                    ends.append(u)
                elif _same(p, b):
                    ends.append(v)
                else:
                    K.add_node(
                        next_id, x=float(p[0]), y=float(p[1]), border=False, real=True, fixed=True
                    )
                    fixed.append(next_id)
                    ends.append(next_id)
                    next_id += 1
            if ends[0] != ends[1]:
                add_street(K, ends[0], ends[1], d["highway"])
                K.edges[ends[0], ends[1]]["generated"] = False
    K.remove_nodes_from([n for n in list(K.nodes) if K.degree(n) == 0])
    fixed = [f for f in fixed if f in K]
    return K, _merge_close(K, fixed, min_dist)


def _merge_close(K: nx.Graph, fixed: list[int], min_dist: float) -> list[int]:
    """Merge fixed nodes closer than ``min_dist`` into the first of them (in place)."""
    keep: list[int] = []
    for f in fixed:
        p = (K.nodes[f]["x"], K.nodes[f]["y"])
        near = next(
            (k for k in keep if math.dist(p, (K.nodes[k]["x"], K.nodes[k]["y"])) < min_dist), None
        )
        if near is None:
            keep.append(f)
            continue
        for m, d in list(K[f].items()):
            if m != near and not K.has_edge(near, m):
                add_street(K, near, m, d["highway"])
                K.edges[near, m]["generated"] = False
        K.remove_node(f)
    return keep


def _same(p: Any, q: Any) -> bool:
    """Whether two points coincide to a micrometre (absolute: UTM coordinates are large)."""
    return bool(np.allclose(p, q, rtol=0.0, atol=1e-6))


def _clip(G: nx.Graph, region: shapely.Geometry) -> nx.Graph:
    """Keep the part of a generated graph inside ``region``; cut streets end at its boundary."""
    prep = shapely.prepared.prep(region)
    inside = {n for n, d in G.nodes(data=True) if prep.contains(shapely.Point(d["x"], d["y"]))}
    H = G.subgraph(inside).copy()
    next_id = max(G.nodes, default=-1) + 1
    for u, v, d in G.edges(data=True):
        if (u in inside) == (v in inside):
            continue
        a, b = (u, v) if u in inside else (v, u)
        pa = (G.nodes[a]["x"], G.nodes[a]["y"])
        piece = shapely.LineString([pa, (G.nodes[b]["x"], G.nodes[b]["y"])]).intersection(region)
        parts = [g for g in getattr(piece, "geoms", [piece]) if g.geom_type == "LineString"]
        part = next((g for g in parts if _same(g.coords[0], pa) or _same(g.coords[-1], pa)), None)
        if part is None or part.length < 1.0:
            continue
        far = part.coords[-1] if _same(part.coords[0], pa) else part.coords[0]
        H.add_node(next_id, x=float(far[0]), y=float(far[1]), border=False)
        add_street(H, a, next_id, d["highway"])
        next_id += 1
    return H


def _drop_conflicts(M: nx.Graph, gen: set, cfg: Any) -> None:
    """Remove generated nodes and streets that break a rule against real ones (in place)."""
    xy = np.array([(M.nodes[n]["x"], M.nodes[n]["y"]) for n in gen]).reshape(-1, 2)
    if not len(xy):
        return
    lo, hi = xy.min(0) - cfg.min_dist - 1.0, xy.max(0) + cfg.min_dist + 1.0

    def near_box(n: int) -> bool:
        return bool(lo[0] <= M.nodes[n]["x"] <= hi[0] and lo[1] <= M.nodes[n]["y"] <= hi[1])

    real = [n for n in M if n not in gen and near_box(n)]
    rxy = np.array([(M.nodes[n]["x"], M.nodes[n]["y"]) for n in real]).reshape(-1, 2)

    def crosses_box(u: int, v: int) -> bool:
        xs, ys = (M.nodes[u]["x"], M.nodes[v]["x"]), (M.nodes[u]["y"], M.nodes[v]["y"])
        return min(xs) <= hi[0] and max(xs) >= lo[0] and min(ys) <= hi[1] and max(ys) >= lo[1]

    redges = [(u, v) for u, v in M.edges if u not in gen and v not in gen and crosses_box(u, v)]
    rlines = (
        shapely.linestrings(
            [
                [(M.nodes[u]["x"], M.nodes[u]["y"]), (M.nodes[v]["x"], M.nodes[v]["y"])]
                for u, v in redges
            ]
        )
        if redges
        else []
    )
    tree = shapely.STRtree(rlines) if redges else None
    bad_nodes = []
    for n in gen:
        p = shapely.Point(M.nodes[n]["x"], M.nodes[n]["y"])
        near_node = len(rxy) and np.hypot(*(rxy - (p.x, p.y)).T).min() < cfg.min_dist
        near_edge = tree is not None and len(tree.query(p, "dwithin", distance=cfg.clearance))
        if near_node or near_edge:
            bad_nodes.append(n)
    M.remove_nodes_from(bad_nodes)
    if tree is None:
        return
    bad = []
    for u, v in M.edges:
        if u in gen and v in gen:
            seg = shapely.LineString(
                [(M.nodes[u]["x"], M.nodes[u]["y"]), (M.nodes[v]["x"], M.nodes[v]["y"])]
            )
            near = [int(k) for k in tree.query(seg, predicate="dwithin", distance=cfg.clearance)]
            if near:
                bad.append((u, v))
    M.remove_edges_from(bad)


def infill_candidate(
    model: Any,
    context: nx.Graph,
    kept: nx.Graph,
    fixed: list[int],
    site: shapely.Geometry,
    seed: int,
    cfg: Any,
) -> Candidate:
    """Generate, mask, merge and join one candidate (see the module docstring)."""
    from citygen.area import generate_area

    minx, miny, maxx, maxy = site.bounds
    w, h = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    A = generate_area(model, w, h, seed=seed, config=cfg, connect=0.0)
    for _, d in A.nodes(data=True):
        d["x"] += minx
        d["y"] += miny
    inner = site.buffer(-cfg.min_dist)
    A = _clip(A, inner) if not inner.is_empty else nx.Graph()
    A = nx.relabel_nodes(A, {n: GEN_OFFSET + i for i, n in enumerate(A.nodes)})
    M = kept.copy()
    M.add_nodes_from((n, {**d, "border": False, "real": False}) for n, d in A.nodes(data=True))
    for u, v, d in A.edges(data=True):
        M.add_edge(u, v, **d, generated=True)
    gen = set(A.nodes)
    _drop_conflicts(M, gen, cfg)
    M.remove_nodes_from([n for n in gen if n in M and M.degree(n) == 0])
    gen = {n for n in gen if n in M}
    unjoined = join_fixed(M, fixed, gen, site, cfg)
    inside = shapely.prepared.prep(site)
    real_inside = {  # real streets kept inside the site (keep_existing) may end connectors
        n
        for n in M
        if n not in gen and inside.contains(shapely.Point(M.nodes[n]["x"], M.nodes[n]["y"]))
    }
    new_nodes = gen | set(fixed) | real_inside
    connect_pieces(
        M, JOIN_M, cfg.min_dist, cfg.clearance, cfg.min_angle, within=site, eligible=new_nodes
    )
    for comp in list(nx.connected_components(M)):
        if all(n in gen for n in comp):
            M.remove_nodes_from(comp)
    for u, v in M.edges:
        M.edges[u, v].setdefault("generated", True)
    M.graph.update(context.graph)
    return Candidate(M, seed, fixed, unjoined)


def surroundings_style(
    model: Any, cfg: Any, context: nx.Graph, site: shapely.Geometry
) -> tuple[Any, int]:
    """``cfg`` with the style bank of the real streets around the site, and its windows.

    Unchanged (and 0 windows) for a model without style input, a config that names its own
    style bank, or a context with no window of streets around the site.
    """
    from dataclasses import replace

    from citygen.area.surroundings import style_bank_around

    if not getattr(model.config, "style_dim", 0) or cfg.style_bank is not None:
        return cfg, 0
    bank = style_bank_around(context, site, float(model.config.tile_size))
    if bank is None:
        return cfg, 0
    rows = tuple(tuple(float(v) for v in row) for row in bank)
    return replace(cfg, style_bank=rows), len(rows)


def site_layout(M: nx.Graph, site: shapely.Geometry) -> nx.Graph:
    """Return the new streets (and the fixed nodes they join) as a layout for objectives."""
    minx, miny, maxx, maxy = site.bounds
    side = max(maxx - minx, maxy - miny)
    edges = [(u, v) for u, v, g in M.edges(data="generated") if g]
    G = nx.Graph(tile_size=float(side))
    for n in {n for e in edges for n in e}:
        d = M.nodes[n]
        G.add_node(n, x=d["x"] - minx, y=d["y"] - miny, border=bool(d.get("fixed", False)))
    for u, v in edges:
        G.add_edge(u, v, **M.edges[u, v])
    return G


def infill(
    model: Any,
    context: nx.Graph,
    site: shapely.Geometry,
    n: int = 8,
    seed: int = 0,
    keep_existing: bool = False,
    objective: Any = None,
    config: Any = None,
    surroundings: bool = True,
) -> list[Candidate]:
    """Generate ``n`` infill candidates for a site in a context network (same CRS, metres).

    Parameters
    ----------
    model
        The layout model.
    context
        Real streets (:func:`context_graph`), projected metres.
    site
        The site polygon in the context's CRS.
    n, seed
        Number of candidates; candidate ``k`` is drawn with seed ``seed + k``, then
        ``seed + k + n``, ... (up to :data:`TRIES` draws) until every crossing is joined and
        the merged network has no more components than the context.
    keep_existing
        Keep the real streets inside the site (new streets avoid them).
    objective
        A :class:`citygen.objectives.Combination` to rank candidates by (best first).
    config
        A :class:`citygen.sampling.loop.SampleConfig`.
    surroundings
        For a style model, draw each tile's style from the real streets around the site
        (:func:`citygen.area.surroundings.style_bank_around`) unless ``config`` names a style
        bank; False draws from the model's own bank (its training tiles).

    Returns
    -------
    list of Candidate
        Ranked by objective score if one is given, else in seed order; each has the values of
        connectivity, travel time and length of its new streets.
    """
    from citygen.objectives import connectivity, length, travel_time
    from citygen.sampling.loop import SampleConfig

    if n < 1:
        msg = f"number of candidates must be at least 1, got {n}"
        raise UsageError(msg)
    cfg = config or SampleConfig()
    site = check_site(site, context)
    windows = 0
    if surroundings:
        cfg, windows = surroundings_style(model, cfg, context, site)
    kept, fixed = cut_context(context, site, keep_existing, cfg.min_dist)
    limit = nx.number_connected_components(context)
    out = []
    for k in range(n):
        for attempt in range(TRIES):  # another draw if a crossing is left unjoined
            cand = infill_candidate(model, context, kept, fixed, site, seed + k + attempt * n, cfg)
            cand.tries = attempt + 1
            cand.style_windows = windows
            if not cand.unjoined and nx.number_connected_components(cand.graph) <= limit:
                break
        G = site_layout(cand.graph, site)
        if G.number_of_edges():
            cand.values = {
                "connectivity": connectivity(G),
                "travel_time": travel_time(G),
                "length": length(G),
            }
        else:
            cand.values = {"connectivity": math.nan, "travel_time": math.nan, "length": 0.0}
        conn = sum(d["length"] for *_, d in G.edges(data=True) if d.get("connector"))
        cand.values["connector_share"] = conn / max(
            1e-9, sum(d["length"] for *_, d in G.edges(data=True))
        )
        if objective is not None and G.number_of_edges():
            cand.score = float(objective.score(G))
        out.append(cand)
    if objective is not None:
        out.sort(key=lambda c: -(c.score if c.score is not None else -math.inf))
    return out
