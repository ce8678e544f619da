"""Objectives and steering: make generated layouts well connected, quick to cross or cheap.

- :mod:`~citygen.objectives.functions`: the objectives, layout -> float with units
  (``connectivity``, ``travel_time``, ``length``) and their parts;
- :mod:`~citygen.objectives.combine`: names, directions, normalisation and weighted
  combinations (:func:`parse_objective`);
- steering methods: :func:`best_of_n`, :func:`smc` (sequential Monte Carlo on partial layouts),
  :func:`finetune` (policy gradient with a KL penalty); :func:`steer` dispatches by name.

>>> from citygen.objectives import parse_objective, best_of_n
>>> objective = parse_objective("connectivity,travel_time", "1,0.5")
>>> result = best_of_n(load_model(), objective, n=4, candidates=16)  # doctest: +SKIP
"""

from citygen.objectives.best_of_n import best_of_n
from citygen.objectives.combine import (
    OBJECTIVES,
    Combination,
    Objective,
    calibrate,
    parse_objective,
)
from citygen.objectives.finetune import FinetuneConfig, finetune
from citygen.objectives.functions import (
    SPEED_KMH,
    WALK_KMH,
    connectivity,
    dead_end_share,
    giant_share,
    length,
    meshedness,
    travel_report,
    travel_time,
)
from citygen.objectives.result import Steered
from citygen.objectives.smc import smc
from citygen.objectives.steer import METHODS, Steering, resolve_steering, steer

__all__ = [
    "METHODS",
    "OBJECTIVES",
    "SPEED_KMH",
    "WALK_KMH",
    "Combination",
    "FinetuneConfig",
    "Objective",
    "Steered",
    "Steering",
    "best_of_n",
    "calibrate",
    "connectivity",
    "dead_end_share",
    "finetune",
    "giant_share",
    "length",
    "meshedness",
    "parse_objective",
    "resolve_steering",
    "smc",
    "steer",
    "travel_report",
    "travel_time",
]
