"""The sampler and the training pass build the same inputs for every decision.

With a whole real tile as prefix, the sampler replays it step by step (key/value cache,
incremental tokens, state features); each step's decision input must equal what the
teacher-forced training pass computes for that step. If they drifted apart, the model would be
sampled from a different distribution than the one it was trained on.
"""

import pytest
import torch

from citygen.model.likelihood import sequence_batch, step_nll
from citygen.model.network import LayoutModel, ModelConfig
from citygen.sampling.loop import SampleConfig, run_steps
from citygen.sampling.state import SampleState
from data_prep.prepare import PrepareConfig, make_sources, prepare
from data_prep.shards import load_dataset


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    out = tmp_path_factory.mktemp("cons") / "ds"
    prepare(make_sources(bundled="test"), out, PrepareConfig(tile_size=500, block=1), progress=False)
    return sorted(load_dataset(out).sequences(), key=lambda s: -s.n_nodes)[:4]


def _record_type_inputs(model):
    seen = []
    hook = model.head_type.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].detach().clone()))
    return seen, hook


@pytest.mark.parametrize("backbone", ["transformer", "gru"])
def test_teacher_forced_sampler_matches_training_pass(seqs, backbone):
    torch.manual_seed(0)
    model = LayoutModel(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_pair=16, backbone=backbone)).eval()
    for seq in seqs:
        seen, hook = _record_type_inputs(model)
        with torch.no_grad():
            step_nll(model, sequence_batch([seq], model))
        train_h = seen.pop()[0]  # (n + 1, d)
        seen.clear()
        seed = 0
        state = SampleState(model, 1, SampleConfig(max_nodes=seq.n_nodes + 2), torch.device("cpu"), seed, [seq])
        with torch.no_grad():
            run_steps(state)
        sample_h = torch.stack([h[0] for h in seen])
        n = seq.n_nodes
        torch.testing.assert_close(sample_h[:n], train_h[:n], rtol=1e-4, atol=1e-4)
        hook.remove()
