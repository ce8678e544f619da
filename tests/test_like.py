"""citygen.like and generate --like/--density/--grid: streets in the style of a named place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from citygen.model.checkpoint import save_model
from citygen.errors import DatasetError, InputDataError, NetworkUnavailableError, UsageError
from citygen.generation import generate
from citygen.like import like_source
from citygen.model.network import LayoutModel, ModelConfig
from citygen.sampling.loop import SampleConfig
from citygen.style import STYLE_DIM, STYLE_KEYS, bank_of_sequences
from data_prep import load
from data_prep.shards import load_dataset

ROOT = Path(__file__).resolve().parent.parent
FOOTWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="60.16" lon="24.93"/><node id="2" lat="60.161" lon="24.93"/>
  <node id="3" lat="60.161" lon="24.932"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
</osm>
"""
SMALL = SampleConfig(max_nodes=40)


@pytest.fixture(scope="module")
def style_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained style model of 250 m tiles with a two-row bank, saved like train saves it."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        d_model=32, n_layers=1, n_heads=2, d_pair=16, style_dim=STYLE_DIM, tile_size=250.0
    )
    model = LayoutModel(cfg).eval()
    model.style_bank = np.array(
        [[4.0, 2, 0.1, 0, 0, 0, 0.5, 0.6], [5.0, 3, 0.2, 0, 0, 0, 0.4, 0.5]]
    )
    return save_model(tmp_path_factory.mktemp("m") / "style", model)


def test_like_a_prepared_data_set_takes_all_its_tiles(bundled_small_dir: Path) -> None:
    src = like_source(bundled_small_dir, 250.0)
    ds = load_dataset(bundled_small_dir)
    assert src.bank.shape == (len(ds.tiles()), STYLE_DIM)
    np.testing.assert_allclose(src.bank, bank_of_sequences([t.sequence for t in ds.tiles()]))
    with pytest.raises(DatasetError, match="tiles are 250 m, the model draws 1000 m"):
        like_source(bundled_small_dir, 1000.0)


def test_like_an_osm_file_cuts_it_as_prepare_does(bundled_small_dir: Path) -> None:
    src = like_source(load.bundled_path("helsinki"), 250.0)
    ds = load_dataset(bundled_small_dir)
    helsinki = [t for t in ds.tiles() if t.region == "helsinki"]
    assert len(src.sequences) == len(helsinki) > 5
    assert sorted(np.round(src.bank[:, 0], 6)) == sorted(
        np.round(bank_of_sequences([t.sequence for t in helsinki])[:, 0], 6)
    )


@pytest.mark.usefixtures("no_network")
def test_bad_like_sources(tmp_path: Path) -> None:
    (tmp_path / "foot.osm").write_text(FOOTWAYS)
    with pytest.raises(InputDataError, match=r"foot.osm: no drivable streets"):
        like_source(tmp_path / "foot.osm", 1000.0)
    with pytest.raises(InputDataError, match="no such file or directory"):
        like_source(tmp_path / "missing.osm.pbf", 1000.0)
    with pytest.raises(InputDataError, match="needs a source"):
        like_source("  ", 1000.0)
    with pytest.raises(NetworkUnavailableError, match="could not download"):
        like_source("Lyon, France", 1000.0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputDataError, match="no OSM files"):
        like_source(foreign, 1000.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputDataError, match="no OSM files"):
        like_source(empty, 1000.0)


def test_generate_like_draws_every_style_from_the_place(
    style_model_dir: Path, bundled_small_dir: Path, tmp_path: Path
) -> None:
    src = like_source(bundled_small_dir, 250.0)
    result = generate(tmp_path / "out", model=style_model_dir, n=4, seed=1, formats="geojson",
                      sample_config=SMALL, like=bundled_small_dir)  # fmt: skip
    rows = {tuple(np.round(r, 4)) for r in src.bank}
    for G in result.layouts:
        assert tuple(round(G.graph["style"][k], 4) for k in STYLE_KEYS) in rows
    meta = json.loads(next((tmp_path / "out").glob("*.geojson")).read_text())["citygen"]
    assert meta["style"]["like"] == str(bundled_small_dir)
    assert meta["style"]["like_tiles"] == len(src.sequences)


def _coords(G) -> list:  # noqa: ANN001
    return sorted((round(d["x"], 3), round(d["y"], 3)) for _, d in G.nodes(data=True))


def test_generate_like_keeps_the_candidate_nearest_its_tile(
    style_model_dir: Path, bundled_small_dir: Path, tmp_path: Path
) -> None:
    """Layout i draws its style row from a tile of the place; its K candidates (samples
    i*K .. i*K+K-1 of one seeded run) share that row, and the one whose street statistics are
    nearest that tile's is kept. K = 1 is plain --like sampling."""
    from dataclasses import replace

    from citygen.like import like_reference
    from citygen.model.checkpoint import load_model
    from citygen.objectives.typicality import features
    from citygen.sampling.loop import sample
    from citygen.style import style_choices

    src = like_source(bundled_small_dir, 250.0)
    ref = like_reference(src)
    assert ref is not None and len(ref.tiles) == len(src.sequences)
    model = load_model(style_model_dir)
    cfg = replace(SMALL, style_bank=tuple(tuple(float(v) for v in r) for r in src.bank))
    rows, tile = style_choices(src.bank, 3, 2)
    np.testing.assert_allclose(rows, src.bank[tile])
    pool = sample(model, 9, seed=2, config=cfg, style=np.repeat(rows, 3, axis=0))
    x = ref.standardise(np.array([features(G) for G in pool])).reshape(3, 3, -1)
    dist = np.linalg.norm(x - ref.standardise(ref.tiles[tile])[:, None], axis=-1)
    assert len({round(float(v), 9) for v in dist.ravel()}) > 3  # the candidates differ
    result = generate(tmp_path / "k3", model=style_model_dir, n=3, seed=2, formats="geojson",
                      sample_config=SMALL, like=bundled_small_dir, like_candidates=3)  # fmt: skip
    for i, G in enumerate(result.layouts):
        j = int(dist[i].argmin())
        assert G.graph["like_candidate"] == j
        assert G.graph["like_distance"] == pytest.approx(dist[i].min(), abs=1e-6)
        assert _coords(G) == _coords(pool[3 * i + j])
        np.testing.assert_allclose([G.graph["style"][k] for k in STYLE_KEYS], rows[i], atol=1e-5)
    meta = json.loads(next((tmp_path / "k3").glob("*.geojson")).read_text())["citygen"]
    assert meta["style"]["like_candidates"] == 3
    one = generate(tmp_path / "k1", model=style_model_dir, n=3, seed=2, formats="geojson",
                   sample_config=SMALL, like=bundled_small_dir, like_candidates=1)  # fmt: skip
    plain = sample(model, 3, seed=2, config=cfg)
    assert [_coords(G) for G in one.layouts] == [_coords(G) for G in plain]


def test_style_choices_are_the_drawn_styles() -> None:
    from citygen.style import draw_styles, style_choices

    bank = np.random.default_rng(0).random((12, STYLE_DIM)) * 50
    for kw in ({}, {"density": 30.0}, {"grid": 0.5}, {"density": 5.0, "grid": 0.9}):
        rows, tile = style_choices(bank, 20, 7, first_index=3, **kw)
        np.testing.assert_array_equal(rows, draw_styles(bank, 20, 7, first_index=3, **kw))
        assert tile.min() >= 0 and tile.max() < 12
        same = np.isclose(rows, bank[tile])
        assert same[:, 3:].all()  # the values not overridden are the tile's
        if not kw:  # layout i's tile is choice(seed, i), whatever else is drawn
            want = [np.random.default_rng([7, 3 + i, 0x57]).integers(12) for i in range(20)]
            np.testing.assert_array_equal(tile, want)
            np.testing.assert_array_equal(rows, bank[want])


def test_like_candidates_checks(style_model_dir: Path, bundled_small_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--like-candidates needs --like"):
        generate(tmp_path / "a", model=style_model_dir, n=1, like_candidates=2)
    with pytest.raises(UsageError, match="--like-candidates must be at least 1"):
        generate(tmp_path / "b", model=style_model_dir, n=1, like=bundled_small_dir, like_candidates=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_steered_like_measures_realism_against_the_place(
    style_model_dir: Path, bundled_small_dir: Path, tmp_path: Path
) -> None:
    result = generate(tmp_path / "s", model=style_model_dir, n=2, seed=0, formats="geojson",
                      sample_config=SMALL, like=bundled_small_dir, objective="connectivity",
                      candidates=2)  # fmt: skip
    meta = json.loads(next((tmp_path / "s").glob("*.geojson")).read_text())["citygen"]
    assert meta["objective"]["realism_reference"] == f"tiles of {bundled_small_dir}"
    assert len(result.layouts) == 2


def test_explicit_density_and_grid(style_model_dir: Path, tmp_path: Path) -> None:
    result = generate(tmp_path / "o", model=style_model_dir, n=3, seed=0, formats="geojson",
                      sample_config=SMALL, density=60.0, grid=0.8)  # fmt: skip
    assert all(G.graph["style"]["density"] == 60.0 for G in result.layouts)
    assert all(G.graph["style"]["grid"] == 0.8 for G in result.layouts)


def test_a_model_without_style_refuses_style_options(tmp_path: Path) -> None:
    plain = save_model(
        tmp_path / "plain", LayoutModel(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_pair=16))
    )
    with pytest.raises(UsageError, match="takes no style"):
        generate(tmp_path / "o", model=plain, n=1, density=10.0)


@pytest.mark.parametrize(
    ("args", "match", "code"),
    [
        (["--density", "-5"], "--density must be", 1),
        (["--density", "nan"], "--density: not a finite number", 2),
        (["--grid", "1.5"], "--grid must be", 1),
        (["--like", "/nonexistent/place.osm.pbf"], "no such file or directory", 1),
        (["--like-candidates", "2"], "--like-candidates needs --like", 1),
        (["--area", "1000x1000", "--like-candidates", "2"], "--like-candidates picks among single layouts", 1),
    ],
)
def test_cli_bad_style_options(
    style_model_dir: Path, tmp_path: Path, args: list[str], match: str, code: int
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "citygen", "generate", "--model", str(style_model_dir), "--n", "1",
         "--out", str(out), *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "no_proxy": "*",
             "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert proc.returncode == code, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "error: " in last
    import re

    assert re.search(match, last), last
    assert not any(out.glob("*.geojson"))
