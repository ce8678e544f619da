"""Benchmark: training the default model on the shared OSM corpus, whole process.

Targets (issue 4): under 15 minutes on 2 CPU cores, peak memory under 4 GB. Prepares the corpus
with ``citygen prepare`` first if no data set is given (not timed).

    python bench/train.py [--data DATA_DIR] [--epochs 30] [--out RUN_DIR] [--threads 1]
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
    ap.add_argument("--epochs", default="30")
    ap.add_argument("--out", help="run directory (default: a temporary one)")
    ap.add_argument("--threads", default="1", help="citygen train --threads (default 1, as the CLI)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    data = corpus_data(args.data, tmp.name)
    out = args.out or str(Path(tmp.name) / "run")
    wall, peak_gb, _ = run_timed(citygen_cmd("train", "--data", data, "--out", out, "--epochs", args.epochs,
                                             "--device", "cpu", "--threads", args.threads, "--no-progress"))
    cfg = json.loads((Path(out) / "config.json").read_text())
    print(f"citygen train --epochs {args.epochs} --threads {args.threads} (2 CPU cores): {wall / 60:.1f} min, peak RSS {peak_gb:.2f} GB, "
          f"{cfg['steps']} steps, final validation NLL {cfg['final_val_nll']:.3f} nats/node")
    path = save("train", {"epochs": int(args.epochs), "threads": int(args.threads), "wall_min": round(wall / 60, 2), "peak_rss_gb": round(peak_gb, 3),
                          "steps": cfg["steps"], "final_val_nll": cfg["final_val_nll"],
                          "targets": {"wall_min": 15, "peak_rss_gb": 4}})
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
