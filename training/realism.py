"""A quick realism check during training: a few sampled tiles against validation tiles.

Cheap numbers only (node count, mean degree, dead-end share, share of nodes in the largest
component); the full report is ``citygen evaluate``.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from citygen.model.network import LayoutModel
from data_prep.shards import Dataset


def quick_stats(layouts: list[nx.Graph]) -> dict[str, float]:
    """Mean node count, mean degree, dead-end share (border nodes excluded), giant share."""
    nodes, degs, dead, giant = [], [], [], []
    for G in layouts:
        n = G.number_of_nodes()
        nodes.append(n)
        if n == 0:
            continue
        d = np.array([G.degree(v) for v in G.nodes])
        inner = np.array([not G.nodes[v].get("border", False) for v in G.nodes])
        degs.append(d.mean())
        dead.append(float((d[inner] == 1).mean()) if inner.any() else 0.0)
        giant.append(max(len(c) for c in nx.connected_components(G)) / n)
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return {"nodes": mean(nodes), "degree": mean(degs), "dead_end": mean(dead), "giant": mean(giant)}


def quick_realism(model: LayoutModel, data: Dataset, n: int, seed: int, device: torch.device) -> dict[str, float]:
    """Sample ``n`` tiles and report their quick stats beside the validation tiles' stats."""
    from citygen.sampling.loop import sample

    gen = quick_stats(sample(model, n, seed=seed, device=device, batch_size=n))
    real_tiles = data.tiles("val") or data.tiles("train")
    real = quick_stats([t.layout() for t in real_tiles])
    return {f"gen_{k}": v for k, v in gen.items()} | {f"real_{k}": v for k, v in real.items()}
