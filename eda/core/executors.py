"""Where a sweep's runs execute: a local thread pool, or a Dask cluster (`eda characterize --scheduler`).

Both are `concurrent.futures` executors, so the code that submits runs does not care which. Dask
(`pip install voltscale[cluster]`) is imported only when a scheduler is asked for. The workers must
see the cache folder, the platform data and the tools at the same paths as the client: the cache's
per-key file locks (core/files.build_once) keep concurrent writers on one filesystem safe.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor

from eda.core.errors import EdaError

# Raised by `distributed` when the worker running a task died or its connection dropped: the run
# did not fail, its worker did, so it is worth running again. Matched by name, so that this module
# (and the flow) never imports distributed just to classify an error.
_WORKER_LOSS_ERRORS = frozenset({"KilledWorker", "CommClosedError", "StreamClosedError"})


def is_worker_loss(exc: BaseException) -> bool:
    """True for an error that says the worker was lost, not that the run failed (an EdaError never is)."""
    if isinstance(exc, EdaError):
        return False
    return any(cls.__name__ in _WORKER_LOSS_ERRORS for cls in type(exc).__mro__)


def local_workers(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise EdaError("--scheduler needs Dask distributed: pip install 'voltscale[cluster]' "
                       "(or pip install distributed)") from None
    return distributed


@contextlib.contextmanager
def make_executor(jobs: int = 0, scheduler: str | None = None) -> Iterator[Executor]:
    """An executor for a sweep's runs.

    scheduler None or "": a thread pool of `jobs` threads (0: one per core). "local": a Dask
    LocalCluster of `jobs` worker processes (0: 2), one thread each. Anything else: the address of
    a running Dask scheduler (tcp://host:port), whose workers run the tasks.
    """
    if not scheduler:
        with ThreadPoolExecutor(max_workers=local_workers(jobs)) as pool:
            yield pool
        return
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(distributed.LocalCluster(n_workers=jobs if jobs > 0 else 2, threads_per_worker=1,
                                                                   processes=True, dashboard_address=None))
            address = cluster
        else:
            address = scheduler
        try:
            client = stack.enter_context(distributed.Client(address, timeout="30s"))
        except (OSError, TimeoutError) as exc:
            raise EdaError(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from None
        # pure=False: every submit is a new task, so a run resubmitted after a lost worker is run again.
        # No retries=: Dask would rerun any failure, a real tool error (EdaError) included; a task on a
        # lost worker is rescheduled by the scheduler itself, and characterize() resubmits on
        # KilledWorker.
        yield client.get_executor(pure=False)
