"""Benchmark: whole-process ``citygen generate --format graphml``, this code against a base.

Issue 14: at least 25 tiles (km2) per second on 2 CPU cores, and not more than 1.5x slower
while another process keeps one core busy. Each configuration runs as a fresh process (model
load, sampling, GraphML files); old and new runs alternate, since the machine is shared and
its load drifts. Reported per run: wall seconds, tiles/s, CPU seconds (user + system of the
process and its workers), tiles per CPU-second and the peak RSS of the largest process.

    python bench/generate.py [--n 256 1024] [--base /path/to/old/worktree] [--workers 2]
        [--busy] [--device cpu|cuda]

``--base`` is a checkout of the code to compare with (``git worktree add ../h3-base dfc0d79``);
it runs with ``PYTHONPATH`` set to it and the same ``--workers`` (a base without that option
cannot be compared this way). ``--busy`` repeats the runs beside a busy loop.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import save

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    """The load averages now (``/proc/loadavg``: 1, 5 and 15 minutes)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(
    code: Path, n: int, workers: int | None, device: str, threads: int | None = None,
    batch_size: int | None = None,
) -> dict:
    """One whole ``citygen generate`` process; its wall time, CPU time and peak memory."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "citygen", "generate", "--n", str(n), "--seed", "0",
               "--format", "graphml", "--device", device, "--out", out]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        if batch_size is not None:
            cmd += ["--batch-size", str(batch_size)]
        drop = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch's own default, as a user runs it
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["PYTHONPATH"] = str(code)
        if threads is not None:  # the old code's torch threads (default: torch's own)
            env["OMP_NUM_THREADS"] = str(threads)
        t0 = time.perf_counter()
        pipe = subprocess.PIPE
        proc = subprocess.Popen(cmd, env=env, cwd=code, stdout=pipe, stderr=pipe)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
        files = len(list(Path(out).glob("*.graphml")))
    if files != n:
        raise SystemExit(f"{code}: expected {n} GraphML files, found {files}")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "wall_s": round(wall, 2),
        "tiles_per_s": round(n / wall, 2),
        "cpu_s": round(cpu, 2),
        "tiles_per_cpu_s": round(n / cpu, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 3),
    }


def busy_loop() -> subprocess.Popen:
    """A process that keeps one core busy until it is stopped."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--base", help="checkout of the code to compare with (None: new code only)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the new code")
    ap.add_argument("--busy", action="store_true", help="also run beside a busy loop")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--base-threads", type=int, help="OMP_NUM_THREADS of the base code's runs")
    ap.add_argument("--batch-size", type=int, help="--batch-size of every run (default: each code's own)")
    ap.add_argument("--no-one-worker", action="store_true", help="skip the one-worker runs")
    args = ap.parse_args()
    configs = [("new", ROOT, args.workers)] + ([] if args.no_one_worker else [("new_1_worker", ROOT, 1)])
    if args.base:
        # the same worker processes as the new code: the ratio is the code's, not the workers'
        configs.insert(1, ("old", Path(args.base).resolve(), args.workers))
    rows = []
    for n in args.n:
        for busy in (False, True) if args.busy else (False,):
            loop = busy_loop() if busy else None
            try:
                for name, code, workers in configs:
                    before = load()
                    threads = args.base_threads if name == "old" else None
                    r = {"code": name, "n": n, "busy_core": busy, "workers": workers or 0,
                         "base_threads": threads, "batch_size": args.batch_size,
                         "load_before": before,
                         **run(code, n, workers, args.device, threads, args.batch_size)}
                    r["load_after"] = load()
                    rows.append(r)
                    save(f"generate_{args.device}", {"runs": rows, "partial": True})
                    print(
                        f"n={n} busy={busy} {name:13s} {r['wall_s']:7.1f} s "
                        f"{r['tiles_per_s']:6.2f} tiles/s {r['tiles_per_cpu_s']:6.2f} tiles/CPU-s "
                        f"peak {r['peak_rss_gb']:.2f} GB (load {before} -> {r['load_after']})",
                        flush=True,
                    )
            finally:
                if loop is not None:
                    loop.kill()
                    loop.wait()
    ratios = {}
    for n in args.n:
        def wall(name: str, busy: bool, n: int = n) -> float | None:
            got = [
                r["wall_s"]
                for r in rows
                if r["code"] == name and r["n"] == n and r["busy_core"] == busy
            ]
            return got[0] if got else None

        for busy in (False, True):
            new, old = wall("new", busy), wall("old", busy)
            if new and old:
                ratios[f"speedup_vs_old_n{n}{'_busy' if busy else ''}"] = round(old / new, 2)
        for name in ("new", "new_1_worker", "old"):
            idle, busy_wall = wall(name, False), wall(name, True)
            if idle and busy_wall:
                ratios[f"slowdown_busy_{name}_n{n}"] = round(busy_wall / idle, 2)
    for k, v in ratios.items():
        print(f"{k}: {v}")
    record = {"device": args.device, "runs": rows, "ratios": ratios, "base": args.base,
              "target_tiles_per_s": 25, "target_busy_slowdown": 1.5, "cpu_count": os.cpu_count(),
              "python": sys.version.split()[0]}
    print(f"recorded in {save(f'generate_{args.device}', record)}")


if __name__ == "__main__":
    main()
