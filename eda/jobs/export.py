"""`eda export`: a finished `eda run` folder -> inputs of accelerator modelers (SCALE-Sim, Accelergy).

Reads the run's method_manifest.json (array size, network), workload/utilization.csv (the mapping every
topology row is checked against) and characterization.csv (power per MAC kind, size and corner); traces the
run's network for the layers' geometry; writes OUT/scalesim_topology.csv, OUT/scalesim.cfg, OUT/ERT.yaml and
OUT/manifest.json (eda/method/exports.py says how each number is made). Nothing is written when an input
is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.files import sha256_file
from eda.core.paths import shown_path
from eda.method.exports import (
    CHARACTERIZATION_COLUMNS,
    UTILIZATION_COLUMNS,
    LayerGeometry,
    check_topology,
    ert_tables,
    parse_array,
    scalesim_config,
    topology_layers,
)
from eda.outputs.exports import (
    CONFIG_FILE,
    ERT_FILE,
    TOPOLOGY_FILE,
    config_text,
    ert_text,
    topology_text,
    write_exports,
)
from eda.parsers.tables import read_table

# The reference network's input: one Fashion-MNIST image, 1 channel of 28 x 28 (eda/nn/fashion.py).
REFERENCE_INPUT_SHAPE = (1, 28, 28)
METHOD_MANIFEST = "method_manifest.json"
UTILIZATION = "workload/utilization.csv"
CHARACTERIZATION = "characterization.csv"


@dataclass
class ExportResult:
    files: dict[str, Path]
    layers: int
    tables: int
    actions: int


def _finished_run(report_dir: Path) -> dict:
    """method_manifest.json's settings; EdaError naming what is missing from a folder that is not a finished run."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise EdaError(f"{report_dir} is not a folder: expected the output folder of a finished `eda run`, e.g. reports/sky130hd")
    for name in (METHOD_MANIFEST, UTILIZATION, CHARACTERIZATION):
        if not (report_dir / name).is_file():
            raise EdaError(f"{report_dir} is not a finished `eda run` folder: {report_dir / name} is missing "
                           f"(`eda export` reads {METHOD_MANIFEST}, {UTILIZATION} and {CHARACTERIZATION}); "
                           "run `eda run` (with the method half enabled) first")
    path = report_dir / METHOD_MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path} is not valid JSON ({exc}): rerun `eda run` to rewrite it") from None
    settings = manifest.get("settings") if isinstance(manifest, dict) else None
    if not isinstance(settings, dict):
        raise EdaError(f"{path} has no \"settings\" object: expected the method manifest of `eda run`")
    for key, kind in (("array", str), ("network", dict)):
        if not isinstance(settings.get(key), kind):
            raise EdaError(f"{path}: settings.{key} is missing or not a {'string' if kind is str else 'JSON object'}; "
                           "expected the array size (e.g. \"256x256\") and the network's description of `eda run`")
    return settings


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'1,28,28' -> (1, 28, 28): channels, height, width of one input image."""
    parts = [p.strip() for p in re.split(r"[,x]", str(text))]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise EdaError(f"--input-shape {text!r}: expected C,H,W (channels, height, width of one image), e.g. 1,28,28")
    return tuple(int(p) for p in parts)


def _network(settings: dict, model: str | None, weights: Path | None, input_shape, path: Path):
    """(nn.Module, source text, input shape, extra sources) of the run's network."""
    from eda.nn.fashion import ARCHITECTURE, REFERENCE_DIR, REFERENCE_NAME, FashionCNN

    network = settings["network"]
    if model:
        from eda.nn.network import load_user_model

        if input_shape is None:
            raise EdaError("--model needs --input-shape C,H,W (one input image of the network)")
        sources = {"model": Path(model.rpartition(":")[0] if not model.endswith(".onnx") else model)}
        if weights:
            sources["weights"] = Path(weights)
        return load_user_model(model, Path(weights) if weights else None), model, input_shape, sources
    reference = shown_path(REFERENCE_DIR / f"{REFERENCE_NAME}.npz")
    if network.get("source") != reference or network.get("architecture", ARCHITECTURE) != ARCHITECTURE:
        raise EdaError(f"{path}: the run's network is {network.get('source')!r} (architecture "
                       f"{network.get('architecture')!r}), not the reference {reference} ({ARCHITECTURE}); "
                       "pass it with --model (and --weights, --input-shape)")
    from eda.nn import fashion

    return (FashionCNN(), f"{reference} ({ARCHITECTURE}, eda.nn.fashion.FashionCNN)", input_shape or REFERENCE_INPUT_SHAPE,
            {"network_definition": Path(fashion.__file__)})


def layer_geometry(model, source: str, input_shape: tuple[int, int, int]) -> list[LayerGeometry]:
    """The array layers' shapes, from one zero image run through the traced chain (eda/nn/network.py)."""
    import torch
    from torch import nn

    from eda.nn.network import trace_chain

    operations = trace_chain(model.eval(), source)
    hidden = torch.zeros((1, *input_shape))
    layers = []
    with torch.no_grad():
        for op in operations:
            try:
                out = op.module(hidden)
            except RuntimeError as exc:
                raise EdaError(f"{source}: an input of shape {tuple(input_shape)} does not fit layer {op.name!r}: {exc}") from None
            module = op.module
            if isinstance(module, nn.Linear):
                layers.append(LayerGeometry(op.name, "linear", module.in_features, module.out_features))
            elif isinstance(module, nn.Conv2d):
                in_h, in_w = hidden.shape[-2:]
                if isinstance(module.padding, str):  # 'valid' or 'same' (stride 1): kernel - 1 added in total
                    added = (0, 0) if module.padding == "valid" else tuple(k - 1 for k in module.kernel_size)
                else:
                    added = tuple(2 * p for p in module.padding)
                layers.append(LayerGeometry(op.name, "conv", module.in_channels, module.out_channels,
                                            (int(in_h) + added[0], int(in_w) + added[1]), tuple(module.kernel_size),
                                            tuple(module.stride), tuple(int(s) for s in out.shape[-2:])))
            hidden = out
    return layers


def _source(report_dir: Path, name: str) -> dict:
    path = report_dir / name
    return {"path": shown_path(path), "sha256": sha256_file(path)}


def export(report_dir: Path, out_dir: Path | None, command: list[str], *, model: str | None = None,
           weights: Path | None = None, input_shape: tuple[int, int, int] | None = None) -> ExportResult:
    report_dir = Path(report_dir)
    settings = _finished_run(report_dir)
    rows, cols = parse_array(settings["array"], report_dir / METHOD_MANIFEST)
    utilization = read_table(report_dir / UTILIZATION, "utilization table", UTILIZATION_COLUMNS)
    characterization = read_table(report_dir / CHARACTERIZATION, "characterization table", CHARACTERIZATION_COLUMNS)
    net, net_source, shape, net_files = _network(settings, model, weights, input_shape, report_dir / METHOD_MANIFEST)
    topology = topology_layers(layer_geometry(net, net_source, shape))
    check_topology(topology, utilization, rows, cols, report_dir / UTILIZATION)
    tables = ert_tables(characterization, report_dir / CHARACTERIZATION)

    run_name = "voltscale_" + re.sub(r"[^A-Za-z0-9_]", "_", report_dir.resolve().name)
    shown = shown_path(report_dir)
    comments = [
        f"SCALE-Sim v3 configuration of the voltscale run {shown}, written by `eda export`.",
        f"Array: {rows} x {cols} MACs (method_manifest.json settings.array), weight stationary (ws) for every MAC kind",
        "and mapping strategy (the column / 2to1 / 4to1 strategies permute the same weight loads).",
        "Memories and bandwidth are not modelled by voltscale; SCALE-Sim needs them: the values tests/test_workload.py",
        "checks the cycle counts with. Run: python -m scalesim.scale -c scalesim.cfg -t scalesim_topology.csv",
        "-l scalesim_topology.csv -p OUT (SCALE-Sim reads a layout file even without custom layouts; the topology serves).",
    ]
    texts = {TOPOLOGY_FILE: topology_text(topology),
             CONFIG_FILE: config_text(scalesim_config(run_name, rows, cols), comments),
             ERT_FILE: ert_text(tables, shown, CHARACTERIZATION)}
    sources = {"characterization": _source(report_dir, CHARACTERIZATION),
               "utilization": _source(report_dir, UTILIZATION),
               "method_manifest": _source(report_dir, METHOD_MANIFEST)}
    for label, path in net_files.items():
        if path.is_file():
            sources[label] = {"path": shown_path(path), "sha256": sha256_file(path)}
    meta = {
        "report_dir": shown,
        "network": {"source": net_source, "input_shape": list(shape)},
        "array": {"rows": rows, "cols": cols},
        "derivation": {
            TOPOLOGY_FILE: "one row per array layer of the traced network (eda/method/exports.py topology_layers): "
                           "IFMAP = input + zero padding (cut to the rows the layer reads where SCALE-Sim's "
                           "ceil((IFMAP - filter + stride) / stride) would count one more output); Linear = 1x1; "
                           "every row's window, filters, positions and tiles checked against workload/utilization.csv",
            CONFIG_FILE: "ArrayHeight x ArrayWidth = method_manifest.json settings.array; Dataflow ws",
            ERT_FILE: "mac_random energy_pJ = power_w x power_clock_ns x 1000 (= power / f_clk); leak energy_pJ = "
                      "power_leakage_w x power_clock_ns x 1000; one row of characterization.csv per action "
                      "(its line in the comment above the action)",
        },
    }
    files = write_exports(out_dir or report_dir / "export", texts, sources, meta, command)
    return ExportResult(files, len(topology), len(tables), sum(len(t.actions) for t in tables))
