"""Context noise: the backbone reads slightly displaced earlier nodes while training.

A sampled tile is built from the model's own draws, whose small angle and length errors add up
over many hops; teacher forcing only ever shows the backbone exact real streets (exposure
bias, docs/evaluation.md). With context noise each tile of a batch is read as if every node had
been drawn a few metres off its real position: the backbone's inputs (node positions, offsets
from the parent, back-edge offsets) move together, consistently for one displacement per node,
while every target and the heads' geometry (the parent's position and direction, the window of
candidates, split ends) stay exact. The loss is still the exact NLL of the real next step, given
a perturbed reading of the past; at sampling time nothing changes.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Batch keys the backbone reads instead of the exact ones when they are present.
NOISY_KEYS = ("tok_pos", "tok_rel", "tok_edge_rel")


def context_noise(
    batch: dict[str, Tensor], sigma: float, generator: torch.Generator
) -> dict[str, Tensor]:
    """Return ``batch`` with displaced backbone inputs (``NOISY_KEYS``) added.

    Parameters
    ----------
    batch
        A collated batch (:func:`citygen.model.batch.collate`); not modified.
    sigma
        Standard deviation of each node's displacement per axis, in tile units (metres divided
        by the tile size). 0 returns the batch unchanged.
    generator
        Draws the displacements (CPU generator: the same draws on any device).

    Returns
    -------
    dict
        The batch with ``tok_pos (B, N, 2)``, ``tok_rel (B, N, 2)`` and ``tok_edge_rel
        (B, E, 2)``: positions, offsets from the parent and back-edge offsets (lower end minus
        higher end) of the displaced nodes.
    """
    if sigma <= 0:
        return batch
    pos = batch["pos"]
    B, N = pos.shape[:2]
    d = (
        torch.randn((B, N, 2), generator=generator, dtype=torch.float32).to(pos.device, pos.dtype)
        * sigma
    )
    d = d * batch["node_mask"].unsqueeze(-1)
    parent = batch["parent"][:, :N]  # (B, N): parent of node t is placed at step t
    d_parent = torch.gather(d, 1, parent.clamp(min=0).unsqueeze(-1).expand(B, N, 2))
    d_parent = d_parent * (parent >= 0).unsqueeze(-1)
    hi, lo = batch["edge_i"].clamp(min=0), batch["edge_j"].clamp(min=0)  # (B, E)
    E = hi.shape[1]
    d_hi = torch.gather(d, 1, hi.unsqueeze(-1).expand(B, E, 2))
    d_lo = torch.gather(d, 1, lo.unsqueeze(-1).expand(B, E, 2))
    return batch | {
        "tok_pos": pos + d,
        "tok_rel": batch["rel"] + d - d_parent,
        "tok_edge_rel": batch["edge_rel"] + d_lo - d_hi,
    }


__all__ = ["NOISY_KEYS", "context_noise"]
