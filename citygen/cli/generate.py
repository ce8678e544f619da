"""``citygen generate``: sample new street layouts and write GIS / simulation files."""

from __future__ import annotations

import argparse

from citygen.cli._args import integer, number


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``generate`` parser."""
    p = sub.add_parser(
        "generate",
        help="generate new street layouts (default model: offline, no data needed)",
        description="Sample layouts from a model and write them as GeoJSON (default), GraphML, "
        "OSM XML and PNG. Negative latitudes need '=': --center=-33.9,18.4.",
    )
    p.add_argument("--model", metavar="RUN_DIR", help="model directory (default: the shipped model)")
    p.add_argument("--n", type=integer, default=4, help="number of layouts")
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--center", metavar="LAT,LON", help="where to place tiles (default Helsinki)")
    p.add_argument("--format", default="geojson,png", help="geojson,graphml,osm,png or all")
    p.add_argument("--out", required=True, metavar="OUT_DIR")
    p.add_argument(
        "--area",
        metavar="WxH",
        help="one connected network over an area (5000x5000 or 5kmx5km, at most 400 km2) "
        "instead of --n separate tiles; one file per format",
    )
    p.add_argument(
        "--connect", type=number, default=500.0,
        help="--area: longest straight street (m) that joins separate pieces; 0: off",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-size", type=integer, default=64, help="tiles sampled together")
    p.add_argument("--min-dist", type=number, default=10.0, help="least node distance, m")
    p.add_argument("--temperature", type=number, default=1.0, help="sampling temperature")
    p.add_argument("--snap", type=number, default=25.0, help="join dead ends this close (m) to a street straight ahead; 0: off")
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
        type=number,
        metavar="W",
        help="weight of the realism term: penalise layouts unlike real tiles (default 0.5; 0: off)",
    )
    g.add_argument(
        "--realism-data",
        metavar="DATA_DIR",
        help="real tiles of the realism term: a prepared data set (default: the shipped corpus)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate and print the files written."""
    if args.area is not None:
        from citygen.cli.area import run_area

        return run_area(args)
    from citygen.generate import generate
    from citygen.sample import SampleConfig
    from export.geo import parse_center

    center = parse_center(args.center) if args.center else None
    cfg = SampleConfig(min_dist=args.min_dist, temperature=args.temperature, snap=args.snap)
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
    )
    nodes = sum(G.number_of_nodes() for G in result.layouts)
    print(f"wrote {len(result.files)} files for {len(result.layouts)} layouts ({nodes} nodes) to {args.out}")
    steered = result.steered
    if steered is not None:
        values = ", ".join(f"{k} {v:.3f}" for k, v in steered.mean_values().items())
        method = steered.info.get("method")
        print(f"objective ({method}): mean {values}; mean score {steered.scores.mean():+.3f}")
    return 0
