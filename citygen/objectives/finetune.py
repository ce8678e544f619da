"""Fine-tune a layout model towards an objective: REINFORCE with a baseline and a KL penalty.

Each step samples a batch of layouts from the current policy (with the sampler's hard
constraints), scores them with the objective (the normalised score of
:class:`~citygen.objectives.combine.Combination`, higher is better), and follows the policy
gradient of

    J(theta) = E_x~p_theta [ R(x) ] - kl * KL(p_theta || p_0)

where ``p_0`` is the frozen pretrained model, as GCPN does for molecules. Both terms are
estimated on the sampled tiles with the exact log-likelihoods of :mod:`citygen.model.likelihood`:
the shaped reward ``R(x) - kl * (log p_theta(x) - log p_0(x))`` minus a leave-one-out baseline
(the mean shaped reward of the other tiles of the batch) weights ``log p_theta(x)``; the
advantages are divided by their standard deviation (a per-batch step size).

The likelihood scores each layout's canonical sequence without the sampler's constraint
masks, so the gradient is that of the unconstrained model at the constrained samples; the KL
is in nats per tile. The result is an ordinary model directory (``model.safetensors`` and
``config.json`` with a ``finetune`` entry), written atomically every ``checkpoint_every``
steps and at the end; ``citygen generate --model RUN_DIR`` samples from it.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from citygen.device import resolve_device
from citygen.api import check_seed, load_model
from citygen.errors import TrainingError, UsageError
from citygen.model.checkpoint import CONFIG, read_config, save_model
from citygen.model.likelihood import batch_nll, sequence_batch
from citygen.model.network import LayoutModel
from citygen.objectives.combine import Combination
from citygen.objectives.result import evaluate
from citygen.sampling.loop import SampleConfig, sample
from citygen.style import drawn_styles
from data_prep.order import to_sequence

log = logging.getLogger(__name__)


#: Largest learning rate: above it Adam's step no longer fits a float32.
MAX_LR = 1e30


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of a fine-tuning run.

    Attributes
    ----------
    steps
        Policy-gradient steps.
    batch_size
        Layouts sampled per step.
    lr
        AdamW learning rate.
    kl
        Weight of the KL penalty to the pretrained model, per nat per tile.
    grad_clip
        Gradient-norm clip.
    seed
        Seeds sampling.
    checkpoint_every
        Steps between checkpoints (the end is always written).
    device
        ``auto``, ``cpu`` or ``cuda``.
    """

    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    kl: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 50
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.checkpoint_every < 1:
            msg = f"--steps and --checkpoint-every must be >= 1, got {self.steps}"
            msg += f" and {self.checkpoint_every}"
            raise UsageError(msg)
        if self.batch_size < 2:
            msg = f"fine-tuning needs --batch-size of at least 2 (baseline), got {self.batch_size}"
            raise UsageError(msg)
        if not (0 < self.lr <= MAX_LR):
            msg = f"learning rate must be positive and at most {MAX_LR:g}, got {self.lr}"
            raise UsageError(msg)
        check_seed(self.seed)
        if not (self.kl >= 0 and math.isfinite(self.kl)):
            msg = f"--kl must be finite and >= 0, got {self.kl}"
            raise UsageError(msg)


def leave_one_out(x: torch.Tensor) -> torch.Tensor:
    """Baseline of each element: the mean of the others, ``(B,)``."""
    return (x.sum() - x) / (x.numel() - 1)


def policy_step(
    policy: LayoutModel,
    reference: LayoutModel,
    opt: torch.optim.Optimizer,
    objective: Combination,
    cfg: FinetuneConfig,
    seed: int,
    sample_config: SampleConfig | None = None,
) -> dict[str, float]:
    """One REINFORCE step on a fresh batch; returns the step's record (reward, KL, ...)."""
    device = next(policy.parameters()).device
    if sample_config is None:  # REINFORCE scores the policy's own draws: sample it as learned
        sample_config = SampleConfig(temperature=1.0, structure_temperature=1.0)
    layouts = sample(
        policy, cfg.batch_size, seed=seed, batch_size=cfg.batch_size, config=sample_config
    )
    scored = evaluate(layouts, objective, {})
    batch = {
        k: v.to(device)
        for k, v in sequence_batch(
            [to_sequence(G) for G in layouts], policy, drawn_styles(layouts, policy)
        ).items()
    }
    logp = -batch_nll(policy, batch)  # (B,) nats, differentiable
    with torch.no_grad():
        logp_ref = -batch_nll(reference, batch)
    kl = (logp - logp_ref).detach()
    reward = torch.as_tensor(scored.scores, dtype=torch.float32, device=device)
    shaped = reward - cfg.kl * kl
    adv = shaped - leave_one_out(shaped)
    adv = adv / (adv.std() + 1e-6)
    loss = -(adv * logp).mean() / max(float(batch["n"].float().mean()), 1.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
    _check_finite(loss, gnorm, kl, cfg.lr)
    opt.step()
    means = scored.mean_values()
    return {
        "score": float(reward.mean()),
        "kl": float(kl.mean()),
        "grad_norm": float(gnorm),
        "nodes": float(batch["n"].float().mean()),
    } | {k: round(v, 6) for k, v in means.items()}


def _check_finite(loss: torch.Tensor, gnorm: torch.Tensor, kl: torch.Tensor, lr: float) -> None:
    """Stop fine-tuning (before the step, so no NaN weights) once it is no longer finite.

    Raises
    ------
    TrainingError
        Naming the quantity that is not finite.
    """
    for what, value in (("loss", loss), ("grad norm", gnorm), ("KL", kl)):
        if not bool(torch.isfinite(value).all()):
            msg = (
                f"fine-tuning diverged: the {what} is not finite at learning rate {lr:g}; "
                "lower --lr and fine-tune again"
            )
            raise TrainingError(msg)


def step_seed(seed: int, step: int) -> int:
    """The sampling seed of one policy step (within the seeds :func:`sample` takes)."""
    return (seed * 1_000_003 + step) % 2**63


def _check_out(out: Path, base: Path | None) -> None:
    if out.is_file():
        msg = f"--out {out} is a file, not a directory"
        raise UsageError(msg)
    if base is not None and out.resolve() == base.resolve():
        msg = (
            f"--out {out} is the model being fine-tuned (--model); write the fine-tuned model "
            "to another --out, so the pretrained one stays"
        )
        raise UsageError(msg)
    if (out / CONFIG).exists():
        msg = f"{out} already holds a model; choose another --out"
        raise UsageError(msg)


def finetune(
    objective: Combination,
    out_dir: str | Path,
    model: str | Path | None = None,
    config: FinetuneConfig | None = None,
    sample_config: SampleConfig | None = None,
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Fine-tune a model towards ``objective`` and write it to ``out_dir``.

    Parameters
    ----------
    objective
        What to maximise.
    out_dir
        Run directory for the fine-tuned model.
    model
        The pretrained model directory (None: the default model in the package).
    config
        Optimisation settings.
    sample_config
        Sampling constraints of the policy's samples (None: the defaults with both
        temperatures at 1, so that the policy is sampled as it is scored).
    progress
        Show a progress bar (objective and KL).
    command
        The command line to record beside the model.

    Returns
    -------
    Path
        ``out_dir``, loadable with :func:`citygen.model.checkpoint.load_model`.

    Raises
    ------
    CheckpointError
        If ``model`` is not a citygen model directory.
    """
    from tqdm.auto import tqdm

    cfg = config or FinetuneConfig()
    out = Path(out_dir)
    base = Path(model) if model is not None else None
    _check_out(out, base)
    device = resolve_device(cfg.device)
    base_cfg = read_config(base) if base is not None else {}
    policy = load_model(base, device)
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    meta = {
        "finetune": {
            "objective": objective.describe(),
            "method": "finetune",
            "base_model": str(base or "default"),
            "config": asdict(cfg),
        },
        "base": {k: base_cfg[k] for k in ("command", "data") if k in base_cfg},
        "command": command,
    }
    history: list[dict] = []
    bar = tqdm(total=cfg.steps, disable=not progress, unit="step", desc="finetune")
    for step in range(cfg.steps):
        rec = policy_step(
            policy, reference, opt, objective, cfg, step_seed(cfg.seed, step), sample_config
        )
        history.append({"step": step + 1} | rec)
        bar.update(1)
        bar.set_postfix(objective=f"{rec['score']:+.3f}", kl=f"{rec['kl']:.2f}")
        log.info("step %d: score %.3f kl %.3f", step + 1, rec["score"], rec["kl"])
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            save_model(
                out, policy, meta | {"status": "running", "steps": step + 1, "history": history}
            )
    bar.close()
    first, last = (
        _window_mean(history[: max(1, len(history) // 5)]),
        _window_mean(history[-max(1, len(history) // 5) :]),
    )
    summary = {"score_first": first["score"], "score_last": last["score"], "kl_last": last["kl"]}
    save_model(
        out,
        policy,
        meta | {"status": "complete", "steps": cfg.steps, "history": history, "summary": summary},
    )
    return out


def _window_mean(records: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in records])) for k in ("score", "kl")}


def finetune_info(run_dir: str | Path | None) -> dict | None:
    """Return the ``finetune`` entry of a model directory's config (None if not fine-tuned)."""
    if run_dir is None:
        return None
    return read_config(Path(run_dir)).get("finetune")
