"""citygen.style: per-tile style values, the style bank, and a model conditioned on them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from citygen.model.checkpoint import STYLE_BANK, load_model, save_model
from citygen.errors import CheckpointError, UsageError
from citygen.model.likelihood import log_likelihood, sequence_batch, step_nll
from citygen.model.network import LayoutModel, ModelConfig
from citygen.sampling.loop import SampleConfig, run_steps, sample
from citygen.sampling.state import SampleState
from citygen.style import STYLE_DIM, STYLE_KEYS, draw_styles, features, style_of, style_of_sequence
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset


def grid_tile(
    angle_deg: float = 0.0, cls: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 4 x 4 street grid at 100 m spacing in the middle of a 1 km tile, rotated."""
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = np.array([(i * 100.0, j * 100.0) for j in range(4) for i in range(4)]) - 150.0
    xy = xy @ rot.T + 500.0
    edges = [(j * 4 + i, j * 4 + i + 1) for j in range(4) for i in range(3)]
    edges += [(j * 4 + i, (j + 1) * 4 + i) for j in range(3) for i in range(4)]
    e = np.array(edges)
    return xy, np.zeros(16, bool), e, np.full(len(e), cls)


def test_style_of_a_grid() -> None:
    s = dict(zip(STYLE_KEYS, style_of(*grid_tile(), 1000.0), strict=True))
    assert s["density"] == pytest.approx(12.0)  # 4 four-ways + 8 T junctions per km2
    assert s["street_km"] == pytest.approx(2.4)
    assert s["grid"] == pytest.approx(1.0)
    assert s["grid_cos"] == pytest.approx(1.0)
    assert s["grid_sin"] == pytest.approx(0.0, abs=1e-9)
    assert s["major"] == 0.0
    assert s["service"] == 0.0
    assert s["dead_end"] == 0.0


def test_dominant_bearing_turns_with_the_grid_and_classes_count() -> None:
    s = dict(zip(STYLE_KEYS, style_of(*grid_tile(22.5, cls=2), 1000.0), strict=True))
    assert s["grid_cos"] == pytest.approx(0.0, abs=1e-9)
    assert s["grid_sin"] == pytest.approx(-1.0)  # turned 22.5 deg anticlockwise: bearings -22.5
    assert s["major"] == 1.0
    assert s["density"] == pytest.approx(12.0)


def test_features_are_scaled_and_finite() -> None:
    raw = np.array([[150.0, 25.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0], [0.0] * 8])
    f = features(raw)
    assert f.shape == (2, STYLE_DIM)
    assert f.dtype == np.float32
    assert np.all(np.abs(f) <= 1.05)


def test_draws_depend_on_seed_and_index_only() -> None:
    bank = np.random.default_rng(0).random((50, STYLE_DIM)) * [100, 20, 1, 1, 1, 1, 1, 1]
    a = draw_styles(bank, 8, seed=3)
    b = draw_styles(bank, 3, seed=3)
    np.testing.assert_array_equal(a[:3], b)
    assert not np.array_equal(a, draw_styles(bank, 8, seed=4))
    assert all(any(np.array_equal(r, k) for k in bank) for r in a)


def test_explicit_values_take_the_nearest_real_style() -> None:
    bank = np.array([[5.0, 2, 0.1, 0, 0, 0, 0.2, 0.4], [80.0, 15, 0.9, 1, 0, 0.2, 0, 0.1]] * 10)
    out = draw_styles(bank, 6, seed=0, density=70.0)
    assert np.all(out[:, 0] == 70.0)
    assert np.all(out[:, 1] == 15.0)  # the other values come from the dense real tile
    out = draw_styles(bank, 4, seed=0, grid=0.2)
    assert np.all(out[:, 2] == 0.2)
    assert np.all(out[:, 0] == 5.0)


@pytest.mark.parametrize(
    ("density", "grid", "match"),
    [
        (-1.0, None, "--density"),
        (math.nan, None, "--density"),
        (None, 1.5, "--grid"),
        (None, math.nan, "--grid"),
    ],
)
def test_bad_explicit_values(density: float | None, grid: float | None, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        draw_styles(np.ones((2, STYLE_DIM)), 2, 0, density=density, grid=grid)


# ---------------------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def seqs(tmp_path_factory: pytest.TempPathFactory) -> list:
    out = tmp_path_factory.mktemp("style") / "ds"
    prepare(
        make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False
    )
    return sorted(load_dataset(out).sequences(), key=lambda s: -s.n_nodes)[:3]


def _style_model(**kw: object) -> LayoutModel:
    torch.manual_seed(0)
    cfg = ModelConfig(
        d_model=32, n_layers=2, n_heads=2, d_pair=16, style_dim=STYLE_DIM, tile_size=500.0, **kw
    )
    model = LayoutModel(cfg).eval()
    model.style_bank = np.array(
        [[40.0, 8, 0.6, 0.5, 0.1, 0.1, 0.1, 0.2], [4.0, 2, 0.1, 0, 0, 0, 0.5, 0.6]]
    )
    return model


def test_the_likelihood_is_conditional_on_the_style(seqs: list) -> None:
    model = _style_model()
    seq = seqs[0]
    own = log_likelihood(model, seq)
    assert own == pytest.approx(log_likelihood(model, seq, style=style_of_sequence(seq)))
    other = log_likelihood(model, seq, style=np.array([90.0, 20, 1, 1, 0, 0.5, 0, 0]))
    assert math.isfinite(own)
    assert other != pytest.approx(own, abs=1e-4)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_style_sampler_replays_the_training_pass(seqs: list, backbone: str) -> None:
    model = _style_model(backbone=backbone)
    for seq in seqs:
        seen: list[torch.Tensor] = []
        hook = model.head_type.register_forward_hook(
            lambda _m, inp, _o: seen.append(inp[0].detach().clone())
        )
        with torch.no_grad():
            step_nll(model, sequence_batch([seq], model))
        train_h = seen.pop()[0]
        seen.clear()
        state = SampleState(model, 1, SampleConfig(max_nodes=seq.n_nodes + 2), torch.device("cpu"),
                            0, [seq])  # fmt: skip
        state.style = torch.as_tensor(features(style_of_sequence(seq)[None]))
        with torch.no_grad():
            run_steps(state)
        hook.remove()
        n = seq.n_nodes
        torch.testing.assert_close(
            torch.stack([h[0] for h in seen])[:n], train_h[:n], rtol=1e-4, atol=1e-4
        )


def test_samples_carry_the_style_they_were_drawn_with() -> None:
    model = _style_model()
    cfg = SampleConfig(max_nodes=30)
    drawn = sample(model, 4, seed=2, config=cfg)
    np.testing.assert_allclose(
        [[G.graph["style"][k] for k in STYLE_KEYS] for G in drawn],
        draw_styles(model.style_bank, 4, 2),
        atol=1e-5,
    )
    rows = np.tile(model.style_bank[:1], (3, 1))
    given = sample(model, 3, seed=2, config=cfg, style=rows)
    assert all(G.graph["style"]["density"] == 40.0 for G in given)
    with pytest.raises(UsageError, match="one row per layout"):
        sample(model, 2, seed=0, config=cfg, style=rows)
    plain = LayoutModel(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_pair=16)).eval()
    with pytest.raises(UsageError, match="takes no style"):
        sample(plain, 3, seed=0, config=cfg, style=rows)


def test_the_style_bank_travels_with_the_model(tmp_path: Path) -> None:
    model = _style_model()
    save_model(tmp_path / "m", model)
    back = load_model(tmp_path / "m")
    np.testing.assert_allclose(back.style_bank, model.style_bank)
    (tmp_path / "m" / STYLE_BANK).write_text('{"keys": ["density"], "rows": [[1]]}')
    with pytest.raises(CheckpointError, match="not a style bank"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / STYLE_BANK).unlink()
    with pytest.raises(CheckpointError, match="no readable"):
        load_model(tmp_path / "m")


def test_a_layout_keeps_its_style_across_batches_and_workers() -> None:
    from citygen.sampling.workers import sample_parallel

    model = _style_model()
    cfg = SampleConfig(max_nodes=30)
    one = sample(model, 5, seed=3, config=cfg, batch_size=2)
    two = sample_parallel(model, 5, seed=3, workers=2, config=cfg)
    assert [G.graph["style"] for G in one] == [G.graph["style"] for G in two]
    assert [sorted(G.edges) for G in one] == [sorted(G.edges) for G in two]
    assert sample(model, 2, seed=3, config=cfg)[1].graph["style"] == one[1].graph["style"]
