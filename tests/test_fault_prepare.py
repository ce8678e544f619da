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
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The files of the old data set and of the new one made by an uninterrupted run."""
    base = tmp_path_factory.mktemp("fault")
    prepare(make_sources(bundled="test"), base / "old", OLD, progress=False)
    new = base / "new"
    subprocess.run(command(new), cwd=ROOT, check=True, capture_output=True)
    return files(base / "old"), files(new)


def command(out: Path) -> list[str]:
    """The prepare run that is killed."""
    return [sys.executable, "-m", "citygen", "prepare", "--bundled", "test", "--out", str(out),
            *NEW, "--no-progress"]  # fmt: skip


def test_prepare_killed_at_random_points_leaves_old_or_new_data_set(
    states: tuple[dict, dict], tmp_path: Path
) -> None:
    old, new = states
    out = tmp_path / "data"
    out.mkdir()
    for name, data in old.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    t0 = time.perf_counter()
    subprocess.run(command(tmp_path / "timing"), cwd=ROOT, check=True, capture_output=True)
    duration = time.perf_counter() - t0
    rng = random.Random(SEED)
    seen = []
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for _ in range(KILLS):
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
        for name, data in files(out).items():  # no file of a half-swapped run is named
            if name in state:
                assert data == state[name], name
        seen.append("old" if state is old else "new")
    done = subprocess.run(command(out), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert files(out) == new
    assert not (out / ".staging").exists()
    assert len(seen) == KILLS
