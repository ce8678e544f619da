"""Generate layouts with a model and write them in the export formats (``citygen generate``)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from citygen.device import resolve_device
from citygen.errors import CheckpointError, UsageError
from citygen.model.checkpoint import DEFAULT_MODEL_DIR, load_model
from citygen.model.network import LayoutModel
from citygen.sampling.loop import SampleConfig, sampling_threads
from citygen.sampling.workers import sample_parallel

log = logging.getLogger(__name__)

#: Formats written when none is asked for: the GIS file and a picture of each layout.
DEFAULT_FORMATS = ("geojson", "png")


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` made.

    The layouts, the files written and, when steered, the objective values
    (:class:`citygen.objectives.Steered`; None for plain sampling).
    """

    layouts: list[nx.Graph]
    files: list[Path]
    steered: Any = None


def generate(
    out_dir: str | Path,
    model: str | Path | LayoutModel | None = None,
    n: int = 4,
    seed: int = 0,
    formats: str | tuple[str, ...] | None = None,
    center: tuple[float, float] | None = None,
    device: str = "auto",
    batch_size: int = 64,
    sample_config: SampleConfig | None = None,
    objective: Any = None,
    weights: str | None = None,
    method: str | None = None,
    candidates: int = 16,
    particles: int = 16,
    realism: float | None = None,
    realism_data: str | Path | None = None,
    workers: int = 1,
) -> GenerateResult:
    """Sample ``n`` layouts and write them to ``out_dir``.

    Parameters
    ----------
    out_dir
        Output directory (created if missing).
    model
        A model directory, a loaded model, or None for the default model in the package.
    n, seed
        How many layouts, and the seed (same seed, same files).
    formats
        Comma-separated or tuple of ``geojson``, ``graphml``, ``osm``, ``png`` (default
        GeoJSON and PNG).
    center
        ``(lat, lon)`` where tiles are placed (default Helsinki centre).
    device
        ``auto``, ``cpu`` or ``cuda``.
    batch_size
        Tiles sampled together.
    sample_config
        Sampling constraints and temperature.
    objective, weights
        Steer towards objectives (``"connectivity,travel_time"``, weights ``"1,0.5"``, or a
        :class:`citygen.objectives.Combination`); None samples plainly (see
        :mod:`citygen.objectives`).
    method, candidates, particles
        Steering method (``best-of-n`` by default, ``smc``, ``finetune``) and its setting.
        A model written by ``citygen finetune`` is steered by ``finetune`` implicitly.
    realism, realism_data
        Weight of the realism term (None: the default, or the weight a fine-tuned model was
        trained with; 0: objectives alone) and the real
        tiles it measures against (a prepared data set or a reference JSON; None: the
        shipped corpus reference); see :mod:`citygen.objectives.typicality`.
    workers
        Sampling processes (one torch thread each); the layouts are the same for any number.
    """
    from export.write import parse_formats, write_layouts

    fmts = parse_formats(formats if formats is not None else DEFAULT_FORMATS)
    dev = resolve_device(device)
    steering = _steering(
        model, objective, weights, method, candidates, particles, realism, realism_data
    )
    if steering is not None and workers != 1:
        msg = "--workers applies to plain sampling; a steered run uses one process"
        raise UsageError(msg)
    if isinstance(model, LayoutModel):
        net, name = model.to(dev), "in-memory"
    else:
        net = load_model(model, dev)
        name = "default" if model is None else str(model)
    if steering is None:
        kw = {"seed": seed, "workers": workers, "device": dev, "config": sample_config}
        layouts = sample_parallel(net, n, batch_size=batch_size, **kw)
        steered, objective_meta = None, None
    else:
        from citygen.objectives.steer import metadata, steer

        kw = {"seed": seed, "device": dev, "batch_size": batch_size, "config": sample_config}
        with sampling_threads():
            steered = steer(net, steering, n, **kw)
        layouts, objective_meta = steered.layouts, metadata(steering, steered)
    meta = {"model": name, "seed": seed, "objective": objective_meta}
    Path(out_dir).mkdir(parents=True, exist_ok=True) if not Path(out_dir).is_file() else None
    files = write_layouts(layouts, out_dir, formats=fmts, center=center, metadata=meta)
    return GenerateResult(layouts, files, steered)


def _steering(
    model: str | Path | LayoutModel | None,
    objective: Any,
    weights: str | None,
    method: str | None,
    candidates: int,
    particles: int,
    realism: float | None = None,
    realism_data: str | Path | None = None,
) -> Any:
    """Resolve the steering asked for; None is plain sampling (see ``resolve_steering``)."""
    from citygen.objectives.finetune import finetune_info
    from citygen.objectives.steer import resolve_steering
    from citygen.objectives.typicality import load_reference

    tuned = None
    if not isinstance(model, LayoutModel):
        with contextlib.suppress(CheckpointError):  # load_model reports a bad model directory
            tuned = finetune_info(model if model is not None else DEFAULT_MODEL_DIR)
    reference = load_reference(realism_data) if realism_data is not None else None
    return resolve_steering(
        objective, weights, method, candidates, particles, tuned, realism, reference
    )


__all__ = ["DEFAULT_FORMATS", "DEFAULT_MODEL_DIR", "GenerateResult", "generate", "resolve_device"]
