"""``citygen train`` protects what is in --out, stops on NaN, and resumes only the same run.

Issue 15, items 3, 5, 8, 10 (training side) and 13: an existing model or a folder of the user's
files is refused without --resume/--overwrite; a diverging run stops with ``error:`` and keeps
log.jsonl valid JSON; load_model refuses NaN weights, unfinished runs and broken configs;
--resume refuses other settings and falls back to the older checkpoint; the interrupt message
is a command that really resumes.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import training.train as train_mod
from citygen.model.checkpoint import CONFIG, WEIGHTS, load_model, save_model
from citygen.cli import main
from citygen.errors import CheckpointError, UsageError
from citygen.model.network import LayoutModel, ModelConfig
from data_prep.prepare import PrepareConfig, make_sources, prepare

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--d-model", "16", "--layers", "1", "--heads", "2", "--window", "48", "--batch-size", "4",
        "--windows", "4", "--realism-samples", "0", "--no-progress", "--device", "cpu"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train-safety") / "ds"
    prepare(
        make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False
    )
    return out


@pytest.fixture(scope="module")
def done(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run of 2 epochs with a checkpoint every 3 steps."""
    out = tmp_path_factory.mktemp("done") / "run"
    code = main(["train", "--data", str(data), "--out", str(out), "--epochs", "2",
                 "--checkpoint-every", "3", *TINY])  # fmt: skip
    assert code == 0
    return out


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def one_error(code: int, err: str, *words: str) -> str:
    assert code == 1, err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: "), err
    for w in words:
        assert w in line, line
    return line


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--epochs", "2",
            "--checkpoint-every", "3", *TINY, *extra]  # fmt: skip


def test_out_holding_a_model_or_user_files_is_refused(
    data: Path, done: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = (done / WEIGHTS).read_bytes()
    code, err = run(capsys, *train_args(data, done, "--seed", "1"))
    one_error(code, err, "already holds a trained model", "--resume", "--overwrite")
    assert (done / WEIGHTS).read_bytes() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    code, err = run(capsys, *train_args(data, mine))
    one_error(code, err, "holds no citygen training run", "--overwrite")
    assert (mine / "config.json").read_text() == '{"my": "settings"}'
    code, err = run(capsys, *train_args(data, mine, "--resume", "--overwrite"))
    one_error(code, err, "exclude each other")
    code, err = run(capsys, *train_args(data, mine, "--overwrite"))
    assert code == 0, err
    assert json.loads((mine / "config.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("lr", ["1e30"])
def test_a_diverging_run_stops_with_an_error_and_valid_json(
    lr: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "nan"
    code, err = run(capsys, *train_args(data, out, "--lr", lr))
    one_error(code, err, "training diverged at step", "not finite", "lower --lr")
    for line in (out / "log.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in log.jsonl"))
    cfg = json.loads((out / CONFIG).read_text())
    assert cfg["status"] == "failed"
    with pytest.raises(CheckpointError, match="unfinished training run"):
        load_model(out)
    code, err = run(capsys, *train_args(data, out, "--lr", "1e-3"))  # a failed run is kept too
    one_error(code, err, "--overwrite")


@pytest.mark.parametrize("lr", ["inf", "nan", "-1", "0", "1e308"])
def test_bad_learning_rates_are_one_error_line(
    lr: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, err = run(capsys, *train_args(data, tmp_path / "o", f"--lr={lr}"))
    one_error(code, err, "learning rate must be positive and finite")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**64)])
def test_seeds_out_of_range_are_usage_errors(
    seed: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """As generate's: -1 and 2**64 used to end in a traceback (numpy / torch seeding)."""
    with pytest.raises(SystemExit) as exc:
        main(train_args(data, tmp_path / "o", f"--seed={seed}"))
    assert exc.value.code == 2
    assert "seed must be within 0..9223372036854775807" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(UsageError, match="seed must be within"):
        train_mod.TrainConfig(seed=int(seed))


def test_bad_model_settings_are_one_error_line(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, err = run(capsys, "train", "--data", str(data), "--out", str(tmp_path / "o"),
                    "--d-model", "128", "--heads", "3", "--no-progress")  # fmt: skip
    one_error(code, err, "d_model 128 is not divisible by n_heads 3")


def test_load_model_refuses_nan_weights_and_broken_configs(done: Path, tmp_path: Path) -> None:
    model = load_model(done)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = math.nan
    save_model(tmp_path / "nan", model, {"status": "complete"})
    with pytest.raises(CheckpointError, match="not finite"):
        load_model(tmp_path / "nan")
    cfg = json.loads((done / CONFIG).read_text())
    cases = [({"tile_size": 0}, "tile_size"), ({"tile_size": float("nan")}, "tile_size"),
             ({"n_heads": 3, "d_model": 128}, "not divisible"),
             ({"backbone": "lstm"}, "unknown backbone")]  # fmt: skip
    for i, (change, words) in enumerate(cases):
        d = tmp_path / f"cfg{i}"
        d.mkdir()
        (d / WEIGHTS).write_bytes((done / WEIGHTS).read_bytes())
        (d / CONFIG).write_text(json.dumps(cfg | {"model": cfg["model"] | change}))
        with pytest.raises(CheckpointError, match=words):
            load_model(d)


def test_a_config_that_does_not_fit_its_weights_fails_at_once(done: Path, tmp_path: Path) -> None:
    """n_layers 10**9 used to build a billion layers (minutes, then out of memory); a config
    of another width or depth is now compared with the weights file before the model is built."""
    import time

    cfg = json.loads((done / CONFIG).read_text())
    cases = [({"n_layers": 10**9}, "n_layers must be at most 256"),
             ({"n_layers": 256}, "missing from the file"),
             ({"d_model": 16384, "n_heads": 4}, "in the file"),
             ({"binning": 3}, "binning must be a JSON object")]  # fmt: skip
    for i, (change, words) in enumerate(cases):
        d = tmp_path / f"cfg{i}"
        d.mkdir()
        (d / WEIGHTS).write_bytes((done / WEIGHTS).read_bytes())
        (d / CONFIG).write_text(json.dumps(cfg | {"model": cfg["model"] | change}))
        t0 = time.perf_counter()
        with pytest.raises(CheckpointError, match=words):
            load_model(d)
        assert time.perf_counter() - t0 < 20
    for i, doc in enumerate([cfg | {"model": 5}, {k: v for k, v in cfg.items() if k != "model"}]):
        d = tmp_path / f"doc{i}"
        d.mkdir()
        (d / WEIGHTS).write_bytes((done / WEIGHTS).read_bytes())
        (d / CONFIG).write_text(json.dumps(doc))
        with pytest.raises(CheckpointError, match="model settings"):
            load_model(d)


def test_an_unfinished_run_is_refused_and_its_checkpoint_loads(done: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(done, run_dir)
    cfg = json.loads((run_dir / CONFIG).read_text())
    (run_dir / CONFIG).write_text(json.dumps(cfg | {"status": "training"}))
    last = sorted((run_dir / "checkpoints").glob("step-*"))[-1]
    with pytest.raises(CheckpointError, match=f"load its last checkpoint: --model {last}"):
        load_model(run_dir)
    model = load_model(last)
    assert isinstance(model, LayoutModel)
    assert model.config == ModelConfig.from_dict(cfg["model"])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (["--epochs", "3"], "--epochs 2 (run) vs 3 (now)"),
        (["--batch-size", "2"], "--batch-size 4 (run) vs 2 (now)"),
        (["--seed", "7"], "--seed 0 (run) vs 7 (now)"),
        (["--lr", "0.01"], "--lr 0.002 (run) vs 0.01 (now)"),
        (["--d-model", "32"], "--d-model 16 (run) vs 32 (now)"),
        (["--data", "OTHER"], "--data (another data set"),
    ],
)
def test_resume_refuses_other_settings(
    change: list[str], words: str, data: Path, done: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    args = train_args(data, done, "--resume")
    if change[0] == "--data":
        other = tmp_path / "other"
        prepare(
            make_sources(bundled="test"),
            other,
            PrepareConfig(tile_size=400, block=1),
            progress=False,
        )
        change = ["--data", str(other)]
    for i in range(0, len(args)):
        if args[i] == change[0]:
            args[i + 1] = change[1]
            break
    else:
        args += change
    code, err = run(capsys, *args)
    one_error(code, err, "--resume continues the run", words)


def test_threads_default_to_one_and_are_recorded(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real = train_mod._train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_train", spy)
    torch.set_num_threads(2)
    try:
        assert main(train_args(data, tmp_path / "r")) == 0
        assert torch.get_num_threads() == 2  # restored for the caller
    finally:
        torch.set_num_threads(1)
    assert seen == [1]
    assert json.loads((tmp_path / "r" / CONFIG).read_text())["train"]["threads"] == 1


def test_a_corrupt_newest_checkpoint_falls_back_to_the_older_one(
    data: Path, done: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(done, run_dir)
    steps = sorted((run_dir / "checkpoints").glob("step-*"))
    assert len(steps) == 2
    (steps[-1] / "state.pt").write_bytes(os.urandom(4096))  # any bytes: all are "damaged"
    cfg = json.loads((run_dir / CONFIG).read_text())
    (run_dir / CONFIG).write_text(json.dumps(cfg | {"status": "training"}))
    (run_dir / ".model.safetensors.x1.tmp").write_bytes(b"half")  # stale files of a kill
    (run_dir / "checkpoints" / ".step-00000099.tmp").mkdir()
    code, err = run(capsys, *train_args(data, run_dir, "--resume"))
    assert code == 0, err
    assert "Traceback" not in err
    assert f"corrupt or incompatible checkpoint {steps[-1]}: state.pt is damaged" in caplog.text
    assert (run_dir / WEIGHTS).read_bytes() == (done / WEIGHTS).read_bytes()  # exact all the same
    assert not (run_dir / ".model.safetensors.x1.tmp").exists()
    assert not (run_dir / "checkpoints" / ".step-00000099.tmp").exists()


def test_the_interrupt_message_is_a_command_that_resumes(
    data: Path, done: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = train_args(data, out)
    cmd = [sys.executable, "-m", "citygen", *args]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while not (out / "checkpoints" / "latest").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: interrupted; resume with: citygen train "), line
    words = shlex.split(line.split("resume with: ", 1)[1])
    assert words[:2] == ["citygen", "train"]
    assert words[-1] == "--resume"
    again = subprocess.run([sys.executable, "-m", "citygen", *words[1:]], env=ENV, cwd=ROOT,
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (out / WEIGHTS).read_bytes() == (done / WEIGHTS).read_bytes()


def test_any_random_bytes_state_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    """Random bytes reach torch's unpickler in many ways (IndexError among them): all refused."""
    import random

    from citygen.errors import CheckpointError, UsageError
    from training.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = LayoutModel(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_pair=8))
    opt = torch.optim.AdamW(model.parameters())
    path = save_checkpoint(tmp_path, model, opt, {"step": 1, "epoch": 0, "batch": 1, "best_val": None})
    for seed in range(1000):
        (path / "state.pt").write_bytes(random.Random(seed).randbytes(4096))
        with pytest.raises(CheckpointError, match=r"state\.pt is damaged"):
            load_checkpoint(path, model, opt)
