"""Context noise displaces what the backbone reads, consistently, and never the targets."""

import json
import os
import subprocess
import sys

import pytest
import torch

from citygen.model.likelihood import backbone_states, batch_nll, sequence_batch
from citygen.model.network import LayoutModel, ModelConfig
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset
from training.noise import NOISY_KEYS, context_noise


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise") / "ds"
    prepare(
        make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False
    )
    return out


def _model() -> LayoutModel:
    torch.manual_seed(0)
    return LayoutModel(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_pair=16, split=True)).eval()


def _batch(data, model):
    seqs = [s for s in load_dataset(data).sequences() if len(s.pos) > 3][:4]
    assert len(seqs) >= 2
    return sequence_batch(seqs, model)


def test_displacements_move_positions_offsets_and_edges_together(data):
    model = _model()
    batch = _batch(data, model)
    noisy = context_noise(batch, 0.01, torch.Generator().manual_seed(1))
    d = noisy["tok_pos"] - batch["pos"]
    assert float(d[batch["node_mask"]].abs().max()) > 0.001  # about 5 m on a 500 m tile
    assert float(d[~batch["node_mask"]].abs().sum()) == 0.0  # padding stays put
    N = batch["pos"].shape[1]
    for b in range(batch["pos"].shape[0]):
        n = int(batch["n"][b])
        for t in range(n):
            p = int(batch["parent"][b, t])
            if p >= 0:  # the offset from the parent is that of the displaced nodes
                want = noisy["tok_pos"][b, t] - noisy["tok_pos"][b, p]
                assert torch.allclose(noisy["tok_rel"][b, t], want, atol=1e-6)
        for e in range(int(batch["edge_mask"][b].sum())):
            hi, lo = int(batch["edge_i"][b, e]), int(batch["edge_j"][b, e])
            assert hi < N
            assert lo < hi
            want = noisy["tok_pos"][b, lo] - noisy["tok_pos"][b, hi]
            assert torch.allclose(noisy["tok_edge_rel"][b, e], want, atol=1e-6)
    for key in batch:  # nothing the heads or the targets use is touched
        assert torch.equal(noisy[key], batch[key])


def test_only_the_backbone_reads_the_displaced_context(data):
    model = _model()
    batch = _batch(data, model)
    exact = {k: batch[k] for k in ("pos", "rel", "edge_rel")}
    same = batch | dict(zip(NOISY_KEYS, exact.values(), strict=True))
    with torch.no_grad():
        assert torch.equal(batch_nll(model, same), batch_nll(model, batch))
        noisy = context_noise(batch, 0.01, torch.Generator().manual_seed(1))
        assert not torch.equal(backbone_states(model, noisy), backbone_states(model, batch))
        assert not torch.equal(batch_nll(model, noisy), batch_nll(model, batch))
    assert context_noise(batch, 0.0, torch.Generator()) is batch


def test_train_with_context_noise_records_it(data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tiny = ["--d-model", "16", "--layers", "1", "--heads", "2", "--window", "48",
            "--batch-size", "4", "--windows", "4", "--realism-samples", "0", "--no-progress",
            "--epochs", "1"]  # fmt: skip

    def train(out, noise: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "citygen", "train", "--data", str(data), "--out", str(out),
               "--context-noise", noise, *tiny]  # fmt: skip
        return subprocess.run(cmd, env=env, capture_output=True, text=True)

    outs = []
    for noise in ("0", "5"):
        r = train(tmp_path / f"n{noise}", noise)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads((tmp_path / f"n{noise}" / "config.json").read_text()))
    assert outs[1]["train"]["context_noise_m"] == 5.0
    assert outs[0]["final_val_nll"] != outs[1]["final_val_nll"]  # the noise reached the loss
    bad = train(tmp_path / "bad", "-1")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: context noise must be within")
    assert not (tmp_path / "bad").exists()
