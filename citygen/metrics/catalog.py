"""The statistics a realism report compares, their bins, and a set of layouts' profile.

:data:`STATISTICS` fixes, once for every set of layouts, which per-layout statistics are
compared and how: *histogram* statistics (a normalised histogram per layout, compared by MMD
with a Gaussian kernel on the earth mover's distance) and *scalar* statistics (one number per
layout, compared by the 1-Wasserstein distance). Histograms have a leading ``none`` bin that
holds all the mass of a layout with no value (no junction, no block), so every histogram has
mass 1 and EMD is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from citygen.metrics import stats
from citygen.objectives.functions import Arrays


@dataclass(frozen=True)
class Statistic:
    """One compared statistic.

    Attributes
    ----------
    name
        Key in reports.
    kind
        ``"hist"`` (per-layout histogram, MMD) or ``"scalar"`` (per-layout value, W1).
    unit
        Unit of the values (histogram values or scalar).
    fn
        Layout arrays -> values (hist: the raw values to bin; scalar: a float).
    edges
        Bin edges of a histogram statistic (values are clipped into the outer bins).
    weighted
        For ``bearing``: ``fn`` returns a ready histogram instead of values.
    """

    name: str
    kind: str
    unit: str
    fn: Callable[[Arrays], np.ndarray | float]
    edges: np.ndarray | None = field(default=None, compare=False)
    weighted: bool = False

    @property
    def bins(self) -> int:
        """Histogram length including the leading ``none`` bin."""
        if self.kind != "hist":
            return 0
        return (stats.BEARING_BINS if self.weighted else len(self.edges) - 1) + 1


def _log_block_areas(a: Arrays) -> np.ndarray:
    return np.log10(np.maximum(stats.block_areas(a), 1.0))


STATISTICS: tuple[Statistic, ...] = (
    Statistic(
        "degree", "hist", "streets per junction", stats.junction_degrees, np.arange(0.5, 7.0, 1.0)
    ),
    Statistic("segment_length", "hist", "m", stats.segment_lengths, np.linspace(0.0, 1000.0, 21)),
    Statistic(
        "bearing", "hist", "degrees (36 bins, length-weighted)", stats.bearing_histogram, None, True
    ),
    Statistic(
        "intersection_angle",
        "hist",
        "degrees",
        stats.intersection_angles,
        np.linspace(0.0, 360.0, 37),
    ),
    Statistic("block_area", "hist", "log10 m2", _log_block_areas, np.linspace(2.0, 6.0, 17)),
    Statistic("orientation_entropy", "scalar", "nats", stats.orientation_entropy),
    Statistic("orientation_order", "scalar", "unitless", stats.orientation_order),
    Statistic("circuity", "scalar", "network / straight distance", stats.circuity),
    Statistic("intersection_density", "scalar", "per km2", stats.intersection_density),
    Statistic("street_density", "scalar", "km per km2", stats.street_density),
    Statistic("dead_end_share", "scalar", "share", stats.dead_end_share),
    Statistic("meshedness", "scalar", "unitless", stats.meshedness),
)
BY_NAME: dict[str, Statistic] = {s.name: s for s in STATISTICS}


def histogram(stat: Statistic, values: np.ndarray) -> np.ndarray:
    """A layout's normalised histogram for ``stat``, ``(stat.bins,)``, the ``none`` bin first."""
    out = np.zeros(stat.bins)
    if stat.weighted:
        if values.sum() > 0:
            out[1:] = values / values.sum()
        else:
            out[0] = 1.0
        return out
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        out[0] = 1.0
        return out
    lo, hi = stat.edges[0], stat.edges[-1]
    counts, _ = np.histogram(np.clip(values, lo, np.nextafter(hi, lo)), bins=stat.edges)
    out[1:] = counts / counts.sum()
    return out


def layout_profile(G: nx.Graph | Arrays) -> dict[str, np.ndarray | float]:
    """Every statistic of one layout: histograms for ``hist`` statistics, floats for scalars."""
    a = stats.arrays(G)
    out: dict[str, np.ndarray | float] = {}
    for s in STATISTICS:
        v = s.fn(a)
        out[s.name] = histogram(s, np.asarray(v)) if s.kind == "hist" else float(v)
    return out


@dataclass(frozen=True)
class Profile:
    """Statistics of a set of layouts: ``hist[name] (n, bins)``, ``scalar[name] (n,)``."""

    hist: dict[str, np.ndarray]
    scalar: dict[str, np.ndarray]
    n: int


def profile(layouts: Sequence[nx.Graph | Arrays], progress: Callable | None = None) -> Profile:
    """Profile a set of layouts (``progress`` wraps the iterable, e.g. tqdm)."""
    items = progress(layouts) if progress else layouts
    rows = [layout_profile(G) for G in items]
    hist = {
        s.name: np.array([r[s.name] for r in rows]).reshape(len(rows), s.bins)
        for s in STATISTICS
        if s.kind == "hist"
    }
    scalar = {
        s.name: np.array([r[s.name] for r in rows], dtype=np.float64)
        for s in STATISTICS
        if s.kind == "scalar"
    }
    return Profile(hist, scalar, len(rows))
