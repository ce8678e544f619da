"""Benchmark: one connected network over a 5 x 5 km area, and SUMO on it as a user runs it.

Targets (issue 13): at least 95% of the street length in one connected piece, no seam defects,
whole process under 60 s on 2 CPU cores, memory reported, km2/s at 1, 25 and 100 km2; SUMO:
netconvert of the area's OSM XML, then randomTrips.py and duarouter, at least 90% of the random
trips routable (``--no-validate``: randomTrips.py otherwise drops the unroutable trips itself
and draws new ones, so every trip it writes is routable). The machine load (``/proc/loadavg``)
is recorded beside every time.

    python bench/area.py [--seed 0] [--trips 1000] [--no-curve] [--name area]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import citygen_cmd, run_timed, save


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def sumo_tool(name: str) -> list[str]:
    """Command of a SUMO binary (beside this interpreter) or tool script (sumo/tools)."""
    if name.endswith(".py"):
        import sumo

        return [sys.executable, str(Path(sumo.__file__).parent / "tools" / name)]
    return [str(Path(sys.executable).parent / name)]


def sumo_routable(osm: Path, work: Path, trips: int, seed: int) -> dict:
    """netconvert, randomTrips.py and duarouter on an OSM file; the share of routable trips."""
    net, trip_file, routes = work / "area.net.xml", work / "area.trips.xml", work / "area.rou.xml"
    env = {**os.environ, "SUMO_HOME": str(Path(sumo_tool("randomTrips.py")[1]).parents[1])}
    steps = [
        [*sumo_tool("netconvert"), "--osm-files", str(osm), "-o", str(net)],
        [
            *sumo_tool("randomTrips.py"),
            "-n",
            str(net),
            "-o",
            str(trip_file),
            "-e",
            str(trips),
            "-p",
            "1",
            "--seed",
            str(seed),
            "--no-validate",
        ],
        [
            *sumo_tool("duarouter"),
            "-n",
            str(net),
            "-r",
            str(trip_file),
            "-o",
            str(routes),
            "--ignore-errors",
            "--no-warnings",
            "--seed",
            str(seed),
        ],
    ]
    logs = []
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        logs.append(proc.stderr[-400:])
        if proc.returncode != 0:
            tool = Path(cmd[1] if cmd[0] == sys.executable else cmd[0]).name
            raise SystemExit(f"{tool} failed: {proc.stderr[-2000:]}")
    n_trips = len(re.findall(r"<trip ", trip_file.read_text()))
    n_routed = len(re.findall(r"<vehicle ", routes.read_text()))
    edges = len(re.findall(r'<edge id="(?!:)', net.read_text()))
    return {
        "trips": n_trips,
        "routed": n_routed,
        "routable_share": round(n_routed / max(n_trips, 1), 4),
        "net_edges": edges,
    }


def curve(seed: int, sides_km: list[int]) -> list[dict]:
    """km2/s of generate_area alone (model loaded, nothing written) for square areas."""
    from citygen.area import check_area, generate_area
    from citygen.model.checkpoint import load_model

    model = load_model()
    rows = []
    for km in sides_km:
        before = load()
        t0 = time.perf_counter()
        A = generate_area(model, km * 1000.0, km * 1000.0, seed=seed)
        dt = time.perf_counter() - t0
        report = check_area(A)
        s = A.graph["stats"]
        rows.append(
            {
                "km2": km * km,
                "seconds": round(dt, 2),
                "km2_per_s": round(km * km / dt, 3),
                "nodes": A.number_of_nodes(),
                "giant_length_share": s["giant_length_share"],
                "seam_defects": report.total,
                "load_before": before,
                "load_after": load(),
            }
        )
        print(
            f"  {km * km:4d} km2: {dt:6.1f} s = {km * km / dt:.2f} km2/s, "
            f"{A.number_of_nodes()} nodes, "
            f"largest piece {100 * s['giant_length_share']:.1f}%, {report} (load {before[0]:.1f})"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trips", type=int, default=1000)
    ap.add_argument("--no-curve", action="store_true")
    ap.add_argument("--name", default="area", help="result file bench/results/NAME.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "area"
        before = load()
        cmd = citygen_cmd(
            "generate",
            "--area",
            "5kmx5km",
            "--seed",
            str(args.seed),
            "--format",
            "all",
            "--out",
            str(out),
        )
        wall, peak_gb, stdout = run_timed(cmd, env={"OMP_NUM_THREADS": "2"})
        after = load()
        print(
            f"citygen generate --area 5kmx5km --format all (whole process): {wall:.1f} s, "
            f"peak RSS {peak_gb:.2f} GB, load {before[0]:.2f} -> {after[0]:.2f}"
        )
        print("  " + stdout.strip().replace("\n", "\n  "))
        meta = json.loads((out / "area.geojson").read_text())["citygen"]
        sumo = sumo_routable(out / "area.osm", Path(tmp), args.trips, args.seed)
    print(
        f"SUMO: {sumo['routed']} of {sumo['trips']} random trips routable "
        f"({100 * sumo['routable_share']:.1f}%), {sumo['net_edges']} net edges"
    )
    stats = meta["area_stats"]
    record = {
        "area_km": [5, 5],
        "seed": args.seed,
        "wall_s": round(wall, 2),
        "peak_rss_gb": round(peak_gb, 3),
        "load_before": before,
        "load_after": after,
        "cpus": os.cpu_count(),
        "giant_length_share": stats["giant_length_share"],
        "giant_length_share_before_connect": stats["giant_length_share_before_connect"],
        "seam_defects": meta["seam_defects"],
        "area_stats": stats,
        "sumo": sumo,
        "targets": {
            "giant_length_share": 0.95,
            "seam_defects": 0,
            "wall_s": 60,
            "routable_share": 0.9,
        },
        "python": sys.version.split()[0],
    }
    if not args.no_curve:
        record["curve"] = curve(args.seed, [1, 5, 10])
    path = save(args.name, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
