"""Sample tiles whose fixed sides are closed: no new border node where a neighbour is finished.

A tile's fixed border nodes are teacher-forced as a prefix (:mod:`citygen.area.frame`), but
after the prefix the model would go on placing border nodes along the same fixed sides (in a
first 2 x 2 km test, 10 such nodes against 4 fixed ones), each a street that would end at a
finished tile. :func:`sample_closed` masks that choice: after the prefix, border-gap bins that
end before the tile's *floor* (the perimeter coordinate where its free sides begin: 1 with the
west side fixed, 2 with west and south) are forbidden, so the model's gap distribution is
truncated there, as every other hard rule is a mask. The rest is :func:`citygen.sample`.

This uses the sampler's batch state (``SampleState``) and step loop, not only ``sample``: the
mask needs the state of the border phase. Both are imported from where they live.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from collections.abc import Sequence as Seq
from typing import Any

import networkx as nx
import torch

from citygen.sampling.loop import SampleConfig, finish, sample_batches, style_dict
from citygen.sampling.styles import resolve_styles
from citygen.sampling.state import SampleState


#: Torch threads while sampling area tiles on the CPU. The batches are small (one
#: anti-diagonal): on the shared 2-core machine at load 6, a 3 x 3 km area took 142 s of wall
#: time with torch's default 2 threads and 8.3 s with 1 (``citygen generate --area 3kmx3km``).
CPU_THREADS = 1


@contextlib.contextmanager
def cpu_threads(device: torch.device, n: int = CPU_THREADS) -> Iterator[None]:
    """Limit torch's intra-op threads to ``n`` while sampling on the CPU; restore after."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ClosedState(SampleState):
    """A sampling batch whose new border nodes keep to perimeter coordinates ``>= floor``."""

    floor: torch.Tensor

    def _border_bins(self, t: int) -> tuple[torch.Tensor, ...]:
        ok, lo, hi, centre = super()._border_bins(t)
        free = (t >= self.f_len)[:, None]
        ok = ok & ~(free & (self.s_prev[:, None] + hi <= self.floor[:, None]))
        return ok, lo, hi, centre


@torch.no_grad()
def sample_closed(
    model: Any,
    prefixes: list,
    floors: Seq[float],
    seed: int = 0,
    device: Any = None,
    batch_size: int = 64,
    config: SampleConfig | None = None,
    styles: Any = None,
) -> list[nx.Graph]:
    """Sample one tile per prefix, with new border nodes only past each tile's floor.

    Parameters
    ----------
    model
        The layout model.
    prefixes
        Per tile, a :class:`data_prep.order.Sequence` to teacher-force, or None.
    floors
        Per tile, the least perimeter coordinate in ``[0, 4)`` of a sampled border node.
    seed, device, batch_size, config
        As in :func:`citygen.sample`.
    styles
        For a style model: raw style rows ``(len(prefixes), STYLE_DIM)``, one per tile; None
        draws them from the bank as :func:`citygen.sample` does.

    Returns
    -------
    list of networkx.Graph
        Layouts in the tile frame (metres), prefix nodes first, as :func:`citygen.sample`.
    """
    config = config or SampleConfig()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev).eval()
    styles = resolve_styles(model, len(prefixes), seed, styles, config)  # a style model's styles

    def new_state(*args: Any, first_index: int) -> ClosedState:
        state = ClosedState(*args, first_index=first_index)
        rows = slice(first_index, first_index + state.B)
        state.floor = torch.as_tensor(list(floors[rows]), device=dev)
        return state

    with cpu_threads(dev):
        out = sample_batches(model, seed, prefixes, dev, batch_size, config, 0, styles, new_state)
    if styles is not None:
        for G, row in zip(out, styles, strict=True):
            G.graph["style"] = style_dict(row)
    return finish(out, config)
