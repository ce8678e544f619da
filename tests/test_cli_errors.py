"""Bad options and output paths: one ``error:`` line before any work, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import citygen.generation as generation
from citygen.cli import main
from citygen.errors import CheckpointError, UsageError
from export.run import MANIFEST, read_manifest

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "citygen" / "default_model"


@pytest.fixture
def no_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything is sampled: every error here must come first."""

    def sampled(*_args: object, **_kwargs: object) -> None:
        msg = "sampled before the error"
        raise AssertionError(msg)

    monkeypatch.setattr(generation, "sample_parallel", sampled)


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: exit 2 with a usage line
        code = int(exc.code)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "file.txt"
    path.write_text("mine")
    return path


def _out_cases(tmp_path: Path, a_file: Path) -> dict[str, tuple[str, str]]:
    return {
        "dev-null": ("/dev/null", "/dev/null is not a directory"),
        "under-a-file": (str(a_file / "sub"), f"{a_file} is a file, not a directory"),
        "a-file": (str(a_file), f"{a_file} is not a directory (it is a file)"),
    }


@pytest.mark.parametrize("case", ["dev-null", "under-a-file", "a-file"])
@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--n", "1", "--model", "/nonexistent/model"],
        ["prepare", "--osm", "/nonexistent.osm"],
        ["train", "--data", "/nonexistent/data"],
        ["export", "--data", "/nonexistent/data", "--tile", "test/0_0"],
        ["finetune", "--objective", "connectivity", "--model", "/nonexistent/model"],
    ],
    ids=lambda c: c[0],
)
def test_bad_out_is_refused_first(capsys, tmp_path, a_file, no_sampling, command, case):
    out, words = _out_cases(tmp_path, a_file)[case]
    code, err = _run(capsys, *command, "--out", out)
    assert code == 1
    assert err.startswith("error: --out ")
    assert words in err
    assert a_file.read_text() == "mine"


def test_an_unwritable_parent_is_found_by_a_real_probe(capsys, tmp_path, monkeypatch, no_sampling):
    import citygen.paths

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(citygen.paths.tempfile, "mkstemp", refuse)  # a read-only mount, as root
    code, err = _run(capsys, "generate", "--n", "1", "--out", str(tmp_path / "new" / "run"))
    assert code == 1
    assert "is not writable (Permission denied)" in err
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_a_read_only_parent_is_refused(capsys, tmp_path, no_sampling):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, err = _run(capsys, "generate", "--n", "1", "--out", str(ro / "new"))
    finally:
        ro.chmod(0o755)
    assert code == 1
    assert "is not writable" in err


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--temperature", "nan"], 2, "not a finite number: 'nan'"),
        (["--min-dist", "nan"], 2, "not a finite number: 'nan'"),
        (["--snap", "nan"], 2, "not a finite number: 'nan'"),
        (["--snap", "inf"], 2, "not a finite number: 'inf'"),
        (["--realism", "inf", "--objective", "length"], 2, "not a finite number"),
        (["--seed", "-1"], 2, "seed must be within 0..9223372036854775807, got -1"),
        (["--seed", str(2**63)], 2, "seed must be within 0..9223372036854775807"),
        (["--seed", str(2**64)], 2, "seed must be within 0..9223372036854775807"),
        (["--center", ""], 1, "--center must be LAT,LON"),
        (["--center", "0,180"], 1, "would cross the antimeridian"),
        (["--center", "90,0"], 1, "would cross the antimeridian or a pole"),
        (["--format", "geojson,shp"], 1, "unknown format 'shp'"),
        (["--objective", "connectivity,length", "--weights", "1e308,1e308"], 1, "at most 1e+06"),
        (["--objective", "beauty"], 1, "unknown objective 'beauty'"),
        (["--n", "0"], 1, "n must be 1..100000, got 0"),
        (["--batch-size", "0"], 1, "batch size must be at least 1"),
        (["--temperature", "0"], 1, "temperature > 0"),
        (["--structure-temperature", "0"], 1, "temperature > 0"),
    ],
)
def test_bad_generate_options_fail_before_sampling(
    capsys, tmp_path, no_sampling, args, code, words
):
    out = tmp_path / "run"
    got, err = _run(capsys, "generate", "--n", "1", *args, "--out", str(out))
    assert got == code, err
    assert "error: " in err
    assert words in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder either


def test_generate_refuses_a_folder_of_other_files(capsys, tmp_path, no_sampling):
    (tmp_path / "notes.txt").write_text("mine")
    code, err = _run(capsys, "generate", "--n", "1", "--overwrite", "--out", str(tmp_path))
    assert code == 1
    assert "holds files of no citygen run (notes.txt)" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_sample_config_with_nan_is_refused_by_the_api(tmp_path, no_sampling):
    from citygen.sampling.loop import SampleConfig

    with pytest.raises(UsageError, match="temperature must be a finite number"):
        generation.generate(
            tmp_path / "run", n=1, sample_config=SampleConfig(temperature=float("nan"))
        )


def test_interrupted_generate_says_what_it_left(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert (
        main(["generate", "--n", "1", "--no-progress", "--format", "geojson", "--out", str(out)])
        == 0
    )
    before = read_manifest(out)

    def interrupt(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "sample_parallel", interrupt)
    capsys.readouterr()
    code, err = _run(
        capsys, "generate", "--n", "3", "--seed", "4", "--overwrite", "--out", str(out)
    )
    assert code == 130
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("error: interrupted; nothing was written to the output folder")
    assert "--resume" not in err
    assert read_manifest(out) == before


def test_generate_records_how_to_regenerate(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["generate", "--n", "2", "--seed", "11", "--batch-size", "1", "--temperature", "0.9"]
    assert (
        main([*argv, "--snap", "0", "--no-progress", "--format", "geojson", "--out", str(out)]) == 0
    )
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["seed"] == 11
    assert manifest["n"] == 2
    assert manifest["batch_size"] == 1
    assert manifest["sample_config"]["temperature"] == 0.9
    assert manifest["sample_config"]["snap"] == 0.0
    assert len(manifest["model_sha256"]) == 64
    assert sorted(manifest["files"]) == ["layout_000.geojson", "layout_001.geojson"]
    meta = json.loads((out / "layout_001.geojson").read_text())["citygen"]
    assert (meta["seed"], meta["n"], meta["batch_size"]) == (11, 2, 1)
    assert meta["sample_config"]["temperature"] == 0.9
    assert meta["model_sha256"] == manifest["model_sha256"]
    # the manifest alone regenerates the same files
    from citygen.sampling.loop import SampleConfig

    again = generation.generate(
        tmp_path / "again",
        n=manifest["n"],
        seed=manifest["seed"],
        batch_size=manifest["batch_size"],
        device=manifest["device"],
        formats=tuple(manifest["formats"]),
        center=manifest["center"],
        sample_config=SampleConfig(**manifest["sample_config"]),
    )
    assert json.loads((tmp_path / "again" / MANIFEST).read_text())["files"] == manifest["files"]
    assert len(again.layouts) == 2


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--json", "{dir}"], 1, "--json {dir} is a directory, not a file"),
        (["--json", "/dev/null"], 1, "--json /dev/null exists and is not a regular file"),
        (["--json", "{file}/r.json"], 1, "{file} is a file, not a directory"),
        (["--plots", "{file}"], 1, "--plots {file} is not a directory (it is a file)"),
        (["--plots", "/dev/null"], 1, "--plots /dev/null is not a directory"),
        (["--seed", "-1"], 2, "seed must be within 0..9223372036854775807"),
        (["--seed", str(2**64)], 2, "seed must be within 0..9223372036854775807"),
        (["--generated", "{dir}", "--model", "m"], 1, "--model cannot be used with --generated"),
        (["--generated", "{dir}", "--n", "5"], 1, "--n cannot be used with --generated"),
        (["--n", "0"], 1, "--n must be at least 1"),
    ],
)
def test_bad_evaluate_options_fail_before_reading_data(capsys, tmp_path, a_file, args, code, words):
    fill = {"{dir}": str(tmp_path), "{file}": str(a_file)}

    def sub(text: str) -> str:
        for k, v in fill.items():
            text = text.replace(k, v)
        return text

    got, err = _run(capsys, "evaluate", "--data", "/nonexistent/data", *map(sub, args))
    assert got == code, err
    assert sub(words) in err
    assert "nonexistent" not in err


def test_a_model_whose_weights_do_not_fit_names_the_tensors(capsys, tmp_path, no_sampling):
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(DEFAULT_MODEL / "model.safetensors", bad)
    cfg = json.loads((DEFAULT_MODEL / "config.json").read_text())
    cfg["model"]["d_model"] = 64
    (bad / "config.json").write_text(json.dumps(cfg))
    from citygen.api import load_model

    with pytest.raises(
        CheckpointError, match=r"bos is \(128\) in the file but \(64\) in the config"
    ):
        load_model(bad)
    code, err = _run(capsys, "generate", "--model", str(bad), "--out", str(tmp_path / "run"))
    assert code == 1
    assert "tensor(s) differ in shape: bos is (128) in the file but (64) in the config" in err
    cfg["model"]["d_model"], cfg["model"]["n_layers"] = 128, 3
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"12 tensor\(s\) in the file only: blocks\.3\."):
        load_model(bad)


def test_generate_shows_progress_unless_asked_not_to(capsys, tmp_path):
    argv = ["generate", "--n", "2", "--format", "geojson"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "sampling: 100%" in err
    assert "2/2" in err
    assert "writing: 100%" in err
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


def test_evaluate_api_refuses_a_seed_out_of_range(tmp_path):
    from citygen.metrics.report import evaluate

    with pytest.raises(UsageError, match=r"seed must be 0\.\.9223372036854775807"):
        evaluate(tmp_path, n=1, seed=-1)


def test_generate_refuses_more_layouts_than_one_run_holds(capsys, tmp_path, no_sampling):
    """--n 100000000 used to sample until memory ran out; the limit is named before any work."""
    from citygen.generation import MAX_LAYOUTS

    code, err = _run(capsys, "generate", "--n", str(MAX_LAYOUTS + 1), "--out", str(tmp_path / "o"))
    assert code == 1
    assert f"n must be 1..{MAX_LAYOUTS}" in err
    assert not (tmp_path / "o").exists()
