"""Steering: best-of-N keeps the best, SMC resamples towards higher scores, fine-tuning writes a
model that generate samples, the sampler's hard constraints hold under every method, and bad
input ends in ``error: ...`` with exit status 1."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
import torch

from citygen.cli import main
from citygen.errors import UsageError
from citygen.generation import generate
from citygen.model.checkpoint import load_model, read_config, save_model
from citygen.model.encode import END, ROOT
from citygen.model.likelihood import batch_nll, sequence_batch
from citygen.model.network import LayoutModel, ModelConfig
from citygen.objectives import FinetuneConfig, best_of_n, finetune, parse_objective, smc
from citygen.objectives.finetune import leave_one_out, policy_step
from citygen.objectives.smc import Resampler, systematic_resample
from citygen.objectives.steer import resolve_steering
from citygen.sampling.loop import SampleConfig, finish, run_steps, sample
from citygen.sampling.state import SampleState
from data_prep.order import to_sequence

CFG = SampleConfig(max_nodes=48)
MIN_DIST = CFG.min_dist


def tiny_model() -> LayoutModel:
    """A randomly initialised small model that rarely ends a tile early (plumbing, not quality)."""
    torch.manual_seed(0)
    m = LayoutModel(ModelConfig(d_model=16, n_layers=1, n_heads=2, d_pair=8))
    with torch.no_grad():
        m.head_type.bias[END] -= 3.0
        m.head_type.bias[ROOT] -= 2.0
    return m.eval()


@pytest.fixture(scope="module")
def model() -> LayoutModel:
    torch.set_num_threads(1)
    return tiny_model()


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory, model: LayoutModel) -> Path:
    return save_model(tmp_path_factory.mktemp("base") / "run", model)


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory: pytest.TempPathFactory, base_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("tuned") / "run"
    cfg = FinetuneConfig(steps=2, batch_size=4, lr=1e-3, kl=0.1, device="cpu", checkpoint_every=1)
    return finetune(
        parse_objective("connectivity"), out, base_dir, cfg, sample_config=CFG, progress=False
    )


def violations(G: nx.Graph) -> list[str]:
    """Sampling rules checked independently of the sampler (shapely, brute force)."""
    xy = {v: (d["x"], d["y"]) for v, d in G.nodes(data=True)}
    out = [
        f"nodes {a}, {b} closer than {MIN_DIST} m"
        for a, b in itertools.combinations(xy, 2)
        if np.hypot(xy[a][0] - xy[b][0], xy[a][1] - xy[b][1]) < MIN_DIST - 1e-6
    ]
    edges = list(G.edges)
    lines = [shapely.LineString([xy[u], xy[v]]) for u, v in edges]
    for (e1, l1), (e2, l2) in itertools.combinations(zip(edges, lines, strict=True), 2):
        inter = l1.intersection(l2)
        if not set(e1) & set(e2) and not inter.is_empty:
            out.append(f"streets {e1} and {e2} cross")
        elif set(e1) & set(e2) and inter.geom_type != "Point":
            out.append(f"streets {e1} and {e2} overlap (duplicate)")
    out += [f"zero-length street {u}-{v}" for u, v, d in G.edges(data=True) if d["length"] <= 0]
    return out


def positions(G: nx.Graph) -> list:
    return sorted((round(d["x"], 6), round(d["y"], 6)) for _, d in G.nodes(data=True))


# ----------------------------------------------------------------------------- best of N
def test_best_of_n_keeps_the_best_candidate(model):
    comb = parse_objective("connectivity,travel_time", "1,0.5")
    pool = sample(model, 3 * 4, seed=5, config=CFG)
    scores = comb.scores(pool).reshape(3, 4)
    assert (scores.max(-1) > scores.min(-1)).all()  # the candidates really differ
    r = best_of_n(model, comb, 3, seed=5, candidates=4, config=CFG)
    np.testing.assert_allclose(r.pool_scores, scores)
    np.testing.assert_allclose(r.scores, scores.max(-1))
    for i, G in enumerate(r.layouts):
        assert positions(G) == positions(pool[4 * i + int(scores[i].argmax())])
        assert comb.score(G) == pytest.approx(scores[i].max())


def test_realism_term_trades_objective_for_typical_layouts(model):
    """On the same candidates, a heavier realism term never picks a less typical layout, and
    never a better objective value: the choice moves along the Pareto front."""
    picks = {
        r: best_of_n(
            model, parse_objective("connectivity", realism=r), 4, seed=3, candidates=6, config=CFG
        )
        for r in (0.0, 0.5, 5.0)
    }
    ref = parse_objective("connectivity").realism_reference
    typ = {r: np.array([ref(G) for G in res.layouts]) for r, res in picks.items()}
    conn = {r: np.array([v["connectivity"] for v in res.values]) for r, res in picks.items()}
    assert (typ[0.5] <= typ[0.0] + 1e-9).all()
    assert (typ[5.0] <= typ[0.5] + 1e-9).all()
    assert (conn[5.0] <= conn[0.5] + 1e-9).all()
    assert (conn[0.5] <= conn[0.0] + 1e-9).all()
    assert typ[5.0].sum() < typ[0.0].sum()  # the term changes some choice
    assert "typicality" in picks[0.5].values[0]
    assert "typicality" not in picks[0.0].values[0]


def test_best_of_one_is_plain_sampling(model):
    r = best_of_n(model, parse_objective("length"), 3, seed=2, candidates=1, config=CFG)
    assert [positions(G) for G in r.layouts] == [
        positions(G) for G in sample(model, 3, seed=2, config=CFG)
    ]


def test_candidates_must_be_positive(model):
    with pytest.raises(UsageError, match="candidates"):
        best_of_n(model, parse_objective("length"), 2, candidates=0)


# ---------------------------------------------------------------------------------- SMC
def test_systematic_resampling():
    rng = np.random.default_rng(0)
    w = np.array([[0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0], [0.5, 0.0, 0.0, 0.5]])
    idx = systematic_resample(w, rng)
    assert idx[0].tolist() == [0, 1, 2, 3]
    assert idx[1].tolist() == [2, 2, 2, 2]
    assert sorted(idx[2].tolist()) == [0, 0, 3, 3]


def test_resampling_copies_high_scoring_particles(model):
    """Controlled case: with a huge beta every particle becomes a copy of the best partial
    layout (its whole state, cache included)."""
    comb = parse_objective("travel_time", realism=0)
    seed = 3
    state = SampleState(model, 4, CFG, torch.device("cpu"), seed, [None] * 4)
    resampler = Resampler(comb, groups=1, particles=4, beta=1e6, rng=np.random.default_rng(0))
    seen: dict = {}

    def callback(st: SampleState, t: int) -> None:
        if "after" in seen:
            return
        phi = comb.scores(st.layouts(seed=0))
        seen["phi"], seen["best"] = phi, st.pos[int(phi.argmax()), :t].clone()
        resampler(st, t)
        seen["after"] = st.pos[:, :t].clone()

    run_steps(state, every=6, callback=callback)
    assert seen["phi"].max() > seen["phi"].min()
    for row in seen["after"]:
        assert torch.equal(row, seen["best"])


def test_smc_without_resampling_is_best_of_p(model):
    comb = parse_objective("connectivity")
    a = smc(model, comb, 2, seed=4, particles=4, beta=0.0, batch_size=8, config=CFG)
    assert a.info["mean_ess"] == 1.0  # nothing resampled
    np.testing.assert_allclose(a.scores, a.pool_scores.max(-1))
    np.testing.assert_allclose(a.scores, comb.scores(a.layouts))


def test_smc_finishes_layouts_like_plain_sampling(model):
    """SMC's layouts get the same dead-end snapping as plain sampling's."""
    comb = parse_objective("length", realism=0)
    # no bend dropping: dropping bends before and after a snap differ, and raw is dropped once
    off = SampleConfig(max_nodes=48, snap=0.0, bend_tolerance=0.0)
    far = SampleConfig(max_nodes=48, snap=300.0, bend_tolerance=0.0)  # joins a dead end here
    raw = smc(model, comb, 3, seed=2, particles=2, beta=0.0, config=off).layouts
    snapped = smc(model, comb, 3, seed=2, particles=2, beta=0.0, config=far).layouts
    again = finish(raw, far)  # what plain sampling does to its layouts

    def streets(Gs: list) -> list:
        return [sorted(positions(G.edge_subgraph([e])) for e in G.edges) for G in Gs]

    assert streets(again) != streets(raw)  # snapping joined some dead end
    assert streets(snapped) == streets(again)


def test_smc_resamples_and_keeps_the_best_final_particle(model):
    comb = parse_objective("travel_time")
    r = smc(model, comb, 2, seed=1, particles=4, every=4, beta=4.0, config=CFG)
    assert r.info["mean_ess"] < 1.0  # resampling happened
    np.testing.assert_allclose(r.scores, r.pool_scores.max(-1))
    np.testing.assert_allclose(r.scores, comb.scores(r.layouts))


def test_smc_scores_partial_layouts_without_the_realism_term():
    comb = parse_objective("connectivity", realism=0.5)
    r = Resampler(comb, 2, 3, 4.0, np.random.default_rng(0))
    assert r.objective.realism == 0.0
    assert r.objective.names == comb.names


def test_smc_bad_settings(model):
    with pytest.raises(UsageError, match="particles"):
        smc(model, parse_objective("length"), 1, particles=0)
    with pytest.raises(UsageError, match="beta"):
        smc(model, parse_objective("length"), 1, beta=-1.0)


# ------------------------------------------------------------------------------ finetune
def test_finetune_writes_a_loadable_model(tuned_dir, base_dir):
    cfg = read_config(tuned_dir)
    assert cfg["status"] == "complete"
    assert cfg["steps"] == 2
    assert len(cfg["history"]) == 2
    assert cfg["finetune"]["objective"]["names"] == ["connectivity"]
    assert {"score", "kl", "connectivity"} <= set(cfg["history"][0])
    assert not list(tuned_dir.glob(".*.tmp"))  # atomic writes leave no temporaries
    tuned, base = load_model(tuned_dir), load_model(base_dir)
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed


def test_policy_gradient_step_favours_better_layouts(model):
    """One step with no KL raises the likelihood of layouts that scored above the baseline
    relative to those below it (the REINFORCE surrogate improves on the same batch)."""
    policy = tiny_model()
    reference = tiny_model().requires_grad_(False)
    comb = parse_objective("connectivity")
    cfg = FinetuneConfig(batch_size=8, lr=1e-3, kl=0.0, device="cpu")
    layouts = sample(policy, 8, seed=11, batch_size=8, config=CFG)
    adv = torch.as_tensor(comb.scores(layouts), dtype=torch.float32)
    adv = adv - leave_one_out(adv)
    batch = sequence_batch([to_sequence(G) for G in layouts], policy)
    with torch.no_grad():
        before = -batch_nll(policy, batch)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    rec = policy_step(policy, reference, opt, comb, cfg, seed=11, sample_config=CFG)
    with torch.no_grad():
        after = -batch_nll(policy, batch)
    assert float((adv * (after - before)).sum()) > 0
    assert rec["kl"] == pytest.approx(0.0, abs=1e-4)  # KL measured before the update


# ------------------------------------------------------------------ constraints, generate
def test_hard_constraints_hold_under_every_method(model, tuned_dir):
    comb = parse_objective("connectivity,travel_time", "1,0.5")
    layouts = best_of_n(model, comb, 4, seed=0, candidates=4, config=CFG).layouts
    layouts += smc(model, comb, 4, seed=0, particles=4, every=4, beta=4.0, config=CFG).layouts
    layouts += sample(load_model(tuned_dir), 6, seed=0, config=CFG)
    assert sum(G.number_of_edges() for G in layouts) > 50
    bad = {i: v for i, G in enumerate(layouts) if (v := violations(G))}
    assert not bad, (
        f"{len(bad)} of {len(layouts)} steered layouts break a rule: {next(iter(bad.values()))[:3]}"
    )


def _meta(path: Path) -> dict:
    return json.loads(path.read_text())["citygen"]


def test_generate_records_objective_and_method(tmp_path, base_dir):
    res = generate(
        tmp_path / "smc",
        model=base_dir,
        n=2,
        seed=1,
        formats="geojson",
        device="cpu",
        sample_config=CFG,
        objective="connectivity,length",
        weights="1,0.5",
        method="smc",
        particles=3,
    )
    meta = _meta(res.files[0])["objective"]
    assert meta["names"] == ["connectivity", "length"]
    assert meta["weights"] == [1.0, 0.5]
    assert meta["realism"] == 0.5  # the default realism term
    assert meta["mean_values"]["typicality"] > 0
    assert meta["method"] == "smc"
    assert meta["settings"]["particles"] == 3
    assert meta["mean_score"] == pytest.approx(float(res.steered.scores.mean()), abs=1e-6)
    plain = generate(
        tmp_path / "plain", model=base_dir, n=1, formats="geojson", device="cpu", sample_config=CFG
    )
    assert plain.steered is None
    assert _meta(plain.files[0])["objective"] is None


def test_generate_samples_a_finetuned_model_directly(tmp_path, tuned_dir):
    res = generate(
        tmp_path / "ft", model=tuned_dir, n=2, formats="geojson", device="cpu", sample_config=CFG
    )
    meta = _meta(res.files[0])["objective"]
    assert meta["method"] == "finetune"
    assert meta["names"] == ["connectivity"]
    expect = sample(load_model(tuned_dir), 2, seed=0, config=CFG)
    assert [positions(G) for G in res.layouts] == [positions(G) for G in expect]


def test_finetuned_models_keep_their_realism_weight(tmp_path, base_dir, tuned_dir):
    """A fine-tuned model is measured with the realism weight it was trained with, unless
    --realism says otherwise; models tuned before the term existed (no entry) mean 0."""
    assert read_config(tuned_dir)["finetune"]["objective"]["realism"] == 0.5
    cfg = FinetuneConfig(steps=1, batch_size=2, device="cpu", checkpoint_every=1)
    plain = finetune(
        parse_objective("connectivity", realism=0),
        tmp_path / "plain",
        base_dir,
        cfg,
        sample_config=CFG,
        progress=False,
    )
    kw = {"n": 1, "formats": "geojson", "device": "cpu", "sample_config": CFG}
    assert (
        _meta(generate(tmp_path / "a", model=tuned_dir, **kw).files[0])["objective"]["realism"]
        == 0.5
    )
    meta = _meta(generate(tmp_path / "b", model=plain, **kw).files[0])["objective"]
    assert meta["realism"] == 0.0
    assert "typicality" not in meta["mean_values"]
    meta = _meta(generate(tmp_path / "c", model=plain, realism=1.0, **kw).files[0])["objective"]
    assert meta["realism"] == 1.0
    assert "typicality" in meta["mean_values"]
    old = {"objective": {"names": ["connectivity"], "weights": [1.0]}}  # before the term
    assert resolve_steering(None, None, None, finetuned=old).objective.realism == 0.0


def test_finetune_method_errors(tmp_path, base_dir, tuned_dir):
    with pytest.raises(UsageError, match="citygen finetune"):
        generate(
            tmp_path / "a", model=base_dir, n=1, device="cpu", method="finetune", objective="length"
        )
    with pytest.raises(UsageError, match="fine-tuned for connectivity"):
        generate(tmp_path / "b", model=tuned_dir, n=1, device="cpu", objective="length")
    with pytest.raises(UsageError, match="needs --objective"):
        generate(tmp_path / "c", model=base_dir, n=1, device="cpu", method="smc")


# --------------------------------------------------------------------------- command line
def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "citygen", *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["generate", "--objective", "walkability"], "unknown objective 'walkability'"),
        (
            ["generate", "--objective", "connectivity", "--candidates", "0"],
            "--candidates must be at least 1",
        ),
    ],
)
def test_cli_bad_steering_exits_1(tmp_path, argv, match):
    proc = _cli(*argv, "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert match in proc.stderr


def test_cli_finetune_on_a_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    proc = _cli(
        "finetune",
        "--objective",
        "connectivity",
        "--model",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert "not a citygen model" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["--objective", "connectivity,travel_time", "--weights", "1"],
            "1 weights for 2 objectives",
        ),
        (["--objective", "connectivity,length", "--weights", "1,-2"], "non-negative"),
        (["--objective", "length", "--method", "beam"], "unknown steering method"),
        (["--objective", "length", "--realism", "-1"], "--realism must be a finite number >= 0"),
        (["--realism", "1"], "--realism needs --objective"),
        (["--objective", "length", "--realism-data", "/nonexistent/x.json"], "realism reference"),
        (
            ["--objective", "length", "--method", "smc", "--particles", "0"],
            "--particles must be at least 1",
        ),
    ],
)
def test_cli_bad_weights_and_methods(tmp_path, capsys, base_dir, argv, match):
    code = main(["generate", "--model", str(base_dir), "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ")
    assert match in err


def test_cli_generate_and_finetune(tmp_path, capsys, base_dir):
    out = tmp_path / "ft"
    argv = [
        "finetune",
        "--objective",
        "length",
        "--model",
        str(base_dir),
        "--out",
        str(out),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "generate --model" in capsys.readouterr().out
    assert main(argv) == 1
    assert "already holds a model" in capsys.readouterr().err
    code = main(
        [
            "generate",
            "--model",
            str(base_dir),
            "--n",
            "2",
            "--objective",
            "length",
            "--candidates",
            "2",
            "--format",
            "geojson",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "g"),
        ]
    )
    assert code == 0
    assert "objective (best-of-n)" in capsys.readouterr().out


def test_smc_weights_drop_invalid_particles():
    res = Resampler(
        parse_objective("length"), groups=2, particles=3, beta=1.0, rng=np.random.default_rng(0)
    )
    w = res.weights(
        np.array([5.0, 0.0, 0.0, 1.0, 2.0, 3.0]), np.array([False, True, True, False, False, False])
    )
    assert w[0].tolist() == pytest.approx([0.0, 0.5, 0.5])
    assert w[1].sum() == pytest.approx(1.0)  # a group with no valid particle keeps its weights
    assert (w[1] > 0).all()


def test_cli_finetune_refuses_to_overwrite_its_own_model(tmp_path, capsys, base_dir):
    """--out equal to --model used to replace the pretrained weights with the tuned ones."""
    before = {p.name: p.read_bytes() for p in base_dir.iterdir() if p.is_file()}
    argv = ["finetune", "--objective", "length", "--model", str(base_dir), "--out",
            str(base_dir), "--steps", "1", "--batch-size", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is the model being fine-tuned" in err
    assert {p.name: p.read_bytes() for p in base_dir.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(("argv", "words"), [
    (["--lr", "1e308"], "learning rate must be positive and at most"),
    (["--lr", "1e30"], "fine-tuning diverged"),
])  # fmt: skip
def test_cli_finetune_bad_or_diverging_lr_is_one_error_line(tmp_path, capsys, base_dir, argv,
                                                            words):  # fmt: skip
    """Both used to end in a traceback (float overflow in AdamW; NaN in the JSON config)."""
    out = tmp_path / "ft"
    code = main(["finetune", "--objective", "length", "--model", str(base_dir), "--out", str(out),
                 "--steps", "3", "--batch-size", "2", "--no-progress", *argv])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not (out / "config.json").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_cli_finetune_seeds_out_of_range_are_usage_errors(tmp_path, capsys, base_dir, seed):
    with pytest.raises(SystemExit) as exc:
        main(["finetune", "--objective", "length", "--model", str(base_dir), "--out",
              str(tmp_path / "ft"), f"--seed={seed}"])  # fmt: skip
    assert exc.value.code == 2
    assert "seed must be within" in capsys.readouterr().err


def test_step_seeds_of_large_seeds_stay_in_range():
    from citygen.objectives.finetune import step_seed

    assert step_seed(3, 2) == 3 * 1_000_003 + 2  # small seeds: the seeds used before
    assert 0 <= step_seed(2**63 - 1, 99) < 2**63
