"""Distances between sets: EMD, the Gaussian-EMD MMD and W1."""

import numpy as np
import pytest

from citygen.metrics.distance import SIGMA, emd_matrix, mmd, w1


def test_emd_is_cdf_l1_in_range_units():
    a = np.array([[1.0, 0, 0, 0]])
    b = np.array([[0, 0, 0, 1.0]])
    assert emd_matrix(a, b)[0, 0] == pytest.approx(3 / 4)
    assert emd_matrix(a, a)[0, 0] == 0.0


def test_mmd_properties():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=40)
    q = rng.dirichlet(np.ones(10) * 5, size=30)
    assert mmd(p, p) == pytest.approx(0.0, abs=1e-7)
    assert mmd(p, q) == pytest.approx(mmd(q, p))
    assert mmd(p, q) > 0.0
    shifted = np.roll(q, 3, axis=1)
    assert mmd(q, shifted) > mmd(q, q[::-1])  # moving mass costs, reordering the set does not
    one = np.eye(10)[[0]]
    far = np.eye(10)[[9]]
    k = np.exp(-(0.9**2) / (2 * SIGMA**2))
    assert mmd(one, far) == pytest.approx(np.sqrt(2 - 2 * k))


def test_w1():
    assert w1(np.array([0.0, 1.0]), np.array([1.0, 2.0])) == pytest.approx(1.0)
    assert w1(np.array([0.0, np.nan]), np.array([2.0])) == pytest.approx(2.0)
    assert np.isnan(w1(np.array([np.nan]), np.array([1.0])))
