"""Helpers shared by the benchmark scripts: timed child processes and result files."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: The shared OSM corpus (55 extracts), read in place.
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
#: Whole cities held out of training (7 cities, 6 continents' worth of street styles: Europe,
#: North and South America, Africa, two in Asia, Oceania); realism on them decides model changes.
HOLDOUT = "prague,boston-cambridge,bogota,johannesburg,bishkek,makati,auckland"
#: How the corpus is prepared: worker processes (osmnx's consolidation holds the GIL).
PREPARE_ARGS = ("--scheduler", "processes", "--holdout-regions", HOLDOUT)


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; return wall seconds, the child's peak RSS in GB, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far; each bench runs its biggest child last
    return wall, max(peak_kb, before) / 1024**2, proc.stdout


def save(name: str, record: dict) -> Path:
    """Write a benchmark record to bench/results/NAME.json (pretty, key-sorted)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def citygen_cmd(*args: str) -> list[str]:
    """The citygen command line run with this interpreter."""
    return [sys.executable, "-m", "citygen", *args]


def corpus_data(data: str | None, tmp: str | Path) -> str:
    """``data`` if given, else the corpus prepared with ``citygen prepare`` into ``tmp``."""
    if data:
        return data
    out = str(Path(tmp) / "corpus")
    run_timed(citygen_cmd("prepare", "--osm", str(CORPUS), "--out", out, *PREPARE_ARGS, "--no-progress"))
    return out
