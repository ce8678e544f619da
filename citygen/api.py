"""The public Python API: ``citygen.load_model``, ``citygen.sample``, ``citygen.log_likelihood``.

Thin wrappers that check what a user passes and then call the internal functions. Bad input
raises a :mod:`citygen.errors` type whose message names the problem (:class:`UsageError` for
arguments, :class:`LayoutError` for a graph that is not a layout, :class:`CheckpointError` for
a model directory), never a bare ``KeyError`` / ``AttributeError`` from deep inside.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from citygen.errors import CheckpointError, LayoutError, UsageError
from citygen.layout import as_layout

if TYPE_CHECKING:
    import torch

    from citygen.model.network import LayoutModel
    from data_prep.order import Sequence

#: Largest seed accepted (seeds are 0 .. 2**63 - 1, the range of a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def check_int(value: Any, name: str, lo: int = 0, hi: int | None = None) -> int:
    """Check an integer argument in ``[lo, hi]`` (numpy ints too; bools, floats refused).

    Raises
    ------
    UsageError
        Naming the argument, if ``value`` is not an integer or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r} ({type(value).__name__})"
        raise UsageError(msg)
    out = operator.index(value)
    if out < lo or (hi is not None and out > hi):
        span = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        msg = f"{name} must be {span}, got {out}"
        raise UsageError(msg)
    return out


def check_seed(seed: Any) -> int:
    """Check a seed: an integer in ``0 .. 2**63 - 1`` (see :data:`MAX_SEED`)."""
    return check_int(seed, "seed", 0, MAX_SEED)


def check_sample_config(config: Any) -> Any:
    """Check sampling settings: a :class:`citygen.sampling.loop.SampleConfig` of finite numbers.

    Returns
    -------
    SampleConfig
        ``config``, or the default settings for None.

    Raises
    ------
    UsageError
        If ``config`` is another type or a setting is NaN or infinite (NaN passes every range
        test of the dataclass itself).
    """
    from citygen.sampling.loop import SampleConfig

    if config is None:
        return SampleConfig()
    if not isinstance(config, SampleConfig):
        msg = f"config must be a citygen.SampleConfig or None, got {type(config).__name__}"
        raise UsageError(msg)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None or isinstance(value, tuple):
            continue  # style settings: None, or a style bank its __post_init__ checked
        if not math.isfinite(float(value)):
            msg = f"sampling setting {f.name} must be a finite number, got {value}"
            raise UsageError(msg)
    return config


def _check_model(model: Any) -> LayoutModel:
    from citygen.model.network import LayoutModel

    if not isinstance(model, LayoutModel):
        msg = (
            f"model must be a citygen LayoutModel (citygen.load_model()), "
            f"got {type(model).__name__}"
        )
        raise UsageError(msg)
    return model


def load_model(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> LayoutModel:
    """Load a model directory (None: the default model shipped in the package).

    Parameters
    ----------
    path
        A directory written by ``citygen train`` / ``citygen finetune`` (or ``save_model``).
    device
        ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.

    Returns
    -------
    LayoutModel
        In evaluation mode.

    Raises
    ------
    UsageError
        If ``path`` is not a path or ``device`` is not a device name.
    CheckpointError
        If the directory is not a citygen model or its files are corrupt or incompatible.
    """
    import torch

    from citygen.model.checkpoint import load_model as _load

    if path is not None and not isinstance(path, str | os.PathLike):
        msg = f"model path must be a str or a path, got {type(path).__name__}"
        raise UsageError(msg)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        msg = f"unknown device {device!r}: {exc}"
        raise UsageError(msg) from None
    try:
        return _load(Path(path) if path is not None else None, dev)
    except CheckpointError as exc:
        detail = misfit_details(exc.__cause__) if exc.__cause__ is not None else None
        if detail is None:
            raise
        head = str(exc).split(": ", 1)[0]  # "weights in PATH do not fit the model config"
        msg = f"{head}: {detail}"
        raise CheckpointError(msg) from exc.__cause__


_SHAPES = re.compile(
    r"size mismatch for (?P<name>\S+): copying a param with shape torch\.Size\((?P<file>[^)]*)\)"
    r" from checkpoint, the shape in current model is torch\.Size\((?P<model>[^)]*)\)"
)
_KEYS = re.compile(r"(?P<kind>Missing|Unexpected) key\(s\) in state_dict: (?P<keys>.*?)\.?$", re.M)


def misfit_details(exc: BaseException, most: int = 3) -> str | None:
    """Say which tensors of a weights file do not fit a model, with both shapes.

    Parameters
    ----------
    exc
        The error of ``torch.nn.Module.load_state_dict`` (its message lists every misfit).
    most
        Misfits named; the rest are counted.

    Returns
    -------
    str or None
        E.g. ``"3 tensors differ in shape: bos is (128,) in the file but (64,) in the
        config; ..."``; None if the message lists no misfit.
    """
    text = str(exc)
    parts = []
    shapes = list(_SHAPES.finditer(text))
    if shapes:
        shown = "; ".join(
            f"{m['name']} is ({m['file'].strip('[]')}) in the file but ({m['model'].strip('[]')}) "
            "in the config"
            for m in shapes[:most]
        )
        more = f"; and {len(shapes) - most} more" if len(shapes) > most else ""
        parts.append(f"{len(shapes)} tensor(s) differ in shape: {shown}{more}")
    for m in _KEYS.finditer(text):
        keys = [k.strip().strip('"') for k in m["keys"].split(",")]
        where = "missing from the file" if m["kind"] == "Missing" else "in the file only"
        shown = ", ".join(keys[:most]) + (
            f" and {len(keys) - most} more" if len(keys) > most else ""
        )
        parts.append(f"{len(keys)} tensor(s) {where}: {shown}")
    return " | ".join(parts) or None


def _check_prefix(prefix: Any, n: int) -> Any:
    from data_prep.order import Sequence

    if prefix is None or isinstance(prefix, Sequence):
        return prefix
    if isinstance(prefix, list | tuple):
        bad = [i for i, p in enumerate(prefix) if p is not None and not isinstance(p, Sequence)]
        if bad:
            kind = type(prefix[bad[0]]).__name__
            msg = f"prefix[{bad[0]}] must be a data_prep.order.Sequence or None, got {kind}"
            raise UsageError(msg)
        if len(prefix) != n:
            msg = f"got {len(prefix)} prefixes for {n} layouts"
            raise UsageError(msg)
        return list(prefix)
    msg = (
        "prefix must be a data_prep.order.Sequence (e.g. to_sequence(layout)), a list of them "
        f"(one per layout), or None; got {type(prefix).__name__}"
    )
    raise UsageError(msg)


def sample(
    model: LayoutModel,
    n: int,
    seed: int = 0,
    prefix: Sequence | list[Sequence | None] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    config: Any = None,
    style: Any = None,
) -> list[nx.Graph]:
    """Sample ``n`` street layouts from a model (see :func:`citygen.sampling.loop.sample`).

    Parameters
    ----------
    model
        A :class:`~citygen.model.LayoutModel` (``citygen.load_model()``).
    n
        Number of layouts, at least 1.
    seed
        Seed in ``0 .. 2**63 - 1``; the same seed, model, settings and device give the same
        layouts.
    prefix
        A :class:`data_prep.order.Sequence` teacher-forced in every tile, a list of them (one
        per layout, None for unconditioned), or None.
    device
        Where to sample (default: the model's device).
    batch_size
        Tiles sampled together, at least 1.
    config
        A :class:`citygen.sampling.loop.SampleConfig` (constraints, temperature, snapping) or None.
    style
        For a style model: raw style rows ``(n, 8)`` (:mod:`citygen.style`), or None to draw
        them from the model's style bank (or the config's ``style_bank``).

    Returns
    -------
    list of networkx.Graph
        Layout graphs (:mod:`citygen.layout`) in metres.

    Raises
    ------
    UsageError
        On a model, count, seed, prefix, batch size or config of the wrong type or range.
    """
    from citygen.sampling.loop import sample as _sample

    net = _check_model(model)
    n = check_int(n, "n (number of layouts)", 1)
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", 1)
    config = check_sample_config(config)
    prefix = _check_prefix(prefix, n)
    return _sample(
        net, n, seed=seed, prefix=prefix, device=device, batch_size=batch_size, config=config,
        style=style,
    )


def _check_sequence(seq: Sequence) -> Sequence:
    import numpy as np

    if seq.n_nodes == 0:
        msg = "the sequence is empty (no nodes)"
        raise LayoutError(msg)
    pos = np.asarray(seq.pos, dtype=np.float64)
    if not np.isfinite(pos).all() or (pos < 0).any() or (pos > 1).any():
        msg = "sequence positions must be finite and within [0, 1] (normalised tile frame)"
        raise LayoutError(msg)
    return seq


def log_likelihood(model: LayoutModel, tile: nx.Graph | Sequence, style: Any = None) -> float:
    """Exact log-likelihood (nats) of one tile under a model.

    Parameters
    ----------
    model
        A :class:`~citygen.model.LayoutModel`.
    tile
        A layout graph (any networkx graph type: directed and multi-graphs are taken as the
        undirected simple graph of their streets, see :func:`as_layout`) or a canonical
        :class:`data_prep.order.Sequence`. Positions are normalised by the tile size, so a
        layout of another tile size is scaled to the model's.
    style
        For a style model: the raw style row to condition on (default: the tile's own).

    Returns
    -------
    float
        ``log p(tile)`` in nats (densities in normalised tile units).

    Raises
    ------
    UsageError
        If ``model`` is not a model, or ``style`` is not one row of finite style values.
    LayoutError
        If ``tile`` is not a layout (see :func:`as_layout`).
    """
    from citygen.model.likelihood import log_likelihood as _log_likelihood
    from data_prep.order import Sequence

    net = _check_model(model)
    checked = _check_sequence(tile) if isinstance(tile, Sequence) else as_layout(tile)
    return _log_likelihood(net, checked, _check_style_row(style, net))


def _check_style_row(style: Any, net: LayoutModel) -> Any:
    """A raw style row ``(STYLE_DIM,)`` of finite numbers for a style model, or None."""
    import numpy as np

    from citygen.style import STYLE_DIM, check_bank

    if style is None:
        return None
    if not net.config.style_dim:
        msg = "this model takes no style (it was trained without --style); leave out style"
        raise UsageError(msg)
    if isinstance(style, str) or np.shape(style) != (STYLE_DIM,):
        msg = f"style must be one raw style row of {STYLE_DIM} numbers (citygen.style), got {style!r:.60}"
        raise UsageError(msg)
    return check_bank([style], "style")[0]


__all__ = [
    "MAX_SEED",
    "as_layout",
    "check_int",
    "check_sample_config",
    "check_seed",
    "load_model",
    "log_likelihood",
    "sample",
]
