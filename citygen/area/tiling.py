"""Generate one street network over a whole area, tile by tile (``citygen generate --area``).

The area is covered by a grid of the model's tiles. Tiles are sampled in wavefront order: all
tiles of one anti-diagonal ``col + row`` in one batch of :func:`citygen.sample`, each with its
fixed border nodes teacher-forced as a prefix (:mod:`citygen.area.frame`), i.e. the streets its
finished west and south neighbours sent across the shared sides. Each tile is sampled as
``candidates`` draws; the one with the fewest seam issues (:mod:`citygen.area.seam_rules`) wins,
ties go to the best objective score (best-of-N per tile) and then to the first draw. What still
breaks a rule at a seam is repaired by removing it. Fixed nodes are the same node in both
tiles, so each seam crossing is one node of the area graph with a street on either side.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from citygen.area.frame import TileSlot, border_prefix, prefix_order
from citygen.area.seam_rules import (
    ISSUE_KINDS,
    Issues,
    assess,
    carry_class,
    context,
    drop_crossing,
    drop_dangling_seams,
    repair,
)
from citygen.errors import UsageError
from citygen.layout import add_street

log = logging.getLogger(__name__)

#: Largest area generated at once, km2 (100 km2, seed 0: 7,682 nodes, peak RSS 0.41 GB for the
#: whole process; larger areas are not measured).
MAX_AREA_KM2 = 400.0


@dataclass
class AreaStats:
    """What happened while an area was generated (stored as the graph attribute ``stats``).

    Attributes
    ----------
    tiles, samples
        Tiles of the grid and tiles sampled in all (``tiles * candidates``).
    issues
        Issues of the chosen candidates before repair, per kind (see
        :mod:`citygen.area.seam_rules`); ``dropped_crossings`` counts seam crossings dropped
        on both sides (a fixed node the tile left without a street, or two fixed nodes closer
        than ``min_dist``).
    fixed_nodes
        Fixed border nodes teacher-forced in all.
    seconds
        Wall time of sampling and joining, seconds.
    """

    tiles: int = 0
    samples: int = 0
    fixed_nodes: int = 0
    dropped_crossings: int = 0
    issues: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ISSUE_KINDS, 0))
    clean_tiles: int = 0
    connectors: int = 0
    connector_m: float = 0.0
    reclassed: int = 0
    clearance_repairs: int = 0
    classes_carried: int = 0
    length_m: float = 0.0
    giant_before: float = 0.0
    giant_after: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "tiles": self.tiles,
            "samples": self.samples,
            "fixed_nodes": self.fixed_nodes,
            "dropped_crossings": self.dropped_crossings,
            "issues_before_repair": dict(self.issues),
            "tiles_without_issues": self.clean_tiles,
            "connectors": self.connectors,
            "connector_length_m": round(self.connector_m, 1),
            "access_roads_reclassed": self.reclassed,
            "clearance_streets_removed": self.clearance_repairs,
            "classes_carried_across_seams": self.classes_carried,
            "street_length_m": round(self.length_m, 1),
            "giant_length_share_before_connect": round(self.giant_before, 4),
            "giant_length_share": round(self.giant_after, 4),
            "seconds": round(self.seconds, 3),
        }


def giant_length_share(G: nx.Graph) -> float:
    """Share of the street length in the connected piece with the most street length."""
    total = sum(d["length"] for *_, d in G.edges(data=True))
    if total <= 0:
        return 0.0
    best = max(
        sum(d["length"] for *_, d in G.subgraph(c).edges(data=True))
        for c in nx.connected_components(G)
    )
    return float(best / total)


def check_size(width_m: float, height_m: float, tile_size: float) -> None:
    """Refuse areas that are not positive and finite, or larger than :data:`MAX_AREA_KM2`."""
    if not all(math.isfinite(v) and v > 0 for v in (width_m, height_m)):
        msg = f"area must be positive, got {width_m:g} x {height_m:g} m"
        raise UsageError(msg)
    km2 = width_m * height_m / 1e6
    if km2 > MAX_AREA_KM2:
        msg = (
            f"area of {km2:g} km2 is too large; at most {MAX_AREA_KM2:g} km2 "
            f"(e.g. 20kmx20km) is generated at once"
        )
        raise UsageError(msg)
    if tile_size <= 0:
        msg = f"tile size must be positive, got {tile_size}"
        raise UsageError(msg)


def wavefronts(cols: int, rows: int) -> list[list[tuple[int, int]]]:
    """Tiles ``(col, row)`` grouped by anti-diagonal ``col + row``, in order."""
    return [
        [(c, d - c) for c in range(max(0, d - rows + 1), min(d, cols - 1) + 1)]
        for d in range(cols + rows - 1)
    ]


def diagonal_seed(seed: int, d: int) -> int:
    """Return the sampling seed of anti-diagonal ``d`` (one stream per seed and diagonal)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, d]).generate_state(1)[0])


class _Area:
    """The area graph under construction and the bookkeeping of its seams."""

    def __init__(self, cols: int, rows: int, tile: float, cfg: Any) -> None:
        self.cols, self.rows, self.tile, self.cfg = cols, rows, tile, cfg
        self.A = nx.Graph()
        self.next_id = 0
        self.side_nodes: dict[tuple[int, int, str], list[int]] = {}
        self.tile_nodes: dict[tuple[int, int], set[int]] = {}
        self.stats = AreaStats(tiles=cols * rows)

    def fixed(self, slot: TileSlot) -> tuple[list[int], np.ndarray]:
        """Return the tile's fixed border nodes (area ids) in canonical order, and their prefix."""
        c, r = slot.col, slot.row
        ids = self.side_nodes.get((c - 1, r, "E"), []) + self.side_nodes.get((c, r - 1, "N"), [])
        ids = [n for n in ids if n in self.A and self.A.degree(n) > 0]
        xy = np.array([(self.A.nodes[n]["x"], self.A.nodes[n]["y"]) for n in ids]).reshape(-1, 2)
        order, pos = prefix_order(slot, xy)
        ids = [ids[i] for i in order]
        keep = []
        for i, p in enumerate(pos):  # two fixed nodes too close (near a corner): drop one
            if (
                keep
                and min(np.linalg.norm(pos[j] - p) for j in keep) * slot.size < self.cfg.min_dist
            ):
                self.stats.dropped_crossings += 1
                drop_crossing(self.A, ids[i])
                continue
            keep.append(i)
        return [ids[i] for i in keep], pos[keep]

    def neighbourhood(self, slot: TileSlot) -> set[int]:
        """Area nodes of the finished tiles around ``slot``."""
        out: set[int] = set()
        for dc in (-1, 0, 1):
            for dr in (-1, 0, 1):
                out |= self.tile_nodes.get((slot.col + dc, slot.row + dr), set())
        return out

    def positions(self, G: nx.Graph, slot: TileSlot, fixed: list[int]) -> dict[int, np.ndarray]:
        """Area position of every node of a sampled tile (fixed nodes keep theirs exactly)."""
        nodes = list(G.nodes)
        xy = slot.to_area(np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes]))
        out = dict(zip(nodes, xy, strict=True))
        for i, aid in enumerate(fixed):
            out[i] = np.array([self.A.nodes[aid]["x"], self.A.nodes[aid]["y"]])
        return out

    def join(self, G: nx.Graph, slot: TileSlot, fixed: list[int], area_xy: dict) -> None:
        """Add a (repaired) sampled tile to the area."""
        ids: dict[int, int] = dict(enumerate(fixed))
        members: set[int] = set(fixed)
        sides = dict(
            zip(G.nodes, slot.side_of(np.array([area_xy[n] for n in G.nodes])), strict=True)
        )
        lo, hi = slot.origin, slot.origin + slot.size
        for n in G.nodes:
            if n < len(fixed):
                self.A.nodes[ids[n]]["seam"] = True
                continue
            x, y = (float(v) for v in area_xy[n])
            side = sides[n] if G.nodes[n]["border"] else None
            x = {"W": lo[0], "E": hi[0]}.get(side, x)  # border nodes exactly on their side
            y = {"S": lo[1], "N": hi[1]}.get(side, y)
            outer = side is not None and self._outer(slot, side)
            aid = self.next_id
            self.next_id += 1
            ids[n] = aid
            members.add(aid)
            self.A.add_node(
                aid, x=float(x), y=float(y), border=outer, seam=not outer and side is not None
            )
            if side in ("E", "N") and not outer:
                self.side_nodes.setdefault((slot.col, slot.row, side), []).append(aid)
        for u, v, d in G.edges(data=True):
            add_street(self.A, ids[u], ids[v], d["highway"])
        self.tile_nodes[(slot.col, slot.row)] = members

    def _outer(self, slot: TileSlot, side: str) -> bool:
        return (
            (side == "W" and slot.col == 0)
            or (side == "S" and slot.row == 0)
            or (side == "E" and slot.col == self.cols - 1)
            or (side == "N" and slot.row == self.rows - 1)
        )


def _choose(issues: list[Issues], scores: np.ndarray | None) -> int:
    """Fewest issues first, then the best score, then the first draw."""
    keys = [
        (iss.total, -(scores[i] if scores is not None else 0.0), i) for i, iss in enumerate(issues)
    ]
    return min(keys)[2]


def generate_area(
    model: Any,
    width_m: float,
    height_m: float,
    seed: int = 0,
    candidates: int = 1,
    objective: Any = None,
    config: Any = None,
    device: Any = None,
    batch_size: int = 64,
    connect: float = 500.0,
) -> nx.Graph:
    """Generate one connected street network over a ``width_m x height_m`` area.

    Parameters
    ----------
    model
        A :class:`~citygen.model.LayoutModel` (``citygen.load_model()``).
    width_m, height_m
        Size of the area, metres (at most :data:`MAX_AREA_KM2` in all). A size that is not a
        multiple of the model's tile is cut cleanly at the area's edge.
    seed
        Seed; the same seed, model, settings and device give the same network.
    candidates
        Draws per tile; the one with the fewest seam issues wins, then the best ``objective``.
    objective
        A :class:`citygen.objectives.Combination` to steer each tile by (best-of-N), or None.
    config
        A :class:`citygen.sampling.loop.SampleConfig` (constraints, temperature, dead-end snapping).
    device, batch_size
        As in :func:`citygen.sample`.
    connect
        Longest straight connector street (m) that joins separate pieces of the network
        (:mod:`citygen.area.connect`); 0 leaves the pieces as sampled. Either way, pieces of
        ``service`` streets that are the only link between parts of the network become
        ``residential`` (SUMO closes ``service`` to cars; see
        :func:`~citygen.area.connect.open_through_access_roads`).

    Returns
    -------
    networkx.Graph
        Layout-style graph in the area frame (metres, origin at the south-west corner): node
        ``x``, ``y``, ``border`` (the street leaves the area here) and ``seam`` (a street crossing
        an inner tile border); edge ``highway``, ``length``, ``connector`` and ``reclassed`` (see
        :mod:`citygen.area.connect`). Graph attributes: ``width_m``,
        ``height_m``, ``area_tile_m``, ``tile_size`` (side of the square holding the area, for
        the exporters), ``seed`` and ``stats`` (:class:`AreaStats`).
    """
    from citygen.area.connect import connect_pieces, open_through_access_roads
    from citygen.area.crop import crop
    from citygen.area.repair import drop_clearance_breaks
    from citygen.area.sampler import SampleConfig, sample_closed
    from citygen.area.styles import area_field, in_frame

    cfg = config or SampleConfig()
    tile = float(model.config.tile_size)
    check_size(width_m, height_m, tile)
    if candidates < 1:
        msg = f"candidates per tile must be at least 1, got {candidates}"
        raise UsageError(msg)
    cols, rows = math.ceil(width_m / tile - 1e-9), math.ceil(height_m / tile - 1e-9)
    area = _Area(cols, rows, tile, cfg)
    t0 = time.perf_counter()
    reach = max(cfg.min_dist, cfg.clearance) + 1.0
    field = area_field(model, cfg, seed)
    for d, front in enumerate(wavefronts(cols, rows)):
        slots = [TileSlot.at(c, r, tile) for c, r in front]
        fixed = [area.fixed(s) for s in slots]
        prefixes = [border_prefix(pos, tile) for _, pos in fixed for _ in range(candidates)]
        floors = [float(len(s.fixed_sides)) for s in slots for _ in range(candidates)]
        styles = (
            np.array(
                [
                    in_frame(field.style(s.col, s.row), s.transpose)
                    for s in slots
                    for _ in range(candidates)
                ]
            )
            if field is not None
            else None
        )
        pool = sample_closed(
            model,
            prefixes,
            floors,
            seed=diagonal_seed(seed, d),
            device=device,
            batch_size=batch_size,
            config=cfg,
            styles=styles,
        )
        area.stats.samples += len(pool)
        for i, (slot, (ids, _)) in enumerate(zip(slots, fixed, strict=True)):
            draws = pool[i * candidates : (i + 1) * candidates]
            ctx = context(area.A, area.neighbourhood(slot), slot, reach)
            xys = [area.positions(G, slot, ids) for G in draws]
            found = [
                assess(G, p, len(ids), ids, area.A, ctx, slot, cfg)
                for G, p in zip(draws, xys, strict=True)
            ]
            scores = objective.scores(draws) if objective is not None and candidates > 1 else None
            k = _choose(found, scores)
            G, issues = draws[k], found[k]
            area.stats.fixed_nodes += len(ids)
            area.stats.clean_tiles += issues.total == 0
            for kind, n in issues.counts().items():
                area.stats.issues[kind] += n
            for j in repair(G, issues, len(ids)):
                area.stats.dropped_crossings += 1
                drop_crossing(area.A, ids[j])
                G.remove_node(j)
            for j, aid in enumerate(ids):
                if j in G and area.A.degree(aid) == 1:
                    theirs = next(iter(area.A.edges(aid, data="highway")))[2]
                    area.stats.classes_carried += carry_class(G, j, theirs, range(len(ids)))
            area.join(G, slot, ids, xys[k])
    area.stats.dropped_crossings += drop_dangling_seams(area.A)
    A = crop(area.A, width_m, height_m, cfg.min_dist)
    area.stats.clearance_repairs = drop_clearance_breaks(A, cfg.clearance)
    area.stats.giant_before = giant_length_share(A)
    if connect > 0:
        area.stats.connectors = connect_pieces(
            A, connect, cfg.min_dist, cfg.clearance, cfg.min_angle
        )
    area.stats.reclassed = open_through_access_roads(A)
    for *_, d in A.edges(data=True):  # every street says whether it is one (for the exports)
        d.setdefault("connector", False)
        d.setdefault("reclassed", False)
    lengths = [(d["length"], bool(d.get("connector"))) for *_, d in A.edges(data=True)]
    area.stats.connector_m = sum(v for v, c in lengths if c)
    area.stats.length_m = sum(v for v, _ in lengths)
    area.stats.giant_after = giant_length_share(A)
    area.stats.seconds = time.perf_counter() - t0
    A.graph.update(
        width_m=float(width_m),
        height_m=float(height_m),
        area_tile_m=tile,
        tile_size=float(max(width_m, height_m)),
        seed=seed,
        source="citygen-area",
        stats=area.stats.as_dict(),
    )
    log.info(
        "area %gx%g m: %d tiles, %d nodes, %s",
        width_m,
        height_m,
        cols * rows,
        A.number_of_nodes(),
        area.stats.as_dict(),
    )
    return A
