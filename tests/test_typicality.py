"""The realism term: distance of a layout's street statistics to the nearest real tiles."""

import json

import numpy as np
import pytest

from citygen.errors import UsageError
from citygen.layout import add_street, new_layout
from citygen.metrics.catalog import BY_NAME
from citygen.metrics.stats import arrays
from citygen.objectives.typicality import (
    FEATURES,
    Reference,
    build_reference,
    default_reference,
    features,
    load_reference,
    reference_from_dataset,
    write_reference,
)

F = len(FEATURES)


def line_reference(k: int = 2) -> Reference:
    """Ten tiles at 0, 1, ..., 9 on the first statistic, equal on the others."""
    tiles = np.zeros((10, F))
    tiles[:, 0] = np.arange(10.0)
    return Reference(tiles, k=k)


def one_street(length: float = 800.0):
    G = new_layout(1000.0)
    G.add_node(0, x=100.0, y=500.0, border=False)
    G.add_node(1, x=100.0 + length, y=500.0, border=False)
    add_street(G, 0, 1, "residential")
    return G


def test_known_distances_on_a_line_of_tiles():
    ref = line_reference(k=2)
    # own 2-nearest mean distances: 1.5 at both ends, 1 inside; median 1 (in tile spacings)
    at = np.zeros((3, F))
    at[:, 0] = [4.5, 20.0, 0.0]
    # 4.5: neighbours 4 and 5 -> 0.5; 20: 9 and 8 -> 11.5; 0: itself and 1 -> 0.5
    np.testing.assert_allclose(ref.distance(at), [0.5, 11.5, 0.5])
    # one nearest tile: inner tiles are 1 apart, so 4.5 is half a spacing from 4 (and 5)
    assert float(line_reference(k=1).distance(at[0])) == pytest.approx(0.5)
    one = np.zeros(F)
    one[0] = 4.5
    assert float(ref.distance(one)) == pytest.approx(0.5)
    # a statistic with no spread in the reference counts in its own unit (std taken as 1),
    # against the first statistic's standard deviation (of 0..9) in tile spacings
    off = at[:1].copy()
    off[0, 3] = 2.0
    spacing = np.arange(10.0).std()
    assert float(ref.distance(off)[0]) == pytest.approx(np.hypot(0.5, 2.0 * spacing))


def test_features_are_the_report_statistics():
    G = one_street()
    a = arrays(G)
    x = features(G)
    assert x.shape == (F,)
    for i, name in enumerate(FEATURES):
        v = float(BY_NAME[name].fn(a))
        if np.isfinite(v):
            assert x[i] == pytest.approx(v)
    # a single street has no node pairs 100 m apart along streets? it does; an empty one not
    empty = features(new_layout(1000.0))
    assert empty[FEATURES.index("circuity")] == 1.0
    assert np.isfinite(empty).all()


def test_shipped_reference_scores_real_tiles_near_one(bundled_helsinki_dir):
    ref = default_reference()
    assert ref.tiles.shape == (391, F)
    assert "corpus" in ref.source
    from data_prep.shards import load_dataset

    data = load_dataset(bundled_helsinki_dir)
    (tile,) = [t.layout() for split in ("train", "val", "test") for t in data.tiles(split)]
    own = ref.own_distances()
    assert np.median(own) == pytest.approx(1.0)
    # Helsinki's centre is not in the corpus; it is within the corpus tiles' own range
    assert ref(tile) < np.quantile(own, 0.95)
    # a lone 800 m street is less typical than 19 in 20 corpus tiles
    assert ref(one_street()) > np.quantile(own, 0.95)


def test_reference_from_a_data_set_round_trips(tmp_path, bundled_small_dir):
    ref = reference_from_dataset(bundled_small_dir)
    assert len(ref.tiles) > ref.k
    path = write_reference(ref, tmp_path / "ref.json")
    back = load_reference(path)
    np.testing.assert_allclose(back.tiles, ref.tiles, atol=1e-6)
    G = one_street()
    assert back(G) == pytest.approx(ref(G), rel=1e-5)
    # a data set directory is measured directly
    assert load_reference(bundled_small_dir)(G) == pytest.approx(ref(G))


def test_bad_references(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not a realism reference"):
        load_reference(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"features": ["degree"], "k": 5, "tiles": [[1.0]] * 10}))
    with pytest.raises(UsageError, match="expected"):
        load_reference(other)
    with pytest.raises(UsageError, match="more than 5 real tiles"):
        build_reference([one_street()] * 3)
    tiles = np.arange(10.0 * F).reshape(10, F).tolist()
    for k in (0, -1, 2.7, True):
        doc = {"features": list(FEATURES), "k": k, "tiles": tiles}
        other.write_text(json.dumps(doc))
        with pytest.raises(UsageError, match="integer >= 1"):
            load_reference(other)
    holes = [row[:] for row in tiles]
    holes[3][2] = None
    other.write_text(json.dumps({"features": list(FEATURES), "k": 2, "tiles": holes}))
    with pytest.raises(UsageError, match="finite"):
        load_reference(other)
