"""The training loop: one flat loop a reader follows from top to bottom.

batch -> forward (exact NLL, nats per node) -> backward -> clip -> AdamW step -> log; validation
NLL and a quick realism check every epoch; a checkpoint every N steps and at the end. Multi-
process data parallel (``torchrun``) is a thin wrapper in :mod:`training.distributed`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from citygen import atomic
from citygen._memory import release_free_memory, resident_gb
from citygen.model.batch import collate
from citygen.model.checkpoint import CONFIG, read_config, save_model
from citygen.device import resolve_device
from citygen.errors import CheckpointError, TrainingError, UsageError
from citygen.model.likelihood import batch_nll, sequence_batch
from citygen.model.network import LayoutModel, ModelConfig
from data_prep.shards import Dataset, load_dataset, sha256_file
from training import distributed, run_dir
from training.checkpoint import resume_checkpoint, save_checkpoint
from training.data import StreamConfig, TrainingStream
from training.noise import context_noise

log = logging.getLogger(__name__)

#: Largest learning rate: above it AdamW's step no longer fits a float32 (a traceback, not a
#: divergence error).
MAX_LR = 1e30
#: Largest seed, as ``citygen generate`` takes (a signed 64-bit integer).
MAX_SEED = 2**63 - 1
#: Largest context noise in metres: beyond it the backbone reads another street, not a wiggle.
MAX_NOISE_M = 50.0
TRIM_EVERY = 8  # steps between returning freed heap memory to the system (see citygen._memory)
REALISM_EVERY = 5  # epochs between quick realism checks (sampling is slow on CPU); also the last


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of a training run.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay, warmup, grad_clip
        The usual; ``lr`` follows linear warm-up over ``warmup`` steps then a cosine decay.
    seed
        Seeds weights, windows and batch order.
    device
        ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
    windows_per_epoch
        Random windows added to each epoch (-1: as many as fixed training tiles).
    checkpoint_every
        Steps between checkpoints (the end of training is always checkpointed).
    amp
        Mixed precision (bfloat16 autocast) on CUDA.
    realism_samples
        Layouts sampled per epoch for the quick realism check (0 to skip).
    threads
        Torch intra-op CPU threads. One (the default) makes two identical runs, and a killed
        run resumed, give bit-identical weights even on a busy machine.
    init_from
        Start from the weights of this model directory (``"default"``: the shipped model)
        instead of random ones (:mod:`training.warm`); None: random.
    context_noise_m
        Standard deviation in metres of the displacement of every earlier node that the
        backbone reads (:mod:`training.noise`); targets stay exact. 0: off.
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    windows_per_epoch: int = -1
    checkpoint_every: int = 200
    amp: bool = True
    realism_samples: int = 8
    threads: int = 1
    init_from: str | None = None
    context_noise_m: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            msg = "epochs and batch size must be at least 1"
            raise UsageError(msg)
        if not (self.lr > 0 and math.isfinite(self.lr)) or self.lr > MAX_LR:
            msg = f"learning rate must be positive and finite (at most {MAX_LR:g}), got {self.lr}"
            raise UsageError(msg)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            msg = f"seed must be an integer, got {self.seed!r}"
            raise UsageError(msg)
        if not 0 <= self.seed <= MAX_SEED:
            msg = f"seed must be within 0..{MAX_SEED}, got {self.seed}"
            raise UsageError(msg)
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            msg = f"weight decay must be finite and not negative, got {self.weight_decay}"
            raise UsageError(msg)
        if not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            msg = f"gradient clip must be positive and finite, got {self.grad_clip}"
            raise UsageError(msg)
        if not (math.isfinite(self.context_noise_m) and 0 <= self.context_noise_m <= MAX_NOISE_M):
            msg = f"context noise must be within 0..{MAX_NOISE_M:g} m, got {self.context_noise_m}"
            raise UsageError(msg)
        if self.threads < 1:
            msg = f"threads must be at least 1, got {self.threads}"
            raise UsageError(msg)
        if self.device not in ("auto", "cpu", "cuda"):
            msg = f"device must be auto, cpu or cuda, got {self.device!r}"
            raise UsageError(msg)


def lr_at(step: int, progress: float, cfg: TrainConfig) -> float:
    """Learning rate: linear warm-up over the first steps, then a cosine decay to 10 % over
    the training progress (epochs done, as a fraction of all epochs)."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
    frac = min(1.0, max(0.0, progress))
    return warm * cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * frac)))


@torch.no_grad()
def evaluate_nll(model: LayoutModel, data: Dataset, split: str, device: torch.device, batch_size: int = 16) -> float | None:
    """Mean NLL in nats per node over one split's tiles (None if the split is empty)."""
    seqs = data.sequences(split)
    if not seqs:
        return None
    model.eval()
    total, nodes = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        batch = sequence_batch(seqs[i : i + batch_size], model)
        batch = {k: v.to(device) for k, v in batch.items()}
        total += float(batch_nll(model, batch).sum())
        nodes += int(batch["n"].sum())
    model.train()
    return total / max(nodes, 1)


def _finite(value: object) -> object:
    """JSON-safe: a non-finite float becomes None (JSON has no NaN)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _append_log(path: Path, record: dict) -> None:
    line = json.dumps({k: _finite(v) for k, v in record.items()}, sort_keys=True, allow_nan=False)
    with path.open("a") as fh:
        fh.write(line + "\n")


def _record_step(line: str) -> int | None:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError, TypeError):
        return None  # a line cut short by a kill


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past ``step`` (written after the checkpoint a resume starts from)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if (_record_step(line) or 0) <= step
            and _record_step(line) is not None]  # fmt: skip
    atomic.write_text(path, "".join(line + "\n" for line in keep))


def _diverged(out: Path | None, step: int, what: str, value: float, lr: float) -> TrainingError:
    """Record in the run's config (``out``; None: not this rank) that training failed."""
    msg = (
        f"training diverged at step {step}: the {what} is {value} (not finite) at learning "
        f"rate {lr:g}; lower --lr and train again with --overwrite"
    )
    with contextlib.suppress(CheckpointError, OSError, ValueError, TypeError):
        cfg = read_config(out)
        atomic.write_json(out / CONFIG, cfg | {"status": "failed", "error": msg})
    return TrainingError(msg)


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Train a layout model on a prepared data set; return the run directory.

    Parameters
    ----------
    data_dir
        A data set written by ``citygen prepare``.
    out_dir
        Run directory: checkpoints, ``log.jsonl``, ``curves.png``, and the final model
        (``model.safetensors`` + ``config.json``, loadable with ``citygen.load_model``).
    model_config
        Architecture (ignored on resume: the run's saved config is used).
    config
        Optimisation settings.
    resume
        Continue from the run's latest usable checkpoint, exactly; the settings, model and
        data must be the run's own.
    progress
        Show a progress bar.
    command
        The command line to record beside the model.
    overwrite
        Start a new run in ``out_dir`` even if it holds a model, a run or other files (the old
        run's files are removed).

    Raises
    ------
    UsageError
        If ``out_dir`` holds something and neither ``resume`` nor ``overwrite`` is given, or a
        resume asks for other settings than the run's.
    TrainingError
        If the loss or the gradients stop being finite (the run is marked ``failed``).
    """
    config = config or TrainConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        out = Path(out_dir)
        return _train(data_dir, out, model_config, config, resume, progress, command, overwrite)
    finally:
        torch.set_num_threads(threads)


def _train(
    data_dir: str | Path,
    out: Path,
    model_config: ModelConfig | None,
    config: TrainConfig,
    resume: bool,
    progress: bool,
    command: str | None,
    overwrite: bool,
) -> Path:
    from tqdm.auto import tqdm

    data = load_dataset(data_dir)
    source = None  # a warm start's weights, checked before the run's folder is touched
    if config.init_from is not None and not resume:
        from training.warm import load_source

        source = load_source(None if config.init_from == "default" else config.init_from, model_config or ModelConfig())
    dist = distributed.setup()
    if distributed.is_main(dist) or not overwrite:
        run_dir.check_out(out, resume, overwrite and distributed.is_main(dist))
    device = distributed.device_for(dist, resolve_device(config.device))
    data_sha = sha256_file(data.root / "manifest.json")
    if model_config is not None:
        model_config.tile_size = data.tile_size
        model_config.check()
    if resume:
        asked = model_config.to_dict() if model_config is not None else None
        saved = run_dir.check_resume(out, asdict(config), asked, data_sha)
        model_config = ModelConfig.from_dict(saved["model"])
    model_config = model_config or ModelConfig()
    model_config.tile_size = data.tile_size
    torch.manual_seed(config.seed)
    model = LayoutModel(model_config)
    if source is not None:
        from training.warm import warm_start

        report = warm_start(model, source)
        log.info("initialised from %s: %d weights copied, %d grown, %d new", config.init_from,
                 len(report["copied"]), len(report["grown"]), len(report["new"]))  # fmt: skip
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    stream = TrainingStream(
        data,
        model_config.binning,
        model_config.window,
        StreamConfig(windows_per_epoch=config.windows_per_epoch, batch_size=config.batch_size),
        config.seed,
        style=model_config.style_dim > 0,
        split=model_config.split,
    )
    model.style_bank = stream.bank  # a style model draws unconditioned styles from its tiles
    est_steps = math.ceil((len(stream.fixed) + stream.n_windows) / config.batch_size) * config.epochs
    state = {"step": 0, "epoch": 0, "batch": 0, "best_val": None}
    log_path = out / "log.jsonl"
    run_meta = {
        "train": asdict(config),
        "data": {"path": str(data_dir), "manifest_sha256": data_sha},
        "command": command,
    }
    if distributed.is_main(dist):
        out.mkdir(parents=True, exist_ok=True)
        run_dir.remove_stale(out)
    if resume:
        start_ckpt, state = resume_checkpoint(out, model, opt)
        if distributed.is_main(dist):
            _truncate_log(log_path, state["step"])
        log.info("resuming from %s (step %d)", start_ckpt, state["step"])
    elif distributed.is_main(dist):
        save_model(out, model, run_meta | {"status": "training"})
        log_path.unlink(missing_ok=True)
    ddp_model = distributed.wrap(model, dist)
    use_amp = config.amp and device.type == "cuda"
    bar = tqdm(total=est_steps // dist.world_size, initial=state["step"], disable=not progress or not distributed.is_main(dist), unit="step")
    model.train()
    for epoch in range(state["epoch"], config.epochs):
        batches = stream.epoch(epoch)
        release_free_memory()  # window cutting leaves many small freed blocks
        usable = len(batches) - len(batches) % dist.world_size  # every rank steps together
        t0, nodes_seen = time.perf_counter(), 0
        for bi in range(state["batch"] if epoch == state["epoch"] else 0, usable):
            if bi % dist.world_size != dist.rank:
                continue
            batch = {k: v.to(device) for k, v in collate(batches[bi]).items()}
            if config.context_noise_m > 0:  # one generator per step: a resume draws the same
                gen = torch.Generator().manual_seed((config.seed * 1_000_003 + state["step"]) % 2**63)
                batch = context_noise(batch, config.context_noise_m / data.tile_size, gen)
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], (epoch + (bi - dist.rank) / max(usable, 1)) / config.epochs, config)  # same on every rank
            amp_ctx = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()
            with amp_ctx:
                nll = ddp_model(batch)  # (B,) total NLL per tile
            n_nodes = batch["n"].sum()
            loss = nll.sum() / n_nodes
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            finite = math.isfinite(loss.item()), math.isfinite(gnorm.item())  # norm: all ranks
            if not finite[1] or (dist.world_size == 1 and not finite[0]):
                bar.close()
                what, bad = ("loss", loss.item()) if not finite[0] else ("grad norm", gnorm.item())
                where = out if distributed.is_main(dist) else None
                err = _diverged(where, state["step"] + 1, what, bad, opt.param_groups[0]["lr"])
                distributed.teardown(dist)
                raise err
            opt.step()
            state["step"] += 1
            if state["step"] % TRIM_EVERY == 0:
                release_free_memory()
            state["epoch"], state["batch"] = epoch, bi + dist.world_size
            nodes_seen += int(n_nodes)
            rate = nodes_seen / max(time.perf_counter() - t0, 1e-9)
            bar.update(1)
            bar.set_postfix(epoch=epoch, nll=f"{loss.item():.3f}", nodes_s=f"{rate:.0f}")
            if distributed.is_main(dist):
                _append_log(log_path, {"step": state["step"], "epoch": epoch, "nll": loss.item(), "grad_norm": gnorm.item(), "lr": opt.param_groups[0]["lr"], "rss_gb": resident_gb()})
                if state["step"] % config.checkpoint_every == 0:
                    save_checkpoint(out, model, opt, state)
        state["epoch"], state["batch"] = epoch + 1, 0
        if distributed.is_main(dist):
            record = _end_of_epoch(model, data, device, config, epoch, state)
            release_free_memory()
            _append_log(log_path, record)
            bar.write(f"epoch {epoch}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "kind"))
    bar.close()
    checksums = distributed.weight_checksums(model, dist)
    if distributed.is_main(dist):
        save_checkpoint(out, model, opt, state)
        final_val = evaluate_nll(model, data, "val", device)
        done = {"status": "complete", "final_val_nll": final_val, "steps": state["step"], "world_size": dist.world_size, "rank_checksums": checksums}
        save_model(out, model, run_meta | done)
        _plot_curves(log_path, out / "curves.png")
    distributed.teardown(dist)
    return out


def _end_of_epoch(model: LayoutModel, data: Dataset, device: torch.device, config: TrainConfig, epoch: int, state: dict) -> dict:
    val = evaluate_nll(model, data, "val", device)
    record = {"kind": "epoch", "step": state["step"], "epoch": epoch, "val_nll": val}
    if config.realism_samples > 0 and ((epoch + 1) % REALISM_EVERY == 0 or epoch + 1 == config.epochs):
        from training.realism import quick_realism

        record |= quick_realism(model, data, config.realism_samples, seed=epoch, device=device)
    model.train()
    return record


def _plot_curves(log_path: Path, png: Path) -> None:
    """Training and validation NLL against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    steps = [r for r in recs if "nll" in r]
    epochs = [r for r in recs if r.get("kind") == "epoch" and r.get("val_nll") is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in steps], [r["nll"] for r in steps], lw=0.6, alpha=0.6, label="train (batch)")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["val_nll"] for r in epochs], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats per node)")
    ax.legend()
    ax.grid(alpha=0.3)
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


__all__ = ["CONFIG", "TrainConfig", "evaluate_nll", "lr_at", "train"]
