"""Split steps (a node placed on an earlier street, cutting it): canonical, exact, replayable."""

import itertools
import math

import numpy as np
import pytest
import torch

from citygen.model.batch import degree_before
from citygen.model.encode import SPLIT, Binning, encode
from citygen.model.likelihood import log_likelihood, sequence_batch, step_nll
from citygen.model.network import LayoutModel, ModelConfig
from citygen.model.split import (
    SPLIT_BEND,
    bend_ok,
    final_edges,
    max_offset,
    split_chain,
    split_coords,
    split_point,
)
from citygen.sampling.loop import SampleConfig, run_steps, sample
from citygen.sampling.state import SampleState
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "ds"
    prepare(make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False)
    return sorted(load_dataset(out).sequences(), key=lambda s: -s.n_nodes)


def _model(**kw) -> LayoutModel:
    torch.manual_seed(0)
    return LayoutModel(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_pair=16, split=True, **kw)).eval()


def test_split_coordinates_round_trip_and_stay_within_the_bend():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pu, pv = rng.random(2), rng.random(2)
        t, f = rng.uniform(0.01, 0.99), rng.uniform(-1, 1)
        w = split_point(pu, pv, t, f)
        t2, f2, _ = split_coords(pu, pv, w)
        assert (t2, f2) == pytest.approx((t, f), abs=1e-9)
        assert bend_ok(pu, w, pv)
    # f = +-1 is exactly the largest bend
    pu, pv = np.zeros(2), np.array([1.0, 0.0])
    w = split_point(pu, pv, 0.3, 1.0)
    a, b = pu - w, pv - w
    angle = math.degrees(math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert angle == pytest.approx(180.0 - SPLIT_BEND, abs=1e-9)
    assert float(max_offset(0.5)) == pytest.approx(0.5 * math.tan(math.radians(SPLIT_BEND / 2)), rel=1e-12)


def test_split_position_density_integrates_to_one():
    """p(w) = P(t bin) P(f bin | t bin) / (dt df L^2 s(t)) integrates to one over the plane."""
    b = Binning()
    rng = np.random.default_rng(1)
    pt = rng.dirichlet(np.ones(b.split_t_bins))
    # offset bins as wide as 1e-3 of the largest offset cannot be resolved by a grid of the
    # plane: give each offset bin a probability proportional to its width here (the Jacobian is
    # checked point by point below), any probabilities along the street
    width = b.split_f_width(np.arange(2 * b.split_f_bins))
    pf = np.broadcast_to(width / width.sum(), (b.split_t_bins, 2 * b.split_f_bins))
    pu, pv = np.array([0.2, 0.3]), np.array([0.5, 0.4])  # L = 0.316
    # integrate on a fine grid of the plane around the street
    h = 4e-4
    xs = np.arange(0.15, 0.55, h)
    ys = np.arange(0.2, 0.5, h)
    X, Y = np.meshgrid(xs + h / 2, ys + h / 2, indexing="ij")
    d = pv - pu
    L2 = float(d @ d)
    rel = np.stack([X - pu[0], Y - pu[1]], -1)
    t = (rel @ d) / L2
    s = (d[0] * rel[..., 1] - d[1] * rel[..., 0]) / L2
    smax = max_offset(np.clip(t, 0, 1))
    inside = (t > 0) & (t < 1) & (np.abs(s) < smax)
    f = np.where(inside, s / np.maximum(smax, 1e-300), 0.0)
    tb, fb = b.split_t_bin(t), b.split_f_bin(f)
    dens = pt[tb] * pf[tb, fb] / ((1.0 / b.split_t_bins) * b.split_f_width(fb) * L2 * np.maximum(smax, 1e-300))
    assert float((dens * inside).sum() * h * h) == pytest.approx(1.0, abs=5e-3)
    # and the area element dw = L^2 s(t) dt df, by finite differences at random points
    for t0, f0 in rng.uniform([0.02, -0.98], [0.98, 0.98], size=(50, 2)):
        e = 1e-6
        dt = (split_point(pu, pv, t0 + e, f0) - split_point(pu, pv, t0 - e, f0)) / (2 * e)
        df = (split_point(pu, pv, t0, f0 + e) - split_point(pu, pv, t0, f0 - e)) / (2 * e)
        jac = abs(dt[0] * df[1] - dt[1] * df[0])
        _, _, log_jac = split_coords(pu, pv, split_point(pu, pv, t0, f0))
        assert jac == pytest.approx(math.exp(log_jac), rel=1e-5)


def test_the_chain_of_a_real_tile_has_splits_and_builds_the_tile_back(seqs):
    n_split = 0
    for seq in seqs:
        border = seq.border.astype(bool)
        chain = split_chain(seq.pos, border, seq.edges, seq.classes, 96)
        real = {(int(max(a, b)), int(min(a, b))) for a, b in seq.edges}
        assert final_edges(chain, seq.n_nodes) == real
        for w in np.flatnonzero(chain.split_u >= 0):
            u, v = chain.split_u[w], chain.split_v[w]
            assert u < v < w and not border[w]
            assert bend_ok(seq.pos[u], seq.pos[w], seq.pos[v])
        # the degree of every node before every step is that of the graph the chain built so far
        deg = degree_before(seq.n_nodes, chain.edges, chain.removed)
        assert (deg >= 0).all()
        assert (deg[-1] == np.bincount(np.asarray(list(real)).ravel(), minlength=seq.n_nodes)).all()
        n_split += int((chain.split_u >= 0).sum())
    assert n_split > 10
    # without a window there are no splits: the plain chain
    plain = split_chain(seqs[0].pos, seqs[0].border.astype(bool), seqs[0].edges, seqs[0].classes, None)
    assert (plain.split_u < 0).all() and not plain.implied.any()


def test_split_model_likelihood_is_finite_and_has_split_terms(seqs):
    model = _model()
    seq = seqs[0]
    e = encode(seq, model.config.binning, model.config.window)
    assert (e.types == SPLIT).sum() > 0
    with torch.no_grad():
        terms = step_nll(model, sequence_batch([seq], model))
    assert "split" in terms
    at = torch.as_tensor(e.types[:-1] == SPLIT)
    assert bool((terms["split"][0, :-1][at] != 0).all())
    assert bool((terms["split"][0, :-1][~at] == 0).all())
    assert bool((terms["position"][0, :-1][at] == 0).all())  # a split node has no child position
    total = sum(float(v.sum()) for v in terms.values())
    assert math.isfinite(total)
    assert log_likelihood(model, seq) == pytest.approx(-total, rel=1e-5)


def test_split_candidate_pointer_is_normalised(seqs):
    """The split pointer is a distribution over the streets that may be cut, whose total
    probability with every other choice of the step type sums to one (checked through the
    type head: P(SPLIT) is masked off where no street may be cut)."""
    model = _model()
    batch = sequence_batch([seqs[0]], model)
    any_split = (batch["sp_u"] >= 0).any(-1)[0]
    assert bool(any_split[1:].any()) and not bool(any_split[0])


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_teacher_forced_split_sampler_replays_real_tiles(seqs, backbone):
    model = _model(backbone=backbone)
    for seq in seqs[:4]:
        seen = []
        hook = model.head_type.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach().clone()))
        with torch.no_grad():
            step_nll(model, sequence_batch([seq], model))
        train_h = seen.pop()[0]
        seen.clear()
        state = SampleState(model, 1, SampleConfig(max_nodes=seq.n_nodes + 1), torch.device("cpu"), 0, [seq])
        with torch.no_grad():
            run_steps(state)
        hook.remove()
        n = seq.n_nodes
        torch.testing.assert_close(torch.stack([h[0] for h in seen])[:n], train_h[:n], rtol=1e-4, atol=1e-4)
        G = state.layouts(seed=0)[0]
        real = {frozenset((int(a), int(b))) for a, b in seq.edges}
        assert {frozenset(e) for e in G.edges()} == real


def _angle_violations(G, min_angle: float = 10.0) -> list[str]:
    out = []
    for n in G.nodes:
        x, y = G.nodes[n]["x"], G.nodes[n]["y"]
        dirs = [math.atan2(G.nodes[m]["y"] - y, G.nodes[m]["x"] - x) for m in G[n]]
        for a, b in itertools.combinations(dirs, 2):
            d = abs((a - b + math.pi) % (2 * math.pi) - math.pi)
            if math.degrees(d) < min_angle - 1e-6:
                out.append(f"streets at {n} {math.degrees(d):.1f} deg apart")
    return out


def test_sampled_splits_keep_every_rule():
    from tests.test_sample import violations

    model = _model()
    with torch.no_grad():  # a model that wants to split often
        model.head_type.bias[SPLIT] += 3.0
    counts = []

    def count(st, t):
        counts.append(int((st.types == SPLIT).sum()))

    cfg = SampleConfig(max_nodes=120, snap=0)
    layouts = sample(model, 12, seed=3, batch_size=12, config=cfg)
    for G in layouts:
        assert not violations(G), violations(G)[:3]
        assert not _angle_violations(G)
    state = SampleState(model, 4, cfg, torch.device("cpu"), 0, [None] * 4)
    with torch.no_grad():
        run_steps(state, every=1, callback=count)
    assert max(counts) > 5  # splits happened
