"""Benchmark: ``citygen prepare`` on the shared OSM corpus, against osmnx alone, whole processes.

Targets (issue 3, on the first 13 files): the corpus in under 2 minutes on 2 CPU cores, and at
most 1.5 times the time osmnx alone takes for the same load + project + consolidate. Both sides
are timed as whole processes (interpreter start and imports included) over the same files with
the same parallelism: Dask, one task per file (``--scheduler threads`` or ``processes``; the
55-file corpus is prepared with processes and the held-out cities, as bench/_util says).
``--citygen-only`` times ``citygen prepare`` alone.

The osmnx-alone side, per file: the same loader ``citygen prepare`` uses (osmnx's
``graph_from_xml`` for .osm/.osm.gz/.osm.bz2, pyrosm for .pbf, which osmnx cannot read), the same
``drive_service`` way filter (what osmnx's Overpass query applies when it downloads), then
``ox.simplify_graph``, ``ox.project_graph`` and ``ox.consolidate_intersections`` with the same
tolerance. ``citygen prepare`` does all that and also straightens, tiles, orders and writes.

    python bench/prepare.py [--osm DIR] [--tolerance 10] [--scheduler processes] [--citygen-only]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _util import CORPUS, HOLDOUT, citygen_cmd, run_timed, save

REPO = Path(__file__).resolve().parents[1]


def osmnx_alone(folder: str, tolerance: float, scheduler: str) -> None:
    """Load, filter, simplify, project and consolidate every file (Dask threads); print counts."""
    import warnings

    import dask
    import osmnx as ox

    from data_prep.clean import drivable
    from data_prep.load import find_osm_files, load_file

    def one(path: Path) -> tuple[str, int, int]:
        G = drivable(load_file(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.simplify_graph(G)
            G = ox.project_graph(G)
            G = ox.consolidate_intersections(
                G, tolerance=tolerance, rebuild_graph=True, dead_ends=True, reconnect_edges=True
            )
        return path.name, G.number_of_nodes(), G.number_of_edges()

    tasks = [dask.delayed(one)(p) for p in find_osm_files(folder)]
    for name, n, m in dask.compute(*tasks, scheduler=scheduler):
        print(f"{name}: {n} nodes, {m} edges")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osm", default=str(CORPUS), help="folder of OSM files (default: the corpus)")
    ap.add_argument("--tolerance", type=float, default=10.0, help="consolidation tolerance, m")
    ap.add_argument("--scheduler", default="processes", help="dask scheduler for both sides")
    ap.add_argument("--citygen-only", action="store_true", help="time citygen prepare alone")
    ap.add_argument("--osmnx-only", action="store_true", help=argparse.SUPPRESS)  # the child
    args = ap.parse_args()
    if args.osmnx_only:
        osmnx_alone(args.osm, args.tolerance, args.scheduler)
        return
    files = sorted(
        p.name for p in Path(args.osm).iterdir() if p.is_file() and p.name != "README.md"
    )
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    }
    base_cmd = [sys.executable, str(Path(__file__).resolve()), "--osm", args.osm,
                "--tolerance", str(args.tolerance), "--scheduler", args.scheduler,
                "--osmnx-only"]  # fmt: skip
    base_wall, base_gb = (float("nan"), float("nan"))
    if not args.citygen_only:
        base_wall, base_gb, _ = run_timed(base_cmd, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "corpus")
        cmd = citygen_cmd(
            "prepare",
            "--osm",
            args.osm,
            "--out",
            out,
            "--tolerance",
            str(args.tolerance),
            "--scheduler",
            args.scheduler,
            *(("--holdout-regions", HOLDOUT) if Path(args.osm) == CORPUS else ()),
            "--no-progress",
        )
        wall, peak_gb, stdout = run_timed(cmd, env=env)
    ratio = wall / base_wall
    cores = len(os.sched_getaffinity(0))
    print(f"corpus: {len(files)} files in {args.osm}; {cores} CPU cores; Dask {args.scheduler}")
    print(f"citygen prepare (whole process):      {wall:6.1f} s, peak RSS {peak_gb:.2f} GB")
    print(f"osmnx alone, load+project+consolidate: {base_wall:6.1f} s, peak RSS {base_gb:.2f} GB")
    print(f"ratio citygen / osmnx: {ratio:.2f} (targets: corpus < 120 s, ratio < 1.5)")
    print("  " + stdout.strip())
    record = {
        "files": len(files),
        "cpu_cores": cores,
        "parallelism": f"dask {args.scheduler}, one task per file (both)",
        "tolerance_m": args.tolerance,
        "citygen_prepare_s": round(wall, 2),
        "osmnx_alone_s": None if args.citygen_only else round(base_wall, 2),
        "ratio": None if args.citygen_only else round(ratio, 3),
        "citygen_peak_rss_gb": round(peak_gb, 3),
        "summary": stdout.strip(),
        "targets": {"citygen_prepare_s": 120, "ratio": 1.5},
        "python": sys.version.split()[0],
    }
    path = save("prepare", record)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
