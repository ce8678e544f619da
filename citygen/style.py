"""The style of a place: a few per-tile values, computed from a real tile, that steer the model.

A layout model trained with ``style_dim > 0`` reads, at every step, the *style* of the tile it
draws: plain numbers a planner can name, computed from the tile itself in training (so the
likelihood stays exact, conditional on the style) and chosen by the user when generating:

==================  ==========================================================  ===========
key                 meaning                                                      unit
==================  ==========================================================  ===========
``density``         junctions with 3+ streets per km2 (``--density``)             1/km2
``street_km``       street length per km2                                        km/km2
``grid``            orientation order of street bearings (Boeing 2019; 1 is a     [0, 1]
                    perfect 4-way grid, 0 uniform spread; ``--grid``)
``grid_cos``,       the dominant bearing, as the 4-fold circular mean of the      [-1, 1]
``grid_sin``        street bearings (length-weighted), times its coherence
``major``           share of street length that is motorway, trunk, primary or   [0, 1]
                    secondary
``service``         share of street length that is service or other roads        [0, 1]
``dead_end``        share of junctions that are dead ends                        [0, 1]
==================  ==========================================================  ===========

:func:`features` turns these raw values into the model's inputs (scaled to about [0, 1]). A
*style bank* is a matrix of raw style rows, one per real tile (the training tiles ship with
the default model; ``--like`` builds one from any source), from which generation draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as Seq
from typing import Any

import numpy as np

from citygen.errors import UsageError

#: Raw style values, in the order of style rows and model features.
STYLE_KEYS: tuple[str, ...] = (
    "density",
    "street_km",
    "grid",
    "grid_cos",
    "grid_sin",
    "major",
    "service",
    "dead_end",
)
STYLE_DIM = len(STYLE_KEYS)
_MAJOR = (0, 1, 2, 3)  # motorway, trunk, primary, secondary (citygen.layout.ROAD_CLASSES)
_SERVICE = (6, 7)  # service, other


def style_of(
    xy: np.ndarray, border: np.ndarray, edges: np.ndarray, classes: np.ndarray, tile_size: float
) -> np.ndarray:
    """Raw style row ``(STYLE_DIM,)`` of one tile, see the module docstring.

    Parameters
    ----------
    xy
        Node positions in metres in the tile frame, ``(n, 2)``.
    border
        Border flags, ``(n,)`` bool.
    edges
        Node index pairs, ``(m, 2)``.
    classes
        Road class id per edge, ``(m,)``.
    tile_size
        Tile side in metres.
    """
    from citygen.metrics.stats import dead_end_share, intersection_density, orientation_order
    from citygen.metrics.stats import street_density as _street_density
    from citygen.objectives.functions import Arrays

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    d = xy[edges[:, 1]] - xy[edges[:, 0]] if edges.size else np.zeros((0, 2))
    length = np.hypot(d[:, 0], d[:, 1])
    a = Arrays(xy, np.asarray(border, dtype=bool), edges, length, classes, float(tile_size))
    total = float(length.sum())
    if total > 0:
        theta = np.arctan2(d[:, 0], d[:, 1])  # bearing from north
        z = (length * np.exp(4j * theta)).sum() / total
        grid_cos, grid_sin = float(z.real), float(z.imag)
        major = float(length[np.isin(classes, _MAJOR)].sum() / total)
        service = float(length[np.isin(classes, _SERVICE)].sum() / total)
    else:
        grid_cos = grid_sin = major = service = 0.0
    return np.array(
        [
            intersection_density(a),
            _street_density(a),
            orientation_order(a) if total > 0 else 0.0,
            grid_cos,
            grid_sin,
            major,
            service,
            dead_end_share(a),
        ]
    )


def style_of_sequence(seq) -> np.ndarray:  # noqa: ANN001 - data_prep.order.Sequence
    """Raw style row of a canonical sequence (positions normalised, edges back to earlier)."""
    return style_of(seq.pos * seq.tile_size, seq.border, seq.edges, seq.classes, seq.tile_size)


def style_of_layout(G) -> np.ndarray:  # noqa: ANN001 - networkx.Graph
    """Raw style row of a layout graph (:mod:`citygen.layout`)."""
    from citygen.objectives.functions import as_arrays

    a = as_arrays(G)
    return style_of(a.xy, a.border, a.edges, a.cls, a.tile_size)


def features(raw: np.ndarray) -> np.ndarray:
    """Model inputs from raw style rows ``(..., STYLE_DIM)``: each value scaled to about [0, 1].

    Densities are log-scaled (``log1p(density) / 5``, ``log1p(km) / 3.5``); shares and the
    bearing components are kept as they are.
    """
    raw = np.asarray(raw, dtype=np.float64)
    out = raw.copy()
    out[..., 0] = np.log1p(np.maximum(raw[..., 0], 0.0)) / 5.0
    out[..., 1] = np.log1p(np.maximum(raw[..., 1], 0.0)) / 3.5
    return out.astype(np.float32)


def check_bank(bank: np.ndarray, what: str) -> np.ndarray:
    """A style bank as a finite ``(k, STYLE_DIM)`` float array with ``k >= 1``.

    Raises
    ------
    UsageError
        If it is empty, of the wrong width or not finite.
    """
    try:
        arr = np.asarray(bank, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{what}: style values must be numbers, got {type(bank).__name__} {bank!r:.60}"
        raise UsageError(msg) from None
    if arr.ndim != 2 or arr.shape[1] != STYLE_DIM or arr.shape[0] == 0:
        msg = f"{what}: a style bank must be a non-empty (k, {STYLE_DIM}) table, got shape {arr.shape}"
        raise UsageError(msg)
    if not np.isfinite(arr).all():
        msg = f"{what}: style values must be finite"
        raise UsageError(msg)
    return arr


def check_overrides(density: float | None, grid: float | None) -> None:
    """Check explicit style values (``--density``, ``--grid``).

    Raises
    ------
    UsageError
        If ``density`` is negative or not finite, or ``grid`` is outside ``[0, 1]``.
    """
    if density is not None and not (math.isfinite(density) and density >= 0):
        msg = f"--density must be a finite number of junctions per km2 >= 0, got {density}"
        raise UsageError(msg)
    if grid is not None and not (math.isfinite(grid) and 0.0 <= grid <= 1.0):
        msg = f"--grid must be an orientation order in [0, 1], got {grid}"
        raise UsageError(msg)


def draw_styles(bank: np.ndarray, n: int, seed: int, **kw: Any) -> np.ndarray:
    """The style rows of :func:`style_choices` (without the bank rows they came from)."""
    return style_choices(bank, n, seed, **kw)[0]


def style_choices(
    bank: np.ndarray,
    n: int,
    seed: int,
    density: float | None = None,
    grid: float | None = None,
    first_index: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw raw style rows ``(n, STYLE_DIM)``, and the bank row each came from ``(n,)``.

    The rows are those of layouts ``first_index .. first_index + n - 1``.

    Layout ``i`` gets bank row ``choice(seed, i)`` (so a layout's style depends only on the
    seed and its index, not on ``n``). With explicit values, each layout takes the bank row
    nearest to them (among a random half of the bank, so that layouts still differ in their
    other values) and then the explicit values themselves.

    Parameters
    ----------
    bank
        Raw style rows of real tiles, ``(k, STYLE_DIM)``.
    n
        Layouts.
    seed
        Seed of the draw.
    density, grid
        Explicit junction density (per km2) and orientation order, or None.
    first_index
        Index of the first layout (a worker drawing part of a run).
    """
    bank = check_bank(bank, "style bank")
    check_overrides(density, grid)
    out = np.empty((n, STYLE_DIM))
    rows = np.empty(n, dtype=np.int64)
    scale = bank.std(axis=0) + 1e-9
    for i in range(n):
        rng = np.random.default_rng([int(seed) % 2**63, first_index + i, 0x57])
        if density is None and grid is None:
            rows[i] = int(rng.integers(bank.shape[0]))
            out[i] = bank[rows[i]]
            continue
        half = rng.random(bank.shape[0]) < 0.5 if bank.shape[0] > 1 else np.ones(1, dtype=bool)
        pool = np.flatnonzero(half) if half.any() else np.arange(bank.shape[0])
        dist = np.zeros(pool.shape[0])
        if density is not None:
            dist += (
                (np.log1p(bank[pool, 0]) - np.log1p(density)) / (np.log1p(bank[:, 0]).std() + 1e-9)
            ) ** 2
        if grid is not None:
            dist += ((bank[pool, 2] - grid) / scale[2]) ** 2
        rows[i] = pool[int(np.argmin(dist))]
        row = bank[rows[i]].copy()
        if density is not None:
            row[0] = density
        if grid is not None:
            row[2] = grid
        out[i] = row
    return out, rows


def bank_of_sequences(seqs: Seq) -> np.ndarray:
    """Raw style rows of prepared tiles (canonical sequences), ``(k, STYLE_DIM)``."""
    return np.array([style_of_sequence(s) for s in seqs]).reshape(-1, STYLE_DIM)


def drawn_styles(layouts: Seq, model) -> list[np.ndarray] | None:  # noqa: ANN001 - LayoutModel
    """The raw style rows that sampled layouts were drawn with (``G.graph["style"]``).

    None for a model without style input; a layout without a recorded style is scored with
    its own style (:func:`style_of_layout`).
    """
    if not model.config.style_dim:
        return None
    out = []
    for G in layouts:
        rec = G.graph.get("style")
        out.append(np.array([rec[k] for k in STYLE_KEYS]) if rec else style_of_layout(G))
    return out
