"""``citygen evaluate``: how close generated layouts are to held-out real streets."""

from __future__ import annotations

import argparse

from citygen.cli._args import integer


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
        help="evaluate the .geojson/.graphml files of DIR instead of sampling",
    )
    p.add_argument("--n", type=integer, default=200, help="layouts to sample (and per baseline)")
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--json", metavar="REPORT.json", help="write the report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write statistic overlays and layout sheets")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-size", type=integer, default=256, help="tiles sampled together")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the JSON and plots."""
    from citygen import atomic
    from citygen.errors import UsageError
    from citygen.metrics.report import evaluate, format_table

    if args.n < 1:
        msg = f"--n must be at least 1, got {args.n}"
        raise UsageError(msg)
    report, sets = evaluate(
        args.data,
        model=args.model,
        n=args.n,
        seed=args.seed,
        generated=args.generated,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(format_table(report))
    if args.json:
        atomic.write_json(args.json, report.to_dict())
        print(f"report written to {args.json}")
    if args.plots:
        from citygen.metrics.plots import write_plots

        files = write_plots(sets, args.plots)
        print(f"{len(files)} plots written to {args.plots}")
    return 0
