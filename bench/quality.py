"""Benchmark: the whole realism evaluation for n=200 layouts, and the table it measures.

Target (issue 6): ``citygen evaluate --n 200`` under 1 minute on 2 CPU cores (sampling with the
default model, statistics of model, floor and three baselines, validity, novelty). The report,
with the held-out cities' section when the data set has one, is recorded in
bench/results/quality.json (or ``--record NAME``) so later changes can be compared against it.

    python bench/quality.py [--data DATA_DIR] [--n 200] [--model RUN_DIR]

Without ``--data`` it prepares ../shared/data/osm first (not timed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _util import citygen_cmd, corpus_data, run_timed, save


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="a prepared data set (default: prepare ../shared/data/osm)")
    ap.add_argument("--n", default="200")
    ap.add_argument("--model", help="model directory (default: the shipped model)")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--record", default="quality", help="results file name (bench/results/NAME.json)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus_data(args.data, tmp)
        report = Path(tmp) / "report.json"
        cmd = citygen_cmd("evaluate", "--data", data, "--n", args.n, "--seed", args.seed, "--device", "cpu", "--json", str(report), "--no-progress")
        if args.model:
            cmd += ["--model", args.model]
        wall, peak_gb, stdout = run_timed(cmd)
        doc = json.loads(report.read_text())
    print(stdout.rstrip())
    print(f"citygen evaluate --n {args.n} (whole process, 2 CPU cores): {wall:.1f} s, peak RSS {peak_gb:.2f} GB")
    print(f"  stage timings (s): {doc['timings_s']}")
    path = save(args.record, {"wall_s": round(wall, 1), "peak_rss_gb": round(peak_gb, 3), "targets": {"wall_s": 60},
                            "table": stdout.rstrip().splitlines(), "report": doc})
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
