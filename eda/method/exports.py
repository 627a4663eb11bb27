"""What `eda export` hands to accelerator modelers, as plain data: SCALE-Sim topology rows and array
configuration, and Accelergy energy-reference-table entries (numpy/pandas only; the files are written by
eda/outputs/exports.py).

SCALE-Sim (v3) topology rows: one per array layer (Conv2d and Linear) in execution order, in SCALE-Sim's
convolution format. SCALE-Sim has no padding, so a padded convolution's IFMAP is the padded input
(H + 2 pad); a Linear layer is a 1 x 1 convolution of a 1 x 1 IFMAP with in_features channels. SCALE-Sim
computes the output as ceil((IFMAP - filter + stride) / stride); where that would count a row the layer
never reads (the last window does not fit), the IFMAP is cut to (out - 1) stride + filter, the rows the
convolution reads. Each row is checked against the run's own mapping (workload/utilization.csv): the
window C kh kw must be its k_rows, the filters its filters, the output positions its positions, and the
tile loads ceil(K/M) ceil(N/N_a) its tiles on the run's M x N_a array.

The array is weight stationary for every MAC kind and mapping strategy (each MAC holds one weight,
activations pass right, partial sums down); the column / 2to1 / 4to1 strategies permute the same
loads, so SCALE-Sim's `ws` dataflow describes all of them.

Accelergy ERT entries: per MAC kind and characterized size (delay target), and per liberty corner
(supply voltage) of characterization.csv, the energy of one MAC operation at the clock its power was
measured at:

    energy_pJ = power_w / f_clk = power_w [W] x power_clock_ns [ns] x 1000

(one MAC operation per clock cycle; power_w is OpenSTA's total, internal + switching + leakage, with
every data input toggling input_activity times per cycle: random operands, hence `mac_random`), and
the leakage energy of that cycle (`leak`, power_leakage_w x power_clock_ns x 1000).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

SCALESIM_DATAFLOW = "ws"
TOPOLOGY_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                    "Num Filter", "Strides")
ERT_VERSION = "0.4"
CHARACTERIZATION_COLUMNS = ("kind", "target_ps", "corner", "vdd", "temp_c", "power_w", "power_clock_ns", "run_dir")
UTILIZATION_COLUMNS = ("layer", "k_rows", "filters", "positions", "tiles")
# 1 W x 1 ns = 1 nJ = 1000 pJ
PJ_PER_W_NS = 1000.0


@dataclass(frozen=True)
class LayerGeometry:
    """One array layer as the network computes it (read from the traced network by the job)."""
    name: str
    kind: str                  # "conv" or "linear"
    channels: int              # C_in (in_features for a Linear layer)
    filters: int               # C_out (out_features)
    padded_hw: tuple[int, int] = (1, 1)    # the input's height and width with the layer's zero padding added
    kernel_hw: tuple[int, int] = (1, 1)
    stride_hw: tuple[int, int] = (1, 1)
    output_hw: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class TopologyLayer:
    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int

    def row(self) -> tuple:
        return (self.name, self.ifmap_h, self.ifmap_w, self.filter_h, self.filter_w, self.channels, self.filters,
                self.stride)

    @property
    def ofmap_hw(self) -> tuple[int, int]:
        """The output size as SCALE-Sim computes it (topology_utils.topo_calc_hyperparams)."""
        return (math.ceil((self.ifmap_h - self.filter_h + self.stride) / self.stride),
                math.ceil((self.ifmap_w - self.filter_w + self.stride) / self.stride))

    @property
    def window(self) -> int:
        return self.filter_h * self.filter_w * self.channels

    @property
    def positions(self) -> int:
        out_h, out_w = self.ofmap_hw
        return out_h * out_w


def _ifmap_side(name: str, padded: int, kernel: int, stride: int, out: int, axis: str) -> int:
    if math.ceil((padded - kernel + stride) / stride) == out:
        return padded
    read = (out - 1) * stride + kernel  # the last window does not fit: only these rows are read
    if read > padded or out < 1:
        raise EdaError(f"layer {name!r}: padded {axis} {padded}, kernel {kernel}, stride {stride} give {out} outputs, "
                       "which no SCALE-Sim IFMAP size reproduces")
    return read


def topology_layers(layers: list[LayerGeometry]) -> list[TopologyLayer]:
    """SCALE-Sim convolution rows of the array layers; EdaError for what SCALE-Sim cannot express."""
    rows = []
    for layer in layers:
        if "," in layer.name or "DP" in layer.name or not layer.name.strip() or layer.name != layer.name.strip():
            # SCALE-Sim splits rows on commas and expands every layer whose name contains "DP" per channel.
            raise EdaError(f"layer name {layer.name!r} cannot be written into a SCALE-Sim topology (no commas, no "
                           "'DP', which SCALE-Sim reads as depthwise, no surrounding spaces)")
        stride_h, stride_w = layer.stride_hw
        if layer.kind == "linear":
            rows.append(TopologyLayer(layer.name, 1, 1, 1, 1, layer.channels, layer.filters, 1))
            continue
        if stride_h != stride_w:
            raise EdaError(f"layer {layer.name!r} has strides {stride_h} x {stride_w}; a SCALE-Sim topology row has "
                           "one stride for both directions")
        ifmap = [_ifmap_side(layer.name, layer.padded_hw[i], layer.kernel_hw[i], stride_h, layer.output_hw[i], axis)
                 for i, axis in enumerate(("height", "width"))]
        rows.append(TopologyLayer(layer.name, ifmap[0], ifmap[1], layer.kernel_hw[0], layer.kernel_hw[1],
                                  layer.channels, layer.filters, stride_h))
    return rows


def check_topology(topology: list[TopologyLayer], utilization: pd.DataFrame, rows: int, cols: int, path) -> None:
    """EdaError naming the file, line and column where the topology disagrees with the run's mapping."""
    table = utilization[utilization["layer"].astype(str) != "total"].reset_index(drop=True)
    names = [str(n) for n in table["layer"]]
    if names != [layer.name for layer in topology]:
        raise EdaError(f"{path} lists the layers {', '.join(names)}; the network traced for the export has "
                       f"{', '.join(layer.name for layer in topology)}: the export needs the network of the run")
    for index, layer in enumerate(topology):
        expected = {"k_rows": layer.window, "filters": layer.filters, "positions": layer.positions,
                    "tiles": math.ceil(layer.window / rows) * math.ceil(layer.filters / cols)}
        for column, value in expected.items():
            recorded = pd.to_numeric(table.at[index, column], errors="coerce")
            if not np.isfinite(recorded) or int(recorded) != value:
                raise EdaError(f"{path}, line {index + 2}, column {column!r}: the run recorded {table.at[index, column]!r} "
                               f"for layer {layer.name!r}; the SCALE-Sim row {layer.row()} on the {rows} x {cols} array "
                               f"gives {value}: the export needs the network and array of the run")


def parse_array(text, path) -> tuple[int, int]:
    """'256x256' (method_manifest.json settings.array) -> (rows, cols)."""
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(text))
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise EdaError(f"{path}: settings.array is {text!r}; expected the array size as ROWSxCOLS, e.g. 256x256")
    return int(match[1]), int(match[2])


def scalesim_config(run_name: str, rows: int, cols: int) -> dict[str, dict[str, object]]:
    """The sections of a SCALE-Sim v3 .cfg: the run's array and dataflow; memories SCALE-Sim needs but voltscale
    does not model (the values tests/test_workload.py checks the cycle counts with)."""
    return {
        "general": {"run_name": run_name},
        "architecture_presets": {
            "ArrayHeight": rows, "ArrayWidth": cols,
            "IfmapSramSzkB": 1024, "FilterSramSzkB": 1024, "OfmapSramSzkB": 1024,
            "IfmapOffset": 0, "FilterOffset": 10000000, "OfmapOffset": 20000000,
            "Bandwidth": 64, "Dataflow": SCALESIM_DATAFLOW, "MemoryBanks": 1,
            "ReadRequestBuffer": 32, "WriteRequestBuffer": 32},
        "layout": {
            "IfmapCustomLayout": "False", "IfmapSRAMBankBandwidth": 100, "IfmapSRAMBankNum": 10, "IfmapSRAMBankPort": 2,
            "FilterCustomLayout": "False", "FilterSRAMBankBandwidth": 100, "FilterSRAMBankNum": 10,
            "FilterSRAMBankPort": 2},
        "sparsity": {"SparsitySupport": "false", "SparseRep": "ellpack_block", "OptimizedMapping": "false",
                     "BlockSize": 8, "RandomNumberGeneratorSeed": 40},
        "run_presets": {"InterfaceBandwidth": "CALC", "UseRamulatorTrace": "False"},
    }


@dataclass(frozen=True)
class ErtAction:
    name: str                  # mac_random or leak
    vdd: float
    temp_c: float
    corner: str
    energy_pj: float
    source_line: int           # line of characterization.csv (1 = header)
    power_column: str
    power_w: float
    clock_ns: float
    run_dir: str


@dataclass(frozen=True)
class ErtTable:
    name: str
    kind: str
    target_ps: str
    actions: tuple[ErtAction, ...]


def _number(value) -> float:
    number = pd.to_numeric(value, errors="coerce")
    return float(number) if number is not None else float("nan")


def _target_text(value) -> str:
    number = _number(value)
    return str(int(number)) if np.isfinite(number) and number == int(number) else str(value)


def ert_tables(characterization: pd.DataFrame, path) -> list[ErtTable]:
    """One table per (kind, target_ps) in the file's order, one mac_random (and leak) action per corner."""
    missing = [c for c in CHARACTERIZATION_COLUMNS if c not in characterization.columns]
    if missing:
        raise EdaError(f"{path} lacks the column(s) {', '.join(missing)} the energy table is computed from; "
                       f"it has {', '.join(map(str, characterization.columns))}")
    if characterization.empty:
        raise EdaError(f"{path} has no rows: expected one row per MAC kind, delay target and corner")
    for column in ("vdd", "temp_c", "power_w", "power_clock_ns"):
        values = pd.to_numeric(characterization[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | ((values <= 0) if column in ("vdd", "power_clock_ns") else
                                      (values < 0) if column == "power_w" else np.zeros(len(values), bool))
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            cell = characterization[column].iloc[line - 2]
            need = "a positive number" if column in ("vdd", "power_clock_ns") else "a finite number" + (
                " >= 0" if column == "power_w" else "")
            raise EdaError(f"{path}, line {line}, column {column!r}: {cell!r}; expected {need}")
    keys = characterization[["kind", "target_ps", "corner"]].astype(str)
    duplicated = keys.duplicated()
    if duplicated.any():
        line = int(np.flatnonzero(duplicated.to_numpy())[0]) + 2
        raise EdaError(f"{path}, line {line}: a second row for kind, target_ps, corner "
                       f"{', '.join(keys.iloc[line - 2])}; expected one row per variant and corner")
    leakage = "power_leakage_w" in characterization.columns
    groups: dict[tuple[str, str], list[ErtAction]] = {}
    for position, record in enumerate(characterization.to_dict("records")):
        kind, target = str(record["kind"]), _target_text(record["target_ps"])
        clock_ns = float(record["power_clock_ns"])
        common = dict(vdd=float(record["vdd"]), temp_c=float(record["temp_c"]), corner=str(record["corner"]),
                      source_line=position + 2, clock_ns=clock_ns, run_dir=str(record["run_dir"]))
        actions = groups.setdefault((kind, target), [])
        power = float(record["power_w"])
        actions.append(ErtAction("mac_random", energy_pj=power * clock_ns * PJ_PER_W_NS, power_column="power_w",
                                 power_w=power, **common))
        leak = _number(record["power_leakage_w"]) if leakage else float("nan")
        if np.isfinite(leak) and leak >= 0:
            actions.append(ErtAction("leak", energy_pj=leak * clock_ns * PJ_PER_W_NS, power_column="power_leakage_w",
                                     power_w=leak, **common))
    return [ErtTable(f"mac_{kind}_D{target}", kind, target, tuple(actions))
            for (kind, target), actions in groups.items()]
