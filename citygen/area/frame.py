"""Tiles of an area: where each lies, its frame, and the prefix its finished neighbours fix.

An area of ``cols x rows`` tiles of ``T`` metres has its own frame (metres, origin at the
area's south-west corner, x east, y north). Tile ``(c, r)`` covers
``[c T, (c + 1) T] x [r T, (r + 1) T]``. Tiles are generated in wavefront order (anti-diagonal
``c + r``), so when a tile is sampled its west and south neighbours, if any, are finished: the
streets they sent across the shared sides are its *fixed* border nodes.

In the canonical order (docs/format.md) the west side comes first and the south side second, so
fixed west and south nodes are a prefix of the tile's sequence. A tile of the first column has
only a fixed south side; it is sampled in the transposed frame (x and y swapped, a reflection
the model was trained on through mirrored windows), where the area's south side is the frame's
west side, so its fixed nodes are a prefix too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.order import Sequence, perimeter_coordinate

#: A point is on a tile side when it lies within this many metres of the side's line.
ON_SIDE_M = 1e-6


@dataclass(frozen=True)
class TileSlot:
    """One tile of an area grid.

    Attributes
    ----------
    col, row
        Grid position, counted from the south-west.
    size
        Tile side, metres.
    transpose
        Whether the tile is sampled in the transposed frame (frame ``(u, v)`` is area-local
        ``(v, u)``).
    """

    col: int
    row: int
    size: float
    transpose: bool = False

    @classmethod
    def at(cls, col: int, row: int, size: float) -> TileSlot:
        """Return the slot of tile ``(col, row)``, transposed when only its south side is fixed."""
        return cls(col, row, float(size), transpose=col == 0 and row > 0)

    @property
    def origin(self) -> np.ndarray:
        """South-west corner in the area frame, metres ``(2,)``."""
        return np.array([self.col * self.size, self.row * self.size])

    @property
    def fixed_sides(self) -> tuple[str, ...]:
        """Area sides (``"W"``, ``"S"``) shared with finished neighbours."""
        return tuple(s for s, ok in (("W", self.col > 0), ("S", self.row > 0)) if ok)

    def to_area(self, frame_xy: np.ndarray) -> np.ndarray:
        """Frame metres ``(n, 2)`` to area metres ``(n, 2)``."""
        local = np.asarray(frame_xy, dtype=np.float64).reshape(-1, 2)
        if self.transpose:
            local = local[:, ::-1]
        return local + self.origin

    def to_frame(self, area_xy: np.ndarray) -> np.ndarray:
        """Area metres ``(n, 2)`` to frame metres ``(n, 2)`` (inverse of :meth:`to_area`)."""
        local = np.asarray(area_xy, dtype=np.float64).reshape(-1, 2) - self.origin
        return local[:, ::-1].copy() if self.transpose else local

    def on_fixed_side(self, area_xy: np.ndarray) -> np.ndarray:
        """Whether area points ``(n, 2)`` lie on a fixed side of this tile, ``(n,)`` bool."""
        xy = np.asarray(area_xy, dtype=np.float64).reshape(-1, 2)
        lo, hi = self.origin, self.origin + self.size
        out = np.zeros(len(xy), dtype=bool)
        within_y = (xy[:, 1] >= lo[1] - ON_SIDE_M) & (xy[:, 1] <= hi[1] + ON_SIDE_M)
        within_x = (xy[:, 0] >= lo[0] - ON_SIDE_M) & (xy[:, 0] <= hi[0] + ON_SIDE_M)
        if "W" in self.fixed_sides:
            out |= (np.abs(xy[:, 0] - lo[0]) <= ON_SIDE_M) & within_y
        if "S" in self.fixed_sides:
            out |= (np.abs(xy[:, 1] - lo[1]) <= ON_SIDE_M) & within_x
        return out

    def side_of(self, area_xy: np.ndarray) -> list[str | None]:
        """Which area side (``W``, ``S``, ``E``, ``N``) of this tile each point is on, or None."""
        xy = np.asarray(area_xy, dtype=np.float64).reshape(-1, 2)
        lo, hi = self.origin, self.origin + self.size
        out: list[str | None] = []
        for x, y in xy:
            if abs(x - lo[0]) <= ON_SIDE_M:
                out.append("W")
            elif abs(y - lo[1]) <= ON_SIDE_M:
                out.append("S")
            elif abs(x - hi[0]) <= ON_SIDE_M:
                out.append("E")
            elif abs(y - hi[1]) <= ON_SIDE_M:
                out.append("N")
            else:
                out.append(None)
        return out


def prefix_order(slot: TileSlot, area_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical order of fixed border points and their normalised frame positions.

    Parameters
    ----------
    slot
        The tile.
    area_xy
        Fixed border points in the area frame, metres ``(k, 2)``; each on a fixed side.

    Returns
    -------
    order : numpy.ndarray
        Indices into ``area_xy`` in canonical (perimeter) order, ``(k,)``.
    pos : numpy.ndarray
        Their frame positions normalised to ``[0, 1]``, in that order, ``(k, 2)``; the
        coordinate on the side is exactly 0.
    """
    pos = slot.to_frame(area_xy) / slot.size
    pos = np.clip(pos, 0.0, 1.0)
    pos[np.abs(pos) <= ON_SIDE_M / slot.size] = 0.0
    s = np.array([perimeter_coordinate(float(x), float(y)) for x, y in pos])
    order = np.argsort(s, kind="stable")
    return order, pos[order]


def border_prefix(pos: np.ndarray, tile_size: float) -> Sequence | None:
    """Return a sequence of border nodes only (no streets) to teacher-force; None if empty."""
    if len(pos) == 0:
        return None
    return Sequence(
        pos=np.asarray(pos, dtype=np.float64).reshape(-1, 2),
        border=np.ones(len(pos), dtype=bool),
        edges=np.zeros((0, 2), dtype=np.int32),
        classes=np.zeros(0, dtype=np.int8),
        tile_size=float(tile_size),
    )
