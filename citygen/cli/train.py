"""``citygen train``: fit a layout model to a prepared data set by maximum likelihood."""

from __future__ import annotations

import argparse
import shlex
import sys

from citygen.cli._args import integer, number, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` parser."""
    p = sub.add_parser(
        "train",
        help="train a layout model on a prepared data set",
        description="Maximum-likelihood training with checkpoints; --resume continues exactly.",
    )
    p.add_argument("--data", required=True, metavar="DATA_DIR", help="from citygen prepare")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("--epochs", type=integer, default=30)
    p.add_argument("--batch-size", type=integer, default=16)
    p.add_argument("--lr", type=number, default=2e-3)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=seed, default=0, help="0 .. 2**63-1")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN_DIR from its latest checkpoint (same options as the run)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in RUN_DIR even if it holds a model, a run or other files",
    )
    p.add_argument(
        "--threads",
        type=integer,
        default=1,
        help="CPU threads for torch (1: bit-identical runs and resumes on a busy machine)",
    )
    p.add_argument("--windows", type=integer, default=-1, help="random windows per epoch (-1: as many as tiles)")
    p.add_argument("--checkpoint-every", type=integer, default=200, help="steps between checkpoints")
    p.add_argument("--d-model", type=integer, default=128, help="model width")
    p.add_argument("--layers", type=integer, default=4, help="backbone layers")
    p.add_argument("--heads", type=integer, default=4, help="attention heads")
    p.add_argument("--backbone", choices=["transformer", "gru"], default="transformer")
    p.add_argument("--position", choices=["relative", "absolute"], default="relative")
    p.add_argument("--window", type=integer, default=96, help="candidate window (nodes)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument(
        "--style",
        action="store_true",
        help="condition on each tile's style (junction and street density, grid order and "
        "bearing, road-class mix, dead ends), so that generate --like/--density/--grid work",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="split steps: a new node may be placed on an earlier street and cut it (T junctions "
        "on streets already drawn, docs/model.md)",
    )
    p.add_argument(
        "--grid-prior",
        action="store_true",
        help="with --style: the angle of a new street gets a term for how it lines up with the "
        "tile's dominant bearing (docs/model.md)",
    )
    p.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="start from this model's weights ('default': the shipped model) instead of random ones",
    )
    p.add_argument(
        "--context-noise",
        type=number,
        default=0.0,
        metavar="METRES",
        help="displace the earlier nodes the backbone reads by this many metres (standard "
        "deviation per axis) while the targets stay exact, against exposure bias (0: off)",
    )
    p.add_argument("--realism-samples", type=integer, default=8, help="tiles sampled per epoch")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Train and print where the model is."""
    from citygen.paths import check_output_dir

    check_output_dir(args.out, "--out")
    from citygen.model.network import ModelConfig
    from citygen.style import STYLE_DIM
    from training.train import TrainConfig, train

    model_cfg = ModelConfig(
        d_model=args.d_model,
        n_layers=args.layers,
        n_heads=args.heads,
        backbone=args.backbone,
        position=args.position,
        window=args.window,
        style_dim=STYLE_DIM if args.style else 0,
        split=args.split,
        grid_prior=args.grid_prior,
    )
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        windows_per_epoch=args.windows,
        checkpoint_every=args.checkpoint_every,
        amp=not args.no_amp,
        realism_samples=args.realism_samples,
        threads=args.threads,
        init_from=args.init_from,
        context_noise_m=args.context_noise,
    )
    # "citygen train ..." or "python -m citygen train ...": record the arguments as a citygen command
    command = "citygen " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else None
    show = not args.no_progress
    try:
        out = train(args.data, args.out, model_cfg, cfg, args.resume, show, command, args.overwrite)
    except KeyboardInterrupt:
        print(f"error: interrupted; resume with: {resume_command(args)}", file=sys.stderr)
        return 130
    print(f"model written to {out} (load it with --model {out})")
    return 0


def resume_command(args: argparse.Namespace) -> str:
    """Return the ``citygen train`` command that resumes this run (every option spelled out)."""
    words = ["citygen", "train", "--data", args.data, "--out", args.out]
    for flag, value in _OPTIONS:
        words += [flag, str(getattr(args, value))]
    if args.init_from is not None:
        words += ["--init-from", args.init_from]
    switches = (
        ("--no-amp", args.no_amp), ("--style", args.style), ("--split", args.split),
        ("--grid-prior", args.grid_prior), ("--no-progress", args.no_progress),
    )  # fmt: skip
    words += [flag for flag, on in switches if on]
    return shlex.join([*words, "--resume"])


#: Options that set the run (flag, argparse name), in ``--help`` order.
_OPTIONS = (
    ("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--lr", "lr"),
    ("--device", "device"), ("--seed", "seed"), ("--windows", "windows"),
    ("--checkpoint-every", "checkpoint_every"), ("--threads", "threads"),
    ("--d-model", "d_model"), ("--layers", "layers"), ("--heads", "heads"),
    ("--backbone", "backbone"), ("--position", "position"), ("--window", "window"),
    ("--context-noise", "context_noise"), ("--realism-samples", "realism_samples"),
)  # fmt: skip
