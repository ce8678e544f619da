"""export.run: a folder holds one whole run or its previous state, never a mix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citygen.errors import InputDataError, OutputError
from export.run import MANIFEST, check_run_folder, clean_stale, verify_run, write_run


def _writer(names: list[str], text: str):
    def write(folder: Path) -> list[Path]:
        out = []
        for name in names:
            (folder / name).write_text(f"{text} {name}")
            out.append(folder / name)
        return out

    return write


def assert_whole_run(folder: Path) -> dict:
    """The folder holds exactly the files its manifest lists, each with its recorded hash."""
    manifest = verify_run(folder)
    assert sorted(os.listdir(folder)) == sorted([*manifest["files"], MANIFEST])
    return manifest


def test_verify_run_finds_a_changed_missing_or_extra_file(tmp_path):
    out = tmp_path / "run"
    write_run(_writer(["a.geojson", "b.geojson"], "x"), out, {})
    (out / "a.geojson").write_text("changed")
    with pytest.raises(InputDataError, match="differs"):
        verify_run(out)
    (out / "a.geojson").unlink()
    with pytest.raises(InputDataError, match=r"a\.geojson missing or not listed"):
        verify_run(out)
    (out / "a.geojson").write_text("x a.geojson")
    (out / "c.geojson").write_text("extra")
    with pytest.raises(InputDataError, match=r"c\.geojson missing or not listed"):
        verify_run(out)


def test_a_run_lists_its_files_and_facts(tmp_path):
    out = tmp_path / "run"
    files = write_run(_writer(["a.geojson", "b.geojson"], "one"), out, {"seed": 7, "n": 2})
    assert files == [out / "a.geojson", out / "b.geojson", out / MANIFEST]
    manifest = assert_whole_run(out)
    assert manifest["seed"] == 7
    assert manifest["n"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary sibling left


def test_an_earlier_run_is_refused_without_overwrite_and_kept(tmp_path):
    out = tmp_path / "run"
    write_run(_writer(["a.geojson", "b.geojson", "c.geojson"], "old"), out, {"seed": 1})
    with pytest.raises(OutputError, match=r"earlier run .*--overwrite"):
        write_run(_writer(["a.geojson"], "new"), out, {"seed": 2})
    assert assert_whole_run(out)["seed"] == 1
    assert (out / "a.geojson").read_text() == "old a.geojson"


def test_overwrite_replaces_the_whole_earlier_run(tmp_path):
    out = tmp_path / "run"
    write_run(_writer(["a.geojson", "b.geojson", "c.geojson"], "old"), out, {"seed": 1})
    write_run(_writer(["a.geojson"], "new"), out, {"seed": 2}, overwrite=True)
    assert assert_whole_run(out)["seed"] == 2
    assert sorted(os.listdir(out)) == ["a.geojson", MANIFEST]  # b and c of the old run gone
    assert (out / "a.geojson").read_text() == "new a.geojson"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_with_other_files_is_refused_and_untouched(tmp_path, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "layout_000.geojson").write_text("{}")  # looks like a run, but no manifest lists it
    with pytest.raises(OutputError, match=r"files of no citygen run .*notes\.txt"):
        write_run(_writer(["layout_000.geojson"], "new"), out, {}, overwrite=overwrite)
    assert sorted(os.listdir(out)) == ["layout_000.geojson", "notes.txt"]
    assert (out / "layout_000.geojson").read_text() == "{}"


def test_files_added_beside_a_run_are_never_removed(tmp_path):
    out = tmp_path / "run"
    write_run(_writer(["a.geojson"], "old"), out, {})
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"files its run did not write .*notes\.txt"):
        write_run(_writer(["a.geojson"], "new"), out, {}, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_failing_run_leaves_the_earlier_run_and_no_temporary_folder(tmp_path):
    out = tmp_path / "run"
    write_run(_writer(["a.geojson", "b.geojson"], "old"), out, {"seed": 1})

    def fail(folder: Path) -> list[Path]:
        (folder / "a.geojson").write_text("half")
        msg = "disk full"
        raise OSError(msg)

    with pytest.raises(OSError, match="disk full"):
        write_run(fail, out, {"seed": 2}, overwrite=True)
    assert assert_whole_run(out)["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_run_that_finishes_first_wins_and_the_other_fails_cleanly(tmp_path):
    out = tmp_path / "run"

    def racing(folder: Path) -> list[Path]:
        write_run(_writer(["x.geojson", "y.geojson"], "first"), out, {"seed": 1})  # finishes first
        return _writer(["a.geojson"], "second")(folder)

    with pytest.raises(OutputError, match="earlier run"):
        write_run(racing, out, {"seed": 2})
    assert assert_whole_run(out)["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_with_overwrite_the_later_run_replaces_a_racing_run_whole(tmp_path):
    out = tmp_path / "run"

    def racing(folder: Path) -> list[Path]:
        write_run(_writer(["x.geojson", "y.geojson"], "first"), out, {"seed": 1})
        return _writer(["a.geojson"], "second")(folder)

    write_run(racing, out, {"seed": 2}, overwrite=True)
    assert assert_whole_run(out)["seed"] == 2
    assert sorted(os.listdir(out)) == ["a.geojson", MANIFEST]


def test_temporary_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)  # a process that has exited
    stale = tmp_path / f".run.citygen-tmp-{pid}-abc"
    stale.mkdir()
    (stale / "layout_000.geojson").write_text("half")
    live = tmp_path / f".run.citygen-tmp-{os.getpid()}-def"  # a run still going: kept
    live.mkdir()
    other = tmp_path / f".other.citygen-tmp-{pid}-abc"  # another folder's: kept
    other.mkdir()
    write_run(_writer(["a.geojson"], "new"), out, {})
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
    assert clean_stale(out) == []


def test_check_run_folder_accepts_new_and_empty_folders(tmp_path):
    assert check_run_folder(tmp_path / "new") is None
    (tmp_path / "empty").mkdir()
    assert check_run_folder(tmp_path / "empty") is None
    write_run(_writer(["a.geojson"], "x"), tmp_path / "empty", {"seed": 3})
    assert json.loads((tmp_path / "empty" / MANIFEST).read_text())["seed"] == 3
    assert check_run_folder(tmp_path / "empty", overwrite=True)["seed"] == 3


def test_the_current_directory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    with pytest.raises(OutputError, match="current directory"):
        write_run(_writer(["a.geojson"], "x"), ".", {})
    with pytest.raises(OutputError, match="current directory"):
        write_run(_writer(["a.geojson"], "x"), "..", {})
    assert os.listdir(tmp_path / "empty") == []
    write_run(_writer(["a.geojson"], "x"), "sub", {})  # a new folder below it is fine
    assert verify_run(tmp_path / "empty" / "sub")["files"]


def _nested_writer(names: list[str], text: str):
    def write(folder: Path) -> list[Path]:
        out = []
        for name in names:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{text} {name}")
            out.append(path)
        return out

    return write


def test_a_run_may_keep_files_in_sub_folders(tmp_path):
    """infill writes candidate_K/...: listed by relative path, replaced whole, old ones gone."""
    out = tmp_path / "run"
    old = ["candidate_0/merged.geojson", "candidate_1/merged.geojson", "sheet.png"]
    files = write_run(_nested_writer(old, "old"), out, {"n": 2})
    assert files == [out / "candidate_0" / "merged.geojson", out / "candidate_1" / "merged.geojson",
                     out / "sheet.png", out / MANIFEST]  # fmt: skip
    assert sorted(verify_run(out)["files"]) == old
    with pytest.raises(OutputError, match="earlier run"):
        check_run_folder(out)
    write_run(_nested_writer(["candidate_0/merged.geojson", "sheet.png"], "new"), out, {"n": 1},
              overwrite=True)  # fmt: skip
    assert sorted(os.listdir(out)) == ["candidate_0", MANIFEST, "sheet.png"]  # candidate_1 gone
    assert (out / "candidate_0" / "merged.geojson").read_text().startswith("new")
    verify_run(out)
    (out / "candidate_0" / "notes.txt").write_text("mine")
    with pytest.raises(InputDataError, match=r"candidate_0/notes\.txt missing or not listed"):
        verify_run(out)


def test_a_manifest_naming_files_outside_its_folder_is_no_run(tmp_path):
    """A hand-made manifest listing ../victim must not make --overwrite delete that file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    doc = {"kind": "citygen-run", "files": {"../victim.txt": "0" * 64}}
    (out / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(OutputError, match="files of no citygen run"):
        write_run(_writer(["a.geojson"], "new"), out, {}, overwrite=True)
    assert victim.read_text() == "precious"
    assert sorted(os.listdir(out)) == [MANIFEST]
