"""Distances between two sets of layouts, one statistic at a time.

- Histogram statistics: maximum mean discrepancy (MMD) with the Gaussian earth-mover kernel of
  GraphRNN (You et al. 2018), ``k(p, q) = exp(-EMD(p, q)**2 / (2 sigma**2))``. EMD between two
  normalised histograms on the same bins is the L1 distance of their cumulative sums times the
  bin width; bins are measured in *fractions of the histogram's range* (bin width ``1/bins``),
  so one ``sigma`` (:data:`SIGMA`) serves every statistic. We report ``MMD = sqrt(max(MMD2, 0))``
  with the biased (V-statistic) estimate of ``MMD2``, as GraphRNN computes it.
- Scalar statistics: the 1-Wasserstein distance between the two empirical distributions of the
  per-layout values (scipy), in the statistic's unit; NaN values (a layout where a statistic is
  undefined, such as circuity without a pair of connected nodes) are left out.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

#: Kernel width of the Gaussian EMD kernel, in fractions of a histogram's range.
SIGMA = 0.1


def emd_matrix(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Pairwise EMD between histograms ``p (n, B)`` and ``q (m, B)``, ``(n, m)``, range units."""
    cp, cq = np.cumsum(p, axis=1), np.cumsum(q, axis=1)
    bins = p.shape[1]
    out = np.empty((len(p), len(q)))
    step = max(1, 2_000_000 // max(1, len(q) * bins))
    for i in range(0, len(p), step):
        out[i : i + step] = np.abs(cp[i : i + step, None, :] - cq[None, :, :]).sum(-1) / bins
    return out


def gaussian_emd_kernel(p: np.ndarray, q: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """``exp(-EMD**2 / (2 sigma**2))`` for every pair, ``(n, m)``."""
    d = emd_matrix(p, q)
    return np.exp(-(d**2) / (2.0 * sigma**2))


def mmd(p: np.ndarray, q: np.ndarray, sigma: float = SIGMA) -> float:
    """MMD between two sets of per-layout histograms (see the module docstring); >= 0."""
    if len(p) == 0 or len(q) == 0:
        return float("nan")
    kxx = gaussian_emd_kernel(p, p, sigma).mean()
    kyy = gaussian_emd_kernel(q, q, sigma).mean()
    kxy = gaussian_emd_kernel(p, q, sigma).mean()
    return float(np.sqrt(max(kxx + kyy - 2.0 * kxy, 0.0)))


def w1(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between two samples of a scalar, NaNs left out (NaN if empty)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))
