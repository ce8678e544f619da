"""``citygen evaluate``: how close generated layouts are to held-out real streets."""

from __future__ import annotations

import argparse

from citygen.cli._args import integer, seed

#: Layouts sampled (and per baseline) when --n is not given.
DEFAULT_N = 200


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` parser."""
    p = sub.add_parser(
        "evaluate",
        help="compare generated layouts with real test tiles (floor and baselines beside)",
        description="Sample N layouts (or read --generated DIR), compute street statistics, and "
        "print their distance to the test split of DATA_DIR next to the real-vs-real floor and "
        "three baselines. See docs/evaluation.md.",
    )
    p.add_argument(
        "--data", required=True, metavar="DATA_DIR", help="a data set from citygen prepare"
    )
    p.add_argument(
        "--model", metavar="RUN_DIR", help="model directory (default: the shipped model)"
    )
    p.add_argument(
        "--generated",
        metavar="DIR",
        help="evaluate the .geojson/.graphml files of DIR (or one such file) instead of sampling",
    )
    p.add_argument(
        "--n",
        type=integer,
        default=None,
        help=f"layouts to sample (and per baseline; default {DEFAULT_N}); not with --generated",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of sampling and baselines")
    p.add_argument("--json", metavar="REPORT.json", help="write the report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write statistic overlays and layout sheets")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-size", type=integer, default=256, help="tiles sampled together")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the JSON and plots."""
    from citygen import atomic
    from citygen.metrics.report import evaluate, format_table
    from citygen.paths import check_output_dir, check_output_file

    _check_options(args)
    json_path = check_output_file(args.json, "--json") if args.json is not None else None
    if args.plots is not None:
        check_output_dir(args.plots, "--plots")
    report, sets = evaluate(
        args.data,
        model=args.model,
        n=args.n if args.n is not None else DEFAULT_N,
        seed=args.seed,
        generated=args.generated,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(format_table(report))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(json_path, report.to_dict())
        print(f"report written to {args.json}")
    if args.plots is not None:
        from citygen.metrics.plots import write_plots

        files = write_plots(sets, args.plots)
        print(f"{len(files)} plots written to {args.plots}")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that would be ignored, and counts out of range, before any work."""
    from citygen.errors import UsageError

    if args.generated is not None:
        ignored = [o for o, v in (("--model", args.model), ("--n", args.n)) if v is not None]
        if ignored:
            msg = (
                f"{' and '.join(ignored)} cannot be used with --generated: the layouts are read "
                f"from {args.generated}, not sampled (baselines match their number)"
            )
            raise UsageError(msg)
    if args.n is not None and args.n < 1:
        msg = f"--n must be at least 1, got {args.n}"
        raise UsageError(msg)
