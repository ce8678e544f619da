"""``citygen generate``: sample new street layouts and write GIS / simulation files."""

from __future__ import annotations

import argparse
import shlex
import sys

from citygen.cli._args import add_run_folder, add_temperatures, finite, integer, sample_config, seed

#: Default --batch-size of plain generation (tiles per process at once, about 1.4 GB peak with
#: two workers at --n 1024) and of --area runs (which keep 256).
GENERATE_BATCH = 512
AREA_BATCH = 256


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``generate`` parser."""
    p = sub.add_parser(
        "generate",
        help="generate new street layouts (default model: offline, no data needed)",
        description="Sample layouts from a model and write them as GeoJSON (default), GraphML, "
        "OSM XML and PNG. Negative latitudes need '=': --center=-33.9,18.4.",
    )
    p.add_argument(
        "--model", metavar="RUN_DIR", help="model directory (default: the shipped model)"
    )
    p.add_argument("--n", type=integer, default=4, help="number of layouts")
    p.add_argument("--seed", type=seed, default=0, help="0 .. 2**63-1; same seed, same files")
    p.add_argument("--center", metavar="LAT,LON", help="where to place tiles (default Helsinki)")
    p.add_argument("--format", default="geojson,png", help="geojson,graphml,osm,png or all")
    add_run_folder(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument(
        "--area",
        metavar="WxH",
        help="one connected network over an area (5000x5000 or 5kmx5km, at most 400 km2) "
        "instead of --n separate tiles; one file per format",
    )
    p.add_argument(
        "--connect", type=finite, default=500.0,
        help="--area: longest straight street (m) that joins separate pieces; 0: off",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument(
        "--batch-size", type=integer, default=None,
        help=f"tiles sampled together per process (default {GENERATE_BATCH}; "
        f"--area: {AREA_BATCH})",
    )
    p.add_argument("--workers", type=integer, default=1, help="sampling processes (same layouts)")
    p.add_argument("--min-dist", type=finite, default=10.0, help="least node distance, m")
    add_temperatures(p)
    p.add_argument(
        "--snap",
        type=finite,
        default=40.0,
        help="join dead ends this close (m) to a street straight ahead; 0: off",
    )
    p.add_argument(
        "--bend-tolerance",
        type=finite,
        default=10.0,
        help="drop bends within this many metres of the straight street (sampled streets "
        "wiggle more than real ones, which prepare draws at 5 m); 0: keep every sampled bend",
    )
    s = p.add_argument_group("style of a place (a model trained with --style, as the default)")
    s.add_argument(
        "--like",
        metavar="SOURCE",
        help="streets like this place: a data set, an OSM / street-lines file or folder, or a "
        'place name ("Lyon, France", online)',
    )
    s.add_argument(
        "--like-candidates",
        type=integer,
        metavar="K",
        help="with --like: candidates per layout, the one nearest the place's tile its style "
        "came from kept (default 4; 1: off)",
    )
    s.add_argument("--density", type=finite, metavar="N", help="junctions (3+ streets) per km2")
    s.add_argument("--grid", type=finite, metavar="X", help="orientation order, 0 (any) to 1 (grid)")
    g = p.add_argument_group("steering (see docs/objectives.md)")
    g.add_argument(
        "--objective", metavar="NAMES", help="connectivity, travel_time, length, or a comma list"
    )
    g.add_argument("--weights", metavar="W1,W2", help="non-negative weight per objective (1 each)")
    g.add_argument(
        "--method",
        metavar="METHOD",
        help="best-of-n (default), smc, or finetune (a --model written by citygen finetune)",
    )
    g.add_argument("--candidates", type=integer, default=16, help="best-of-n: candidates/layout")
    g.add_argument("--particles", type=integer, default=16, help="smc: particles per layout")
    g.add_argument(
        "--realism",
        type=finite,
        metavar="W",
        help="weight of the realism term: penalise layouts unlike real tiles (default 0.5; 0: off)",
    )
    g.add_argument(
        "--realism-data",
        metavar="DATA_DIR",
        help="real tiles of the realism term: a prepared data set (default: the shipped corpus)",
    )
    p.set_defaults(
        run=run,
        on_interrupt="interrupted; nothing was written to the output folder (an earlier run "
        "there is unchanged); run the command again to start over",
    )


def run(args: argparse.Namespace) -> int:
    """Generate and print the files written."""
    from citygen.paths import check_output_dir

    check_output_dir(args.out, "--out")
    if args.batch_size is None:
        # a batch pays a step for every step of its largest tile: the fewer batches, the fewer
        # of these tails (issue 14; with --workers 2, --n 1024 is one batch per process)
        args.batch_size = AREA_BATCH if args.area is not None else GENERATE_BATCH
    if args.area is not None:
        from citygen.cli.area import run_area

        return run_area(args)
    from citygen.generation import generate
    from export.geo import parse_center

    center = parse_center(args.center) if args.center is not None else None
    cfg = sample_config(args)
    result = generate(
        args.out,
        model=args.model,
        n=args.n,
        seed=args.seed,
        formats=args.format,
        center=center,
        device=args.device,
        batch_size=args.batch_size,
        sample_config=cfg,
        objective=args.objective,
        weights=args.weights,
        method=args.method,
        candidates=args.candidates,
        particles=args.particles,
        realism=args.realism,
        realism_data=args.realism_data,
        like=args.like,
        like_candidates=args.like_candidates,
        density=args.density,
        grid=args.grid,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        command="citygen " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["generate"] else None,
        workers=args.workers,
    )
    nodes = sum(G.number_of_nodes() for G in result.layouts)
    count = f"{len(result.files)} files for {len(result.layouts)} layouts ({nodes} nodes)"
    print(f"wrote {count} to {args.out}")
    steered = result.steered
    if steered is not None:
        values = ", ".join(f"{k} {v:.3f}" for k, v in steered.mean_values().items())
        method = steered.info.get("method")
        print(f"objective ({method}): mean {values}; mean score {steered.scores.mean():+.3f}")
    return 0
