"""Sweeps on a Dask cluster: the same table as the local thread pool, the same cache, and a worker
killed mid-sweep costs only its runs.

A LocalCluster of 2 worker processes (one thread each) stands in for a cluster; every test has its
own cache seeded with the prepared sky130hd liberty. One run = the tpu MAC at one target (~1 s).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from eda.core.errors import EdaError  # noqa: E402
from eda.core.executors import is_worker_loss, make_executor  # noqa: E402
from eda.core.platforms import load_platform  # noqa: E402
from eda.designs.mac import MacParams  # noqa: E402
from eda.designs.registry import Variant, mac_design  # noqa: E402
from eda.flow.characterize import characterize  # noqa: E402
from eda.flow.sta import StaSettings  # noqa: E402

TARGETS = (2000, 3000, 4000)
SETTINGS = StaSettings(clock_period_ns=10.0, input_activity=0.2)


@pytest.fixture(scope="module")
def platform(platforms_root):
    return load_platform("sky130hd", platforms_root)


@pytest.fixture(scope="module")
def variants():
    design = mac_design(MacParams("tpu"))
    return [Variant(design, t) for t in TARGETS]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as dask_client:
            yield dask_client


@pytest.fixture(scope="module")
def local_table(tmp_path_factory, seed_cache, platform, variants) -> pd.DataFrame:
    """The reference: the same sweep on the local thread pool."""
    cache = seed_cache(tmp_path_factory.mktemp("local") / "cache")
    result = characterize(variants, platform, SETTINGS, cache, jobs=2, progress=False)
    assert not any(e["cached"] for e in result.runs)
    return result.table


def test_dask_sweep_matches_local_and_reuses_the_cache(tmp_path, seed_cache, platform, variants, client, local_table):
    cache = seed_cache(tmp_path / "cache")
    executor = client.get_executor(pure=False)

    first = characterize(variants, platform, SETTINGS, cache, progress=False, executor=executor)

    assert [e["variant"] for e in first.runs] == [v.name for v in variants]
    assert not any(e["cached"] for e in first.runs)
    pd.testing.assert_frame_equal(first.table, local_table)  # the table has no runtime or cached column
    second = characterize(variants, platform, SETTINGS, cache, progress=False, executor=executor)
    assert all(e["cached"] for e in second.runs), second.runs
    pd.testing.assert_frame_equal(second.table, local_table)


def _kill_a_busy_worker(client, killed: list[str], stop: threading.Event) -> None:
    """Once a worker has been running a task for a moment (inside yosys), kill -9 its process."""
    while not stop.is_set():
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            time.sleep(0.4)  # into the run, not before it
            if busy[0] in client.processing() and client.processing()[busy[0]]:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)  # as a cluster loses a node: no goodbye to the scheduler
                killed.append(busy[0])
                return
        time.sleep(0.05)


def test_killed_worker_costs_only_its_runs(tmp_path, seed_cache, platform, variants, client, local_table):
    cache = seed_cache(tmp_path / "cache")
    killed: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(client, killed, stop), daemon=True)
    killer.start()
    try:
        result = characterize(variants, platform, SETTINGS, cache, progress=False, executor=client.get_executor(pure=False))
    finally:
        stop.set()
        killer.join(10)
    assert killed, "no worker was killed during the sweep"
    pd.testing.assert_frame_equal(result.table, local_table)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker; leave the cluster whole


def test_make_executor_local_pool_and_lazy_import(monkeypatch):
    with make_executor(2) as pool:
        assert pool.submit(sum, [1, 2]).result() == 3
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(EdaError, match="cluster"):
        with make_executor(2, "local"):
            pass


def test_worker_loss_is_not_a_tool_failure():
    assert is_worker_loss(distributed.KilledWorker("k", "w", 3))
    assert is_worker_loss(distributed.comm.CommClosedError("gone"))
    assert not is_worker_loss(EdaError("yosys failed"))
    assert not is_worker_loss(RuntimeError("boom"))


class _LosesFirstRun(ThreadPoolExecutor):
    """A thread pool whose first submitted run comes back as a lost worker (KilledWorker)."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.submits = 0

    def submit(self, fn, *args, **kwargs):
        self.submits += 1
        if self.submits == 1:
            lost = Future()
            lost.set_exception(distributed.KilledWorker("characterize_variant", "tcp://gone:1", 3))
            return lost
        return super().submit(fn, *args, **kwargs)


def test_run_on_a_lost_worker_is_resubmitted(tmp_path, seed_cache, platform, variants, local_table):
    cache = seed_cache(tmp_path / "cache")
    with _LosesFirstRun() as pool:
        result = characterize(variants, platform, SETTINGS, cache, progress=False, executor=pool)
    assert pool.submits == len(variants) + 1
    pd.testing.assert_frame_equal(result.table, local_table)


def test_cli_scheduler_local(tmp_path, seed_cache, monkeypatch, capsys, local_table):
    from eda.cli.main import main

    monkeypatch.chdir(tmp_path)
    cache = seed_cache(tmp_path / "cache")
    code = main(["--cache-dir", str(cache), "characterize", "--kind", "tpu", "--targets", str(TARGETS[0]), "-j", "2",
                 "--scheduler", "local", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = pd.read_csv(tmp_path / "out" / "characterization.csv")
    assert table["cache_key"].tolist() == local_table["cache_key"].tolist()[:1]
