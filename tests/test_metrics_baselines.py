"""Baselines: valid planar layouts at the asked density, border nodes on the tile edge, seeded."""

import numpy as np
import pytest

from citygen.metrics import baselines as bl
from citygen.metrics.novelty import PLANAR_ONLY, validity
from citygen.metrics.stats import arrays, junction_mask

DEGREES = np.array([0.2, 0.0, 0.55, 0.22, 0.02, 0.01])


@pytest.mark.parametrize("name", list(bl.BASELINES))
def test_baseline_layouts(name):
    layouts = bl.make_baselines(name, 12, 1000.0, 60.0, DEGREES, seed=1)
    again = bl.make_baselines(name, 12, 1000.0, 60.0, DEGREES, seed=1)
    assert [sorted(G.edges) for G in layouts] == [sorted(G.edges) for G in again]
    assert validity(layouts, PLANAR_ONLY) == 1.0  # the tile cut may leave border nodes < 10 m apart
    junctions = np.mean([junction_mask(arrays(G)).sum() for G in layouts])
    assert 60 * 0.5 < junctions < 60 * 1.6, junctions  # matched density within reason
    for G in layouts:
        for _, d in G.nodes(data=True):
            assert -1e-6 <= d["x"] <= 1000 + 1e-6 and -1e-6 <= d["y"] <= 1000 + 1e-6
            if d["border"]:
                assert min(d["x"], d["y"], 1000 - d["x"], 1000 - d["y"]) < 1e-6
        assert any(d["border"] for _, d in G.nodes(data=True))


def test_random_planar_follows_the_degree_distribution():
    layouts = bl.make_baselines("random_planar", 10, 1000.0, 80.0, DEGREES, seed=0)
    dist = bl.degree_distribution([arrays(G) for G in layouts])
    assert dist[2] > 0.3  # degree 3 dominates, as asked
    assert dist[5] < 0.1


def test_growth_makes_t_junctions():
    layouts = bl.make_baselines("growth", 6, 1000.0, 60.0, DEGREES, seed=0)
    dist = bl.degree_distribution([arrays(G) for G in layouts])
    assert dist[2] > 0.2  # T junctions where a street stops at another
