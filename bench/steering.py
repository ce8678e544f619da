"""Benchmark: what steering buys in objective and costs in realism (issue 7), as a Pareto table.

For each objective and method (best-of-N, SMC, fine-tuning; two settings each) it samples
``--n`` layouts and reports the objective's mean against unsteered sampling with the same
seed, the realism score against the test split of the corpus, validity (planar, minimum node
distance, no duplicate streets) and the time per layout. Also writes a PNG: the same seeds
unsteered and steered, side by side.

Realism: ``citygen.metrics`` when it is importable; until then a documented stand-in
(:func:`standin_realism`, the same definition on fewer statistics).

    python bench/steering.py [--model RUN_DIR] [--data DATA_DIR] [--n 24] [--only travel_time]
    citygen finetune --objective connectivity --kl 0.1 --out DIR/connectivity_kl0.1 ...

Fine-tuned rows read models from ``--finetune-dir`` (``{objective}_kl{kl}``, written by
``citygen finetune``); missing ones are skipped. Results merge into
``bench/results/steering.json`` so subsets can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch
from _util import RESULTS
from scipy.stats import wasserstein_distance

from citygen.checkpoint import DEFAULT_MODEL_DIR, load_model
from citygen.model import LayoutModel
from citygen.objectives import Combination, best_of_n, parse_objective, smc
from citygen.objectives.functions import as_arrays, dead_end_share, giant_share, meshedness
from citygen.objectives.validity import is_valid
from citygen.sample import sample
from data_prep.shards import load_dataset

DEV_MODEL = "/tmp/cmp_tr_rel"
#: (objective, weights, methods and settings) rows of the table.
BASIC = [("best-of-n", 4), ("best-of-n", 16), ("smc", 4), ("smc", 16)]
FINETUNE = [("finetune", 0.1), ("finetune", 1.0)]
PLAN: list[tuple[str, str | None, list[tuple[str, float]]]] = [
    ("connectivity", None, BASIC + FINETUNE),
    ("travel_time", None, BASIC + FINETUNE),
    ("connectivity,travel_time", "1,0.5", [("best-of-n", 16), ("smc", 16)]),
    ("length", None, [("best-of-n", 16)]),
]


# ----------------------------------------------------------------------- validity, realism
def layout_stats(G: nx.Graph) -> dict[str, float]:
    """Per-tile scalar statistics of the stand-in realism score (units: per km2, km, m)."""
    a = as_arrays(G)
    area = (a.tile_size / 1000.0) ** 2
    deg = np.bincount(a.edges.ravel(), minlength=a.n)
    inner = ~a.border
    return {
        "node_density": a.n / area,
        "intersection_density": float(((deg >= 3) & inner).sum()) / area,
        "street_density_km": float(a.length.sum()) / 1000.0 / area,
        "mean_degree": float(deg[inner].mean()) if inner.any() else 0.0,
        "segment_length_m": float(a.length.mean()) if a.length.size else 0.0,
        "dead_end_share": dead_end_share(a),
        "giant_share": giant_share(a),
        "meshedness": meshedness(a),
    }


class StandinRealism:
    """Realism = mean over statistics of W1(generated, test) / W1(train, test) (the floor).

    The definition of the evaluation issue (1-Wasserstein distance of per-layout scalar
    values, divided by the real-vs-real floor, averaged over statistics), on the eight scalar
    statistics of :func:`layout_stats`; 1.0 is as real as real.
    """

    def __init__(self, train: list[nx.Graph], test: list[nx.Graph]) -> None:
        self.test = self._table(test)
        train_t = self._table(train)
        self.floor = {k: wasserstein_distance(train_t[k], self.test[k]) for k in self.test}

    @staticmethod
    def _table(layouts: list[nx.Graph]) -> dict[str, np.ndarray]:
        rows = [layout_stats(G) for G in layouts]
        return {k: np.array([r[k] for r in rows]) for k in rows[0]}

    def __call__(self, layouts: list[nx.Graph]) -> float:
        gen = self._table(layouts)
        return float(
            np.mean(
                [wasserstein_distance(gen[k], self.test[k]) / max(self.floor[k], 1e-9) for k in gen]
            )
        )


def make_realism(data_dir: str) -> tuple[object, str]:
    """The realism scorer and its name: citygen.metrics if present, else the stand-in."""
    data = load_dataset(data_dir)
    try:
        from citygen.metrics import realism_scorer  # type: ignore[attr-defined]

        return realism_scorer(data), "citygen.metrics"
    except ImportError:
        train = [t.layout() for t in data.tiles("train")]
        test = [t.layout() for t in data.tiles("test")]
        return StandinRealism(
            train, test
        ), "stand-in (bench/steering.py: W1/floor on 8 scalar statistics)"


# ----------------------------------------------------------------------------------- runs
def timed(fn: Callable, *args: object, **kw: object) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def run_method(
    model: LayoutModel, objective: Combination, method: str, setting: float, args: Namespace
) -> tuple[list[nx.Graph], float] | None:
    """Layouts and seconds for one row; None if a fine-tuned model is missing."""
    n, seed, ft_dir = args.n, args.seed, Path(args.finetune_dir)
    if method == "best-of-n":
        res, dt = timed(
            best_of_n, model, objective, n, seed, candidates=int(setting), batch_size=64
        )
        return res.layouts, dt
    if method == "smc":
        res, dt = timed(smc, model, objective, n, seed, particles=int(setting), batch_size=64)
        return res.layouts, dt
    run = ft_dir / f"{objective.names[0] if len(objective.names) == 1 else 'combo'}_kl{setting:g}"
    if not (run / "model.safetensors").exists():
        logging.warning("no fine-tuned model %s: row skipped", run)
        return None
    tuned = load_model(run)
    return timed(sample, tuned, n, seed=seed, batch_size=64)


def row(
    objective: Combination,
    method: str,
    setting: float,
    layouts: list[nx.Graph],
    dt: float,
    base: dict,
    realism: Callable,
) -> dict:
    """One table row: objective value and change, realism, validity, time."""
    name = objective.names[0]
    values = [objective.values(G)[name] for G in layouts] if name in objective.names else []
    value = float(np.mean(values)) if values else float("nan")
    return {
        "objective": str(objective),
        "method": method,
        "setting": setting,
        "value": value,
        "score": float(np.mean(objective.scores(layouts))),
        "change_pct": 100.0 * (value - base["value"]) / abs(base["value"]) if values else None,
        "realism": realism(layouts),
        "validity": float(np.mean([is_valid(G) for G in layouts])),
        "nodes": float(np.mean([G.number_of_nodes() for G in layouts])),
        "s_per_layout": dt / len(layouts),
        "x_plain": dt / base["seconds"],
    }


def bench_objective(
    model: LayoutModel,
    objective: Combination,
    plan: list,
    args: Namespace,
    realism: Callable,
    real: list[nx.Graph],
) -> list[dict]:
    """All rows of one objective, printed as they come."""
    main_name = objective.names[0]
    real_value = float(np.mean([objective.values(G)[main_name] for G in real]))
    real_score = float(np.mean(objective.scores(real)))
    print(f"-- {objective}: real test tiles: {main_name} {real_value:.3f}, score {real_score:+.2f}")
    plain, dt = timed(sample, model, args.n, seed=args.seed, batch_size=64)
    base = {"value": float(np.mean([objective.values(G)[main_name] for G in plain])), "seconds": dt}
    rows = [row(objective, "unsteered", 0, plain, dt, base, realism)]
    print(fmt(rows[-1]), flush=True)
    for method, setting in plan:
        got = run_method(model, objective, method, setting, args)
        if got is None:
            continue
        rows.append(row(objective, method, setting, got[0], got[1], base, realism))
        print(fmt(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------------- output
COLUMNS = ("objective", 28), ("method", 10), ("set", 5), ("value", 9), ("change", 8), ("score", 7)
COLUMNS += ("realism", 8), ("valid", 6), ("nodes", 6), ("s/layout", 9), ("x plain", 8)
HEADER = " ".join(f"{c:{w}s}" if i < 2 else f"{c:>{w}s}" for i, (c, w) in enumerate(COLUMNS))


def fmt(r: dict) -> str:
    change = f"{r['change_pct']:+7.1f}%" if r["change_pct"] is not None else "       -"
    return (
        f"{r['objective']:28s} {r['method']:10s} {r['setting']:5g} {r['value']:9.3f} {change} "
        f"{r['score']:+7.2f} {r['realism']:8.2f} {r['validity']:6.0%} {r['nodes']:6.1f} "
        f"{r['s_per_layout']:9.3f} {r['x_plain']:8.1f}"
    )


def write_png(model: LayoutModel, path: Path, seed: int, k: int = 3) -> None:
    """The same seed unsteered and steered, side by side: one row per layout, one column per
    method (best-of-16 and SMC with 16 particles, for connectivity and for travel time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from export.plot import plot_layout

    cols = [("unsteered", sample(model, k, seed=seed, batch_size=64))]
    for name in ("connectivity", "travel_time"):
        objective = parse_objective(name)
        cols.append(
            (f"{name}: best-of-16", best_of_n(model, objective, k, seed, candidates=16).layouts)
        )
        cols.append(
            (f"{name}: SMC, 16 particles", smc(model, objective, k, seed, particles=16).layouts)
        )
    fig = Figure(figsize=(3.0 * len(cols), 3.1 * k))
    for i in range(k):
        for j, (title, layouts) in enumerate(cols):
            ax = fig.add_subplot(k, len(cols), i * len(cols) + j + 1)
            v = parse_objective("connectivity,travel_time").values(layouts[i])
            label = f"seed {seed} #{i}\nconn {v['connectivity']:.2f}, {v['travel_time']:.0f} s"
            plot_layout(ax, layouts[i], label=label, scale=0.5)
            if i == 0:
                ax.set_title(title, fontsize=9)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=80, bbox_inches="tight", facecolor="white")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", help="model directory (default: the shipped model, else the dev model)"
    )
    ap.add_argument("--data", default="/tmp/corpus_v2")
    ap.add_argument("--n", type=int, default=24, help="layouts per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run only this objective (results merge into the JSON)")
    ap.add_argument("--finetune-dir", default="/tmp/citygen_bench_finetune")
    ap.add_argument("--png", action="store_true", help="only write the side-by-side PNG")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model_dir = args.model or (
        str(DEFAULT_MODEL_DIR) if (DEFAULT_MODEL_DIR / "model.safetensors").exists() else DEV_MODEL
    )
    model = load_model(model_dir)
    if args.png:
        RESULTS.mkdir(exist_ok=True)
        write_png(model, RESULTS / "steering.png", args.seed)
        print(f"model {model_dir}: wrote {RESULTS / 'steering.png'}")
        return
    sample(model, 2, seed=12345)  # warm-up, so the first row's timing is fair
    realism, realism_name = make_realism(args.data)
    real = [t.layout() for t in load_dataset(args.data).tiles("test")]
    print(
        f"model {model_dir}; n={args.n} layouts per row, seed {args.seed}; realism: {realism_name}"
    )
    print(HEADER)
    out = RESULTS / "steering.json"
    record = json.loads(out.read_text()) if out.exists() and args.only else {"rows": {}}
    for names, weights, plan in PLAN:
        if args.only and names != args.only:
            continue
        objective = parse_objective(names, weights)
        record["rows"][names] = bench_objective(model, objective, plan, args, realism, real)
    record |= {
        "model": model_dir,
        "n": args.n,
        "seed": args.seed,
        "realism": realism_name,
        "device": "cpu (1 thread)",
        "targets": {
            "connectivity_pct": 30,
            "travel_time_pct": -20,
            "realism_max": 3.0,
            "best_of_16_x_plain": 20,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
