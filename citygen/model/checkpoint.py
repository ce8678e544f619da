"""Saving and loading layout models: weights in safetensors, the config as JSON beside them.

A *model directory* holds ``model.safetensors`` and ``config.json`` (``{"model": {...}}`` plus
whatever the trainer records). ``citygen train --out RUN_DIR`` writes one; the default model
that ships with the package is one too (``citygen/default_model``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from citygen import atomic
from citygen.errors import CheckpointError
from citygen.model.network import LayoutModel, ModelConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
#: Raw style rows of the training tiles, beside a style model's weights (:mod:`citygen.style`).
STYLE_BANK = "style_bank.json"
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
    bank = getattr(model, "style_bank", None)
    if bank is not None:
        from citygen.style import STYLE_KEYS

        rows = [[round(float(v), 5) for v in r] for r in bank]
        atomic.write_json(run / STYLE_BANK, {"keys": list(STYLE_KEYS), "rows": rows})
    atomic.write_json(run / CONFIG, {"model": model.config.to_dict(), **(extra or {})})
    return run


def load_style_bank(run: Path) -> object:
    """The style bank of a style model directory, ``(k, STYLE_DIM)`` (numpy).

    Raises
    ------
    CheckpointError
        If the file is missing or not a bank of the current style keys.
    """
    import numpy as np

    from citygen.style import STYLE_KEYS

    path = run / STYLE_BANK
    try:
        rec = json.loads(path.read_text())
        bank = np.asarray(rec["rows"], dtype=np.float64)
        ok = rec["keys"] == list(STYLE_KEYS) and bank.ndim == 2 and bank.shape[1] == len(STYLE_KEYS)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"style model {run} has no readable {STYLE_BANK}: {exc}"
        raise CheckpointError(msg) from exc
    if not ok or bank.shape[0] == 0 or not np.isfinite(bank).all():
        msg = f"{path} is not a style bank of {', '.join(STYLE_KEYS)}"
        raise CheckpointError(msg)
    return bank


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
        if not isinstance(cfg, dict) or "model" not in cfg:
            msg = "it has no model settings (a \"model\" object)"
            raise ValueError(msg)
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
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        msg = f"weights in {path} are not finite (NaN or inf in {bad[0]}); the training diverged"
        raise CheckpointError(msg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        msg = f"weights in {path} do not fit the model config: {first}"
        raise CheckpointError(msg) from exc


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    """The error for a weights file that cannot be read: missing, or corrupt."""
    if isinstance(exc, FileNotFoundError):
        return CheckpointError(f"missing weights file {path}")
    return CheckpointError(f"corrupt weights file {path}: {exc}")


def check_shapes(config: ModelConfig, path: Path) -> None:
    """Check that the weights file holds every tensor of ``config``'s model, in its shape.

    The model is built with its tensors left uninitialised (shapes only, no memory touched,
    no random draws) and compared with the file's header, so a config that does not match its
    weights fails at once.

    Raises
    ------
    CheckpointError
        If the file is missing or corrupt, or names, shapes or counts differ.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            have = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, exc) from exc
    want = _shapes(config)
    detail = _misfits(have, want)
    if detail:
        msg = f"weights in {path} do not fit the model config: {detail}"
        raise CheckpointError(msg)


@contextlib.contextmanager
def _no_init() -> Iterator[None]:
    """Make ``torch.nn.init``'s in-place initialisers no-ops inside (restored after)."""
    names = [n for n in vars(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda t, *_, **__: t)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def _shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name and shape of every tensor in ``config``'s model's state dict.

    Built on the CPU with initialisation skipped: 4 ms for the default model, where the first
    use of the meta device costs every process 1.2 s of torch's own imports (issue 14). The
    meta device is the fallback for a config too large to allocate even untouched.
    """
    try:
        with _no_init():
            model = LayoutModel(config)
    except (RuntimeError, MemoryError):
        with torch.device("meta"):
            model = LayoutModel(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _misfits(have: dict, want: dict, most: int = 3) -> str:
    """Name the tensors whose shapes differ, are missing or extra (as ``misfit_details``)."""

    def shown(names: list[str]) -> str:
        return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")

    def dims(shape: tuple) -> str:
        return ", ".join(map(str, shape))

    parts = []
    differ = [k for k in want if k in have and have[k] != want[k]]
    if differ:
        each = "; ".join(f"{k} is ({dims(have[k])}) in the file but ({dims(want[k])}) in the config"
                         for k in differ[:most])  # fmt: skip
        more = f"; and {len(differ) - most} more" if len(differ) > most else ""
        parts.append(f"{len(differ)} tensor(s) differ in shape: {each}{more}")
    missing = [k for k in want if k not in have]
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing from the file: {shown(missing)}")
    extra = [k for k in have if k not in want]
    if extra:
        parts.append(f"{len(extra)} tensor(s) in the file only: {shown(extra)}")
    return " | ".join(parts)


#: ``status`` values of a run directory whose model is not the trained one.
UNFINISHED = ("training", "failed")


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a training checkpoint (``RUN/checkpoints/step-N``)."""
    return (
        path.parent.name == "checkpoints"
        and (path / WEIGHTS).is_file()
        and not (path / CONFIG).exists()
    )


def _check_finished(run: Path, cfg: dict) -> None:
    """Refuse a run directory whose training did not finish (its weights are the initial ones).

    Raises
    ------
    CheckpointError
        Saying how to finish the run or load its last checkpoint.
    """
    status = cfg.get("status")
    if status not in UNFINISHED:
        return
    steps = sorted(p.name for p in (run / "checkpoints").glob("step-*") if (p / WEIGHTS).is_file())
    if status == "failed":
        why = "its training failed"
        how = "train it again (citygen train --overwrite)"
    else:
        why = "its training has not finished"
        how = f"resume it with citygen train --resume --out {run} (and its other options)"
    if steps:
        how += f", or load its last checkpoint: --model {run / 'checkpoints' / steps[-1]}"
    msg = f"{run} holds an unfinished training run ({why}); {how}"
    raise CheckpointError(msg)


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> LayoutModel:
    """Load a model directory (``None``: the default model shipped in the package).

    Parameters
    ----------
    path
        A directory written by ``citygen train`` (or ``save_model``), or one checkpoint of a
        run, ``RUN_DIR/checkpoints/step-NNNNNNNN`` (the run's config with that step's weights).
    device
        Where to put the model.

    Returns
    -------
    LayoutModel
        In evaluation mode.

    Raises
    ------
    CheckpointError
        If the directory is not a citygen model, its files are corrupt or incompatible, its
        weights are not finite, or it is a run whose training has not finished.
    """
    run = Path(path) if path is not None else DEFAULT_MODEL_DIR
    home = run
    if _is_checkpoint(run):  # RUN/checkpoints/step-N: the run's config, that step's weights
        home = run.parent.parent
        cfg = read_config(home)
    else:
        cfg = read_config(run)
        _check_finished(run, cfg)
    config = ModelConfig.from_dict(cfg["model"])
    check_shapes(config, run / WEIGHTS)  # before building: a config of 256 wide layers is slow
    model = LayoutModel(config)
    load_weights(model, run / WEIGHTS)
    model.style_bank = load_style_bank(home) if model.config.style_dim else None
    return model.to(device).eval()
