"""One entry point for steered sampling: ``citygen generate --objective ... --method ...``.

Methods (:data:`METHODS`):

- ``best-of-n``: :func:`~citygen.objectives.best_of_n.best_of_n`, ``candidates`` per layout;
- ``smc``: :func:`~citygen.objectives.smc.smc`, ``particles`` per layout;
- ``finetune``: plain sampling from a model written by ``citygen finetune``
  (:func:`~citygen.objectives.finetune.finetune`); the objective is only measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from citygen.errors import UsageError
from citygen.model.network import LayoutModel
from citygen.objectives.best_of_n import best_of_n
from citygen.objectives.combine import DEFAULT_REALISM, Combination, parse_objective
from citygen.objectives.result import Steered, evaluate
from citygen.objectives.smc import smc
from citygen.objectives.typicality import Reference
from citygen.sampling.loop import SampleConfig, sample

METHODS: tuple[str, ...] = ("best-of-n", "smc", "finetune")
DEFAULT_METHOD = "best-of-n"
DEFAULT_CANDIDATES = 16
DEFAULT_PARTICLES = 16


@dataclass(frozen=True)
class Steering:
    """How to steer sampling: an objective, a method and its setting.

    Attributes
    ----------
    objective
        What to maximise.
    method
        One of :data:`METHODS`.
    candidates
        Best-of-N candidates per layout.
    particles
        SMC particles per layout.
    """

    objective: Combination
    method: str = DEFAULT_METHOD
    candidates: int = DEFAULT_CANDIDATES
    particles: int = DEFAULT_PARTICLES

    def __post_init__(self) -> None:
        check_method(self.method)
        check_counts(self.candidates, self.particles)


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`, else raise :class:`UsageError`."""
    if method not in METHODS:
        msg = f"unknown steering method {method!r}; choose from {', '.join(METHODS)}"
        raise UsageError(msg)
    return method


def check_counts(candidates: int, particles: int) -> None:
    """Candidates and particles must be at least 1."""
    if candidates < 1:
        msg = f"--candidates must be at least 1, got {candidates}"
        raise UsageError(msg)
    if particles < 1:
        msg = f"--particles must be at least 1, got {particles}"
        raise UsageError(msg)


def resolve_steering(
    objective: str | Combination | None,
    weights: str | None,
    method: str | None,
    candidates: int = DEFAULT_CANDIDATES,
    particles: int = DEFAULT_PARTICLES,
    finetuned: dict | None = None,
    realism: float | None = None,
    reference: Reference | None = None,
) -> Steering | None:
    """Return the steering asked for on the command line, or None for plain sampling.

    Parameters
    ----------
    objective, weights
        Names and weights (:func:`parse_objective`), or a combination; None: no objective.
    method
        A method name; None: ``finetune`` for a fine-tuned model, else ``best-of-n``.
    candidates, particles
        Method settings (checked whatever the method).
    finetuned
        The ``finetune`` entry of the model's config, if it was fine-tuned.
    realism, reference
        Weight and real tiles of the realism term (:func:`parse_objective`); weight None:
        the one a fine-tuned model was trained with (0 for models tuned before the term
        existed), else :data:`~citygen.objectives.combine.DEFAULT_REALISM`.

    Raises
    ------
    UsageError
        On a bad objective, weights, method or count, ``--method``, ``--realism`` or
        ``--realism-data`` without ``--objective`` (except for a fine-tuned model),
        ``--weights`` without ``--objective``, or an
        objective other than the one a fine-tuned model was trained for.
    """
    check_counts(candidates, particles)
    if method is not None:
        check_method(method)
    if objective is None and weights is not None:
        msg = "--weights needs --objective"
        raise UsageError(msg)
    if method == "finetune" and finetuned is None:
        msg = "--method finetune samples a model written by citygen finetune: pass --model RUN_DIR"
        raise UsageError(msg)
    if objective is None and finetuned is None:
        options = (
            (f"--method {method}", method),
            ("--realism", realism),
            ("--realism-data", reference),
        )
        given = [flag for flag, value in options if value is not None]
        if given:
            msg = f"{given[0]} needs --objective"
            raise UsageError(msg)
        return None
    if realism is None:
        realism = (
            float(finetuned["objective"].get("realism", 0.0)) if finetuned else DEFAULT_REALISM
        )
    tuned = (
        parse_objective(
            finetuned["objective"]["names"],
            finetuned["objective"]["weights"],
            realism,
            reference,
        )
        if finetuned
        else None
    )
    if isinstance(objective, Combination):
        comb = objective
    else:
        comb = (
            parse_objective(objective, weights, realism, reference)
            if objective is not None
            else tuned
        )
    if tuned is not None and method in (None, "finetune") and not _same(comb, tuned):
        msg = f"the model was fine-tuned for {tuned}, not {comb}"
        raise UsageError(msg)
    chosen = method or ("finetune" if finetuned else DEFAULT_METHOD)
    return Steering(comb, chosen, candidates, particles)


def _same(a: Combination, b: Combination) -> bool:
    """Same objectives and weights (the realism weight of a fine-tuned model may differ)."""
    return (a.names, a.weights) == (b.names, b.weights)


def steer(
    model: LayoutModel,
    steering: Steering,
    n: int,
    seed: int = 0,
    prefix: object = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
) -> Steered:
    """Sample ``n`` layouts steered as ``steering`` says (see the module docstring)."""
    kw = {"prefix": prefix, "device": device, "batch_size": batch_size, "config": config}
    if steering.method == "best-of-n":
        return best_of_n(model, steering.objective, n, seed, steering.candidates, **kw)
    if steering.method == "smc":
        return smc(model, steering.objective, n, seed, steering.particles, **kw)
    layouts = sample(model, n, seed=seed, **kw)
    return evaluate(layouts, steering.objective, {"method": "finetune"})


def metadata(steering: Steering, result: Steered) -> dict:
    """Build the export metadata's ``objective`` entry: objective, method, settings, values."""
    info = {k: v for k, v in result.info.items() if k != "method"}
    return steering.objective.describe() | {
        "method": steering.method,
        "settings": info,
        "mean_score": round(float(result.scores.mean()), 6),
        "mean_values": {k: round(v, 6) for k, v in result.mean_values().items()},
    }
