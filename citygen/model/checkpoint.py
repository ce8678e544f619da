"""Saving and loading layout models: weights in safetensors, the config as JSON beside them.

A *model directory* holds ``model.safetensors`` and ``config.json`` (``{"model": {...}}`` plus
whatever the trainer records). ``citygen train --out RUN_DIR`` writes one; the default model
that ships with the package is one too (``citygen/default_model``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from citygen import atomic
from citygen.errors import CheckpointError
from citygen.model.network import LayoutModel, ModelConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"


def save_weights(path: Path, model: LayoutModel) -> None:
    """Write the model's weights atomically as safetensors (float32, contiguous)."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    atomic.write_bytes(path, save(tensors, metadata={"format": "citygen-model"}))


def save_model(run_dir: str | Path, model: LayoutModel, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (with ``extra`` entries) atomically."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_weights(run / WEIGHTS, model)
    atomic.write_json(run / CONFIG, {"model": model.config.to_dict(), **(extra or {})})
    return run


def read_config(run_dir: Path) -> dict:
    """The ``config.json`` of a model directory.

    Raises
    ------
    CheckpointError
        If the directory or its config is missing or unreadable.
    """
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        msg = f"no such model directory: {run_dir}"
        raise CheckpointError(msg)
    try:
        cfg = json.loads(path.read_text())
        ModelConfig.from_dict(cfg["model"])
    except FileNotFoundError:
        msg = f"{run_dir} is not a citygen model (no {CONFIG})"
        raise CheckpointError(msg) from None
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"{path} is not a valid citygen model config: {exc}"
        raise CheckpointError(msg) from exc
    return cfg


def load_weights(model: LayoutModel, path: Path) -> None:
    """Load safetensors weights into ``model``, checking names and shapes.

    Raises
    ------
    CheckpointError
        If the file is missing, corrupt, or does not fit the model.
    """
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        msg = f"missing weights file {path}"
        raise CheckpointError(msg) from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = f"corrupt weights file {path}: {exc}"
        raise CheckpointError(msg) from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        msg = f"weights in {path} do not fit the model config: {first}"
        raise CheckpointError(msg) from exc


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> LayoutModel:
    """Load a model directory (``None``: the default model shipped in the package).

    Parameters
    ----------
    path
        A directory written by ``citygen train`` (or ``save_model``).
    device
        Where to put the model.

    Returns
    -------
    LayoutModel
        In evaluation mode.

    Raises
    ------
    CheckpointError
        If the directory is not a citygen model or its files are corrupt or incompatible.
    """
    run = Path(path) if path is not None else DEFAULT_MODEL_DIR
    cfg = read_config(run)
    model = LayoutModel(ModelConfig.from_dict(cfg["model"]))
    load_weights(model, run / WEIGHTS)
    return model.to(device).eval()
