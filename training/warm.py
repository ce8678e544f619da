"""Warm start: begin a training run from the weights of another model (``train --init-from``).

Every weight whose name and shape match is copied. A weight that grew along its first axis
(the step-type head and embedding of a model that gains split steps: 4 types to 5) keeps the
old rows and its new rows as initialised; weights the source does not have (the split heads)
stay as initialised. The source may differ in such heads only: a different width, depth or
binning is refused, since then nothing useful would be copied.

:func:`load_source` loads and checks the source before the run touches its folder (so a bad
``--init-from`` with ``--overwrite`` leaves the old run as it was); :func:`warm_start` copies.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from citygen.errors import UsageError
from citygen.model.network import LayoutModel, ModelConfig

_SAME = ("d_model", "n_layers", "n_heads", "d_pair", "window", "backbone", "position", "style_dim")


def load_source(source: str | Path | None, config: ModelConfig) -> LayoutModel:
    """Load the model ``source`` (a model directory; None: the shipped default) and check that
    its weights fit a model of ``config``.

    Raises
    ------
    UsageError
        If the source's width, depth, window or a weight's shape do not fit.
    CheckpointError
        If ``source`` is not a usable model.
    """
    from citygen.model.checkpoint import load_model

    src = load_model(source)
    name = source or "default model"
    for key in _SAME:
        if getattr(src.config, key) != getattr(config, key):
            msg = f"--init-from {name}: its {key} is {getattr(src.config, key)}, this run's {getattr(config, key)}"
            raise UsageError(msg)
    with torch.device("meta"):  # shapes only: no memory, no draws from the seeded generator
        target = LayoutModel(config)
    _plan(target.state_dict(), src.state_dict(), name)
    return src


def warm_start(model: nn.Module, src: nn.Module) -> dict[str, list[str]]:
    """Copy the weights of ``src`` (from :func:`load_source`) into ``model``.

    Returns
    -------
    dict
        Names of the weights ``copied``, ``grown`` (old rows copied) and ``new`` (left as
        initialised).
    """
    have = src.state_dict()
    target = model.state_dict()
    report = _plan(target, have, "source")
    with torch.no_grad():
        for name in report["copied"]:
            target[name].copy_(have[name])
        for name in report["grown"]:
            target[name][: have[name].shape[0]].copy_(have[name])
    return report


def _plan(target: dict[str, torch.Tensor], have: dict[str, torch.Tensor], name: str) -> dict[str, list[str]]:
    """Which target weights are copied, grown or new; refuse a weight whose shape cannot be."""
    report: dict[str, list[str]] = {"copied": [], "grown": [], "new": []}
    for key, w in target.items():
        old = have.get(key)
        if old is None:
            report["new"].append(key)
        elif old.shape == w.shape:
            report["copied"].append(key)
        elif old.dim() == w.dim() and old.shape[1:] == w.shape[1:] and old.shape[0] < w.shape[0]:
            report["grown"].append(key)
        else:
            msg = f"--init-from {name}: weight {key} has shape {tuple(old.shape)}, this model's {tuple(w.shape)}"
            raise UsageError(msg)
    return report
