"""The run directory of ``citygen train``: what may be written there, and what a resume must match.

A run directory holds ``model.safetensors``, ``config.json`` (model, settings, data hash,
status), ``log.jsonl``, ``curves.png`` and ``checkpoints/``. A new run refuses a folder that
holds another run or other files unless told to overwrite; ``--resume`` refuses settings that
differ from the run's own, since it could not continue the same run exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from citygen import atomic
from citygen.model.checkpoint import CONFIG, WEIGHTS
from citygen.errors import UsageError
from training.checkpoint import checkpoint_dir, latest_checkpoint

#: Files and folders a training run writes in its directory.
RUN_FILES = (WEIGHTS, CONFIG, "log.jsonl", "curves.png", "checkpoints")
#: Settings a resume may change: they do not alter the weights.
FREE = ("checkpoint_every",)
#: Command-line names of settings, for messages.
FLAGS = {
    "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "seed": "--seed",
    "device": "--device", "windows_per_epoch": "--windows", "amp": "--no-amp",
    "realism_samples": "--realism-samples", "threads": "--threads", "d_model": "--d-model",
    "n_layers": "--layers", "n_heads": "--heads", "backbone": "--backbone",
    "position": "--position", "window": "--window",
}  # fmt: skip


def read_run(out: Path) -> dict | None:
    """Return the ``config.json`` of a citygen training run in ``out`` (None: there is none)."""
    try:
        cfg = json.loads((out / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict) and "train" in cfg:
        return cfg
    return None


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a run in a folder that holds something the run would overwrite.

    Parameters
    ----------
    out
        The run directory asked for.
    resume
        Continue the run there (checked later against its settings).
    overwrite
        Start a new run there anyway; the old run's files are removed.

    Raises
    ------
    UsageError
        If ``out`` is a file, or holds a model, a run with checkpoints, or files that are not
        a citygen run, and neither ``resume`` nor ``overwrite`` is given.
    """
    if resume and overwrite:
        msg = "--resume and --overwrite exclude each other"
        raise UsageError(msg)
    if out.exists() and not out.is_dir():
        msg = f"--out {out} is a file, not a directory"
        raise UsageError(msg)
    if resume or not out.is_dir() or not any(out.iterdir()):
        return
    if overwrite:
        for name in RUN_FILES:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        return
    run = read_run(out)
    if run is None:
        msg = (
            f"{out} is not empty and holds no citygen training run; choose another --out, "
            "or --overwrite to write the run there anyway"
        )
        raise UsageError(msg)
    if run.get("status") == "training" and latest_checkpoint(out) is None:
        return  # killed before its first checkpoint: nothing to lose
    what = "a trained model" if run.get("status") == "complete" else "a training run"
    msg = (
        f"{out} already holds {what}; use --resume to continue it, --overwrite to start "
        "again, or another --out"
    )
    raise UsageError(msg)


def _differences(saved: dict, now: dict, skip: tuple[str, ...] = ()) -> list[str]:
    out = []
    for key in sorted(set(saved) & set(now)):
        if key in skip or saved[key] == now[key]:
            continue
        out.append(f"{FLAGS.get(key, key)} {saved[key]!r} (run) vs {now[key]!r} (now)")
    return out


def check_resume(out: Path, train: dict, model: dict | None, manifest_sha256: str) -> dict:
    """Refuse a resume whose settings or data differ from the run's; return the run's config.

    Parameters
    ----------
    out
        The run directory.
    train
        The training settings asked for (``asdict(TrainConfig)``).
    model
        The model settings asked for (``ModelConfig.to_dict()``, with the data's tile size),
        or None to take the run's.
    manifest_sha256
        SHA-256 of the data set's manifest.

    Raises
    ------
    UsageError
        Naming every setting that differs.
    """
    run = read_run(out)
    if run is None:
        msg = f"nothing to resume in {out} (no citygen training run)"
        raise UsageError(msg)
    diffs = _differences(run["train"], train, FREE)
    if model is not None:
        diffs += _differences(run["model"], model)
    if run.get("data", {}).get("manifest_sha256") not in (None, manifest_sha256):
        diffs.append("--data (another data set, or one prepared again)")
    if diffs:
        msg = (
            f"--resume continues the run in {out} with its own settings, and these differ: "
            + "; ".join(diffs)
            + ". Repeat the run's own command with --resume, or start a new --out"
        )
        raise UsageError(msg)
    return run


def remove_stale(out: Path) -> None:
    """Remove temporary files and checkpoint folders that a killed run left behind."""
    atomic.remove_stale(out)
    atomic.remove_stale(checkpoint_dir(out))
