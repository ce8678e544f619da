"""Fault test: ``citygen prepare`` killed (SIGKILL) at seeded random instants into a good data set.

After every kill the folder must hold the previous data set or the new complete one, whole:
the manifest is one of the two, every shard it names matches its recorded SHA-256, and the
training split loads. A final rerun finishes the new data set exactly as an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import MANIFEST, load_dataset

ROOT = Path(__file__).resolve().parents[1]
KILLS = 4
SEED = 15
OLD = PrepareConfig(tile_size=300.0, block=1)
NEW = ["--tile-size", "250", "--block", "1"]


def files(root: Path) -> dict[str, bytes]:
    """Every file the data set holds (the staging folder of a killed run aside)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".staging/")
    }


def whole(root: Path) -> bytes:
    """The manifest of ``root`` after checking that the data set it describes is whole."""
    ds = load_dataset(root)
    assert ds.sequences("train")  # reads every shard, checking its sha256
    return (root / MANIFEST).read_bytes()


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, float]:
    """The old data set's files, the new one's from an uninterrupted run, and that run's time."""
    base = tmp_path_factory.mktemp("fault")
    prepare(make_sources(bundled="test"), base / "old", OLD, progress=False)
    new = base / "new"
    t0 = time.perf_counter()
    subprocess.run(command(new), cwd=ROOT, check=True, capture_output=True)
    return files(base / "old"), files(new), time.perf_counter() - t0


def command(out: Path) -> list[str]:
    """The prepare run that is killed."""
    return [sys.executable, "-m", "citygen", "prepare", "--bundled", "test", "--out", str(out),
            *NEW, "--no-progress"]  # fmt: skip


def test_prepare_killed_at_random_points_leaves_old_or_new_data_set(
    states: tuple[dict, dict, float], tmp_path: Path
) -> None:
    old, new, duration = states
    rng = random.Random(SEED)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    seen = []
    for k in range(KILLS):
        out = tmp_path / f"data{k}"  # a good data set, each time
        for name, data in old.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
        at = rng.uniform(0.0, duration)
        proc = subprocess.Popen(command(out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            proc.wait(timeout=at)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        manifest = whole(out)
        assert manifest in (old[MANIFEST], new[MANIFEST])
        state = old if manifest == old[MANIFEST] else new
        for name, data in files(out).items():  # every file the manifest may name is intact
            if name in state:
                assert data == state[name], name
        seen.append("old" if state is old else "new")
        print(f"kill after {at:.2f} s of {duration:.2f} s: {seen[-1]} data set")
        if k % 2:  # a rerun finishes what the killed run started, exactly
            done = subprocess.run(command(out), cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            assert files(out) == new
            assert not (out / ".staging").exists()
    assert len(seen) == KILLS
