"""Sampling: hard constraints hold for every layout, seeds reproduce, prefixes are kept."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import shapely
import torch

from citygen.errors import UsageError
from citygen.layout import ROAD_CLASSES
from citygen.model.checkpoint import load_model
from citygen.sampling.loop import SampleConfig, sample
from citygen.sampling.state import K_NBR
from data_prep.order import Sequence, to_sequence


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    return load_model()  # the default model shipped in the package


def violations(G: nx.Graph, min_dist: float = 10.0) -> list[str]:
    """Brute-force check of the sampling rules with shapely (independent of the sampler)."""
    out = []
    xy = {n: (d["x"], d["y"]) for n, d in G.nodes(data=True)}
    size = G.graph["tile_size"]
    for n, (x, y) in xy.items():
        if not (0 <= x <= size and 0 <= y <= size):
            out.append(f"node {n} outside the tile")
    for a, b in itertools.combinations(xy, 2):
        if np.hypot(xy[a][0] - xy[b][0], xy[a][1] - xy[b][1]) < min_dist - 1e-6:
            out.append(f"nodes {a} and {b} closer than {min_dist} m")
    edges = list(G.edges)
    lines = [shapely.LineString([xy[u], xy[v]]) for u, v in edges]
    for (e1, l1), (e2, l2) in itertools.combinations(zip(edges, lines), 2):
        shared = set(e1) & set(e2)
        inter = l1.intersection(l2)
        if not shared and not inter.is_empty:
            out.append(f"edges {e1} and {e2} cross")
        elif shared and inter.geom_type != "Point":
            out.append(f"edges {e1} and {e2} overlap")
    for u, v, d in G.edges(data=True):
        if u == v or d["length"] <= 0:
            out.append(f"degenerate edge {u}-{v}")
        if d["highway"] not in ROAD_CLASSES:
            out.append(f"unknown class on {u}-{v}")
    return out


def test_every_sampled_layout_obeys_the_rules(model):
    layouts = []
    for seed in range(4):
        layouts += sample(model, 16, seed=seed, batch_size=16)
    assert sum(G.number_of_nodes() for G in layouts) > 16 * 4 * 10  # real layouts, not empty ones
    bad = {i: v for i, G in enumerate(layouts) if (v := violations(G))}
    assert not bad, f"{len(bad)} of {len(layouts)} layouts break a rule, e.g. {next(iter(bad.values()))[:3]}"


def test_rules_hold_for_a_model_that_wants_every_street(model, monkeypatch):
    """A degenerate model (a fine-tuned one was) that draws every allowed street and keeps
    giving children to the same parent: no node gets more than 8 streets (the corpus maximum,
    and what the sampler remembers per node), and the angle rule keeps streets apart."""
    edge_scores, pointer_scores = model.edge_scores, model.pointer_scores

    def every_street(*args, **kw):
        out = edge_scores(*args, **kw).clone()
        out[..., 0] += 20.0
        return out

    def same_parent(q, kp, is_last, deg, off):  # the sampler scores parents with pointer_scores
        return pointer_scores(q, kp, is_last, deg, off) + 20.0 * is_last.float()

    monkeypatch.setattr(model, "edge_scores", every_street)
    monkeypatch.setattr(model, "pointer_scores", same_parent)
    layouts = sample(model, 12, seed=0, config=SampleConfig(max_nodes=120))
    assert max(d for G in layouts for _, d in G.degree()) == K_NBR  # the cap is reached, not passed
    bad = {i: v for i, G in enumerate(layouts) if (v := violations(G))}
    assert not bad, f"{len(bad)} layouts break a rule, e.g. {next(iter(bad.values()))[:3]}"


def test_stricter_min_distance_is_respected(model):
    cfg = SampleConfig(min_dist=25.0)
    for G in sample(model, 8, seed=3, config=cfg):
        assert not [v for v in violations(G, min_dist=25.0) if "closer" in v]


def test_same_seed_same_layouts_other_seed_differs(model):
    a = sample(model, 4, seed=7)
    b = sample(model, 4, seed=7)
    c = sample(model, 4, seed=8)
    key = lambda Gs: [sorted((round(d["x"], 6), round(d["y"], 6)) for _, d in G.nodes(data=True)) for G in Gs]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)
    assert [sorted(G.edges) for G in a] == [sorted(G.edges) for G in b]


def test_batch_size_does_not_change_results_shape(model):
    Gs = sample(model, 5, seed=1, batch_size=2)
    assert len(Gs) == 5
    assert all(G.graph["tile_size"] == model.config.tile_size for G in Gs)


def test_prefix_is_teacher_forced(model):
    base = sample(model, 1, seed=11)[0]
    seq = to_sequence(base)
    k = max(2, int(seq.border.sum()))
    keep = seq.edges[:, 0] < k
    prefix = Sequence(seq.pos[:k], seq.border[:k], seq.edges[keep], seq.classes[keep], seq.tile_size)
    raw = SampleConfig(snap=0.0, bend_tolerance=0.0)  # a snapped dead end may cut a prefix street
    for G in sample(model, 3, seed=5, prefix=prefix, config=raw):
        got = to_sequence(G)
        np.testing.assert_allclose(got.pos[:k], prefix.pos, atol=1e-6)
        assert (got.border[:k] == prefix.border).all()
        sub = {tuple(e) for e in got.edges if e[0] < k and e[1] < k}
        assert sub <= {tuple(e) for e in prefix.edges}
        for u, v in prefix.edges:  # kept, or split by later nodes placed on it (split steps)
            assert (u, v) in sub or _split_along(got, int(u), int(v), k)
        assert not violations(G)


def _split_along(seq: Sequence, u: int, v: int, k: int) -> bool:
    """Whether ``u``-``v`` is joined by a path of later nodes within 10 m of the segment."""
    H = nx.Graph([tuple(map(int, e)) for e in seq.edges])
    H.remove_nodes_from([w for w in range(k) if w not in (u, v)])
    if u not in H or v not in H or not nx.has_path(H, u, v):
        return False
    seg = shapely.LineString([seq.pos[u], seq.pos[v]])
    path = nx.shortest_path(H, u, v)
    return len(path) > 2 and all(seg.distance(shapely.Point(seq.pos[w])) < 10.0 / seq.tile_size for w in path[1:-1])


def test_bad_arguments(model):
    with pytest.raises(UsageError):
        sample(model, 0)
    with pytest.raises(UsageError):
        SampleConfig(temperature=0)
    with pytest.raises(UsageError):
        SampleConfig(structure_temperature=-1.0)


def _key(G):
    return sorted((round(d["x"], 6), round(d["y"], 6)) for _, d in G.nodes(data=True)), sorted(
        tuple(sorted(e)) for e in G.edges
    )


def test_structure_temperature_none_follows_temperature_and_is_used(model):
    assert (SampleConfig().temperature, SampleConfig().structure_temperature) == (0.6, 1.0)

    def at(ts: float | None) -> list:
        return sample(model, 4, seed=2, config=SampleConfig(temperature=0.7, structure_temperature=ts))

    cold, same, split = at(None), at(0.7), at(1.5)
    assert [_key(G) for G in cold] == [_key(G) for G in same]
    assert [_key(G) for G in cold] != [_key(G) for G in split]
    for G in split:
        assert not violations(G)


def test_identity_reindex_in_callback_changes_nothing(model):
    from citygen.sampling.loop import run_steps
    from citygen.sampling.state import SampleState

    def layouts(callback):
        seed = 4
        st = SampleState(model, 3, SampleConfig(), torch.device("cpu"), seed, [None] * 3)
        run_steps(st, every=5, callback=callback)
        return [sorted(G.edges) for G in st.layouts(seed=4)]

    calls = []

    def identity(st, t):
        calls.append(t)
        st.reindex(torch.arange(st.B))

    assert layouts(None) == layouts(identity)
    assert calls and calls[0] == 5


def test_reindex_copies_rows(model):
    from citygen.sampling.loop import run_steps
    from citygen.sampling.state import SampleState

    seed = 2
    st = SampleState(model, 2, SampleConfig(), torch.device("cpu"), seed, [None, None])

    def clone_first(s, t):
        if t == 10:
            s.reindex(torch.tensor([0, 0]))
            s.fork(t)  # copies draw from streams of their own from here on (as SMC does)

    run_steps(st, every=10, callback=clone_first)
    a, b = st.layouts(seed=2)
    # both rows share the first 10 nodes exactly, then go their own ways
    pa = [(round(d["x"], 6), round(d["y"], 6)) for _, d in sorted(a.nodes(data=True))][:10]
    pb = [(round(d["x"], 6), round(d["y"], 6)) for _, d in sorted(b.nodes(data=True))][:10]
    assert pa == pb
    assert sorted(a.edges) != sorted(b.edges)


def test_ray_bins_inside_intervals_match_the_pairwise_test():
    """The binary-search interval test of the ray masks gives exactly the pairwise answer,
    with empty intervals (inf, -inf) and bin values on an interval's ends."""
    from citygen.sampling.state import _in_any_interval

    g = torch.Generator().manual_seed(0)
    r = torch.exp(torch.linspace(-7, 0.4, 64))
    lo = torch.rand(50, 30, generator=g) * 1.5 - 0.2
    hi = lo + torch.rand(50, 30, generator=g) * 0.3
    lo[:, :5], hi[:, :5] = math.inf, -math.inf  # nodes off the ray
    lo[:, 5], hi[:, 6] = r[10], r[20]  # ends exactly on bin values (open intervals)
    want = ((r[None, :, None] > lo[:, None]) & (r[None, :, None] < hi[:, None])).any(-1)
    assert torch.equal(_in_any_interval(r, lo, hi), want)
    assert not _in_any_interval(r, lo[:, :0], hi[:, :0]).any()  # no nodes yet
