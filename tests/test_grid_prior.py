"""citygen.model.grid: the grid term of a child's angle (``ModelConfig(grid_prior=True)``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from citygen.errors import UsageError
from citygen.layout import add_street, new_layout
from citygen.model.grid import grid_phase
from citygen.model.likelihood import log_likelihood
from citygen.model.network import LayoutModel, ModelConfig
from citygen.sampling.loop import SampleConfig, sample
from citygen.style import STYLE_DIM, features, style_of
from tests.test_likelihood import position_integral
from tests.test_sample import _key
from tests.test_style import grid_tile


def _model(strength: float = 0.0, **kw: object) -> LayoutModel:
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=2, d_pair=16, style_dim=STYLE_DIM,
                      split=True, grid_prior=True, tile_size=1000.0, **kw)  # fmt: skip
    model = LayoutModel(cfg).eval()
    with torch.no_grad():
        model.grid_coef.bias.copy_(torch.tensor([strength, 0.0]))
    return model


def _style(angle_deg: float) -> np.ndarray:
    return style_of(*grid_tile(angle_deg), 1000.0)


def test_needs_a_style_model_and_starts_as_no_term() -> None:
    with pytest.raises(UsageError, match="grid_prior"):
        ModelConfig(grid_prior=True)
    model = _model()
    ctx = torch.randn(5, 32)
    grid = torch.randn(5, 2)
    torch.testing.assert_close(model.angle_logits(ctx, grid), model.head_angle(ctx))
    with pytest.raises(ValueError, match="grid phase"):
        model.angle_logits(ctx)
    assert (
        ModelConfig.from_dict(
            {k: v for k, v in ModelConfig().to_dict().items() if k != "grid_prior"}
        )
        == ModelConfig()
    )


@pytest.mark.parametrize("angle_deg", [0.0, 22.5, 37.0])
def test_phase_is_one_along_the_streets_of_the_styles_grid(angle_deg: float) -> None:
    """style_of measures bearings from north; positions turn counter-clockwise from +x: the
    real part of the phase is 1 along the grid's streets and -1 at 45 degrees to them."""
    style = torch.as_tensor(features(_style(angle_deg)[None]))
    a = math.radians(angle_deg)
    on = torch.tensor([a, a + math.pi / 2, a + math.pi, a - math.pi / 2])
    torch.testing.assert_close(
        grid_phase(on, style.expand(4, -1))[:, 0], torch.ones(4), atol=1e-5, rtol=0
    )
    off = on + math.pi / 4
    torch.testing.assert_close(
        grid_phase(off, style.expand(4, -1))[:, 0], -torch.ones(4), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        grid_phase(on + 0.1, style.expand(4, -1))[:, 1],
        torch.full((4,), math.sin(0.4)),
        atol=1e-5,
        rtol=0,
    )


def test_child_position_density_still_integrates_to_one() -> None:
    model = _model(strength=3.0)
    with torch.no_grad():
        model.grid_coef.weight.normal_()
    grid = {"grid": torch.tensor([[0.3, -0.5]])}
    assert position_integral(model, torch.randn(1, 32), grid) == pytest.approx(1.0, abs=1e-4)


def test_the_training_pass_rewards_streets_on_the_styles_grid() -> None:
    """A grid tile scores higher given its own bearing than given one 45 degrees off (same
    coherence) by more with the term on than with it off."""
    xy, border, edges, _ = grid_tile(10.0)
    G = new_layout(1000.0)
    for i, p in enumerate(xy):
        G.add_node(i, x=float(p[0]), y=float(p[1]), border=bool(border[i]))
    for u, v in edges:
        add_street(G, int(u), int(v), "residential")
    own, off = _style(10.0), _style(55.0)
    strong, base = _model(4.0), _model(0.0)
    gain_own = log_likelihood(strong, G, style=own) - log_likelihood(base, G, style=own)
    gain_off = log_likelihood(strong, G, style=off) - log_likelihood(base, G, style=off)
    assert gain_own > gain_off + 1.0


def test_the_sampler_draws_streets_along_the_styles_grid() -> None:
    """With a strong term, sampled streets line up with the bearing of the style they were drawn
    with: the sampler and style_of agree on the convention."""
    model = _model(strength=12.0)
    with torch.no_grad():  # mostly children, few ends: enough streets to measure
        model.head_type.bias.copy_(torch.tensor([0.0, 4.0, -2.0, -4.0, -4.0]))
    for angle in (0.0, 30.0):
        model.style_bank = np.repeat(_style(angle)[None], 4, axis=0)
        layouts = sample(model, 8, seed=1, config=SampleConfig(max_nodes=60, temperature=1.0))
        d = np.array(
            [
                (G.nodes[v]["x"] - G.nodes[u]["x"], G.nodes[v]["y"] - G.nodes[u]["y"])
                for G in layouts
                for u, v in G.edges
                if not (G.nodes[u]["border"] and G.nodes[v]["border"])
            ]
        )
        assert len(d) >= 40
        theta = np.arctan2(d[:, 0], d[:, 1])  # bearings, as style_of measures them
        w = np.hypot(d[:, 0], d[:, 1])
        z = (w * np.exp(4j * theta)).sum() / w.sum()
        want = _style(angle)[3] + 1j * _style(angle)[4]
        assert (z * np.conj(want)).real > 0.5  # coherent and on the style's bearing
        off = np.exp(4j * math.radians(45.0)) * want  # 45 degrees off: the opposite phase
        assert (z * np.conj(off)).real < -0.5


def test_grid_strength_scales_the_term_and_is_checked() -> None:
    from citygen.model.checkpoint import load_model

    model = load_model()  # the shipped model has a grid prior
    base = [_key(G) for G in sample(model, 3, seed=4)]
    at = lambda k: [_key(G) for G in sample(model, 3, seed=4, config=SampleConfig(grid_strength=k))]  # noqa: E731
    assert at(1.0) == base
    assert at(3.0) != base
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(UsageError, match="grid strength"):
            SampleConfig(grid_strength=bad)


def test_cli_passes_grid_strength() -> None:
    import argparse

    from citygen.cli._args import add_temperatures, sample_config

    p = argparse.ArgumentParser()
    add_temperatures(p)
    p.add_argument("--min-dist", type=float, default=10.0)
    p.add_argument("--snap", type=float, default=40.0)
    p.add_argument("--bend-tolerance", type=float, default=10.0)
    assert sample_config(p.parse_args([])).grid_strength == 1.0
    assert sample_config(p.parse_args(["--grid-strength", "3"])).grid_strength == 3.0
