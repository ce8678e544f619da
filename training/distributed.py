"""Multi-process data parallel training, a thin wrapper the single-process path ignores.

Launched with ``torchrun --nproc-per-node N -m citygen.cli train ...`` each process reads
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment, joins the process group (NCCL on
CUDA, gloo on CPU), takes every ``world_size``-th batch, and DistributedDataParallel averages
the gradients, so the weights stay identical on every rank. Rank 0 alone writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def setup() -> DistInfo:
    """Join the process group when launched by torchrun; a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("CITYGEN_DIST_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """One GPU per local rank on CUDA; the given device otherwise."""
    if device.type == "cuda" and info.world_size > 1:
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around the model when there is more than one process."""
    if info.world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.local_rank] if next(model.parameters()).is_cuda else None
    return DistributedDataParallel(model, device_ids=ids)


def is_main(info: DistInfo) -> bool:
    """Rank 0 writes checkpoints and logs."""
    return info.rank == 0


def teardown(info: DistInfo) -> None:
    """Leave the process group."""
    if info.world_size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def weight_checksums(model: nn.Module, info: DistInfo) -> list[str]:
    """SHA-256 of every rank's weights (on every rank), to show they stayed identical."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    mine = h.hexdigest()
    if info.world_size <= 1:
        return [mine]
    import torch.distributed as dist

    out: list[str | None] = [None] * info.world_size
    dist.all_gather_object(out, mine)
    return [str(x) for x in out]
