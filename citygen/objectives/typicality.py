"""The realism term of steering: how far a layout's street statistics are from real tiles.

Steering toward an objective alone finds layouts that score well for the wrong reasons: a
single street across the tile is "well connected", a dense grid is "quick to cross". The
learned model keeps each layout locally plausible, but selection picks from its tails. So a
steered score also pays for being unlike real streets, as GCPN adds an adversarial realism
reward to its goal for molecules:

    score(G) = objective score(G) - realism * typicality(G)

*Typicality* is a distance to real streets, per layout:

1. the layout's street statistics of the realism report (:mod:`citygen.metrics.catalog`:
   orientation entropy and order, circuity, intersection and street density, dead-end share,
   meshedness; the scalar statistics of ``citygen evaluate``);
2. each standardised by the mean and standard deviation of the real tiles (a missing value,
   circuity of a layout with no two nodes 100 m apart, counts as 1, a straight line; any
   other missing value as 0);
3. the mean Euclidean distance to the ``k = 5`` nearest real tiles in that space,
4. divided by the median of the same distance for the real tiles themselves (each to its
   ``k`` nearest *other* tiles).

So a typical real tile scores about 1, half of the real tiles score below 1, and a layout
twice as far from every real tile as real tiles are from each other scores about 2. The real
tiles are the 391 training tiles of the 13-city corpus (the objectives' references), shipped
as ``real_tiles.json`` beside this module; :func:`build_reference` measures another prepared
data set (``--realism-data DIR``), e.g. to steer toward one city's style. Regenerate the
shipped file with ``python -m citygen.objectives.typicality DATA_DIR``.

The statistics are those of whole tiles, so the term is meaningful on finished layouts only:
SMC applies it to its final pick, not to partial layouts.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree

from citygen.atomic import write_text
from citygen.errors import UsageError
from citygen.objectives.functions import Arrays, as_arrays

#: The statistics compared (names in :data:`citygen.metrics.catalog.STATISTICS`).
FEATURES: tuple[str, ...] = (
    "orientation_entropy",
    "orientation_order",
    "circuity",
    "intersection_density",
    "street_density",
    "dead_end_share",
    "meshedness",
)
#: Nearest real tiles averaged over.
K_NEAREST = 5
#: Value used for a statistic a layout does not have (circuity without node pairs).
MISSING = {"circuity": 1.0}
SHIPPED = Path(__file__).with_name("real_tiles.json")


def features(G: nx.Graph | Arrays) -> np.ndarray:
    """The statistics of :data:`FEATURES` of one layout, ``(F,)`` in their units."""
    from citygen.metrics.catalog import BY_NAME  # citygen.metrics imports this package

    a = G if isinstance(G, Arrays) else as_arrays(G)
    out = np.empty(len(FEATURES))
    for i, name in enumerate(FEATURES):
        v = float(BY_NAME[name].fn(a))
        out[i] = v if math.isfinite(v) else MISSING.get(name, 0.0)
    return out


@dataclass(frozen=True, eq=False)
class Reference:
    """Real tiles' statistics and the scale that makes a typical real tile score 1.

    Attributes
    ----------
    tiles
        ``(m, F)`` statistics of the real tiles (:data:`FEATURES`).
    k
        Nearest tiles averaged over.
    source
        Where the tiles come from (for the metadata).
    """

    tiles: np.ndarray
    k: int = K_NEAREST
    source: str = ""

    def __post_init__(self) -> None:
        if self.tiles.ndim != 2 or self.tiles.shape[1] != len(FEATURES):
            msg = f"reference tiles must be (m, {len(FEATURES)}), got {self.tiles.shape}"
            raise UsageError(msg)
        if not np.isfinite(self.tiles).all():
            msg = "reference tiles must be finite numbers (found NaN, inf or null)"
            raise UsageError(msg)
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            msg = f"reference k (nearest tiles) must be an integer >= 1, got {self.k!r}"
            raise UsageError(msg)
        if len(self.tiles) <= self.k:
            msg = (
                f"the realism reference needs more than {self.k} real tiles, got {len(self.tiles)}"
            )
            raise UsageError(msg)

    @functools.cached_property
    def _space(self) -> tuple[np.ndarray, np.ndarray, cKDTree, np.ndarray]:
        """Standardisation, k-d tree, and each tile's mean distance to its k nearest others."""
        mean = self.tiles.mean(0)
        std = np.where(self.tiles.std(0) > 1e-12, self.tiles.std(0), 1.0)
        z = (self.tiles - mean) / std
        tree = cKDTree(z)
        own, _ = tree.query(z, list(range(2, self.k + 2)))  # the 1st neighbour is the tile
        return mean, std, tree, own.mean(1)

    @functools.cached_property
    def _scale(self) -> float:
        scale = float(np.median(self._space[3]))
        return scale if scale > 0 else 1.0

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Statistics ``x (..., F)`` in the reference's standardised space (z-scores)."""
        mean, std, _, _ = self._space
        return (np.asarray(x, dtype=np.float64) - mean) / std

    def own_distances(self) -> np.ndarray:
        """Typicality of each real tile against the others, ``(m,)`` (median exactly 1)."""
        return self._space[3] / self._scale

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Typicality of statistics ``x (n, F)`` or ``(F,)``: scaled mean k-nearest distance."""
        mean, std, tree, _ = self._space
        d, _ = tree.query((np.atleast_2d(x) - mean) / std, list(range(1, self.k + 1)))
        out = d.mean(1) / self._scale
        return out if np.ndim(x) == 2 else out[0]

    def __call__(self, G: nx.Graph | Arrays) -> float:
        """Typicality of one layout (about 1 for a typical real tile; lower is more typical)."""
        return float(self.distance(features(G)))

    def to_json(self) -> dict:
        """JSON-ready form (features, k, source, tiles)."""
        return {
            "features": list(FEATURES),
            "k": self.k,
            "source": self.source,
            "tiles": np.round(self.tiles, 6).tolist(),
        }


def build_reference(layouts: Sequence[nx.Graph | Arrays], source: str = "") -> Reference:
    """A :class:`Reference` measured on real layouts (e.g. a data set's training tiles)."""
    tiles = np.array([features(G) for G in layouts]).reshape(-1, len(FEATURES))
    return Reference(tiles, source=source)


def load_reference(path: str | Path) -> Reference:
    """Read a reference written by :meth:`Reference.to_json`; a data set directory is measured.

    Raises
    ------
    UsageError
        If the file is not a reference of the current :data:`FEATURES`.
    """
    p = Path(path)
    if p.is_dir():
        return reference_from_dataset(p)
    try:
        doc = json.loads(p.read_text())
        tiles = np.asarray(doc["tiles"], dtype=np.float64)
        names, k, source = tuple(doc["features"]), doc["k"], str(doc.get("source", p))
    except (OSError, ValueError, KeyError, TypeError) as e:
        msg = f"{p}: not a realism reference ({e})"
        raise UsageError(msg) from None
    if names != FEATURES:
        msg = f"{p}: realism reference has features {list(names)}, expected {list(FEATURES)}"
        raise UsageError(msg)
    return Reference(tiles, k, source)


def reference_from_dataset(data_dir: str | Path) -> Reference:
    """The training tiles of a data set prepared by ``citygen prepare``, measured."""
    from data_prep.shards import load_dataset

    data = load_dataset(data_dir)
    tiles = [t.layout() for t in data.tiles("train")]
    return build_reference(tiles, source=f"training tiles of {Path(data_dir).name}")


@functools.cache
def default_reference() -> Reference:
    """The shipped reference: the corpus training tiles (``real_tiles.json``)."""
    return load_reference(SHIPPED)


def write_reference(ref: Reference, path: str | Path) -> Path:
    """Write ``ref`` as JSON, atomically."""
    write_text(path, json.dumps(ref.to_json(), separators=(",", ":")) + "\n")
    return Path(path)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m citygen.objectives.typicality DATA_DIR [--out FILE]``: measure a reference."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("data", help="a data set prepared by citygen prepare")
    p.add_argument("--out", default=str(SHIPPED), help="default: the shipped reference")
    p.add_argument("--source", help="provenance recorded in the file")
    args = p.parse_args(argv)
    ref = reference_from_dataset(args.data)
    if args.source:
        ref = Reference(ref.tiles, ref.k, args.source)
    print(f"{len(ref.tiles)} tiles -> {write_reference(ref, args.out)}")


if __name__ == "__main__":
    main()
