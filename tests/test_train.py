"""Training: exact resume after kill -9, data-parallel ranks agree, bad checkpoints fail."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citygen.errors import CheckpointError
from citygen.model.checkpoint import load_model
from data_prep.prepare import PrepareConfig, make_sources, prepare

TINY = ["--d-model", "16", "--layers", "1", "--heads", "2", "--window", "48", "--batch-size", "4",
        "--windows", "4", "--realism-samples", "0", "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "ds"
    prepare(make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False)
    return out


def citygen(*args, **kw):
    return subprocess.run([sys.executable, "-m", "citygen", *args], env=ENV, capture_output=True, text=True, **kw)


@pytest.mark.parametrize("extra", [[], ["--context-noise", "5"]], ids=["exact", "context-noise"])
def test_resume_after_kill_is_bit_identical(data, tmp_path, extra):
    args = ["train", "--data", str(data), "--epochs", "6", "--checkpoint-every", "3", *TINY, *extra]
    full = citygen(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "citygen", *args, "--out", str(run)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "latest").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads((tmp_path / "full" / "config.json").read_text())
    assert (run / "checkpoints" / "latest").exists(), "no checkpoint before the kill"
    killed_at = (run / "checkpoints" / "latest").read_text().strip()
    assert killed_at < f"step-{state['steps']:08d}", "the run finished before it was killed"
    resumed = citygen(*args, "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = (tmp_path / "full" / "model.safetensors").read_bytes()
    b = (run / "model.safetensors").read_bytes()
    assert a == b
    # the loss curve is the same as well (records after the checkpoint were dropped, redone)
    la = [json.loads(x)["nll"] for x in (tmp_path / "full" / "log.jsonl").read_text().splitlines() if '"nll"' in x]
    lb = [json.loads(x)["nll"] for x in (run / "log.jsonl").read_text().splitlines() if '"nll"' in x]
    assert la == lb
    assert (run / "curves.png").stat().st_size > 1000


def test_training_writes_a_loadable_model_with_provenance(data, tmp_path):
    r = citygen("train", "--data", str(data), "--epochs", "2", "--out", str(tmp_path / "r"), *TINY)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["status"] == "complete"
    assert len(cfg["data"]["manifest_sha256"]) == 64
    assert cfg["final_val_nll"] is not None
    log = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert any(x.get("kind") == "epoch" for x in log)
    model = load_model(tmp_path / "r")
    assert model.config.d_model == 16


@pytest.mark.skipif(shutil.which("torchrun") is None and not Path(sys.executable).with_name("torchrun").exists(),
                    reason="torchrun not installed")
def test_two_process_data_parallel_ranks_agree(data, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    env = {**ENV, "CITYGEN_DIST_BACKEND": "gloo"}
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "citygen", "train",
                        "--data", str(data), "--epochs", "2", "--out", str(tmp_path / "ddp"), *TINY],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert cfg["world_size"] == 2
    assert len(cfg["rank_checksums"]) == 2
    assert cfg["rank_checksums"][0] == cfg["rank_checksums"][1]


def test_corrupt_or_foreign_checkpoint_is_a_clear_error(data, tmp_path):
    r = citygen("train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "r"), *TINY)
    assert r.returncode == 0, r.stderr
    (tmp_path / "r" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "r")
    g = citygen("generate", "--model", str(tmp_path / "r"), "--n", "1", "--out", str(tmp_path / "o"))
    assert g.returncode == 1
    assert g.stderr.startswith("error: ") and "Traceback" not in g.stderr
    latest = tmp_path / "r" / "checkpoints" / (tmp_path / "r" / "checkpoints" / "latest").read_text().strip()
    (latest / "state.pt").write_bytes(b"garbage")
    res = citygen("train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "r"), "--resume", *TINY)
    assert res.returncode == 1 and "no usable checkpoint" in res.stderr.splitlines()[-1]
    assert "Traceback" not in res.stderr
    with pytest.raises(CheckpointError, match="not a citygen model"):
        load_model(tmp_path)
    bad = citygen("train", "--data", str(data), "--out", str(tmp_path / "fresh"), "--resume", *TINY)
    assert bad.returncode == 1 and "nothing to resume" in bad.stderr
