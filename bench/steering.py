"""Benchmark: what steering buys in objective and costs in realism (issue 7), as a Pareto table.

For each objective and method (best-of-N, SMC, fine-tuning; two settings each) it samples
``--n`` layouts and reports the objective's mean against unsteered sampling with the same
seed, the realism score against the test split of the corpus, validity (planar, minimum node
distance, no duplicate streets) and the time per layout. Also writes a PNG: the same seeds
unsteered and steered, side by side.

Realism is the score of ``citygen evaluate`` (:func:`citygen.metrics.realism_scorer`: mean
over street statistics of distance to the test split over the real-vs-real floor; 1.0 is as
real as real). Settings: best-of-n ``N=`` candidates, smc ``P=`` particles and ``b=`` beta,
finetune ``kl=``; ``r=`` is the weight of the realism term (:mod:`citygen.objectives.typicality`),
0 when absent, and the ``typical`` column is the rows' mean typicality.

    python bench/steering.py [--model RUN_DIR] [--data DATA_DIR] [--n 24] [--only travel_time]
    python bench/steering.py --n 64 --rows best-of-n:N=16   # a larger-n check of some rows
    citygen finetune --objective connectivity --kl 0.1 --out DIR/connectivity_kl0.1 ...

Fine-tuned rows read models from ``--finetune-dir`` (``{objective}_kl{kl}``, with ``_r{r}``
for ``r=``, written by ``citygen finetune``); missing ones are skipped. Results merge into
``bench/results/steering.json`` (``--results NAME`` for another file, e.g. to run two
objectives side by side) so subsets can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from argparse import Namespace
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch
from _util import RESULTS

from citygen.metrics import realism_scorer
from citygen.model.checkpoint import DEFAULT_MODEL_DIR, load_model
from citygen.model.network import LayoutModel
from citygen.objectives import Combination, best_of_n, parse_objective, smc
from citygen.objectives.smc import DEFAULT_BETA
from citygen.objectives.typicality import default_reference
from citygen.objectives.validity import is_valid
from citygen.sampling.loop import sample
from data_prep.shards import load_dataset

#: (objective, weights, methods and settings) rows of the table.
#: Settings: best-of-n ``N=``; smc ``P=`` particles and ``b=`` beta; finetune ``kl=``.
BASIC = [
    ("best-of-n", "N=4"),
    ("best-of-n", "N=8"),
    ("best-of-n", "N=16"),
    ("smc", "P=4"),
    ("smc", "P=16"),
    ("smc", "P=16,b=16"),
]
FINETUNE = [("finetune", "kl=0.1"), ("finetune", "kl=1"), ("finetune", "kl=1,r=0.5")]
#: With the realism term (``r=`` its weight; rows without ``r`` steer on the objective alone).
REALISM = [
    ("best-of-n", "N=16,r=0.25"),
    ("best-of-n", "N=16,r=0.5"),
    ("best-of-n", "N=32,r=0.25"),
    ("best-of-n", "N=32,r=0.5"),
    ("best-of-n", "N=64,r=1"),
    ("smc", "P=16,b=16,r=0.5"),
    ("smc", "P=16,b=16,r=1"),
    ("smc", "P=32,b=16,r=1"),
]
PLAN: list[tuple[str, str | None, list[tuple[str, str]]]] = [
    ("connectivity", None, BASIC + FINETUNE + REALISM),
    ("travel_time", None, BASIC + FINETUNE + REALISM),
    ("connectivity,travel_time", "1,0.5", [("best-of-n", "N=16"), ("smc", "P=16")]),
    ("length", None, [("best-of-n", "N=16")]),
]


def parse_setting(text: str) -> dict[str, float]:
    """``"P=16,b=16"`` -> ``{"P": 16.0, "b": 16.0}``."""
    return {k: float(v) for k, v in (item.split("=") for item in text.split(","))}


# ---------------------------------------------------------------------------------- realism
def make_realism(data_dir: str) -> Callable[[list[nx.Graph]], float]:
    """The realism score of ``citygen evaluate`` against the test split of ``data_dir``."""
    return realism_scorer(load_dataset(data_dir))


# ----------------------------------------------------------------------------------- runs
def timed(fn: Callable, *args: object, **kw: object) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def run_method(
    model: LayoutModel, objective: Combination, method: str, setting: str, args: Namespace
) -> tuple[list[nx.Graph], float] | None:
    """Layouts and seconds for one row; None if a fine-tuned model is missing."""
    n, seed, ft_dir, s = args.n, args.seed, Path(args.finetune_dir), parse_setting(setting)
    objective = replace(objective, realism=s.get("r", 0.0))
    if method == "best-of-n":
        res, dt = timed(best_of_n, model, objective, n, seed, candidates=int(s["N"]), batch_size=64)
        return res.layouts, dt
    if method == "smc":
        kw = {"particles": int(s["P"]), "beta": s.get("b", DEFAULT_BETA), "batch_size": 64}
        res, dt = timed(smc, model, objective, n, seed, **kw)
        return res.layouts, dt
    name = objective.names[0] if len(objective.names) == 1 else "combo"
    tag = f"_r{s['r']:g}" if "r" in s else ""  # fine-tuned with the realism term in the reward
    run = ft_dir / f"{name}_kl{s['kl']:g}{tag}"
    if not (run / "model.safetensors").exists():
        logging.warning("no fine-tuned model %s: row skipped", run)
        return None
    tuned = load_model(run)
    return timed(sample, tuned, n, seed=seed, batch_size=64)


def row(
    objective: Combination,
    method: str,
    setting: str,
    layouts: list[nx.Graph],
    dt: float,
    base: dict,
    realism: Callable,
) -> dict:
    """One table row: objective value and change, realism, validity, time."""
    per = [objective.values(G) for G in layouts]
    means = {k: float(np.mean([v[k] for v in per])) for k in objective.names}
    change = {k: 100.0 * (means[k] - base["values"][k]) / abs(base["values"][k]) for k in means}
    first = objective.names[0]
    return {
        "objective": str(objective),
        "method": method,
        "setting": setting,
        "value": means[first],
        "values": means,
        "score": float(np.mean(objective.scores(layouts))),
        "change_pct": change[first],
        "changes_pct": change,
        "realism": realism(layouts),
        "validity": float(np.mean([is_valid(G) for G in layouts])),
        "typicality": float(np.mean([default_reference()(G) for G in layouts])),
        "nodes": float(np.mean([G.number_of_nodes() for G in layouts])),
        "n": len(layouts),
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
    per = [objective.values(G) for G in plain]
    base = {
        "values": {k: float(np.mean([v[k] for v in per])) for k in objective.names},
        "seconds": dt,
    }
    rows = [row(objective, "unsteered", "-", plain, dt, base, realism)]
    print(fmt(rows[-1]), flush=True)
    for method, setting in plan:
        got = run_method(model, objective, method, setting, args)
        if got is None:
            continue
        rows.append(row(objective, method, setting, got[0], got[1], base, realism))
        print(fmt(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------------- output
COLUMNS = (
    ("objective", 28),
    ("method", 10),
    ("setting", 9),
    ("value", 9),
    ("change", 8),
    ("score", 7),
)
COLUMNS += (
    ("realism", 8),
    ("typical", 7),
    ("valid", 6),
    ("nodes", 6),
    ("s/layout", 9),
    ("x plain", 8),
)
HEADER = " ".join(f"{c:{w}s}" if i < 2 else f"{c:>{w}s}" for i, (c, w) in enumerate(COLUMNS))


def fmt(r: dict) -> str:
    """One printed table row; for combinations, the other objectives' values follow."""
    name = "+".join(r["values"])[:28]
    others = [f"{k} {v:.1f} ({r['changes_pct'][k]:+.1f}%)" for k, v in r["values"].items()][1:]
    return (
        f"{name:28s} {r['method']:10s} {r['setting']:>9s} {r['value']:9.3f} "
        f"{r['change_pct']:+7.1f}% {r['score']:+7.2f} {r['realism']:8.2f} "
        f"{r.get('typicality', float('nan')):7.2f} {r['validity']:6.0%} "
        f"{r['nodes']:6.1f} {r['s_per_layout']:9.3f} {r['x_plain']:8.1f}  " + ", ".join(others)
    )


def write_png(model: LayoutModel, path: Path, seed: int, k: int = 3) -> None:
    """The same seed unsteered and steered, side by side: one row per layout, one column per
    method, each objective without and with the realism term (the rows that meet the targets)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from export.plot import plot_layout

    conn = [parse_objective("connectivity", realism=r) for r in (0.0, 0.5)]
    tt = [parse_objective("travel_time", realism=r) for r in (0.0, 0.5)]
    cols = [
        ("unsteered", sample(model, k, seed=seed, batch_size=64)),
        ("connectivity: best-of-32", best_of_n(model, conn[0], k, seed, candidates=32).layouts),
        (
            "connectivity: best-of-32,\nrealism 0.5",
            best_of_n(model, conn[1], k, seed, candidates=32).layouts,
        ),
        ("travel time: SMC 16, beta 16", smc(model, tt[0], k, seed, beta=16.0).layouts),
        (
            "travel time: SMC 16, beta 16,\nrealism 0.5",
            smc(model, tt[1], k, seed, beta=16.0).layouts,
        ),
    ]
    fig = Figure(figsize=(3.0 * len(cols), 3.1 * k))
    for i in range(k):
        for j, (title, layouts) in enumerate(cols):
            ax = fig.add_subplot(k, len(cols), i * len(cols) + j + 1)
            v = parse_objective("connectivity,travel_time").values(layouts[i])
            label = (
                f"seed {seed} #{i}\nconn {v['connectivity']:.2f}, {v['travel_time']:.0f} s, "
                f"typ. {v['typicality']:.1f}"
            )
            plot_layout(ax, layouts[i], label=label, scale=0.5)
            if i == 0:
                ax.set_title(title, fontsize=9)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=80, bbox_inches="tight", facecolor="white")


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Rows of ``old`` with those of ``new`` replacing the same (method, setting), in plan order.

    Each row keeps the time ratio of its own run (``x_plain``: against the unsteered sampling
    of the same run), so merged rows stay ratios measured in one run.
    """
    order = [("unsteered", "-")] + [(m, s) for *_, plan in PLAN for m, s in plan]
    rows = {(r["method"], r["setting"]): r for r in old} | {
        (r["method"], r["setting"]): r for r in new
    }
    return sorted(rows.values(), key=lambda r: order.index((r["method"], r["setting"])))


def print_table(record: dict) -> None:
    """Print every recorded row (all objectives) with the run's facts."""
    print(
        f"model {record['model']}; n={record['n']} layouts per row, seed {record['seed']}; "
        f"realism: {record['realism']}; {record['device']}"
    )
    print(HEADER)
    for key, rows in record["rows"].items():
        print(f"-- {key} ({rows[0]['objective']}, n={rows[0].get('n', record['n'])} per row)")
        for r in rows:
            print(fmt(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: the shipped model)")
    ap.add_argument("--data", default="/tmp/corpus_v2")
    ap.add_argument("--n", type=int, default=24, help="layouts per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run only this objective (results merge into the JSON)")
    ap.add_argument(
        "--rows",
        nargs="+",
        metavar="METHOD:SETTING",
        help="run only these rows of the plan (e.g. best-of-n:N=16 smc:P=16,b=16): they replace "
        "the same rows of the table, or at another --n go under '{objective} [n=N]'",
    )
    ap.add_argument("--finetune-dir", default="/tmp/citygen_bench_finetune")
    ap.add_argument("--results", default="steering", help="results file name (bench/results)")
    ap.add_argument("--png", action="store_true", help="only write the side-by-side PNG")
    ap.add_argument("--table", action="store_true", help="only print the recorded table")
    args = ap.parse_args()
    if args.table:
        print_table(json.loads((RESULTS / "steering.json").read_text()))
        return
    torch.set_num_threads(1)
    model_dir = args.model or str(DEFAULT_MODEL_DIR)
    model = load_model(model_dir)
    if args.png:
        RESULTS.mkdir(exist_ok=True)
        write_png(model, RESULTS / "steering.png", args.seed)
        print(f"model {model_dir}: wrote {RESULTS / 'steering.png'}")
        return
    sample(model, 2, seed=12345)  # warm-up, so the first row's timing is fair
    realism, realism_name = make_realism(args.data), "citygen.metrics (realism_scorer)"
    real = [t.layout() for t in load_dataset(args.data).tiles("test")]
    print(
        f"model {model_dir}; n={args.n} layouts per row, seed {args.seed}; realism: {realism_name}"
    )
    print(HEADER)
    out = RESULTS / f"{args.results}.json"
    merge = out.exists() and (args.only or args.rows)
    record = json.loads(out.read_text()) if merge else {"rows": {}}
    for names, weights, plan in PLAN:
        if args.only and names != args.only:
            continue
        objective = parse_objective(names, weights, realism=0.0)  # rows set their own
        key = names
        if args.rows:
            plan = [(m, st) for m, st in plan if f"{m}:{st}" in args.rows]
            key = names if args.n == record.get("n") else f"{names} [n={args.n}]"
        rows = bench_objective(model, objective, plan, args, realism, real)
        record["rows"][key] = merge_rows(record["rows"].get(key, []), rows)
    if not args.rows:
        record["n"] = args.n  # the main table's n; --rows checks carry theirs in each row
    record |= {
        "model": model_dir,
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
