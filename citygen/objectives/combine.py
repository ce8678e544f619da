"""Named objectives, their normalisation, and weighted combinations of them.

A user names objectives and weights (``--objective connectivity,travel_time --weights 1,0.5``);
:func:`parse_objective` turns them into a :class:`Combination`, whose :meth:`~Combination.score`
is one number, **higher is better**, whatever the objectives' directions:

    score(G) = sum_i w_i * s_i * (f_i(G) - loc_i) / scale_i  /  sum_i w_i

with ``s_i = +1`` for objectives to maximise and ``-1`` for those to minimise. ``loc`` and
``scale`` are fixed reference values: the mean and standard deviation of each objective over
the 391 real training tiles (1 km2) of the 13-city OSM corpus (``calibrate`` recomputes them
for other data). So each term is a z-score against real streets, a weight of 1 means "one
real-tile standard deviation", and the weights of different objectives are comparable. Fixed
references (rather than statistics of each run's own samples) keep scores comparable across
runs and models, and make them usable on partial layouts (SMC) and as fine-tuning rewards.

A combination also carries the *realism term* (:mod:`~citygen.objectives.typicality`):
``realism * typicality(G)`` is subtracted from the score, so that steering does not buy its
gain with layouts unlike any real street network. ``realism`` (``--realism``, default
:data:`DEFAULT_REALISM`) is in the same unit as the score, z-units per unit of typicality;
0 steers on the objectives alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from citygen.errors import UsageError
from citygen.objectives import functions as fn
from citygen.objectives.typicality import Reference, default_reference

#: Default weight of the realism term (chosen on the Pareto table of bench/steering.py).
DEFAULT_REALISM = 0.5
#: Key of the realism term's value in :meth:`Combination.values`.
TYPICALITY = "typicality"

MAXIMISE = "maximise"
MINIMISE = "minimise"


@dataclass(frozen=True)
class Objective:
    """One objective: a function layout -> float with its unit, direction and reference.

    Attributes
    ----------
    name
        Name on the command line.
    fn
        The function (accepts a layout graph or :class:`~citygen.objectives.functions.Arrays`).
    unit
        Unit of the value.
    direction
        ``"maximise"`` or ``"minimise"``.
    loc, scale
        Reference mean and standard deviation (real training tiles), in ``unit``.
    description
        One line for help texts.
    """

    name: str
    fn: Callable[[nx.Graph | fn.Arrays], float]
    unit: str
    direction: str
    loc: float
    scale: float
    description: str

    @property
    def sign(self) -> float:
        """+1 when higher values are better, -1 when lower are."""
        return 1.0 if self.direction == MAXIMISE else -1.0

    def normalise(self, value: float) -> float:
        """Return the value as a signed z-score against the reference (higher is better)."""
        return self.sign * (value - self.loc) / self.scale


#: The objectives by name. References: mean and std over the corpus_v2 training tiles.
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            "connectivity",
            fn.connectivity,
            "score in [0, 1]",
            MAXIMISE,
            0.567,
            0.0925,
            "mean of giant-component share, 1 - dead-end share and meshedness",
        ),
        Objective(
            "travel_time",
            fn.travel_time,
            "s",
            MINIMISE,
            320.0,
            62.9,
            "mean free-flow door-to-door time between random OD points",
        ),
        Objective(
            "length",
            fn.length,
            "km",
            MINIMISE,
            5.53,
            5.06,
            "total street length (construction cost)",
        ),
    )
}


@dataclass(frozen=True)
class Combination:
    """A weighted combination of objectives; :meth:`score` is higher-is-better.

    Attributes
    ----------
    objectives
        The objectives.
    weights
        One non-negative weight each (at least one positive).
    realism
        Weight of the realism term (0: none).
    reference
        Real tiles of the realism term; None: the shipped corpus reference.
    """

    objectives: tuple[Objective, ...]
    weights: tuple[float, ...]
    realism: float = 0.0
    reference: Reference | None = None

    @property
    def realism_reference(self) -> Reference:
        """The real tiles the realism term measures against."""
        return self.reference if self.reference is not None else default_reference()

    def without_realism(self) -> Combination:
        """The same objectives without the realism term (for partial layouts)."""
        return replace(self, realism=0.0)

    @property
    def names(self) -> tuple[str, ...]:
        """Objective names, in order."""
        return tuple(o.name for o in self.objectives)

    def values(self, G: nx.Graph | fn.Arrays) -> dict[str, float]:
        """Raw value of each objective, in its unit; and ``typicality`` with a realism term."""
        a = G if isinstance(G, fn.Arrays) else fn.as_arrays(G)
        out = {o.name: float(o.fn(a)) for o in self.objectives}
        if self.realism > 0:
            out[TYPICALITY] = self.realism_reference(a)
        return out

    def score_values(self, values: dict[str, float]) -> float:
        """Combine already computed :meth:`values` into the score."""
        total = sum(
            w * o.normalise(values[o.name])
            for o, w in zip(self.objectives, self.weights, strict=True)
        )
        penalty = self.realism * values[TYPICALITY] if self.realism > 0 else 0.0
        return float(total / sum(self.weights) - penalty)

    def score(self, G: nx.Graph | fn.Arrays) -> float:
        """Return the combined, normalised score of a layout (higher is better)."""
        return self.score_values(self.values(G))

    def scores(self, layouts: Iterable[nx.Graph]) -> np.ndarray:
        """:meth:`score` of each layout, ``(n,)``."""
        return np.array([self.score(G) for G in layouts], dtype=np.float64)

    def describe(self) -> dict:
        """JSON-ready description (names, weights, units, directions, realism weight)."""
        out = {
            "names": list(self.names),
            "weights": list(self.weights),
            "units": [o.unit for o in self.objectives],
            "directions": [o.direction for o in self.objectives],
            "realism": self.realism,
        }
        if self.realism > 0:
            out["realism_reference"] = self.realism_reference.source
        return out

    def __str__(self) -> str:
        if len(self.objectives) == 1:
            return self.objectives[0].name
        return " + ".join(
            f"{w:g}*{o.name}" for o, w in zip(self.objectives, self.weights, strict=True)
        )


def _split(text: str | Sequence) -> list:
    if isinstance(text, str):
        return [t.strip() for t in text.split(",")]
    return list(text)


#: Largest weight of one objective: weights are relative (``1,0.5`` is ``2,1``), and huge ones
#: overflow the weighted sum (``1e308,1e308``).
MAX_WEIGHT = 1e6


def _weight(value: object) -> float:
    try:
        w = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        msg = f"weight is not a number: {value!r}"
        raise UsageError(msg) from None
    if not math.isfinite(w) or w < 0:
        msg = f"weights must be finite and non-negative, got {value!r}"
        raise UsageError(msg)
    if w > MAX_WEIGHT:
        msg = f"weights are relative and at most {MAX_WEIGHT:g}, got {value!r} (try 1,0.5)"
        raise UsageError(msg)
    return w


def check_realism(value: float) -> float:
    """Return ``value`` if it is a usable realism weight (finite, >= 0), else raise."""
    msg = f"--realism must be a finite number >= 0, got {value!r}"
    if isinstance(value, bool | str):
        raise UsageError(msg)
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise UsageError(msg) from None
    if not (math.isfinite(w) and w >= 0):
        raise UsageError(msg)
    return w


def parse_objective(
    names: str | Sequence[str],
    weights: str | Sequence[float] | None = None,
    realism: float = DEFAULT_REALISM,
    reference: Reference | None = None,
) -> Combination:
    """Build a :class:`Combination` from names and weights (strings as on the command line).

    Parameters
    ----------
    names
        ``"connectivity,travel_time"`` or a sequence of names from :data:`OBJECTIVES`.
    weights
        ``"1,0.5"`` or a sequence, one per objective; default all 1.
    realism
        Weight of the realism term (:mod:`~citygen.objectives.typicality`); 0: none.
    reference
        Real tiles for the realism term (default: the shipped corpus reference).

    Raises
    ------
    UsageError
        On an unknown or repeated name, a weight count that does not match, a negative or
        non-numeric weight, all weights zero, or a negative realism weight.
    """
    items = _split(names)
    if not items or any(not n for n in items):
        msg = f"empty objective name in {names!r}; choose from {', '.join(OBJECTIVES)}"
        raise UsageError(msg)
    unknown = [n for n in items if n not in OBJECTIVES]
    if unknown:
        msg = f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}"
        raise UsageError(msg)
    if len(set(items)) != len(items):
        msg = f"objective named twice in {names!r}"
        raise UsageError(msg)
    ws = [1.0] * len(items) if weights is None else [_weight(w) for w in _split(weights)]
    if len(ws) != len(items):
        msg = f"got {len(ws)} weights for {len(items)} objectives ({', '.join(items)})"
        raise UsageError(msg)
    if sum(ws) <= 0:
        msg = "at least one weight must be positive"
        raise UsageError(msg)
    return Combination(
        tuple(OBJECTIVES[n] for n in items), tuple(ws), check_realism(realism), reference
    )


def calibrate(layouts: Sequence[nx.Graph], combination: Combination) -> Combination:
    """Return the same combination with references (mean, std) measured on ``layouts``.

    Use it to normalise against another data set or against unsteered samples of a model.
    """
    arrays = [fn.as_arrays(G) for G in layouts]
    objs = []
    for o in combination.objectives:
        v = np.array([o.fn(a) for a in arrays], dtype=np.float64)
        objs.append(replace(o, loc=float(v.mean()), scale=float(max(v.std(), 1e-9))))
    return replace(combination, objectives=tuple(objs))
