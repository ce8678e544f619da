"""Benchmark: infill of a 1 km2 L-shaped site cut into the real streets of a shared extract.

Issue 13: every street crossing the site boundary joined; no new street crossing a real one;
the merged network has no more components than the context. Also the time, and how much of the
new street length is straight joining streets (connectors) rather than sampled streets.

    python bench/infill.py [--osm ../shared/data/osm/milan.osm.pbf] [--n 4] [--cache FILE]

``--cache FILE`` keeps the cleaned context in a pickle (reading and cleaning Milan takes minutes),
so runs before and after a change compare the same context quickly.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import networkx as nx
import shapely
from _util import CORPUS, save


def l_site(xy, km2: float = 1.0) -> shapely.Polygon:
    """An L-shaped site of ``km2`` (a square less its north-east quarter) at the streets' centre."""
    side = (km2 * 1e6 / 0.75) ** 0.5
    cx, cy = xy.mean(0)
    h = side / 2
    return shapely.Polygon(
        [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy), (cx, cy), (cx, cy + h), (cx - h, cy + h)]
    )


def crossings_of_real(G: nx.Graph) -> int:
    """New streets that cross a real street other than at a shared node."""
    pos = {n: (d["x"], d["y"]) for n, d in G.nodes(data=True)}
    real = [(u, v) for u, v, g in G.edges(data="generated") if not g]
    new = [(u, v) for u, v, g in G.edges(data="generated") if g]
    tree = shapely.STRtree([shapely.LineString([pos[u], pos[v]]) for u, v in real])
    bad = 0
    for u, v in new:
        for k in tree.query(shapely.LineString([pos[u], pos[v]]), predicate="intersects"):
            if not {u, v} & set(real[int(k)]):
                bad += 1
    return bad


def lengths(G: nx.Graph, fixed: list) -> dict[str, float]:
    """Metres of new street drawn by the model and of joining streets (connectors).

    ``crossing_joins_m`` is the part of ``joined_m`` that ends at a crossing street's fixed node.
    """
    new = [(u, v, d) for u, v, d in G.edges(data=True) if d.get("generated")]
    joins = [(u, v, d) for u, v, d in new if d.get("connector")]
    joined = sum(d["length"] for *_, d in joins)
    at_fixed = sum(d["length"] for u, v, d in joins if {u, v} & set(fixed))
    drawn = sum(d["length"] for *_, d in new) - joined
    return {
        "drawn_m": round(drawn, 1),
        "joined_m": round(joined, 1),
        "crossing_joins_m": round(at_fixed, 1),
    }


def load_region(osm: str, cache: str | None):
    """Read and clean an OSM file, through a pickle cache if one is given."""
    from data_prep.clean import clean
    from data_prep.prepare import Source

    if cache and Path(cache).is_file():
        return pickle.loads(Path(cache).read_bytes())
    region = clean(Source("file", osm, Path(osm).stem).load())
    if cache:
        Path(cache).write_bytes(pickle.dumps(region))
    return region


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osm", default=str(CORPUS / "milan.osm.pbf"))
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--cache", default=None, help="pickle of the cleaned context")
    ap.add_argument("--name", default="infill", help="result file bench/results/NAME.json")
    args = ap.parse_args()
    from citygen.infill import context_graph, infill
    from citygen.model.checkpoint import load_model

    t0 = time.perf_counter()
    region = load_region(args.osm, args.cache)
    context = context_graph(region)
    t_load = time.perf_counter() - t0
    site = l_site(region.xy)
    t0 = time.perf_counter()
    cands = infill(load_model(), context, site, n=args.n, seed=0)
    t_infill = time.perf_counter() - t0
    limit = nx.number_connected_components(context)
    rows = []
    for c in cands:
        joined = sum(
            1
            for f in c.fixed
            if any(c.graph.edges[f, m]["generated"] for m in c.graph.neighbors(f))
        )
        rows.append(
            {
                "seed": c.seed,
                "tries": c.tries,
                "crossings": len(c.fixed),
                "joined": joined,
                "new_crossing_real": crossings_of_real(c.graph),
                "components": nx.number_connected_components(c.graph),
                "context_components": limit,
                **lengths(c.graph, c.fixed),
                "values": {k: round(v, 4) for k, v in c.values.items()},
            }
        )
        print(
            f"  seed {c.seed} ({c.tries} draws): {joined}/{len(c.fixed)} crossings joined, "
            f"{rows[-1]['new_crossing_real']} crossings of real streets, components "
            f"{rows[-1]['components']} (context {limit}), drawn {rows[-1]['drawn_m']:.0f} m, "
            f"joined {rows[-1]['joined_m']:.0f} m "
            f"({rows[-1]['crossing_joins_m']:.0f} m at crossings), "
            f"connector share "
            f"{c.values['connector_share']:.2f}"
        )
    print(f"load+clean {t_load:.1f} s, infill of {args.n} candidates {t_infill:.1f} s")
    save(
        args.name,
        {
            "osm": Path(args.osm).name,
            "site_km2": round(site.area / 1e6, 3),
            "load_s": round(t_load, 1),
            "infill_s": round(t_infill, 1),
            "candidates": rows,
        },
    )


if __name__ == "__main__":
    main()
