"""Resumable training checkpoints.

``RUN_DIR/checkpoints/step-NNNNNNNN/`` holds ``model.safetensors`` (weights) and ``state.pt``
(optimiser state, RNG state, step and position in the epoch). A checkpoint directory is written
under a temporary name and renamed when complete; ``RUN_DIR/checkpoints/latest`` names the
newest complete one and is itself replaced atomically, so a run killed at any instant (even by
``kill -9``) resumes from a consistent checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch
from torch import nn

from citygen import atomic
from citygen.errors import CheckpointError
from citygen.model.checkpoint import WEIGHTS, load_weights, save_weights
from citygen.model.network import LayoutModel

KEEP = 2

log = logging.getLogger(__name__)


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run keeps its checkpoints."""
    return run_dir / "checkpoints"


def save_checkpoint(run_dir: Path, model: LayoutModel, optimizer: torch.optim.Optimizer, state: dict) -> Path:
    """Write a complete checkpoint for ``state["step"]`` and point ``latest`` at it."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{int(state['step']):08d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(tmp / WEIGHTS, model)
    payload = {
        **state,
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic.atomic_path(tmp / "state.pt") as p:
        torch.save(payload, p)
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    atomic.write_text(root / "latest", name + "\n")
    for old in sorted(d for d in root.glob("step-*") if d.is_dir())[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    pointer = checkpoint_dir(run_dir) / "latest"
    if not pointer.is_file():
        return None
    path = checkpoint_dir(run_dir) / pointer.read_text().strip()
    return path if path.is_dir() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, optimiser and RNG state from a checkpoint; return its state dict.

    Raises
    ------
    CheckpointError
        If the checkpoint is corrupt or does not fit the model.
    """
    load_weights(model, path / WEIGHTS)
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except OSError as exc:
        why = exc.strerror or exc
        msg = f"corrupt or incompatible checkpoint {path}: cannot read state.pt ({why})"
        raise CheckpointError(msg) from exc
    except Exception as exc:
        # random bytes reach torch's weights-only unpickler in many ways (UnpicklingError,
        # IndexError from an empty mark stack, UnicodeDecodeError, ...): all are a damaged file
        msg = (
            f"corrupt or incompatible checkpoint {path}: "
            "state.pt is damaged (not a torch checkpoint)"
        )
        raise CheckpointError(msg) from exc
    try:
        if not isinstance(state, dict):
            raise TypeError("state.pt does not hold a checkpoint state")
        optimizer.load_state_dict(state.pop("optimizer"))
        torch.set_rng_state(state.pop("torch_rng"))
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        msg = f"corrupt or incompatible checkpoint {path}: {first}"
        raise CheckpointError(msg) from exc
    return state


def _candidates(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, newest first (the one ``latest`` names leads)."""
    found = sorted(d for d in checkpoint_dir(run_dir).glob("step-*") if d.is_dir())[::-1]
    first = latest_checkpoint(run_dir)
    return ([first] if first else []) + [d for d in found if d != first]


def resume_checkpoint(
    run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[Path, dict]:
    """Restore the newest usable checkpoint of a run, falling back to older kept ones.

    An unusable checkpoint (say a damaged ``state.pt``) is skipped with a warning.

    Returns
    -------
    tuple
        The checkpoint restored and its state dict.

    Raises
    ------
    CheckpointError
        If the run has no checkpoint, or none of its checkpoints is usable.
    """
    candidates = _candidates(run_dir)
    if not candidates:
        msg = f"nothing to resume in {run_dir} (no checkpoint)"
        raise CheckpointError(msg)
    errors = []
    for path in candidates:
        try:
            return path, load_checkpoint(path, model, optimizer)
        except CheckpointError as exc:
            errors.append(str(exc))
            log.warning("%s; trying an older checkpoint", exc)
    msg = f"no usable checkpoint in {run_dir}: {errors[0]}; start again with --overwrite"
    raise CheckpointError(msg)
