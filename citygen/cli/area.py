"""``citygen generate --area WxH``: one connected network over an area, one file per format."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any


def area_objective(args: argparse.Namespace) -> Any:
    """Return the objective to steer each tile by (best-of-N per tile), or None."""
    from citygen.errors import UsageError

    if args.objective is None:
        if args.method or args.weights:
            msg = "--method and --weights need --objective"
            raise UsageError(msg)
        return None
    if args.method not in (None, "best-of-n"):
        msg = f"--area steers each tile by best-of-n; --method {args.method} is not supported"
        raise UsageError(msg)
    from citygen.objectives import parse_objective
    from citygen.objectives.combine import DEFAULT_REALISM
    from citygen.objectives.typicality import load_reference

    realism = DEFAULT_REALISM if args.realism is None else args.realism
    ref = load_reference(args.realism_data) if args.realism_data else None
    return parse_objective(args.objective, args.weights, realism, ref)


def run_area(args: argparse.Namespace) -> int:
    """Generate the area asked for by ``--area`` and write it as one run; print a summary.

    The run folder is checked before any work and written as :mod:`export.run` writes
    ``generate``'s runs: a manifest of its files, refused over another run without
    ``--overwrite``, renamed into place whole.
    """
    from citygen import __version__
    from citygen.area import check_area, generate_area
    from citygen.area.export import write_area
    from citygen.area.size import parse_area
    from citygen.area.tiling import check_size
    from citygen.cli._args import sample_config
    from citygen.device import resolve_device
    from citygen.generation import _weights_sha256, styled
    from citygen.model.checkpoint import load_model
    from export.geo import DEFAULT_CENTER, Placement, parse_center
    from export.run import check_run_folder, write_run
    from export.write import parse_formats

    if getattr(args, "like_candidates", None) is not None:
        from citygen.errors import UsageError

        msg = "--like-candidates picks among single layouts; an --area takes the style of --like only"
        raise UsageError(msg)
    width, height = parse_area(args.area)
    check_size(width, height, 1.0)  # the model's tile size is checked again once loaded
    fmts = parse_formats(args.format)
    center = parse_center(args.center) if args.center is not None else None
    Placement.at_center(center or DEFAULT_CENTER, max(width, height))  # fails before the work
    check_run_folder(args.out, args.overwrite)
    objective = area_objective(args)
    cfg = sample_config(args)
    dev = resolve_device(args.device)
    model = load_model(args.model, dev)
    check_size(width, height, float(model.config.tile_size))
    cfg, style_meta = styled(model, cfg, args.like, args.density, args.grid)
    candidates = args.candidates if objective is not None else 1
    A = generate_area(
        model,
        width,
        height,
        seed=args.seed,
        candidates=candidates,
        objective=objective,
        config=cfg,
        device=dev,
        batch_size=args.batch_size,
        connect=args.connect,
    )
    report = check_area(A, cfg.min_dist, cfg.clearance, cfg.min_angle)
    meta = {
        "model": args.model or "default",
        "seed": args.seed,
        "objective": None
        if objective is None
        else {**objective.describe(), "method": "best-of-n per tile", "candidates": candidates},
        "seam_defects": report.counts,
    }
    if style_meta:
        meta["style"] = style_meta
    info = {
        **meta,
        "area_m": [width, height],
        "model_sha256": _weights_sha256(args.model),
        "batch_size": args.batch_size,
        "connect": args.connect,
        "formats": list(fmts),
        "center": center,
        "command": "citygen " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["generate"] else None,
        "citygen_version": __version__,
    }
    files = write_run(
        lambda folder: write_area(A, folder, fmts, center, meta), args.out, info, args.overwrite
    )
    stats = A.graph["stats"]
    print(
        f"area {width:g} x {height:g} m: {stats['tiles']} tiles, {A.number_of_nodes()} nodes, "
        f"{A.number_of_edges()} streets; largest piece {100 * stats['giant_length_share']:.1f}% "
        f"of street length; {report}"
    )
    print(f"wrote {len(files)} files to {args.out}")
    return 0
