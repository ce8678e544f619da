"""The realism report: generated layouts against held-out real streets, floor and baselines.

For every statistic of :data:`~citygen.metrics.catalog.STATISTICS` the report measures the
distance (:mod:`citygen.metrics.distance`) from each set of layouts to the *test* tiles of a
prepared data set:

- ``floor``: the *training* tiles against the test tiles, how close real is to real;
- ``model``: layouts sampled from a model (or read from a folder, ``--generated``);
- the baselines of :mod:`citygen.metrics.baselines` at the real tiles' junction density.

Realism score = the mean over statistics of ``distance / floor distance``: 1.0 is as close to
the test tiles as other real tiles are, larger is further. Validity and novelty are in
:mod:`citygen.metrics.novelty`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from tqdm import tqdm

from citygen._version import __version__
from citygen.errors import UsageError
from citygen.metrics import baselines as bl
from citygen.metrics.catalog import STATISTICS, Profile, profile
from citygen.metrics.distance import SIGMA, mmd, w1
from citygen.metrics.novelty import COPY_THRESHOLD_M, PLANAR_ONLY, novelty, validity
from citygen.metrics.shape import SHAPE_KEYS, shape_summary
from citygen.metrics.stats import arrays
from data_prep.shards import Dataset, load_dataset
from data_prep.split import HOLDOUT, SPLITS


def distances(a: Profile, b: Profile) -> dict[str, float]:
    """Distance of every statistic between two profiled sets (MMD or W1, see distance)."""
    out = {}
    for s in STATISTICS:
        out[s.name] = (
            mmd(a.hist[s.name], b.hist[s.name])
            if s.kind == "hist"
            else w1(a.scalar[s.name], b.scalar[s.name])
        )
    return out


def realism_score(
    dist: dict[str, float], floor: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """Mean of ``dist / floor`` over statistics with a finite, positive floor; and each ratio."""
    ratios = {k: dist[k] / floor[k] for k in dist if math.isfinite(dist[k]) and floor.get(k, 0) > 0}
    return (float(np.mean(list(ratios.values()))) if ratios else float("nan")), ratios


@dataclass
class Row:
    """One set of layouts in the report."""

    name: str
    n: int
    distance: dict[str, float]
    ratio: dict[str, float]
    realism: float
    validity: float
    planar: float
    novelty: float | None
    mean_nodes: float
    seconds: float = 0.0
    shape: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    """The whole evaluation, JSON-serialisable with :meth:`to_dict`."""

    data: str
    model: str
    n: int
    seed: int
    rows: list[Row]
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    holdout: list[Row] = field(default_factory=list)
    holdout_cities: dict[str, dict] = field(default_factory=dict)

    def row(self, name: str) -> Row:
        """The row of one set (``floor``, ``model``, a baseline name)."""
        return next(r for r in self.rows if r.name == name)

    def to_dict(self) -> dict:
        """Plain data for ``--json`` (NaN, an undefined distance, becomes null)."""
        return _finite(
            {
                "citygen_version": __version__,
                "data": self.data,
                "model": self.model,
                "n": self.n,
                "seed": self.seed,
                "settings": self.settings,
                "timings_s": self.timings,
                "statistics": {
                    s.name: {
                        "kind": s.kind,
                        "unit": s.unit,
                        "distance": "MMD" if s.kind == "hist" else "W1",
                    }
                    for s in STATISTICS
                },
                "rows": [asdict(r) for r in self.rows],
                "holdout": {
                    "regions": sorted(self.holdout_cities),
                    "rows": [asdict(r) for r in self.holdout],
                    "cities": self.holdout_cities,
                },
            }
        )


def _finite(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


class RealSets:
    """The real tiles of a data set, profiled once: training tiles, reference tiles, the floor.

    Parameters
    ----------
    data
        The prepared data set.
    progress
        Show progress bars.
    reference
        The split measured against: ``"test"`` (default) or ``"holdout"`` (whole cities left out
        of training, ``citygen prepare --holdout-regions``), or ``"region:NAME"`` for the tiles
        of one held-out region.
    train_from
        Reuse the profiled training tiles of another :class:`RealSets` of the same data set.
    """

    def __init__(
        self,
        data: Dataset,
        progress: bool = False,
        reference: str = "test",
        train_from: RealSets | None = None,
    ) -> None:
        self.data = data
        self.reference = reference
        wrap = _bar("real tiles", progress)
        if train_from is not None:
            self.train, self.train_arrays = train_from.train, train_from.train_arrays
            self.train_profile = train_from.train_profile
            self.density, self.degrees = train_from.density, train_from.degrees
        else:
            self.train = [t.layout() for t in data.tiles("train")]
            if not self.train:
                msg = f"data set {data.root} has no training tiles to compare with"
                raise UsageError(msg)
            self.train_arrays = [arrays(G) for G in self.train]
            self.train_profile = profile(self.train_arrays, wrap)
            self.density = bl.junction_density(self.train_arrays)
            self.degrees = bl.degree_distribution(self.train_arrays)
        self.test = [t.layout() for t in reference_tiles(data, reference)]
        if not self.test:
            msg = f"data set {data.root} has no {reference} tiles to compare with"
            raise UsageError(msg)
        self.test_arrays = [arrays(G) for G in self.test]
        self.test_profile = profile(self.test_arrays, wrap)
        self.floor = distances(self.train_profile, self.test_profile)

    def row(
        self,
        name: str,
        layouts: Sequence[nx.Graph],
        check_novelty: bool = True,
        seconds: float = 0.0,
        progress: bool = False,
    ) -> Row:
        """Profile a set of layouts and measure it against the test tiles."""
        a = [arrays(G) for G in layouts]
        prof = profile(a, _bar(name, progress))
        dist = distances(prof, self.test_profile)
        score, ratios = realism_score(dist, self.floor)
        nov = novelty(a, self.train_arrays) if check_novelty else None
        return Row(
            name,
            len(layouts),
            dist,
            ratios,
            score,
            validity(layouts),
            validity(layouts, PLANAR_ONLY),
            nov,
            float(np.mean([x.n for x in a])) if a else 0.0,
            seconds,
            shape_summary(a),
        )

    def floor_row(self) -> Row:
        """The real-vs-real row (ratio 1 for every statistic by definition)."""
        score, ratios = realism_score(self.floor, self.floor)
        return Row(
            "floor",
            len(self.train),
            dict(self.floor),
            ratios,
            score,
            validity(self.test),
            validity(self.test, PLANAR_ONLY),
            novelty(self.test_arrays, self.train_arrays),
            float(np.mean([x.n for x in self.test_arrays])),
            shape=shape_summary(self.test_arrays),
        )


def reference_tiles(data: Dataset, reference: str) -> list:
    """The tiles of a split (``test``, ``holdout``, ...) or else of a held-out region by name."""
    if reference in (*SPLITS, HOLDOUT):
        return data.tiles(reference)
    region = reference.removeprefix("region:")
    return [t for t in data.tiles(HOLDOUT) if t.region == region]


def _bar(label: str, enabled: bool) -> Callable | None:
    if not enabled:
        return None
    return lambda it: tqdm(it, desc=f"statistics: {label}", unit="layout", leave=False)


def realism_scorer(data: Dataset | str | Path) -> Callable[[list[nx.Graph]], float]:
    """A function layouts -> realism score against a data set's test tiles (for steering)."""
    real = RealSets(data if isinstance(data, Dataset) else load_dataset(data))

    def score(layouts: list[nx.Graph]) -> float:
        prof = profile([arrays(G) for G in layouts])
        return realism_score(distances(prof, real.test_profile), real.floor)[0]

    return score


def evaluate(
    data_dir: str | Path,
    model: str | Path | None = None,
    n: int = 200,
    seed: int = 0,
    generated: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 256,
    baselines: Sequence[str] = tuple(bl.BASELINES),
    progress: bool = True,
) -> tuple[Report, dict[str, list[nx.Graph]]]:
    """Run the evaluation (see the module docstring).

    Parameters
    ----------
    data_dir
        A prepared data set; its test tiles are the reference, its training tiles the floor.
    model
        A model directory (default: the shipped model); ignored with ``generated``.
    n
        Layouts to sample from the model and from each baseline.
    seed
        Seed of sampling and baselines.
    generated
        A folder of ``.geojson`` / ``.graphml`` layouts to evaluate instead of sampling.
    device, batch_size
        Where and how many tiles to sample at once.
    baselines
        Baseline names to include.
    progress
        Show progress bars.

    Returns
    -------
    (Report, dict)
        The report, and the layouts of every row (``test``, ``model``, baselines) for plots.

    Raises
    ------
    UsageError
        If ``n < 1`` or the seed is not an integer in ``0 .. 2**63 - 1``.
    DatasetError, InputDataError, CheckpointError
        For a bad data set, generated folder or model.
    """
    from citygen.api import check_seed

    if n < 1 and generated is None:
        msg = f"--n must be at least 1, got {n}"
        raise UsageError(msg)
    seed = check_seed(seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = load_dataset(data_dir)
    real = RealSets(data, progress)
    timings["real"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if generated is not None:
        from citygen.metrics.read import read_layouts

        layouts, _ = read_layouts(generated)
        model_name = f"generated: {generated}"
    else:
        from citygen.device import resolve_device
        from citygen.api import load_model
        from citygen.model.checkpoint import DEFAULT_MODEL_DIR
        from citygen.sampling.loop import sample

        dev = resolve_device(device)
        net = load_model(model, device=dev)
        if abs(float(net.config.tile_size) - data.tile_size) > 1e-6:
            msg = f"the model draws {net.config.tile_size:g} m tiles but {data_dir} has {data.tile_size:g} m tiles; compare like with like"
            raise UsageError(msg)
        layouts = sample(net, n, seed=seed, device=dev, batch_size=batch_size)
        model_name = str(model) if model else f"default ({DEFAULT_MODEL_DIR.name})"
    sample_s = time.perf_counter() - t0
    timings["sample"] = sample_s
    rows = [real.floor_row()]
    sets = {"test": real.test, "model": layouts}
    t0 = time.perf_counter()
    rows.append(
        real.row("model", layouts, seconds=sample_s / max(len(layouts), 1), progress=progress)
    )
    timings["model_stats"] = time.perf_counter() - t0
    size = data.tile_size
    for name in baselines:
        t0 = time.perf_counter()
        made = bl.make_baselines(name, len(layouts), size, real.density, real.degrees, seed)
        dt = time.perf_counter() - t0
        rows.append(real.row(name, made, seconds=dt / max(len(made), 1), progress=progress))
        sets[name] = made
        timings[name] = time.perf_counter() - t0
    holdout, cities = _holdout_rows(data, real, sets, progress) if data.holdout_regions else ([], {})
    report = Report(
        str(data_dir),
        model_name,
        len(layouts),
        seed,
        rows,
        settings={
            "reference": "test split",
            "floor": "train split vs test split",
            "mmd_sigma_range_fraction": SIGMA,
            "copy_threshold_m": COPY_THRESHOLD_M,
            "junction_density_per_km2": real.density,
            "n_train": len(real.train),
            "n_test": len(real.test),
        },
        timings={k: round(v, 3) for k, v in timings.items()},
        holdout=holdout,
        holdout_cities=cities,
    )
    if holdout:
        report.settings["n_holdout"] = sum(c["tiles"] for c in cities.values())
    return report, sets


def _holdout_rows(
    data: Dataset, real: RealSets, sets: dict[str, list[nx.Graph]], progress: bool
) -> tuple[list[Row], dict[str, dict]]:
    """Every set against the tiles of the held-out cities, and the model against each city.

    The floor here is the training tiles against the held-out cities' tiles: how close the
    training data itself is to places the model never saw.
    """
    held = RealSets(data, progress, reference="holdout", train_from=real)
    rows = [held.floor_row()]
    for name, layouts in sets.items():
        if name != "test":
            rows.append(held.row(name, layouts, check_novelty=False))
    cities: dict[str, dict] = {}
    for region in data.holdout_regions:
        if not reference_tiles(data, f"region:{region}"):
            continue
        city = RealSets(data, reference=f"region:{region}", train_from=real)
        model_row = city.row("model", sets["model"], check_novelty=False)
        cities[region] = {
            "tiles": len(city.test),
            "realism": model_row.realism,
            "real_shape": shape_summary(city.test_arrays),
        }
    return rows, cities


def format_table(report: Report) -> str:
    """The report as a text table: statistic x set (distance, and ratio to the floor)."""
    names = [r.name for r in report.rows]
    w = max(14, *(len(x) + 2 for x in names))
    head = f"{'statistic':<22}" + "".join(f"{x:>{w}}" for x in names)
    lines = [
        f"realism against {report.settings['n_test']} test tiles of {report.data}; model {report.model}; n={report.n}, seed {report.seed}",
        "distance to the test tiles (MMD for histograms, W1 in the unit for scalars), x floor in brackets",
        head,
        "-" * len(head),
    ]
    for s in STATISTICS:
        cells = []
        for r in report.rows:
            d, q = r.distance.get(s.name, float("nan")), r.ratio.get(s.name, float("nan"))
            cells.append(f"{d:.3g} ({q:.1f}x)".rjust(w))
        lines.append(f"{s.name:<22}" + "".join(cells))
    lines.append("-" * len(head))
    lines.append(f"{'realism score':<22}" + "".join(f"{r.realism:>{w}.2f}" for r in report.rows))
    lines.append(
        f"{'valid (10 m rule)':<22}" + "".join(f"{r.validity:>{w}.1%}" for r in report.rows)
    )
    lines.append(
        f"{'planar, no duplicate':<22}" + "".join(f"{r.planar:>{w}.1%}" for r in report.rows)
    )
    lines.append(
        f"{'novelty':<22}"
        + "".join(
            (f"{r.novelty:>{w}.1%}" if r.novelty is not None else f"{'-':>{w}}")
            for r in report.rows
        )
    )
    lines.append(f"{'mean nodes':<22}" + "".join(f"{r.mean_nodes:>{w}.1f}" for r in report.rows))
    lines += _shape_lines(report.rows, w, "test tiles")
    lines.append(
        "realism score: mean of distance / floor over the statistics; 1.0 is as real as real tiles, lower is better"
    )
    if report.holdout:
        lines += _holdout_lines(report, w)
    return "\n".join(lines)


def _shape_lines(rows: list[Row], w: int, real: str) -> list[str]:
    labels = {
        "sparse": "sparse tiles (<10)",
        "dead_end": "dead-end share",
        "largest_piece": "largest piece share",
        "four_way": "4-way share",
    }
    out = [f"shape (floor column: the {real} themselves; shares over tiles that are not sparse)"]
    for key in SHAPE_KEYS:
        out.append(
            f"{labels[key]:<22}"
            + "".join(f"{r.shape.get(key, float('nan')):>{w}.2f}" for r in rows)
        )
    return out


def _holdout_lines(report: Report, w: int) -> list[str]:
    rows = report.holdout
    names = [r.name for r in rows]
    head = f"{'held-out cities':<22}" + "".join(f"{x:>{w}}" for x in names)
    lines = [
        "",
        f"realism against {report.settings.get('n_holdout')} tiles of {len(report.holdout_cities)} held-out cities "
        f"({', '.join(sorted(report.holdout_cities))}), in no training data; floor: training "
        "tiles vs these tiles",
        head,
        "-" * len(head),
        f"{'realism score':<22}" + "".join(f"{r.realism:>{w}.2f}" for r in rows),
    ]
    lines += _shape_lines(rows, w, "held-out tiles")
    lines.append("model against each held-out city (its own floor: training tiles vs the city):")
    for name, c in sorted(report.holdout_cities.items()):
        lines.append(f"  {name:<20} {c['tiles']:>4} tiles  realism {c['realism']:.2f}")
    per_city = [c["realism"] for c in report.holdout_cities.values()]
    lines.append(f"  {'mean over cities':<20} {'':>4}        realism {float(np.mean(per_city)):.2f}")
    return lines
