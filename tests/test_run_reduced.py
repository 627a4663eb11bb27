"""A reduced `eda run` end to end (real Yosys, OpenSTA, training and injection), and the
internal consistency of its Table II report."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main

pytest.importorskip("torch")

CONFIG = Path(__file__).parent / "data" / "reduced_run.toml"
pytestmark = pytest.mark.slow


BYO_CONFIG = Path(__file__).parent / "data" / "byo_run.toml"
USER_MODEL = """from torch import nn


class SmallNet(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
"""


@pytest.fixture(scope="module")
def run_cache(tmp_path_factory, liberty_seed):
    cache = tmp_path_factory.mktemp("reduced-cache") / "cache"
    shutil.copytree(liberty_seed, cache / "liberty")
    return cache


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory, run_cache):
    """A fresh cache (only the prepared liberty seeded), so every yosys and OpenSTA run really runs.

    The slowest fixture of the suite (~4 min on 2 cores): the end-to-end run itself, shared by
    every test of this module."""
    root = tmp_path_factory.mktemp("reduced")
    cache, out = run_cache, root / "report"
    assert main(["--cache-dir", str(cache), "run", "--config", str(CONFIG), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any(run["cached"] for run in manifest["runs"]), "the end-to-end run must not come from a cache"
    # As the run left it, for the incremental-run tests (later tests rewrite some of out's files):
    # copy2 keeps the mtimes, so the stage records of the copy hold.
    shutil.copytree(out, root / "as-written")
    return out


@pytest.fixture
def run_as_written(reduced_run, tmp_path):
    """A copy of the reduced run's output folder as the run wrote it (files, mtimes and stage records)."""
    copy = tmp_path / "report"
    shutil.copytree(reduced_run.parent / "as-written", copy)
    return copy


def test_every_output_is_written(reduced_run):
    for name in ("characterization.csv", "table2.csv", "table2.md", "report.html", "method_manifest.json",
                 "accuracy/accuracy.csv", "accuracy/vmin.csv", "accuracy/accuracy.png", "sensitivity/variances.csv",
                 "sizing/sizings.csv", "tiles/switching_overhead.csv", "errors/proposed/error_probability.csv",
                 "workload.md", "workload/utilization.csv", "run_stages.json", "sensitivity/layer_importance.csv",
                 "errors/measured/measured_error_probability.csv", "errors/measured/fitted_p.json"):
        assert (reduced_run / name).is_file(), name
    html = (reduced_run / "report.html").read_text()
    for image in ("accuracy/accuracy.png", "sensitivity/column4to1.png"):
        assert image in html and (reduced_run / image).read_bytes()[:4] == b"\x89PNG"


def test_savings_come_from_the_listed_powers(reduced_run):
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    for base in ("tpu", "thundervolt"):
        expected = 1 - table["power_scaled_w"] / table.loc[base, "power_scaled_w"]
        np.testing.assert_allclose(table[f"power_saving_vs_{base}"], expected, rtol=1e-12)
        ops = 2 * table["macs"] * table["frequency_mhz"] * 1e6
        energy = table["power_scaled_w"] / ops * 1e12
        np.testing.assert_allclose(table["energy_per_op_pj"], energy, rtol=1e-9)
    nominal = table["nominal_vdd"].iloc[0]
    np.testing.assert_allclose(table["power_scaled_w"], table["power_nominal_w"] * (table["vmin_v"] / nominal) ** 2)


def test_vmin_follows_the_stated_rule_on_the_evaluated_points(reduced_run):
    """Vmin passes (one-sided 95% bound of the paired loss <= max_loss); the next evaluated supply below fails."""
    sweep = pd.read_csv(reduced_run / "accuracy" / "accuracy.csv")
    vmin = pd.read_csv(reduced_run / "accuracy" / "vmin.csv")
    settings = json.loads((reduced_run / "method_manifest.json").read_text())["settings"]
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    for row in vmin.itertuples():
        points = sweep[(sweep["design"] == row.design) & (sweep["budget"] == row.budget)].set_index("vdd")
        if np.isnan(row.vmin_v):
            assert points["loss_upper_bound"].iloc[0] > row.max_loss
            continue
        assert points.loc[row.vmin_v, "loss_upper_bound"] <= row.max_loss
        below = points[points.index < row.vmin_v - 1e-9]
        if len(below):
            assert below["loss_upper_bound"].iloc[0] > row.max_loss
        # the interval is the paired one: it contains the point's loss
        assert (points["loss_ci_low"] <= points["loss"] + 1e-12).all() and (points["loss"] <= points["loss_ci_high"] + 1e-12).all()
        if row.budget == settings["table_budget"] and row.design in table.index:
            assert table.loc[row.design, "vmin_v"] == pytest.approx(row.vmin_v)


def test_areas_agree_with_the_sizing_maps(reduced_run):
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    settings = json.loads((reduced_run / "method_manifest.json").read_text())["settings"]
    budget = settings["table_budget"]
    errors = pd.read_csv(reduced_run / "errors" / "proposed" / "error_probability.csv")
    areas = errors.drop_duplicates("size_index").sort_values("area_um2")["area_um2"].to_numpy()
    overhead = pd.read_csv(reduced_run / "tiles" / "switching_overhead.csv").set_index("dataflow")
    for strategy in ("column", "column2to1", "column4to1"):
        size_map = np.load(reduced_run / "sizing" / f"{strategy}-{budget}" / "size_map.npy")
        mac_area = areas[size_map].sum()
        expected = mac_area + size_map.size * overhead.loc[strategy, "area_overhead_per_mac_um2"]
        assert table.loc[f"proposed-{strategy}", "area_mm2"] == pytest.approx(expected / 1e6, rel=1e-9)
        # iso-area: the sized array's MACs fit the budget of identical MACs of the budget's size
        budget_size = settings["budgets"][budget]["size_index"]
        assert mac_area <= size_map.size * areas[budget_size] + 1e-6
    assert overhead.loc["column4to1", "area_overhead_per_mac_um2"] > overhead.loc["column2to1", "area_overhead_per_mac_um2"] > 0


def test_report_command_rerenders_with_another_threshold(reduced_run, capsys):
    before = pd.read_csv(reduced_run / "table2.csv")
    assert main(["report", str(reduced_run), "--max-loss", "0.5"]) == 0
    after = pd.read_csv(reduced_run / "table2.csv")
    # a looser threshold never raises a minimum voltage
    merged = before.merge(after, on="design", suffixes=("_before", "_after"))
    finite = merged.dropna(subset=["vmin_v_before", "vmin_v_after"])
    assert (finite["vmin_v_after"] <= finite["vmin_v_before"] + 1e-9).all()
    assert "proposed-column4to1" in capsys.readouterr().out


def test_trace_goes_from_a_table2_number_to_the_opensta_logs(reduced_run, capsys):
    assert main(["trace", str(reduced_run), "table2.csv", "proposed-column", "power_nominal_w"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    characterization = pd.read_csv(reduced_run / "characterization.csv")
    nominal = characterization[characterization["corner"] == characterization["corner"].iloc[0]].set_index("run_dir")
    overhead = pd.read_csv(reduced_run / "tiles" / "switching_overhead.csv").set_index("dataflow")
    # the runs named in mac_runs, read from characterization.csv (not from the code under test),
    # reproduce the reported power: dynamic power scaled to the design's clock, leakage as is
    row = table.loc["proposed-column"]
    power_w = 0.0
    for part in row["mac_runs"].split(";"):
        run_dir, _, rest = part.partition("@")
        count = int(rest.rpartition(":")[2])
        mac = nominal.loc[run_dir]
        dynamic = (mac["power_internal_w"] + mac["power_switching_w"]) * mac["power_clock_ns"] / row["clock_ns"]
        power_w += count * (dynamic + mac["power_leakage_w"])
        assert run_dir in out
        assert f"{run_dir}/02-sta-{mac['corner']}/sta.log" in out
        assert (reduced_run / run_dir / f"02-sta-{mac['corner']}" / "sta.log").is_file()
    column = overhead.loc["column"]
    power_w += row["macs"] * column["power_overhead_per_mac_w"] * column["power_clock_ns"] / row["clock_ns"]
    assert row["power_nominal_w"] == pytest.approx(power_w, rel=1e-9)
    assert "yosys.log" in out


def test_trace_names_bad_rows_and_columns(reduced_run, capsys):
    assert main(["trace", str(reduced_run), "table2.csv", "no-such-design", "power_nominal_w"]) == 1
    assert "no row whose design is 'no-such-design'" in capsys.readouterr().err
    assert main(["trace", str(reduced_run), "table2.csv", "0", "nope"]) == 1
    assert "has no column 'nope'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def user_model_run(tmp_path_factory, run_cache, reduced_run):
    """`eda run --model net.py:SmallNet --weights net.pt --data test.npz`, the README's command
    (~2 min: a second end-to-end run, on a user's network)."""
    import torch

    from eda.nn.data import load_fashion_mnist

    root = tmp_path_factory.mktemp("byo")
    (root / "net.py").write_text(USER_MODEL)
    namespace = {}
    exec(USER_MODEL, namespace)
    torch.manual_seed(0)
    model = namespace["SmallNet"]()
    train = load_fashion_mnist("train").head(3000)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for start in range(0, len(train), 100):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(train.images[start:start + 100])),
                                                 torch.from_numpy(train.labels[start:start + 100]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.save(model.state_dict(), root / "net.pt")
    test = load_fashion_mnist("test").head(200)
    np.savez(root / "test.npz", images=(test.images[:, 0] * 255).astype(np.uint8), labels=test.labels)
    out = root / "report"
    assert main(["--cache-dir", str(run_cache), "run", "--config", str(BYO_CONFIG), "--out", str(out), "--model",
                 f"{root / 'net.py'}:SmallNet", "--weights", str(root / "net.pt"), "--data", str(root / "test.npz")]) == 0
    return out


def test_a_users_model_runs_through_the_method(user_model_run):
    utilization = pd.read_csv(user_model_run / "workload" / "utilization.csv")
    assert list(utilization["layer"]) == ["0", "4", "total"]  # the two array layers of SmallNet, by module name
    assert utilization.loc[0, "k_rows"] == 9 and utilization.loc[1, "k_rows"] == 8 * 13 * 13
    vmin = pd.read_csv(user_model_run / "accuracy" / "vmin.csv")
    sweep = pd.read_csv(user_model_run / "accuracy" / "accuracy.csv")
    assert (sweep["images"] <= 200).all() and sweep["clean_accuracy"].iloc[0] > 0.5
    assert set(vmin["design"]) >= {"tpu", "thundervolt", "proposed-column4to1"}
    manifest = json.loads((user_model_run / "method_manifest.json").read_text())
    assert manifest["settings"]["network"]["source"].endswith("net.py:SmallNet")


def test_bad_user_models_and_data_get_clear_errors(tmp_path, capsys):
    (tmp_path / "bn.py").write_text("from torch import nn\nclass Net(nn.Sequential):\n    def __init__(self):\n"
                                    "        super().__init__(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))\n")
    import torch

    exec((tmp_path / "bn.py").read_text(), namespace := {})
    torch.save(namespace["Net"]().state_dict(), tmp_path / "bn.pt")
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 28, 28), np.uint8), labels=np.zeros(4, np.int64))
    args = ["run", "--config", str(BYO_CONFIG), "--out", str(tmp_path / "o"), "--data", str(tmp_path / "d.npz")]
    from eda.jobs import workload

    with pytest.raises(Exception, match="BatchNorm2d"):
        workload.load_workload(f"{tmp_path / 'bn.py'}:Net", str(tmp_path / "bn.pt"), str(tmp_path / "d.npz"), 0)
    (tmp_path / "good.py").write_text(USER_MODEL)
    exec(USER_MODEL, good := {})
    torch.save(good["SmallNet"]().state_dict(), tmp_path / "good.pt")
    np.savez(tmp_path / "bad.npz", pictures=np.zeros(3))
    with pytest.raises(Exception, match="missing array"):
        workload.load_workload(f"{tmp_path / 'good.py'}:SmallNet", str(tmp_path / "good.pt"), str(tmp_path / "bad.npz"), 0)
    np.savez(tmp_path / "small.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.zeros(4, np.int64))
    with pytest.raises(Exception, match="do not fit the network"):
        workload.load_workload(f"{tmp_path / 'good.py'}:SmallNet", str(tmp_path / "good.pt"), str(tmp_path / "small.npz"), 0)
    assert main(args + ["--model", "nope.py:Net"]) == 1
    assert "nope.py does not exist" in capsys.readouterr().err


def test_error_tables_use_the_p_fitted_to_the_timing_simulation(reduced_run):
    fitted = json.loads((reduced_run / "errors" / "measured" / "fitted_p.json").read_text())
    manifest = json.loads((reduced_run / "errors" / "proposed" / "error_probability_manifest.json").read_text())
    assert manifest["settings"]["propagation_p"] == pytest.approx(fitted["fitted_p"]["proposed"]["p"])
    stages = json.loads((reduced_run / "run_stages.json").read_text())["stages_s"]
    assert {"characterization", "timing simulation and error tables", "accuracy and Vmin search"} <= set(stages)


def _cached_flags(value, where: str):
    """Every `cached` entry of a manifest, with where it sits."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cached":
                yield where, item
            else:
                yield from _cached_flags(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _cached_flags(item, f"{where}[{index}]")


# Columns that record the run rather than its results: how long a step took (the sizer's solver
# seconds), where it ran and whether it came from the cache (which is what differs between the runs).
RECORD_COLUMNS = re.compile(r"(_s|seconds|runtime.*|cached|.*path|.*dir|created.*|host)$")


def _result_table(path: Path) -> pd.DataFrame:
    if not path.read_text().strip():  # an empty table (no rows and no header) is written as an empty file
        return pd.DataFrame()
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in table.columns if RECORD_COLUMNS.match(str(c))])


def test_a_second_run_is_fully_cached_and_gives_identical_outputs(reduced_run, run_cache, tmp_path):
    """The data a second run writes (every CSV table, every array) equals the first run's; the
    markdown, HTML and JSON files render or record those tables (with timings and paths) and are
    not compared byte for byte."""
    out = tmp_path / "again"
    first_run = reduced_run.parent / "as-written"  # reduced_run itself was rewritten by `eda report` above
    assert main(["--cache-dir", str(run_cache), "run", "--config", str(CONFIG), "--out", str(out)]) == 0
    flags = [(where, flag) for path in sorted(out.rglob("*manifest*.json"))
             for where, flag in _cached_flags(json.loads(path.read_text()), str(path.relative_to(out)))]
    assert len(flags) >= 9 + 3  # 9 characterizations (3 kinds x 3 targets), the timing simulations, ...
    assert [where for where, flag in flags if flag is not True] == []
    first = {p.relative_to(first_run) for p in first_run.rglob("*") if p.is_file() and ".stages" not in p.parts}
    second = {p.relative_to(out) for p in out.rglob("*") if p.is_file() and ".stages" not in p.parts}
    assert first == second
    tables = [p for p in sorted(first) if p.suffix == ".csv"]
    arrays = [p for p in sorted(first) if p.suffix in (".npz", ".npy")]
    assert len(tables) >= 20
    for path in tables:
        pd.testing.assert_frame_equal(_result_table(out / path), _result_table(first_run / path), obj=str(path))
    for path in [p for p in arrays if p.suffix == ".npy"]:
        np.testing.assert_array_equal(np.load(first_run / path), np.load(out / path), err_msg=str(path))
    for path in [p for p in arrays if p.suffix == ".npz"]:  # by content: a zip carries the time it was written
        with np.load(first_run / path) as a, np.load(out / path) as b:
            assert sorted(a.files) == sorted(b.files), path
            for name in a.files:
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{path}: {name}")


STAGES = ["workload", "characterization", "timing simulation and error tables", "sensitivity", "sizing",
          "accuracy and Vmin search", "switching-overhead tiles", "activity-based power", "report"]


def _mtimes(folder: Path) -> dict[Path, int]:
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_an_unchanged_run_recomputes_nothing_and_touches_no_file(run_as_written, run_cache):
    """A second `eda run` into the same folder: every stage reused (run_stages.json says so), no output
    rewritten, and neither torch nor matplotlib nor pyverilog imported (a fresh process, to see its imports)."""
    import subprocess
    import sys

    before = _mtimes(run_as_written)
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "eda.cli", "--cache-dir", str(run_cache), "run",
                           "--config", str(CONFIG), "--out", str(run_as_written)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    stages = json.loads((run_as_written / "run_stages.json").read_text())["stages"]
    assert list(stages) == STAGES
    assert {name: s["status"] for name, s in stages.items()} == dict.fromkeys(STAGES, "reused")
    after = _mtimes(run_as_written)
    assert after.keys() == before.keys()
    assert [str(p) for p in before if before[p] != after[p] and p.name != "run_stages.json"] == []
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"torch", "matplotlib", "pyverilog", "pyverilog.vparser.parser"}


def test_one_changed_setting_recomputes_only_the_stages_that_read_it(run_as_written, run_cache, tmp_path):
    config = tmp_path / "fewer_repeats.toml"
    text = CONFIG.read_text()
    assert "\nrepeats = 2\n" in text
    config.write_text(text.replace("\nrepeats = 2\n", "\nrepeats = 1\n"))
    before = _mtimes(run_as_written)
    assert main(["--cache-dir", str(run_cache), "run", "--config", str(config), "--out", str(run_as_written)]) == 0
    stages = json.loads((run_as_written / "run_stages.json").read_text())["stages"]
    recomputed = [name for name, s in stages.items() if s["status"] == "recomputed"]
    assert recomputed == ["accuracy and Vmin search", "report"]
    assert stages["accuracy and Vmin search"]["changed_inputs"] == ["config.accuracy.repeats"]
    assert "config.accuracy.repeats" in stages["report"]["changed_inputs"]
    after = _mtimes(run_as_written)
    reused_outputs = ("characterization.csv", "runs", "errors", "sensitivity", "sizing", "tiles", "power")
    assert [str(p) for p in before if p.parts[0] in reused_outputs and before[p] != after[p]] == []
    repeats = pd.read_csv(run_as_written / "accuracy" / "accuracy.csv")["repeats"]
    assert repeats.max() == 1  # 0 for a point whose network collapsed (eda/nn/vmin.py collapsed_point)


def test_a_changed_output_is_written_again(run_as_written, run_cache):
    """An output edited (or deleted) since the run: its stage runs again and restores it; no other stage runs."""
    overhead = run_as_written / "tiles" / "switching_overhead.csv"
    original = overhead.read_bytes()
    overhead.write_text("edited\n")
    assert main(["--cache-dir", str(run_cache), "run", "--config", str(CONFIG), "--out", str(run_as_written)]) == 0
    stages = json.loads((run_as_written / "run_stages.json").read_text())["stages"]
    assert [name for name, s in stages.items() if s["status"] == "recomputed"] == ["switching-overhead tiles"]
    assert stages["switching-overhead tiles"]["reason"] == "output tiles/switching_overhead.csv changed or is missing"
    assert overhead.read_bytes() == original
