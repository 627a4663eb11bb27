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
    Variable("errors.clock_ns", (int, float), 0.0, "clock of the error tables (0: the largest size's nominal delay)", "ns"),
    Variable("errors.propagation_p", (int, float), 0.5, "p of eq. 7: probability a transition propagates one more stage"),
    Variable("errors.critical_paths", int, 16, "N of eq. 8: critical paths per MAC"),
    Variable("errors.process_samples", int, 10_000, "Monte Carlo samples of eq. 9"),
    Variable("errors.seed", int, 1, "seed of the process-variation samples"),
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
        if isinstance(value, bool) or not isinstance(value, variable.type):
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
    if "characterize.input_activity" in config and not 0 <= config["characterize.input_activity"] <= 2:
        problems.append("characterize.input_activity must be between 0 and 2 toggles per cycle")
    if problems:
        raise EdaError(f"{path}: {len(problems)} problem(s) in the configuration:\n  " + "\n  ".join(problems))
    config["_path"] = str(path)
    return config
