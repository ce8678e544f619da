"""``citygen finetune``: steer a model towards an objective by policy gradient with a KL penalty."""

from __future__ import annotations

import argparse
import shlex
import sys

from citygen.cli._args import integer, number, seed


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` parser."""
    p = sub.add_parser(
        "finetune",
        help="fine-tune a model towards an objective (REINFORCE with a KL penalty)",
        description="Policy-gradient fine-tuning of a layout model towards connectivity, travel "
        "time or street length, with a KL penalty to the pretrained model. The result is a model "
        "directory: citygen generate --model RUN_DIR samples from it.",
    )
    p.add_argument(
        "--objective",
        required=True,
        metavar="NAMES",
        help="connectivity, travel_time, length, or a comma list",
    )
    p.add_argument("--weights", metavar="W1,W2", help="one non-negative weight per objective")
    p.add_argument(
        "--model", metavar="RUN_DIR", help="pretrained model (default: the shipped model)"
    )
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="where the fine-tuned model is written"
    )
    p.add_argument(
        "--realism",
        type=number,
        default=None,
        metavar="W",
        help="weight of the realism term in the reward (default 0.5; 0: off)",
    )
    p.add_argument(
        "--realism-data",
        metavar="DATA_DIR",
        help="real tiles of the realism term: a prepared data set (default: the shipped corpus)",
    )
    p.add_argument("--kl", type=number, default=0.1, help="KL penalty weight (per nat per tile)")
    p.add_argument("--steps", type=integer, default=100, help="policy-gradient steps")
    p.add_argument("--batch-size", type=integer, default=16, help="layouts sampled per step")
    p.add_argument("--lr", type=number, default=1e-3, help="learning rate")
    p.add_argument("--seed", type=seed, default=0, help="0 .. 2**63-1")
    p.add_argument("--checkpoint-every", type=integer, default=50, help="steps between checkpoints")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune and print where the model is."""
    from citygen.paths import check_output_dir

    check_output_dir(args.out, "--out")
    from citygen.objectives.combine import DEFAULT_REALISM, parse_objective
    from citygen.objectives.finetune import FinetuneConfig, finetune
    from citygen.objectives.typicality import load_reference

    reference = load_reference(args.realism_data) if args.realism_data else None
    realism = DEFAULT_REALISM if args.realism is None else args.realism
    objective = parse_objective(args.objective, args.weights, realism, reference)
    cfg = FinetuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        kl=args.kl,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
    )
    command = (
        "citygen " + shlex.join(sys.argv[1:])
        if sys.argv and sys.argv[0].endswith("citygen")
        else None
    )
    out = finetune(
        objective, args.out, args.model, cfg, progress=not args.no_progress, command=command
    )
    print(f"fine-tuned model written to {out} (sample it with citygen generate --model {out})")
    return 0
