"""Fault test: ``citygen generate`` killed at random points never leaves a mixed run folder.

Bounded and seeded: one complete run, then 4 runs with --overwrite killed (SIGKILL) at
random points, half of them while the run writes its files, then one clean run; about 30 s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from export.run import MANIFEST, verify_run

ROOT = Path(__file__).resolve().parents[1]
KILLS = 4


def _command(out: Path, seed: int, n: int, overwrite: bool = True) -> list[str]:
    return [
        sys.executable, "-m", "citygen", "generate", "--n", str(n), "--seed", str(seed),
        "--format", "geojson,png", "--no-progress", "--out", str(out),
    ] + (["--overwrite"] if overwrite else [])  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def assert_whole_run(folder: Path) -> dict:
    """One run's files exactly, each with the SHA-256 its manifest records."""
    manifest = verify_run(folder)
    assert sorted(os.listdir(folder)) == sorted([*manifest["files"], MANIFEST])
    return manifest


def _wait_for_temporary(parent: Path, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".run.citygen-tmp-") for p in parent.iterdir()):
            return
        time.sleep(0.01)


def _visible(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if not p.name.startswith("."))


def test_killed_generate_leaves_the_old_run_or_the_new_one(tmp_path):
    out = tmp_path / "run"
    t0 = time.monotonic()
    subprocess.run(_command(out, 0, 2), env=_env(), check=True, capture_output=True, timeout=120)
    duration = time.monotonic() - t0
    seeds = {assert_whole_run(out)["seed"]}
    rng = random.Random(15)
    outcomes = []
    for k in range(1, KILLS + 1):
        n = 2 + k % 2  # runs of 2 and 3 layouts: a mix would show in the file list
        proc = subprocess.Popen(
            _command(out, k, n), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if k % 2:  # anywhere in the run
            time.sleep(rng.uniform(0.3, 1.1) * duration)
        else:  # while it writes its files: once its temporary folder appears
            _wait_for_temporary(tmp_path, proc, deadline=time.monotonic() + 3 * duration)
            time.sleep(rng.uniform(0.0, 0.5))
        writing = any(p.name.startswith(".run.citygen-tmp-") for p in tmp_path.iterdir())
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        manifest = assert_whole_run(out)  # exactly one run's files, each as its manifest says
        assert manifest["seed"] in seeds | {k}
        assert len([f for f in manifest["files"] if f.endswith(".geojson")]) == manifest["n"]
        assert _visible(tmp_path) == ["run"]  # temporaries are hidden, never taken for a run
        won = "new" if manifest["seed"] == k else "old"
        outcomes.append(f"{won} ({'finished' if finished else 'writing' if writing else 'killed'})")
        seeds = {manifest["seed"]}
    print("outcomes after each kill:", outcomes)
    subprocess.run(_command(out, 99, 2), env=_env(), check=True, capture_output=True, timeout=120)
    assert assert_whole_run(out)["seed"] == 99
    assert [p.name for p in tmp_path.iterdir()] == ["run"], outcomes  # killed runs cleaned up


def test_two_concurrent_runs_into_one_folder_never_mix(tmp_path):
    out = tmp_path / "run"
    cmds = [_command(out, seed, n, overwrite=False) for seed, n in ((1, 2), (2, 3))]
    procs = [
        subprocess.Popen(c, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cmds
    ]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "holds an earlier run" in loser.strip().splitlines()[-1]
    assert "Traceback" not in loser
    manifest = assert_whole_run(out)
    winner = next(i for i, (code, _) in enumerate(results) if code == 0)
    assert manifest["seed"] == winner + 1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
