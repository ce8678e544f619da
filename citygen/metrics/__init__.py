"""Realism metrics: street statistics, distances between sets, baselines, validity, novelty.

- :mod:`~citygen.metrics.stats`: per-layout street statistics with units (degree, segment
  length, bearing, orientation entropy and order, intersection angle, circuity, densities,
  dead-end share, meshedness, block area);
- :mod:`~citygen.metrics.catalog`: which statistics a report compares and how they are binned;
- :mod:`~citygen.metrics.distance`: MMD (Gaussian EMD kernel) and 1-Wasserstein distances;
- :mod:`~citygen.metrics.baselines`: jittered grid, random planar graph, procedural growth;
- :mod:`~citygen.metrics.novelty`: validity and novelty shares;
- :mod:`~citygen.metrics.report`: ``citygen evaluate`` (:func:`evaluate`, :func:`format_table`)
  and :func:`realism_scorer` for steering;
- :mod:`~citygen.metrics.read`: layouts from GeoJSON / GraphML files of any generator.

See docs/evaluation.md for definitions and the measured table.
"""

from citygen.metrics.catalog import STATISTICS, layout_profile, profile
from citygen.metrics.distance import mmd, w1
from citygen.metrics.report import Report, evaluate, format_table, realism_score, realism_scorer
from citygen.metrics.stats import (
    bearing_histogram,
    block_areas,
    circuity,
    dead_end_share,
    intersection_angles,
    intersection_density,
    junction_degrees,
    meshedness,
    orientation_entropy,
    orientation_order,
    segment_lengths,
    street_density,
)

__all__ = [
    "STATISTICS",
    "Report",
    "bearing_histogram",
    "block_areas",
    "circuity",
    "dead_end_share",
    "evaluate",
    "format_table",
    "intersection_angles",
    "intersection_density",
    "junction_degrees",
    "layout_profile",
    "meshedness",
    "mmd",
    "orientation_entropy",
    "orientation_order",
    "profile",
    "realism_score",
    "realism_scorer",
    "segment_lengths",
    "street_density",
    "w1",
]
