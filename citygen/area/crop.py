"""Cut an area graph to its width and height: streets leaving it end in flagged border nodes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely

from citygen.layout import add_street


def crop(A: nx.Graph, width_m: float, height_m: float, min_dist: float) -> nx.Graph:
    """Keep what lies in ``[0, width_m] x [0, height_m]``, in place; returns ``A``.

    A street with one end outside is cut at the edge, where a new node flagged ``border`` ends
    it; if that node would come closer than ``min_dist`` to another node, the street is dropped
    instead (so no near-duplicate node appears at the edge).

    Parameters
    ----------
    A
        Area graph (node ``x``, ``y`` metres).
    width_m, height_m
        Size to keep, metres.
    min_dist
        Least node distance, metres.
    """
    box = shapely.box(0.0, 0.0, width_m, height_m)
    eps = 1e-6

    def inside(n: int) -> bool:
        d = A.nodes[n]
        return -eps <= d["x"] <= width_m + eps and -eps <= d["y"] <= height_m + eps

    out = [n for n in A.nodes if not inside(n)]
    if not out:
        return A
    cut = []
    for n in out:
        for m in A.neighbors(n):
            if inside(m):
                seg = shapely.linestrings(
                    [[A.nodes[m]["x"], A.nodes[m]["y"]], [A.nodes[n]["x"], A.nodes[n]["y"]]]
                )
                piece = shapely.intersection(seg, box)
                coords = np.asarray(piece.coords) if not piece.is_empty else np.zeros((0, 2))
                if len(coords) == 2:
                    far = coords[np.argmax(np.linalg.norm(coords - coords[0], axis=1))]
                    cut.append((m, far, A.edges[n, m]["highway"]))
    A.remove_nodes_from(out)
    xy = np.array([(d["x"], d["y"]) for _, d in A.nodes(data=True)]).reshape(-1, 2)
    next_id = max(A.nodes, default=-1) + 1
    placed: list[np.ndarray] = []
    for m, p, highway in cut:
        p = np.array([min(max(p[0], 0.0), width_m), min(max(p[1], 0.0), height_m)])
        for k, lim in ((0, width_m), (1, height_m)):  # exactly on the edge it crosses
            if abs(p[k] - lim) < 1e-6:
                p[k] = lim
        others = np.vstack([xy, *placed]) if placed else xy
        if np.linalg.norm(others - p, axis=1).min() < min_dist:
            continue
        A.add_node(next_id, x=float(p[0]), y=float(p[1]), border=True, seam=False)
        add_street(A, m, next_id, highway)
        placed.append(p[None])
        next_id += 1
    A.remove_nodes_from([n for n in list(A.nodes) if A.degree(n) == 0])
    return A
