"""Generate layouts with a model and write them in the export formats (``citygen generate``)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from citygen._version import __version__
from citygen.api import check_int, check_sample_config, check_seed, load_model
from citygen.device import resolve_device
from citygen.errors import CheckpointError, UsageError
from citygen.like import sample_like
from citygen.model.checkpoint import DEFAULT_MODEL_DIR
from citygen.model.network import LayoutModel
from citygen.sampling.loop import SampleConfig, sampling_threads
from citygen.sampling.workers import sample_parallel

log = logging.getLogger(__name__)

#: Most layouts one ``generate`` run writes (each is held in memory until the whole run is
#: written); split larger jobs into several runs with other seeds.
MAX_LAYOUTS = 100_000

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
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
    like: str | Path | None = None,
    density: float | None = None,
    grid: float | None = None,
    workers: int = 1,
    like_candidates: int | None = None,
) -> GenerateResult:
    """Sample ``n`` layouts and write them to ``out_dir`` as one run (:mod:`export.run`).

    Every argument, the output folder and the placement are checked before the model is
    loaded; the files appear in ``out_dir`` all at once, with a manifest ``citygen-run.json``
    that lists them and records how to regenerate them.

    Parameters
    ----------
    out_dir
        Run folder: new, empty, or holding an earlier run (replaced only with ``overwrite``).
    model
        A model directory, a loaded model, or None for the default model in the package.
    n, seed
        How many layouts, and the seed (``0 .. 2**63 - 1``; same seed, same files).
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
    overwrite
        Replace an earlier run in ``out_dir`` (only the files its manifest lists).
    progress
        Progress bars (tqdm, on stderr) while sampling and writing.
    command
        The command line, recorded in the manifest.
    like, density, grid
        For a style model: draw each layout's style from the real tiles of a place (a data
        set, an OSM / street-lines file or folder, or a place name; :mod:`citygen.like`), and
        fix its junction density (per km2) and orientation order (0 to 1).
    workers
        Sampling processes (one torch thread each); the layouts are the same for any number.
    like_candidates
        With ``like``: candidates per layout sharing its style row, the one nearest the
        place's tile that row came from kept (:func:`citygen.like.sample_like`; None:
        :data:`citygen.like.LIKE_CANDIDATES`, 1: off). A steered run measures its realism
        term against the place's tiles instead.

    Raises
    ------
    UsageError
        On a bad count, seed, format, centre, sampling setting or objective.
    OutputError
        If ``out_dir`` cannot be written or holds files of another kind (see
        :func:`export.run.check_run_folder`).
    CheckpointError
        On a bad model directory.
    """
    from export.geo import DEFAULT_CENTER, Placement, check_center
    from export.run import check_run_folder, write_layout_run
    from export.write import parse_formats

    n, seed, batch_size = (
        check_int(n, "n", 1, MAX_LAYOUTS),
        check_seed(seed),
        check_int(batch_size, "batch size", 1),
    )
    workers = check_int(workers, "--workers", 1)
    like_k = _like_candidates(like, like_candidates)
    fmts = parse_formats(formats if formats is not None else DEFAULT_FORMATS)
    center = check_center(center) if center is not None else None
    config = check_sample_config(sample_config)
    check_run_folder(out_dir, overwrite)
    dev = resolve_device(device)
    steering = _steering(
        model, objective, weights, method, candidates, particles, realism, realism_data
    )
    if steering is not None and workers != 1:
        msg = "--workers applies to plain sampling; a steered run uses one process"
        raise UsageError(msg)
    if isinstance(model, LayoutModel):
        net, name, digest = model.to(dev), "in-memory", None
    else:
        net = load_model(model, dev)
        name = "default" if model is None else str(model)
        digest = _weights_sha256(model)
    Placement.at_center(center or DEFAULT_CENTER, float(net.config.tile_size))  # fails early
    config, style_meta, src = style_and_source(net, config, like, density, grid)
    reference = _like_reference(src, like_k)
    if reference is not None and steering is not None:
        steering = _steer_like(steering, reference, realism_data)
        reference = None  # the steering picks candidates, toward the place
    kw = {"seed": seed, "device": dev, "batch_size": batch_size, "config": config}
    pool = n * (like_k if reference is not None else _tiles_per_layout(steering))
    with sampling_bar(net, pool, progress):
        if reference is not None:

            def draw(m: int, styles: Any) -> list[nx.Graph]:
                return sample_parallel(net, m, workers=workers, style=styles, **kw)

            layouts, dist = sample_like(like_k, reference, n, seed, config, draw)
            steered, objective_meta = None, None
            style_meta["like_candidates"] = like_k
            style_meta["like_distance_mean"] = round(float(dist.mean()), 6)
        else:
            layouts, steered, objective_meta = _draw(net, steering, n, kw, workers)
    meta = {
        "model": name,
        "model_sha256": digest,
        "seed": seed,
        "n": n,
        "batch_size": batch_size,
        "device": dev.type,
        # the --like bank is recorded by its source (meta["style"]), not row by row
        "sample_config": {k: v for k, v in dataclasses.asdict(config).items() if k != "style_bank"},
        "objective": objective_meta,
    }
    if style_meta:
        meta["style"] = style_meta
    info = {**meta, "formats": list(fmts), "center": center, "command": command}
    info["workers"] = workers  # in the run manifest only: the layouts do not depend on it
    info["citygen_version"] = __version__
    files = write_layout_run(
        layouts,
        out_dir,
        info,
        overwrite,
        formats=fmts,
        center=center,
        metadata=meta,
        progress=progress,
    )
    return GenerateResult(layouts, files, steered)


def _draw(
    net: LayoutModel, steering: Any, n: int, kw: dict[str, Any], workers: int = 1
) -> tuple[list[nx.Graph], Any, dict | None]:
    """Sample plainly (``steering`` None) or steered; the layouts, result and objective facts.

    Plain sampling runs in ``workers`` processes (the same layouts for any number).
    """
    if steering is None:
        return sample_parallel(net, n, workers=workers, **kw), None, None
    from citygen.objectives.steer import metadata, steer

    with sampling_threads():
        steered = steer(net, steering, n, **kw)
    return steered.layouts, steered, metadata(steering, steered)


def _weights_sha256(model: str | Path | None) -> str | None:
    """SHA-256 of a model directory's weights file (None if it cannot be read)."""
    from citygen.model.checkpoint import WEIGHTS
    from export.run import sha256_file

    try:
        return sha256_file(Path(model if model is not None else DEFAULT_MODEL_DIR) / WEIGHTS)
    except OSError:
        return None


def _tiles_per_layout(steering: Any) -> int:
    """Tiles sampled per layout: candidates (best-of-n), particles (SMC), else one."""
    if steering is None:
        return 1
    if steering.method == "best-of-n":
        return int(steering.candidates)
    if steering.method == "smc":
        return int(steering.particles)
    return 1


@contextlib.contextmanager
def sampling_bar(net: LayoutModel, total: int, enabled: bool) -> Iterator[None]:
    """Show sampling progress in tiles (tqdm on stderr) while the block runs.

    The sampler calls ``net.backbone(token, cache, start=t)`` once per node step on the tiles
    still being drawn, and drops finished tiles from its batch; the bar counts the tiles
    finished from that (exact at batch ends, a lower bound in between). The model's
    ``backbone`` is wrapped for the block only.
    """
    from tqdm import tqdm

    if not enabled:
        yield
        return
    bar = tqdm(total=total, desc="sampling", unit="tile")
    seen = {"done": 0, "rows": 0}
    step = net.backbone

    def counted(x: Any, *args: Any, **kwargs: Any) -> Any:
        start = kwargs.get("start", args[1] if len(args) > 1 else None)
        if start is not None and getattr(x, "ndim", 0) == 3:
            rows = int(x.shape[0])
            if start == 0:  # a new batch of tiles
                seen["done"] += seen["rows"]
                seen["rows"] = rows
            if bar.n != (now := min(total, seen["done"] + seen["rows"] - rows)):
                bar.update(now - bar.n)
        return step(x, *args, **kwargs)

    net.backbone = counted  # an instance attribute: shadows the method until deleted
    try:
        yield
        bar.update(total - bar.n)
    finally:
        del net.backbone
        bar.close()


def _like_candidates(like: str | Path | None, candidates: int | None) -> int:
    """Checked candidates per layout of a ``--like`` run (1 without ``like``)."""
    from citygen.like import LIKE_CANDIDATES

    if candidates is None:
        return LIKE_CANDIDATES if like is not None else 1
    if like is None:
        msg = "--like-candidates needs --like"
        raise UsageError(msg)
    return check_int(candidates, "--like-candidates", 1)


def _like_reference(src: Any, candidates: int) -> Any:
    """Typicality reference of a ``--like`` source.

    None: no source, one candidate, or too few tiles to measure typicality against.
    """
    from citygen.like import like_reference

    if src is None or candidates <= 1:
        return None
    ref = like_reference(src)
    if ref is None:
        log.warning(
            "--like %s: %d tiles are too few to pick candidates by; sampling one per layout",
            src.name,
            len(src.sequences),
        )
    return ref


def _steer_like(steering: Any, reference: Any, realism_data: str | Path | None) -> Any:
    """Measure a steering's realism term against the ``--like`` place's tiles.

    Unchanged if ``--realism-data`` names other tiles, or the term is off.
    """
    from dataclasses import replace

    comb = steering.objective
    if realism_data is not None or comb.realism <= 0:
        return steering
    return replace(steering, objective=replace(comb, reference=reference))


def styled(
    net: LayoutModel,
    config: SampleConfig | None,
    like: str | Path | None,
    density: float | None,
    grid: float | None,
) -> tuple[SampleConfig | None, dict | None]:
    """The sampling config with the style asked for (``--like``, ``--density``, ``--grid``)."""
    config, meta, _ = style_and_source(net, config, like, density, grid)
    return config, meta


def style_and_source(
    net: LayoutModel,
    config: SampleConfig | None,
    like: str | Path | None,
    density: float | None,
    grid: float | None,
) -> tuple[SampleConfig | None, dict | None, Any]:
    """Return :func:`styled`'s config and facts, and the ``--like`` source read.

    The source is a :class:`citygen.like.LikeSource`, or None without ``like``.
    """
    from dataclasses import replace

    from citygen.errors import UsageError
    from citygen.style import check_overrides

    if like is None and density is None and grid is None:
        return config, None, None
    check_overrides(density, grid)
    if not net.config.style_dim:
        msg = "this model takes no style (it was trained without --style); leave out --like/--density/--grid"
        raise UsageError(msg)
    bank, src = None, None
    meta: dict = {"density": density, "grid": grid}
    if like is not None:
        from citygen.like import like_source

        src = like_source(like, float(net.config.tile_size))
        bank = tuple(tuple(float(v) for v in row) for row in src.bank)
        meta |= {"like": str(like), "like_tiles": len(src.sequences)}
    cfg = replace(config or SampleConfig(), style_bank=bank, density=density, grid=grid)
    return cfg, meta, src


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
