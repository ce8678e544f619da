"""Where ``prepare`` runs its region tasks: a local dask scheduler or a dask.distributed one.

The scheduler name is checked before any work, and a distributed scheduler that cannot be
reached within :data:`SCHEDULER_TIMEOUT_S` is one ``error:`` line instead of a long hang.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from citygen.errors import NetworkUnavailableError, UsageError

if TYPE_CHECKING:
    from dask import distributed
    from tqdm import tqdm

LOCAL_SCHEDULERS = ("threads", "processes", "sync", "synchronous", "single-threaded")
SCHEDULER_TIMEOUT_S = 10.0  # how long to try to reach a dask.distributed scheduler
_ADDRESS = re.compile(r"((tcp|tls|ucx|ws|wss)://)?[A-Za-z0-9._\-\[\]:]+:\d{1,5}/?")


def check_scheduler(scheduler: str) -> None:
    """Refuse a scheduler that is neither a local dask scheduler nor a ``host:port`` address.

    Raises
    ------
    UsageError
        Listing what is accepted.
    """
    if scheduler in LOCAL_SCHEDULERS or _ADDRESS.fullmatch(scheduler):
        return
    msg = (
        f"unknown scheduler {scheduler!r}: use threads, processes, sync, or the address of a "
        "dask.distributed scheduler (tcp://host:8786)"
    )
    raise UsageError(msg)


def _connect(scheduler: str) -> distributed.Client:
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        msg = (
            f"cannot reach the dask scheduler at {scheduler} "
            f"within {SCHEDULER_TIMEOUT_S:g} s: {first}"
        )
        raise NetworkUnavailableError(msg) from exc


def run_tasks(tasks: list, scheduler: str, bar: tqdm | None, per_task: int = 1) -> list[dict]:
    """Compute dask ``tasks`` on ``scheduler``; a distributed run advances ``bar`` per task.

    Raises
    ------
    NetworkUnavailableError
        If a distributed scheduler cannot be reached.
    """
    import dask

    if scheduler == "processes" and bar is not None:
        from dask.callbacks import Callback

        # tasks cannot report their stages from worker processes: the bar moves when a region
        # is done (the callback runs in this process)
        def posttask(_key, result, _dsk, _state, _worker_id) -> None:  # noqa: ANN001
            if isinstance(result, dict) and "tiles" in result:
                bar.set_description(f"{result['name']}: done")
                bar.update(per_task)

        with Callback(posttask=posttask):
            return list(dask.compute(*tasks, scheduler=scheduler))
    if scheduler in LOCAL_SCHEDULERS:
        return list(dask.compute(*tasks, scheduler=scheduler))
    from dask.distributed import as_completed

    with _connect(scheduler) as client:
        futures = client.compute(tasks)
        for _ in as_completed(futures):
            if bar is not None:
                bar.update(per_task)
        return client.gather(futures)
