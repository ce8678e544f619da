"""train --init-from: a split model starts from a plain model's weights."""

import pytest
import torch

from citygen.errors import UsageError
from citygen.model.checkpoint import save_model
from citygen.model.encode import N_TYPES, Binning
from citygen.model.network import LayoutModel, ModelConfig
from training.warm import load_source, warm_start

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_pair": 16}


def test_a_split_model_keeps_every_weight_of_its_plain_source(tmp_path):
    torch.manual_seed(0)
    src = LayoutModel(ModelConfig(**SMALL))
    save_model(tmp_path / "plain", src, {"status": "complete"})
    torch.manual_seed(1)
    model = LayoutModel(ModelConfig(**SMALL, split=True))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = warm_start(model, load_source(tmp_path / "plain", model.config))
    have, got = src.state_dict(), model.state_dict()
    for name in report["copied"]:
        assert torch.equal(got[name], have[name])
    assert set(report["grown"]) == {"head_type.weight", "head_type.bias", "tok_type.weight"}
    for name in report["grown"]:
        assert torch.equal(got[name][:N_TYPES], have[name])
        assert torch.equal(got[name][N_TYPES:], fresh[name][N_TYPES:])  # the SPLIT row as initialised
    assert report["new"] and all(n.startswith(("split_", "head_split_")) for n in report["new"])
    for name in report["new"]:
        assert torch.equal(got[name], fresh[name])


def test_another_width_is_refused(tmp_path):
    save_model(tmp_path / "plain", LayoutModel(ModelConfig(**SMALL)), {"status": "complete"})
    with pytest.raises(UsageError, match="its d_model is 32, this run's 64"):
        load_source(tmp_path / "plain", ModelConfig(**(SMALL | {"d_model": 64}), split=True))
    with pytest.raises(UsageError, match="weight head_gap.2.weight has shape"):
        load_source(tmp_path / "plain", ModelConfig(**SMALL, binning=Binning(gap_bins=48)))


def test_a_bad_init_from_with_overwrite_leaves_the_old_run(tmp_path):
    """The source is checked before --overwrite removes the run that is there."""
    from citygen.cli import main
    from data_prep.prepare import PrepareConfig, make_sources, prepare

    data = tmp_path / "ds"
    prepare(make_sources(bundled="test"), data, PrepareConfig(block=1), progress=False)
    run = tmp_path / "run"
    save_model(run, LayoutModel(ModelConfig(**SMALL)), {"status": "complete"})
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code = main(["train", "--data", str(data), "--out", str(run), "--overwrite", "--epochs", "1",
                 "--init-from", str(tmp_path / "missing"), "--no-progress"])  # fmt: skip
    assert code != 0
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
