"""`eda export`: SCALE-Sim topology and config, Accelergy ERT, from the committed sky130hd run.

The exported files are read back with SCALE-Sim's own parsers (PyPI scalesim) and simulated; the ERT
(Accelergy is not on PyPI) is read with yaml.safe_load, its structure checked and every energy recomputed
here from the CSV line its comment names. The committed run is only read; everything is written under
tmp_path.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.core.paths import REPO_ROOT
from eda.method.exports import LayerGeometry, topology_layers
from eda.method.utilization import LayerShape, scalesim_cycles

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

RUN = REPO_ROOT / "reports" / "sky130hd"
# What `eda export` reads of a finished run; copied per test that damages one.
EXPORT_INPUTS = ["method_manifest.json", "workload/utilization.csv", "characterization.csv"]
KINDS = ("tpu", "thundervolt", "proposed")


def run_eda(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    if not (RUN / "method_manifest.json").is_file():
        pytest.skip("no committed sky130hd run (reports/sky130hd)")
    out = tmp_path_factory.mktemp("export") / "out"
    assert main(["export", str(RUN), "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(tmp_path) -> Path:
    copy = tmp_path / "run"
    for name in EXPORT_INPUTS:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(RUN / name, copy / name)
    return copy


# ------------------------------------------------------------------------------------------ SCALE-Sim


def test_topology_round_trips_through_scalesims_parser(exported):
    from scalesim.topology_utils import topologies

    topo = topologies()
    topo.load_arrays(topofile=str(exported / "scalesim_topology.csv"))
    topo.topo_calc_hyperparams()
    # eda/nn/fashion.py: conv1 1->256 16x16 stride 4 pad 6 on 28x28, conv2 3x3 stride 2, conv3 3x3, fc1, fc2.
    expected = [["conv1", 40, 40, 16, 16, 1, 256, 4, 4], ["conv2", 7, 7, 3, 3, 256, 256, 2, 2],
                ["conv3", 3, 3, 3, 3, 256, 256, 1, 1], ["fc1", 1, 1, 1, 1, 256, 256, 1, 1],
                ["fc2", 1, 1, 1, 1, 256, 10, 1, 1]]
    assert topo.get_num_layers() == len(expected)
    assert [topo.get_layer_params(i)[:9] for i in range(len(expected))] == expected
    # The run's own mapping: SCALE-Sim's weight-stationary (rows, cols, streamed vectors) of every layer is the
    # (k_rows, filters, positions) the run recorded in workload/utilization.csv.
    layers = [row for row in read_rows(RUN / "workload" / "utilization.csv") if row["layer"] != "total"]
    assert topo.get_layer_names() == [row["layer"] for row in layers]
    for index, row in enumerate(layers):
        assert topo.get_spatiotemporal_dims(layer_id=index, df="ws") == (
            int(row["k_rows"]), int(row["filters"]), int(row["positions"]))


def test_config_round_trips_through_scalesims_parser(exported):
    from scalesim.scale_config import scale_config

    config = scale_config()
    config.read_conf_file(str(exported / "scalesim.cfg"))
    assert config.valid_conf_flag
    settings = json.loads((RUN / "method_manifest.json").read_text())["settings"]
    rows, cols = (int(n) for n in settings["array"].split("x"))
    assert config.get_array_dims() == (rows, cols) == (256, 256)
    assert config.get_dataflow() == "ws"
    assert config.get_run_name() == "voltscale_sky130hd"


def test_scalesim_simulates_the_export_with_the_runs_cycle_counts(exported, tmp_path):
    scale_sim = pytest.importorskip("scalesim.scale_sim")
    from test_workload import _patched_scalesim  # numpy 2 fix of scalesim 3.0.0, one place for it

    _patched_scalesim()
    topology = str(exported / "scalesim_topology.csv")
    sim = scale_sim.scalesim(save_disk_space=True, verbose=False, config=str(exported / "scalesim.cfg"),
                             topology=topology, layout=topology, input_type_gemm=False)
    sim.run_scale(top_path=str(tmp_path / "scalesim"))
    report = read_rows(next((tmp_path / "scalesim").rglob("COMPUTE_REPORT.csv")))
    report = [{key.strip(): value.strip() for key, value in row.items() if key} for row in report]
    layers = [row for row in read_rows(RUN / "workload" / "utilization.csv") if row["layer"] != "total"]
    shapes = [LayerShape(r["layer"], int(r["k_rows"]), int(r["filters"]), int(r["positions"])) for r in layers]
    assert [int(row["Total Cycles"]) for row in report] == [scalesim_cycles(s, 256, 256, 1) for s in shapes]
    for row, layer in zip(report, layers):
        assert float(row["Mapping Efficiency %"]) / 100 == pytest.approx(float(layer["position_utilization"]), rel=1e-6)


# ------------------------------------------------------------------------------------------ Accelergy ERT


def _actions_with_comments(text: str) -> list[tuple[str, str]]:
    """(action name, the comment line right above it) in file order, from the raw YAML text."""
    lines = text.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = re.fullmatch(r"    - name: (\S+)", line)
        if match:
            found.append((match[1], lines[index - 1]))
    return found


def test_ert_structure_and_every_energy_recomputed_from_its_csv_line(exported):
    text = (exported / "ERT.yaml").read_text()
    ert = yaml.safe_load(text)
    assert set(ert) == {"ERT"} and set(ert["ERT"]) == {"version", "tables"}
    assert ert["ERT"]["version"] == "0.4"
    tables = ert["ERT"]["tables"]
    by_name = {t["name"]: t for t in tables}
    assert len(by_name) == len(tables) and all(set(t) == {"name", "actions"} for t in tables)
    raw_lines = (RUN / "characterization.csv").read_text().splitlines()
    header = next(csv.reader([raw_lines[0]]))
    flat = [(table["name"], action) for table in tables for action in table["actions"]]
    comments = _actions_with_comments(text)
    assert len(comments) == len(flat)
    used = set()
    for (table_name, action), (name, comment) in zip(flat, comments):
        assert set(action) == {"name", "arguments", "energy"} and action["name"] == name
        assert action["name"] in ("mac_random", "leak")
        assert set(action["arguments"]) == {"vdd", "temp_c", "corner"}
        assert isinstance(action["energy"], float) and action["energy"] >= 0
        match = re.match(r"    # characterization\.csv line (\d+): ", comment)
        assert match, comment
        line = int(match[1])
        row = dict(zip(header, next(csv.reader([raw_lines[line - 1]]))))
        used.add((line, action["name"]))
        # The row the comment names is the row of this table and these arguments.
        assert table_name == f"mac_{row['kind']}_D{int(float(row['target_ps']))}"
        assert action["arguments"] == {"vdd": float(row["vdd"]), "temp_c": float(row["temp_c"]), "corner": row["corner"]}
        # energy per operation = power / clock frequency, the clock the power was computed at (Hz), in pJ
        frequency_hz = 1.0 / (float(row["power_clock_ns"]) * 1e-9)
        power_w = float(row["power_w"] if action["name"] == "mac_random" else row["power_leakage_w"])
        assert action["energy"] == pytest.approx(power_w / frequency_hz * 1e12, rel=1e-12)
    # every characterized kind, size and corner is there once
    rows = read_rows(RUN / "characterization.csv")
    assert {(line, "mac_random") for line in range(2, len(rows) + 2)} <= used
    for kind in KINDS:
        targets = {int(float(r["target_ps"])) for r in rows if r["kind"] == kind}
        assert len(targets) == 37
        for target in targets:
            table = by_name[f"mac_{kind}_D{target}"]
            supplies = sorted(a["arguments"]["vdd"] for a in table["actions"] if a["name"] == "mac_random")
            assert supplies == [1.4, 1.8, 1.95]


def test_ert_agrees_with_the_voltage_scaling_table(exported):
    """The other corners' energies also equal (dynamic + leakage power at the corner) / f from voltage_scaling.csv."""
    ert = yaml.safe_load((exported / "ERT.yaml").read_text())
    energy = {(t["name"], a["arguments"]["corner"]): a["energy"] for t in ert["ERT"]["tables"] for a in t["actions"]
              if a["name"] == "mac_random"}
    clock_ns = {(r["kind"], r["target_ps"]): float(r["power_clock_ns"]) for r in read_rows(RUN / "characterization.csv")}
    rows = read_rows(RUN / "voltage_scaling.csv")
    assert rows
    for row in rows:
        power = float(row["dynamic_power_sta_w"]) + float(row["leakage_sta_w"])
        expected = power * clock_ns[(row["kind"], row["target_ps"])] * 1e3
        assert energy[(f"mac_{row['kind']}_D{row['target_ps']}", row["corner"])] == pytest.approx(expected, rel=1e-6)


def test_manifest_names_every_source_and_output_with_its_sha256(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    paths = {Path(entry["path"]).as_posix() for entry in manifest["sources"].values()}
    assert {f"reports/sky130hd/{name}" for name in EXPORT_INPUTS} <= paths
    for entry in manifest["sources"].values():
        path = Path(entry["path"]) if Path(entry["path"]).is_absolute() else REPO_ROOT / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert set(manifest["outputs"]) == {"scalesim_topology.csv", "scalesim.cfg", "ERT.yaml"}
    for name, entry in manifest["outputs"].items():
        assert hashlib.sha256((exported / name).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["array"] == {"rows": 256, "cols": 256}
    assert "power_clock_ns" in manifest["derivation"]["ERT.yaml"]
    assert not list(exported.glob(".*.tmp"))  # atomic writes leave no temporary file


# ------------------------------------------------------------------------------------------ geometry edge cases


def test_topology_cuts_rows_a_strided_conv_never_reads():
    # 8 rows, kernel 3, stride 2: torch gives 3 outputs; SCALE-Sim's ceil((8 - 3 + 2) / 2) would give 4.
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2), torch.nn.Flatten(), torch.nn.Linear(36, 5))
    from eda.jobs.export import layer_geometry

    layers = topology_layers(layer_geometry(model, "test", (2, 8, 8)))
    assert [layer.row() for layer in layers] == [("0", 7, 7, 3, 3, 2, 4, 2), ("2", 1, 1, 1, 1, 36, 5, 1)]
    assert layers[0].ofmap_hw == (3, 3)
    same = topology_layers(layer_geometry(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding="same")), "t", (1, 5, 5)))
    assert same[0].row() == ("0", 7, 7, 3, 3, 1, 2, 1) and same[0].ofmap_hw == (5, 5)


@pytest.mark.parametrize("layer, message", [
    (LayerGeometry("c", "conv", 1, 2, (9, 9), (3, 3), (2, 1), (4, 7)), "one stride"),
    (LayerGeometry("a,b", "linear", 4, 4), "no commas"),
    (LayerGeometry("DPconv", "linear", 4, 4), "depthwise"),
])
def test_topology_refuses_what_scalesim_cannot_express(layer, message):
    with pytest.raises(EdaError, match=message):
        topology_layers([layer])


# ------------------------------------------------------------------------------------------ bad inputs


def test_a_folder_that_is_not_a_run_is_refused(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, output = run_eda(capsys, "export", tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 1 and "Traceback" not in output
    assert "not a finished `eda run` folder" in output and "method_manifest.json is missing" in output
    assert not (tmp_path / "out").exists()


def _damage_csv(path: Path, edit) -> None:
    rows = read_rows(path)
    edit(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _drop_column(column):
    def edit(rows):
        for row in rows:
            del row[column]
    return edit


def _set_cell(index, column, value):
    def edit(rows):
        rows[index][column] = value
    return edit


def _repeat_row(index):
    def edit(rows):
        rows.append(dict(rows[index]))
    return edit


@pytest.mark.parametrize("name, edit, expected", [
    ("characterization.csv", _drop_column("power_w"), ["characterization.csv", "lacks the column(s) power_w"]),
    ("characterization.csv", _drop_column("power_clock_ns"), ["characterization.csv", "power_clock_ns"]),
    ("characterization.csv", _set_cell(4, "power_w", "nan"), ["characterization.csv, line 6, column 'power_w'",
                                                              "expected a finite number"]),
    ("characterization.csv", _set_cell(0, "power_clock_ns", "0"), ["line 2, column 'power_clock_ns'", "positive"]),
    ("characterization.csv", _repeat_row(1), ["characterization.csv, line 335: a second row", "ss_n40C_1v40"]),
    ("workload/utilization.csv", _drop_column("positions"), ["utilization.csv", "lacks the column(s) positions"]),
    ("workload/utilization.csv", _set_cell(1, "k_rows", "2305"), ["utilization.csv, line 3, column 'k_rows'",
                                                                  "gives 2304", "network and array of the run"]),
    ("workload/utilization.csv", _set_cell(3, "tiles", "2"), ["utilization.csv, line 5, column 'tiles'"]),
])
def test_damaged_tables_are_refused_with_file_line_and_column(capsys, run_copy, tmp_path, name, edit, expected):
    _damage_csv(run_copy / name, edit)
    code, output = run_eda(capsys, "export", run_copy, "--out", tmp_path / "out")
    assert code == 1 and "Traceback" not in output and output.startswith("error: ")
    for piece in expected:
        assert piece in output, output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("settings, expected", [
    ({"array": "256"}, ["settings.array is '256'", "ROWSxCOLS"]),
    ({"array": None}, ["settings.array is missing"]),
    ({"network": {"source": "net.py:Net"}}, ["'net.py:Net'", "--model"]),
])
def test_bad_method_manifest_is_refused(capsys, run_copy, tmp_path, settings, expected):
    path = run_copy / "method_manifest.json"
    manifest = json.loads(path.read_text())
    manifest["settings"].update(settings)
    path.write_text(json.dumps(manifest))
    code, output = run_eda(capsys, "export", run_copy, "--out", tmp_path / "out")
    assert code == 1 and "Traceback" not in output, output
    assert "method_manifest.json" in output
    for piece in expected:
        assert piece in output, output
    assert not (tmp_path / "out").exists()


def test_missing_method_manifest_and_broken_json(capsys, run_copy, tmp_path):
    path = run_copy / "method_manifest.json"
    path.write_text("{not json")
    code, output = run_eda(capsys, "export", run_copy)
    assert code == 1 and "method_manifest.json is not valid JSON" in output
    path.unlink()
    code, output = run_eda(capsys, "export", run_copy)
    assert code == 1 and "method_manifest.json is missing" in output
    assert not (run_copy / "export").exists()


# ------------------------------------------------------------------------------------------ a user's network

USER_NET = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 5, stride=2, padding=1)
        self.head = nn.Linear(8 * 7 * 7, 6)

    def forward(self, x):
        return self.head(torch.flatten(torch.relu(self.stem(x)), 1))
"""


def test_a_user_network_is_exported_with_model_and_input_shape(capsys, run_copy, tmp_path):
    from eda.jobs.workload import layer_shapes
    from eda.method.utilization import utilization_table
    from eda.nn.network import load_user_model, mapped_network

    (tmp_path / "net.py").write_text(USER_NET)
    torch.manual_seed(0)
    spec = f"{tmp_path / 'net.py'}:Net"
    from importlib import util

    loader = util.spec_from_file_location("user_net_for_export", tmp_path / "net.py")
    module = util.module_from_spec(loader)
    loader.loader.exec_module(module)
    torch.save(module.Net().state_dict(), tmp_path / "net.pt")
    network = mapped_network(load_user_model(spec, tmp_path / "net.pt"), spec)
    # The run's mapping of this network on its 256 x 256 array, as `eda run` writes it.
    shapes = layer_shapes(network, torch.zeros((1, 3, 16, 16)))
    utilization_table(shapes, 256, 256, 1).to_csv(run_copy / "workload" / "utilization.csv", index=False)
    manifest_path = run_copy / "method_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["settings"]["network"] = {"source": spec}
    manifest_path.write_text(json.dumps(manifest))

    code, output = run_eda(capsys, "export", run_copy, "--out", tmp_path / "out")
    assert code == 1 and "--model" in output
    code, output = run_eda(capsys, "export", run_copy, "--model", spec, "--weights", tmp_path / "net.pt")
    assert code == 1 and "--input-shape" in output
    code, output = run_eda(capsys, "export", run_copy, "--model", spec, "--weights", tmp_path / "net.pt",
                           "--input-shape", "3,16,17")
    assert code == 1 and "Traceback" not in output  # 17 columns: the Linear layer does not fit
    code, output = run_eda(capsys, "export", run_copy, "--out", tmp_path / "out", "--model", spec,
                           "--weights", tmp_path / "net.pt", "--input-shape", "3,16,16")
    assert code == 0, output
    lines = (tmp_path / "out" / "scalesim_topology.csv").read_text().splitlines()
    # padding 1 on 16: 18; SCALE-Sim ceil((18 - 5 + 2) / 2) = 8 would count a row torch never reads: 17
    assert lines[1:] == ["stem, 17, 17, 5, 5, 3, 8, 2,", "head, 1, 1, 1, 1, 392, 6, 1,"]
    assert math.ceil((17 - 5 + 2) / 2) == 7
    sources = json.loads((tmp_path / "out" / "manifest.json").read_text())["sources"]
    assert {"model", "weights"} <= set(sources)
    code, output = run_eda(capsys, "export", run_copy, "--model", spec, "--weights", tmp_path / "net.pt",
                           "--input-shape", "3x16")
    assert code != 0 and "--input-shape" in output
