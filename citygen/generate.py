"""Generate layouts with a model and write them in the export formats (``citygen generate``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import torch

from citygen.checkpoint import DEFAULT_MODEL_DIR, load_model
from citygen.errors import UsageError
from citygen.model import LayoutModel
from citygen.sample import SampleConfig, sample

log = logging.getLogger(__name__)

#: Formats written when none is asked for: the GIS file and a picture of each layout.
DEFAULT_FORMATS = ("geojson", "png")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        msg = "--device cuda asked for, but torch sees no CUDA device"
        raise UsageError(msg)
    if name not in ("cpu", "cuda"):
        msg = f"device must be auto, cpu or cuda, got {name!r}"
        raise UsageError(msg)
    return torch.device(name)


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` made: the layouts and the files written."""

    layouts: list[nx.Graph]
    files: list[Path]


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
    """
    from export.write import parse_formats, write_layouts

    fmts = parse_formats(formats if formats is not None else DEFAULT_FORMATS)
    dev = resolve_device(device)
    if isinstance(model, LayoutModel):
        net, name = model.to(dev), "in-memory"
    else:
        net = load_model(model, dev)
        name = "default" if model is None else str(model)
    layouts = sample(net, n, seed=seed, device=dev, batch_size=batch_size, config=sample_config)
    meta = {"model": name, "seed": seed, "objective": None}
    Path(out_dir).mkdir(parents=True, exist_ok=True) if not Path(out_dir).is_file() else None
    files = write_layouts(layouts, out_dir, formats=fmts, center=center, metadata=meta)
    return GenerateResult(layouts, files)


__all__ = ["DEFAULT_FORMATS", "DEFAULT_MODEL_DIR", "GenerateResult", "generate", "resolve_device"]
