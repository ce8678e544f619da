"""Warm start: begin a training run from the weights of another model (``train --init-from``).

Every weight whose name and shape match is copied. A weight that grew along its first axis
(the step-type head and embedding of a model that gains split steps: 4 types to 5) keeps the
old rows and its new rows as initialised; weights the source does not have (the split heads)
stay as initialised. The source may differ in such heads only: a different width or depth is
refused, since then nothing useful would be copied.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from citygen.errors import UsageError


def warm_start(model: nn.Module, source: str | Path | None) -> dict[str, list[str]]:
    """Copy ``source``'s weights (a model directory; None: the shipped default) into ``model``.

    Returns
    -------
    dict
        Names of the weights ``copied``, ``grown`` (old rows copied) and ``new`` (left as
        initialised).

    Raises
    ------
    UsageError
        If the source's backbone width, depth or window differ from the model's.
    """
    from citygen.model.checkpoint import load_model

    src = load_model(source)
    a, b = src.config, model.config
    for key in ("d_model", "n_layers", "n_heads", "d_pair", "window", "backbone", "position", "style_dim"):
        if getattr(a, key) != getattr(b, key):
            msg = f"--init-from {source or 'default model'}: its {key} is {getattr(a, key)}, this run's {getattr(b, key)}"
            raise UsageError(msg)
    have = src.state_dict()
    report: dict[str, list[str]] = {"copied": [], "grown": [], "new": []}
    with torch.no_grad():
        for name, w in model.state_dict().items():
            old = have.get(name)
            if old is None:
                report["new"].append(name)
            elif old.shape == w.shape:
                w.copy_(old)
                report["copied"].append(name)
            elif old.dim() == w.dim() and old.shape[1:] == w.shape[1:] and old.shape[0] < w.shape[0]:
                w[: old.shape[0]].copy_(old)
                report["grown"].append(name)
            else:
                msg = f"--init-from {source or 'default model'}: weight {name} has shape {tuple(old.shape)}, this model's {tuple(w.shape)}"
                raise UsageError(msg)
    return report
