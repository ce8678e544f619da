"""The model's likelihood is exact: densities integrate to one, steps only see the past."""

import math

import numpy as np
import pytest
import torch

from citygen.model.batch import collate, tile_arrays
from citygen.model.encode import Binning, encode
from citygen.model.likelihood import (
    _position_nll,
    batch_nll,
    log_likelihood,
    sequence_batch,
    step_nll,
)
from citygen.model.network import LayoutModel, ModelConfig
from data_prep.order import Sequence
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    out = tmp_path_factory.mktemp("lk") / "ds"
    prepare(make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False)
    return load_dataset(out).sequences()


def _model(**kw) -> LayoutModel:
    torch.manual_seed(0)
    return LayoutModel(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_pair=16, **kw)).eval()


def position_integral(model, ctx, extra: dict | None = None, q: int = 3) -> float:
    """Integral over the plane of a child's position density, by quadrature.

    ``q`` points per bin in angle and log-distance (the density is piecewise constant in
    (angle, log r) times 1/r^2, and dx dy = r^2 d(angle) d(log r)); ``extra``: more batch
    entries, each broadcast to every point (a grid phase).
    """
    b = model.config.binning
    th = (torch.arange(b.angle_bins * q) + 0.5) * b.dtheta / q
    lr = b.log_r_min + (torch.arange(b.dist_bins * q) + 0.5) * b.dlogr / q
    TH, LR = torch.meshgrid(th, lr, indexing="ij")
    TH, LR = TH.reshape(-1), LR.reshape(-1)
    batch = {
        "angle_bin": torch.as_tensor(b.angle_bin(TH.numpy())),
        "dist_bin": torch.as_tensor(b.dist_bin(np.exp(LR.numpy()))),
        "log_r": LR,
    }
    batch.update({k: v.expand(len(TH), -1) for k, v in (extra or {}).items()})
    with torch.no_grad():
        nll = _position_nll(model, ctx.expand(len(TH), -1), batch)
    mass = (torch.exp(-nll.double()) * torch.exp(2 * LR.double())).sum()
    return float(mass * (b.dtheta / q) * (b.dlogr / q))


def test_child_position_density_integrates_to_one():
    model = _model()
    ctx = torch.randn(1, model.config.d_model)
    assert position_integral(model, ctx) == pytest.approx(1.0, abs=1e-4)


def test_absolute_position_density_integrates_to_one():
    model = _model(position="absolute", binning=Binning(xy_bins=32))
    ctx = torch.randn(1, model.config.d_model)
    g = (torch.arange(64) + 0.5) / 64
    X, Y = (z.reshape(-1) for z in torch.meshgrid(g, g, indexing="ij"))
    xy = torch.stack([X, Y], -1).numpy()
    batch = {"xy_bin": torch.as_tensor(model.config.binning.grid_bin(xy, 32))}
    with torch.no_grad():
        nll = _position_nll(model, ctx.expand(len(X), -1), batch)
    assert float(torch.exp(-nll.double()).sum() / 64**2) == pytest.approx(1.0, abs=1e-4)


def test_total_is_sum_of_steps_and_api_agrees(seqs):
    model = _model()
    seq = seqs[0]
    batch = sequence_batch([seq], model)
    with torch.no_grad():
        terms = step_nll(model, batch)
        total = float(batch_nll(model, batch)[0])
    assert total == pytest.approx(sum(float(v.sum()) for v in terms.values()), rel=1e-6)
    assert log_likelihood(model, seq) == pytest.approx(-total, rel=1e-5)
    assert math.isfinite(total)


def _truncate(seq: Sequence, k: int) -> Sequence:
    keep = seq.edges[:, 0] < k
    return Sequence(seq.pos[:k], seq.border[:k], seq.edges[keep], seq.classes[keep], seq.tile_size)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_steps_depend_only_on_the_past(seqs, backbone):
    model = _model(backbone=backbone)
    seq = max(seqs, key=lambda s: s.n_nodes)
    k = seq.n_nodes // 2
    with torch.no_grad():
        full = step_nll(model, sequence_batch([seq], model))
        part = step_nll(model, sequence_batch([_truncate(seq, k)], model))
    for name in full:
        # steps 0..k-1 see the same history and make the same decisions in both
        torch.testing.assert_close(full[name][0, :k], part[name][0, :k], rtol=1e-5, atol=1e-5)


def test_likelihood_depends_on_the_data(seqs):
    model = _model()
    seq = max(seqs, key=lambda s: s.n_nodes)
    i = int(np.flatnonzero(~seq.border)[3])
    pos = seq.pos.copy()
    pos[i] += 0.02
    moved = Sequence(pos, seq.border, seq.edges, seq.classes, seq.tile_size)
    assert log_likelihood(model, moved) != pytest.approx(log_likelihood(model, seq), abs=1e-6)


def test_padding_does_not_change_a_tile(seqs):
    model = _model()
    small, big = sorted(seqs, key=lambda s: s.n_nodes)[0], max(seqs, key=lambda s: s.n_nodes)
    arrays = [tile_arrays(encode(s, model.config.binning), model.config.window) for s in (small, big)]
    with torch.no_grad():
        alone = float(batch_nll(model, collate(arrays[:1]))[0])
        padded = float(batch_nll(model, collate(arrays))[0])
    assert padded == pytest.approx(alone, rel=1e-5)


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
@pytest.mark.parametrize("T", [9, 150])  # 150: the key/value buffers grow twice (64, 130)
def test_incremental_backbone_matches_full(backbone, T):
    model = _model(backbone=backbone)
    x = torch.randn(3, T, model.config.d_model)
    with torch.no_grad():
        full = model.backbone(x)
        cache = model.new_cache()
        steps = [model.backbone(x[:, t : t + 1], cache, start=t) for t in range(T)]
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_cache_rows_can_be_selected_mid_sequence():
    """Dropping and copying rows of the cache (finished tiles, resampled particles) continues
    each kept row exactly as if it had run alone."""
    model = _model()
    x = torch.randn(3, 80, model.config.d_model)
    index = torch.tensor([2, 0, 2])
    with torch.no_grad():
        full = model.backbone(x[index])
        cache = model.new_cache()
        for t in range(70):
            model.backbone(x[:, t : t + 1], cache, start=t)
        for layer in cache:
            layer.select(index)
        steps = [model.backbone(x[index, t : t + 1], cache, start=t) for t in range(70, 80)]
    torch.testing.assert_close(torch.cat(steps, 1), full[:, 70:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("remaining", [4.0, 2.5, 0.3])
def test_border_gap_density_integrates_to_one(remaining):
    from citygen.model.likelihood import gap_nll

    model = _model()
    b = model.config.binning
    h = torch.randn(1, model.config.d_model)
    log_g = torch.linspace(math.log(1e-9), math.log(remaining - 1e-9), 200001, dtype=torch.float64)
    g = torch.exp(log_g)
    k = torch.as_tensor(b.gap_bin(g.numpy()))
    with torch.no_grad():
        nll = gap_nll(model, h.expand(len(g), -1), g.float(), k, torch.full((len(g),), remaining))
    # integrate the density over the gap on a log grid: d(gap) = gap d(log gap)
    assert float(torch.trapezoid(torch.exp(-nll.double()) * g, log_g)) == pytest.approx(1.0, abs=1e-4)
