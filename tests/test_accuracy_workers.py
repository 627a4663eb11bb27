"""The accuracy stage's Vmin searches in worker processes give the same tables as in one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from eda.jobs.workload import AccuracySettings, DesignCase, LoadedWorkload, minimum_supplies  # noqa: E402
from eda.method.mapping import map_all_strategies  # noqa: E402
from eda.nn.data import ImageSet, load_fashion_mnist  # noqa: E402
from eda.nn.fashion import load_reference  # noqa: E402

ROWS = COLS = 32
VDDS = [1.0, 0.9, 0.8, 0.7]


def error_table(kind: str, p_at_lowest: float) -> pd.DataFrame:
    """Two sizes; size 0 fails from 0.9 V on, size 1 (larger) only at 0.7 V."""
    rows = []
    for size in (0, 1):
        for vdd in VDDS:
            steps = int(round((1.0 - vdd) / 0.1)) - size
            rows.append({"kind": kind, "size_index": size, "vdd": vdd,
                         "p_error": 0.0 if steps <= 0 else p_at_lowest * 10.0 ** (steps - 3)})
    return pd.DataFrame(rows)


def test_worker_processes_give_the_tables_of_one_process(tmp_path):
    """Slow (~25 s): two sweeps with injection, each in a fresh cache, one of them in spawned workers."""
    network = load_reference()
    test = load_fashion_mnist("test").head(200)
    calibration = load_fashion_mnist("train").head(200)
    workload = LoadedWorkload(network, ImageSet(test.images, test.labels, "test"),
                              ImageSet(calibration.images, calibration.labels, "train"))
    shapes = network.layer_shapes()
    maps = map_all_strategies({n: np.ones(s) for n, s in shapes.items()}, ROWS, COLS, strategies=("conventional",))
    small, large = np.zeros((ROWS, COLS), dtype=int), np.ones((ROWS, COLS), dtype=int)
    cases = [DesignCase("tpu", "tpu", "conventional", "small", small),
             DesignCase("thundervolt", "thundervolt", "conventional", "small", small),
             DesignCase("thundervolt", "thundervolt", "conventional", "large", large)]
    tables = {"tpu": error_table("tpu", 1e-3), "thundervolt": error_table("thundervolt", 1e-2)}
    settings = AccuracySettings(VDDS, (0.03, 0.005), 1, 1, 2, 0.005)
    results = [minimum_supplies(workload, cases, maps, tables, {}, 10, settings, tmp_path / f"cache{jobs}", jobs=jobs)
               for jobs in (1, 2)]
    (sweep_one, vmin_one), (sweep_two, vmin_two) = results
    pd.testing.assert_frame_equal(sweep_one, sweep_two)
    pd.testing.assert_frame_equal(vmin_one, vmin_two)
    assert vmin_one["design"].tolist() == ["tpu", "thundervolt", "thundervolt"]
    assert (sweep_one["images"] > 0).all() and set(sweep_one["vdd"]) <= set(VDDS)
    assert (sweep_one["failures_per_pass"] > 0).any() and (vmin_one["vmin_v"] < 1.0).any()
    # the larger Thundervolt MACs fail later: their Vmin is no higher
    assert vmin_one.loc[2, "vmin_v"] <= vmin_one.loc[1, "vmin_v"]
