"""The main job's configuration: a TOML file, checked against typed, documented variables.

Every problem is reported at once, naming the key and what was expected; unknown keys
are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import REPO_ROOT
from .errors import EdaError
from .rtl import MAC_KINDS

DEFAULT_CONFIG = REPO_ROOT / "voltscale.toml"


@dataclass(frozen=True)
class Variable:
    key: str
    type: type | tuple[type, ...]
    default: Any
    description: str
    units: str = ""


VARIABLES = [
    Variable("platform", str, "sky130hd", "platform config name under platforms/"),
    Variable("out_dir", str, "reports/{platform}", "where the main job writes; {platform} is replaced"),
    Variable("kinds", list, list(MAC_KINDS), "MAC kinds to characterize"),
    Variable("corners", list, [], "liberty corners analysed besides the nominal one"),
    Variable("mac.a_bits", int, 8, "activation width", "bits"),
    Variable("mac.w_bits", int, 8, "weight width", "bits"),
    Variable("mac.acc_bits", int, 24, "partial-sum width", "bits"),
    Variable("mac.razor_bits", int, 10, "product bits in Razor flops (proposed MAC)", "bits"),
    Variable("characterize.targets_ps", list, [], "synthesis delay targets (ABC -D)", "ps"),
    Variable("characterize.clock_period_ns", (int, float), 10.0, "clock for STA and power", "ns"),
    Variable("characterize.input_activity", (int, float), 0.2, "toggles per cycle on each data input", "1/cycle"),
    Variable("characterize.shadow_delay_fraction", (int, float), 0.25, "Razor shadow clock delay", "clock periods"),
    Variable("characterize.jobs", int, 0, "parallel runs (0: one per core)"),
    Variable("characterize.timeout_s", (int, float), 600.0, "per tool run", "s"),
    Variable("errors.vdds", list, [], "supply voltages of the error tables (empty: every FO4 table voltage)", "V"),
    Variable("errors.clock_ns", (int, float), 0.0, "clock of the error tables (0: the slowest size's nominal delay)", "ns"),
    Variable("errors.propagation_p", (int, float), 0.8, "p of eq. 7: probability a transition propagates one more stage"),
    Variable("errors.critical_paths", int, 16, "N of eq. 8: critical paths per MAC"),
    Variable("errors.process_samples", int, 10_000, "Monte Carlo samples of eq. 9"),
    Variable("errors.seed", int, 1, "seed of the process-variation samples"),
    Variable("method.enabled", bool, True, "sensitivity maps, sizing, accuracy sweep and Table II (needs the `nn` extra: torch)"),
    Variable("method.array_rows", int, 256, "MAC array rows (M)"),
    Variable("method.array_cols", int, 256, "MAC array columns (N)"),
    Variable("method.sensitivity_ber", (int, float), 1e-2, "bit error rate of Alg. 1's eps"),
    Variable("method.sensitivity_method", str, "taylor", "taylor (the paper's Alg. 1) or curvature"),
    Variable("method.network_seed", int, 0, "seed of the reference network's training"),
    Variable("method.network_epochs", int, 0, "training epochs of the reference network (0: the package default)"),
    Variable("method.iso_fractions", list, [1 / 3, 1 / 2, 2 / 3],
             "iso-area budgets: the size this far up each kind's size list, for every MAC (paper: sizes 4, 6, 8 of 13)"),
    Variable("method.table_budget", int, 1, "which of the budgets (0-based) Table II uses"),
    Variable("method.sizing_vdd", (int, float), 0.0, "supply whose f(a) the sizer uses (0: the highest where the largest size fails >= 1e-3)", "V"),
    Variable("method.tile_rows", int, 4, "rows of the array tile that measures the switching overhead"),
    Variable("method.tile_cols", int, 2, "columns of that tile"),
    Variable("accuracy.vdds", list, [], "supplies of the accuracy sweep (empty: every error-table voltage up to nominal)", "V"),
    Variable("accuracy.repeats", int, 8, "inferences of the test split per point (independent error draws)"),
    Variable("accuracy.seed", int, 1, "seed of the error draws"),
    Variable("accuracy.max_loss", (int, float), 0.03, "Vmin: largest accepted top-1 accuracy loss (0.03 = 3 points)"),
]


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _type_name(t) -> str:
    return " or ".join(x.__name__ for x in t) if isinstance(t, tuple) else t.__name__


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Flat {key: value} with defaults filled in; raises EdaError listing every problem."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise EdaError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdaError(f"{path}: invalid TOML: {exc}") from None
    given = _flatten(raw)
    known = {v.key: v for v in VARIABLES}
    problems = [f"unknown key {k!r}" for k in given if k not in known]
    config = {}
    for key, variable in known.items():
        value = given.get(key, variable.default)
        wrong_bool = isinstance(value, bool) != (variable.type is bool)  # bool is an int subclass
        if wrong_bool or not isinstance(value, variable.type):
            problems.append(f"value provided for {key!r} of type {_type_name(variable.type)} is invalid: {value!r}")
            continue
        config[key] = value
    for key in ("characterize.targets_ps",):
        if key in config and not config[key]:
            problems.append(f"{key} must list at least one delay target (ps)")
        for target in config.get(key, []):
            if isinstance(target, bool) or not isinstance(target, int) or target <= 0:
                problems.append(f"{key}: every target must be a positive integer (ps), got {target!r}")
    for kind in config.get("kinds", []):
        if kind not in MAC_KINDS:
            problems.append(f"kinds: unknown MAC kind {kind!r} (expected {', '.join(MAC_KINDS)})")
    for key in ("characterize.clock_period_ns", "characterize.timeout_s"):
        if key in config and config[key] <= 0:
            problems.append(f"{key} must be > 0, got {config[key]!r}")
    if "errors.propagation_p" in config and not 0 <= config["errors.propagation_p"] < 1:
        problems.append("errors.propagation_p must be in [0, 1)")
    for key in ("errors.critical_paths", "errors.process_samples"):
        if key in config and config[key] < 1:
            problems.append(f"{key} must be >= 1, got {config[key]!r}")
    if "errors.clock_ns" in config and config["errors.clock_ns"] < 0:
        problems.append("errors.clock_ns must be >= 0 (0: automatic)")
    for vdd in config.get("errors.vdds", []):
        if isinstance(vdd, bool) or not isinstance(vdd, (int, float)) or vdd <= 0:
            problems.append(f"errors.vdds: every voltage must be a positive number (V), got {vdd!r}")
    for key in ("method.array_rows", "method.array_cols", "method.tile_rows", "method.tile_cols", "accuracy.repeats"):
        if key in config and config[key] < 1:
            problems.append(f"{key} must be >= 1, got {config[key]!r}")
    if config.get("method.tile_rows", 4) % 4:
        problems.append("method.tile_rows must be a multiple of 4 (column-wise 4to1 switches groups of 4 rows)")
    if config.get("method.sensitivity_method") not in (None, "taylor", "curvature"):
        problems.append(f"method.sensitivity_method must be taylor or curvature, got {config['method.sensitivity_method']!r}")
    fractions = config.get("method.iso_fractions", [])
    if not fractions or any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1 for f in fractions):
        problems.append(f"method.iso_fractions must list numbers in [0, 1], got {fractions!r}")
    elif not 0 <= config.get("method.table_budget", 0) < len(fractions):
        problems.append(f"method.table_budget must index method.iso_fractions (0..{len(fractions) - 1})")
    for key in ("accuracy.vdds",):
        for vdd in config.get(key, []):
            if isinstance(vdd, bool) or not isinstance(vdd, (int, float)) or vdd <= 0:
                problems.append(f"{key}: every voltage must be a positive number (V), got {vdd!r}")
    if "accuracy.max_loss" in config and not 0 <= config["accuracy.max_loss"] < 1:
        problems.append("accuracy.max_loss must be in [0, 1) (a fraction of top-1 accuracy)")
    if "method.sensitivity_ber" in config and not 0 < config["method.sensitivity_ber"] < 0.5:
        problems.append("method.sensitivity_ber must be in (0, 0.5)")
    if "characterize.input_activity" in config and not 0 <= config["characterize.input_activity"] <= 2:
        problems.append("characterize.input_activity must be between 0 and 2 toggles per cycle")
    if problems:
        raise EdaError(f"{path}: {len(problems)} problem(s) in the configuration:\n  " + "\n  ".join(problems))
    config["_path"] = str(path)
    return config
