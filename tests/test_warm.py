"""train --init-from: a split model starts from a plain model's weights."""

import pytest
import torch

from citygen.errors import UsageError
from citygen.model.checkpoint import save_model
from citygen.model.encode import N_TYPES
from citygen.model.network import LayoutModel, ModelConfig
from training.warm import warm_start

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_pair": 16}


def test_a_split_model_keeps_every_weight_of_its_plain_source(tmp_path):
    torch.manual_seed(0)
    src = LayoutModel(ModelConfig(**SMALL))
    save_model(tmp_path / "plain", src, {"status": "complete"})
    torch.manual_seed(1)
    model = LayoutModel(ModelConfig(**SMALL, split=True))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = warm_start(model, tmp_path / "plain")
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
    model = LayoutModel(ModelConfig(**(SMALL | {"d_model": 64}), split=True))
    with pytest.raises(UsageError, match="its d_model is 32, this run's 64"):
        warm_start(model, tmp_path / "plain")
