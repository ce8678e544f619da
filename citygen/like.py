"""Generate in the style of a place: the style bank of a source a user names (``--like``).

``citygen generate --like SOURCE`` draws each layout's style (:mod:`citygen.style`) from the
real tiles of SOURCE instead of the whole training corpus:

- a prepared data set (``citygen prepare --out``): all its tiles;
- any file or folder ``citygen prepare --osm`` reads (OSM XML / PBF, street lines): cleaned
  and cut into tiles of the model's tile size exactly as ``prepare`` does, nothing written;
- anything else is taken as a place name for osmnx (``"Lyon, France"``; needs a network).

The style values alone pull the model only part of the way to a place (issue 12: closer than
unconditioned sampling on five of seven held-out cities, on none as close as the target). So
``generate --like`` also draws :data:`LIKE_CANDIDATES` candidates per layout and keeps the one
whose street statistics are nearest those of the real tile its style row came from
(:func:`sample_like`, :func:`pick_matching`; statistics and scale of
:mod:`citygen.objectives.typicality`): best-of-N toward the place, as steering does toward an
objective, tile by tile so that the spread of the place's tiles is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from citygen.errors import CitygenError, DatasetError, InputDataError

if TYPE_CHECKING:
    from citygen.objectives.typicality import Reference
    from citygen.sampling.loop import SampleConfig

log = logging.getLogger(__name__)

#: Candidates per layout of ``generate --like``; the one nearest its style's tile is kept.
LIKE_CANDIDATES = 4


@dataclass(frozen=True)
class LikeSource:
    """The real tiles of a ``--like`` source: their style rows and their sequences."""

    name: str
    bank: np.ndarray
    sequences: list


def like_source(source: str | Path, tile_size: float, min_nodes: int = 8) -> LikeSource:
    """Read a ``--like`` source (see the module docstring) at the model's tile size.

    Parameters
    ----------
    source
        A data set directory, an OSM / street-lines file or folder, or a place name.
    tile_size
        Tile side in metres (the model's).
    min_nodes
        Tiles with fewer nodes are left out, as ``prepare`` does.

    Raises
    ------
    InputDataError
        If the source has no drivable streets or no tile with ``min_nodes`` nodes.
    DatasetError
        If a folder is an incomplete or foreign citygen data set.
    NetworkUnavailableError
        If a place name cannot be looked up offline.
    """
    from citygen.style import bank_of_sequences
    from data_prep.load import is_osm_file
    from data_prep.shards import is_dataset_dir, load_dataset

    text = str(source)
    if not text.strip():
        msg = "--like needs a source: a data set, an OSM or street-lines file, or a place name"
        raise InputDataError(msg)
    path = Path(text)
    if path.is_dir() and is_dataset_dir(path):
        ds = load_dataset(path)
        if abs(ds.tile_size - tile_size) > 1e-6:
            msg = f"--like {path}: its tiles are {ds.tile_size:g} m, the model draws {tile_size:g} m tiles"
            raise DatasetError(msg)
        seqs = [t.sequence for t in ds.tiles()]
    elif path.exists():
        seqs = _tiles_of(text, tile_size, min_nodes, osm=True)
    elif "/" in text or "\\" in text or is_osm_file(path):
        msg = f"--like {text}: no such file or directory"
        raise InputDataError(msg)
    else:
        seqs = _tiles_of(text, tile_size, min_nodes, osm=False)
    if not seqs:
        msg = f"--like {text}: no tile of {tile_size:g} m with at least {min_nodes} street nodes"
        raise InputDataError(msg)
    return LikeSource(text, bank_of_sequences(seqs), seqs)


def _tiles_of(source: str, tile_size: float, min_nodes: int, osm: bool) -> list:
    from data_prep.clean import clean
    from data_prep.order import to_sequence
    from data_prep.prepare import make_sources
    from data_prep.tiles import cut, grid_specs

    sources = make_sources(osm=source) if osm else make_sources(place=source)
    seqs = []
    for src in sources:
        try:
            region = clean(src.load())
        except CitygenError as exc:
            msg = f"--like {src.value}: {exc}"
            raise type(exc)(msg) from exc
        for spec in grid_specs(region, tile_size).values():
            layout = cut(region, spec)
            if layout.number_of_nodes() >= min_nodes and layout.number_of_edges() > 0:
                seqs.append(to_sequence(layout))
    log.info("--like %s: %d tiles", source, len(seqs))
    return seqs


def like_reference(src: LikeSource) -> Reference | None:
    """The typicality reference of a source's tiles, in bank order.

    None if it has too few tiles for one (:data:`~citygen.objectives.typicality.K_NEAREST` or
    fewer).
    """
    from citygen.objectives.typicality import K_NEAREST, build_reference
    from data_prep.order import to_layout

    if len(src.sequences) <= K_NEAREST:
        return None
    return build_reference([to_layout(s) for s in src.sequences], source=f"tiles of {src.name}")


def pick_matching(
    pool: list[nx.Graph], candidates: int, reference: Reference, targets: np.ndarray
) -> tuple[list[nx.Graph], np.ndarray, np.ndarray]:
    """Keep, of each group of ``candidates`` consecutive layouts, the one nearest its target.

    ``targets (n, F)``: the street statistics (:func:`~citygen.objectives.typicality.features`)
    of the real tile whose style layout ``i`` was drawn with; the distance is measured in the
    reference's standardised space. Picking per target keeps the spread of the place's tiles
    (dense centre and sparse edge alike), where the most typical candidate would pull every
    layout to the middle. Returns the layouts (graph attributes ``index``, ``like_candidate``
    and ``like_distance`` set), the chosen candidate of each and every distance ``(n, K)``.
    """
    from citygen.errors import UsageError
    from citygen.objectives.typicality import features

    n = len(targets)
    if candidates < 1 or len(pool) != n * candidates:
        msg = f"a pool of {len(pool)} layouts is not {n} groups of {candidates} candidates"
        raise UsageError(msg)
    x = np.array([features(G) for G in pool]).reshape(n, candidates, -1)
    z, zt = reference.standardise(x), reference.standardise(targets)
    dist = np.linalg.norm(z - zt[:, None], axis=-1)
    chosen = dist.argmin(1)
    out = []
    for i, j in enumerate(chosen.tolist()):
        G = pool[i * candidates + j]
        G.graph.update(index=i, like_candidate=j, like_distance=round(float(dist[i, j]), 6))
        out.append(G)
    return out, chosen, dist


def sample_like(
    candidates: int,
    reference: Reference,
    n: int,
    seed: int,
    config: SampleConfig,
    draw: Callable[[int, np.ndarray], list[nx.Graph]],
) -> tuple[list[nx.Graph], np.ndarray]:
    """The layouts of a ``--like`` run with ``candidates`` per layout.

    Layout ``i`` draws its style row from the place's tiles as plain ``--like`` sampling does
    (:func:`citygen.style.style_choices`: seed and index, ``--density``/``--grid`` applied);
    its ``candidates`` candidates, samples ``i*K .. i*K + K - 1`` of one run
    ``draw(n * K, styles)``, share that row, and the one whose street statistics are nearest
    the tile the row came from is kept (:func:`pick_matching`). ``reference`` holds the
    place's tiles in bank order (:func:`like_reference`). Returns the layouts and their
    distances to their tiles ``(n,)``.
    """
    from citygen.style import style_choices

    bank = np.asarray(config.style_bank, dtype=np.float64)
    rows, tile = style_choices(bank, n, seed, config.density, config.grid)
    pool = draw(n * candidates, np.repeat(rows, candidates, axis=0))
    layouts, chosen, dist = pick_matching(pool, candidates, reference, reference.tiles[tile])
    return layouts, dist[np.arange(n), chosen]


__all__ = [
    "LIKE_CANDIDATES",
    "InputDataError",
    "LikeSource",
    "like_reference",
    "like_source",
    "pick_matching",
    "sample_like",
]
