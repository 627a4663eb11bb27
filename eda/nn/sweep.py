"""Accuracy against supply voltage for every design and budget (paper Fig. 14, Table I), and Vmin.

A design case is a MAC kind (which decides how a timing error acts: eda/nn/accuracy.py
DESIGNS), a sizing map (M x N size indices) and the mapping strategy whose weight placement it runs. At a
supply voltage each MAC fails with the error-table probability of its size; each weight gets
its MAC's probability; the reference network is evaluated with that many independent draws.

Every (case, voltage) point is cached by the hash of what decides it (the probability map,
placement, semantics, repeats, seed, the network recipe), one small JSON file each, so an
interrupted sweep resumes and a rerun is instant.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.method.mapping import ArrayPermutation
from eda.method.table2 import minimum_voltages
from eda.nn.model import ARCHITECTURE

__all__ = ["DesignCase", "accuracy_sweep", "mac_error_map", "minimum_voltages"]

SWEEP_FORMAT = 1  # bump when the injection model changes: invalidates cached points


@dataclass(frozen=True)
class DesignCase:
    design: str           # tpu, thundervolt, proposed-uniform, proposed-column, ...
    kind: str
    strategy: str         # placement of weights (eda.mapping strategy)
    budget: str
    size_map: np.ndarray  # (M, N) size indices into the kind's error table


def mac_error_map(size_map: np.ndarray, p_error_by_size: np.ndarray) -> np.ndarray:
    """(M, N) error probability of every MAC: its size's entry of the error table."""
    p = np.asarray(p_error_by_size, dtype=float)
    index = np.asarray(size_map)
    if index.min() < 0 or index.max() >= len(p):
        raise EdaError(f"sizing map uses size indices {index.min()}..{index.max()}, the error table has 0..{len(p) - 1}")
    return p[index]


def _point_key(case: DesignCase, permutation: ArrayPermutation, mac_p: np.ndarray, repeats: int, seed: int, recipe: str) -> str:
    digest = hashlib.sha256()
    for part in (SWEEP_FORMAT, recipe, case.kind, repeats, seed, permutation.group_rows):
        digest.update(repr(part).encode())
    for array in (mac_p, permutation.row_source, permutation.column_filter):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr([tuple(load) for load in permutation.loads]).encode())
    return digest.hexdigest()[:24]


def accuracy_sweep(study, cases: list[DesignCase], permutations: dict[str, ArrayPermutation],
                   error_tables: dict[str, pd.DataFrame], vdds: list[float], *, repeats: int, seed: int,
                   cache_dir: Path | None, progress: bool = True) -> pd.DataFrame:
    """One row per (case, voltage): accuracy mean and std over `repeats` inferences of the test split.

    error_tables: per kind, the long error table (size_index, area_um2, vdd, p_error); vdds: voltages
    to sweep. A case's uncached voltages run as one vectorized eda.nn.accuracy.accuracy_sweep.
    """
    from eda.nn import accuracy

    network = accuracy.prepare_network(study)  # activation scales once, not per point
    recipe = f"{ARCHITECTURE}:{json.dumps(study.reference.meta.get('recipe', {}), sort_keys=True)}"
    rows = []
    bar = tqdm(total=len(cases) * len(vdds), desc="accuracy", unit="point", disable=not progress)
    for case in cases:
        if case.kind not in accuracy.DESIGNS:
            raise EdaError(f"no timing-error semantics for MAC kind {case.kind!r} (known: {', '.join(accuracy.DESIGNS)})")
        table = error_tables[case.kind]
        permutation = permutations[case.strategy]
        points = {}
        for vdd in vdds:
            at_v = table[np.isclose(table["vdd"], vdd, rtol=0, atol=1e-6)].sort_values("area_um2")
            if at_v.empty:
                raise EdaError(f"the {case.kind} error table has no rows at {vdd:g} V")
            mac_p = mac_error_map(case.size_map, at_v["p_error"].to_numpy())
            key = _point_key(case, permutation, mac_p, repeats, seed, recipe)
            points[float(vdd)] = (mac_p, key)
        results = {}
        todo = {}
        for vdd, (mac_p, key) in points.items():
            cached = Path(cache_dir) / "accuracy" / f"{key}.json" if cache_dir is not None else None
            if cached is not None and cached.is_file():
                results[vdd] = json.loads(cached.read_text())
            else:
                todo[vdd] = mac_p
        bar.update(len(results))
        if todo:
            bar.set_postfix_str(f"{case.design}/{case.budget}: {len(todo)} supplies")
            measured = accuracy.accuracy_sweep(network, todo, permutation, design=case.kind, repeats=repeats, seed=seed)
            for r in measured.itertuples():
                result = {"accuracy_mean": float(r.accuracy_mean), "accuracy_std": float(r.accuracy_std),
                          "clean_accuracy": float(r.clean_accuracy)}
                results[float(r.label)] = result
                if cache_dir is not None:
                    cached = Path(cache_dir) / "accuracy" / f"{points[float(r.label)][1]}.json"
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(cached, json.dumps(result))
            bar.update(len(todo))
        for vdd, (mac_p, key) in points.items():
            rows.append({"design": case.design, "kind": case.kind, "strategy": case.strategy, "budget": case.budget,
                         "semantics": accuracy.DESIGNS[case.kind][0], "vdd": vdd, "mean_mac_p_error": float(mac_p.mean()),
                         "max_mac_p_error": float(mac_p.max()), **results[vdd], "repeats": repeats, "point_key": key})
    bar.close()
    return pd.DataFrame(rows)


