"""The main job's configuration: a TOML file, checked against typed, documented variables.

Each variable is declared once in VARIABLES (key, type, default, unit, allowed range, description);
the declarations build the frozen `Config` (one frozen dataclass per TOML section, read as
`config.errors.propagation_p`), `eda run --print-config` and docs/config.md (`config_reference`).
Every problem is reported at once, naming the key and what was expected; unknown keys are errors
(a typo must not silently fall back to a default).
"""

from __future__ import annotations

import math
import string
import tomllib
from dataclasses import asdict, dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from eda.core.errors import EdaError
from eda.core.paths import REPO_ROOT
from eda.designs.mac import ACCUMULATE_ADDERS, MAC_KINDS, MacParams
from eda.jobs.power import DEFAULT_CYCLES
from eda.method.errmodel import DEFAULT_CRITICAL_PATHS
from eda.method.errtable import PROJECT_PROPAGATION_P

DEFAULT_CONFIG = REPO_ROOT / "voltscale.toml"
NUMBER = (int, float)
# Upper bounds: far beyond any sensible run, low enough that the work they ask for fits in memory
# (2e9 process samples or a 3000 x 3000 array ended in a MemoryError, not an error naming the key).
MAX_TARGET_PS = 1_000_000_000       # 1 ms
MAX_VDD_V = 10.0
MAX_PROCESS_SAMPLES = 10_000_000
MAX_CYCLES = 100_000_000
MAX_ARRAY_SIDE = 4096
MAX_SEED = 2**32 - 1                # numpy's legacy seeds are 32-bit
OUT_DIR_PLACEHOLDERS = ("platform",)


@dataclass(frozen=True)
class Variable:
    key: str                       # "section.name", or "name" at the top level
    type: type | tuple[type, ...]
    default: Any
    description: str
    unit: str = ""
    minimum: float | None = None   # inclusive bounds; for lists, of every item
    maximum: float | None = None
    open_maximum: bool = False     # maximum excluded
    item_type: type | tuple[type, ...] | None = None  # for lists
    choices: tuple = ()

    @property
    def section(self) -> str:
        return self.key.partition(".")[0] if "." in self.key else ""

    @property
    def name(self) -> str:
        return self.key.rpartition(".")[2]


VARIABLES = [
    Variable("platform", str, "sky130hd", "platform config name under platforms/"),
    Variable("out_dir", str, "reports/{platform}", "where the main job writes; {platform} is replaced"),
    Variable("kinds", list, list(MAC_KINDS), "MAC kinds to characterize", item_type=str, choices=MAC_KINDS),
    Variable("corners", list, [], "liberty corners analysed besides the nominal one", item_type=str),
    Variable("mac.a_bits", int, 8, "activation width", "bits", minimum=2, maximum=16),
    Variable("mac.w_bits", int, 8, "weight width", "bits", minimum=2, maximum=16),
    Variable("mac.acc_bits", int, 24, "partial-sum width", "bits", minimum=4, maximum=48),
    Variable("mac.razor_bits", int, 10, "product bits in Razor flops (proposed MAC)", "bits", minimum=0, maximum=32),
    Variable("mac.accumulate_adder", str, "sklansky", "the proposed MAC's accumulate adder (yosys: behavioural +, "
             "a ripple chain after yosys 0.23)", choices=ACCUMULATE_ADDERS),
    Variable("characterize.targets_ps", list, [], "synthesis delay targets (ABC -D; empty: the platform's "
             "[characterize] targets_ps range)", "ps", minimum=1,
             maximum=MAX_TARGET_PS, item_type=int),
    Variable("characterize.clock_period_ns", NUMBER, 10.0, "clock for STA and power", "ns", minimum=1e-3, maximum=1e6),
    Variable("characterize.input_activity", NUMBER, 0.2, "toggles per cycle on each data input", "1/cycle",
             minimum=0, maximum=2),
    Variable("characterize.shadow_delay_fraction", NUMBER, 0.25, "Razor shadow clock delay", "clock periods",
             minimum=0, maximum=1, open_maximum=True),
    Variable("characterize.jobs", int, 0, "parallel runs (0: one per core)", minimum=0, maximum=1024),
    Variable("characterize.timeout_s", NUMBER, 600.0, "per tool run", "s", minimum=1e-3, maximum=1e6),
    Variable("errors.vdds", list, [], "supply voltages of the error tables (empty: every FO4 table voltage)", "V",
             minimum=1e-3, maximum=MAX_VDD_V, item_type=NUMBER),
    Variable("errors.clock_ns", NUMBER, 0.0, "clock of the error tables (0: the slowest size's nominal delay)", "ns", minimum=0,
             maximum=1e6),
    Variable("errors.propagation_p", NUMBER, PROJECT_PROPAGATION_P,
             "p of eq. 7: probability a transition propagates one more stage", minimum=0, maximum=1, open_maximum=True),
    Variable("errors.critical_paths", int, DEFAULT_CRITICAL_PATHS, "N of eq. 8: critical paths per MAC", minimum=1,
             maximum=1_000_000),
    Variable("errors.process_samples", int, 10_000, "Monte Carlo samples of eq. 9", minimum=1,
             maximum=MAX_PROCESS_SAMPLES),
    Variable("errors.seed", int, 1, "seed of the process-variation samples", minimum=0, maximum=MAX_SEED),
    Variable("errors.measure", bool, True,
             "timing-simulate every MAC size on the workload's operands (eda dta) before the error tables"),
    Variable("errors.fit_p", bool, True,
             "use eq. 7's p fitted per kind to that simulation (else errors.propagation_p)"),
    Variable("errors.dta_cycles", int, 10_000, "simulated clock cycles per MAC size", "cycles", minimum=1,
             maximum=MAX_CYCLES),
    Variable("method.enabled", bool, True, "sensitivity maps, sizing, accuracy sweep and Table II (needs the `nn` extra: torch)"),
    Variable("method.array_rows", int, 256, "MAC array rows (M)", minimum=1, maximum=MAX_ARRAY_SIDE),
    Variable("method.array_cols", int, 256, "MAC array columns (N)", minimum=1, maximum=MAX_ARRAY_SIDE),
    Variable("method.sensitivity_ber", NUMBER, 1e-2, "bit error rate of Alg. 1's eps", minimum=1e-12, maximum=0.5,
             open_maximum=True),
    Variable("method.sensitivity_method", str, "taylor", "taylor (the paper's Alg. 1) or curvature",
             choices=("taylor", "curvature")),
    Variable("method.iso_fractions", list, [1 / 3, 1 / 2, 2 / 3],
             "iso-area budgets: the size this far up each kind's size list, for every MAC (paper: sizes 4, 6, 8 of 13)",
             minimum=0, maximum=1, item_type=NUMBER),
    Variable("method.table_budget", int, 1, "which of the budgets (0-based) Table II uses", minimum=0, maximum=100),
    Variable("method.sizing_vdd", NUMBER, 0.0,
             "supply whose f(a) the sizer uses (0: the highest where the largest size fails >= 1e-3)", "V", minimum=0,
             maximum=MAX_VDD_V),
    Variable("method.tile_rows", int, 4, "rows of the array tile that measures the switching overhead (multiple of 4)",
             minimum=4, maximum=64),
    Variable("method.tile_cols", int, 2, "columns of that tile", minimum=1, maximum=64),
    Variable("power.activity", bool, True,
             "Table II also with activity-based power: gate-level simulation of each MAC size the designs use on the "
             "network's operands (`eda power`), scaled to Vmin with the leakage law"),
    Variable("power.activity_cycles", int, DEFAULT_CYCLES, "measured clock cycles of that simulation (after a warm-up)",
             "cycles", minimum=1, maximum=MAX_CYCLES),
    Variable("accuracy.vdds", list, [], "supplies of the accuracy sweep (empty: every error-table voltage up to nominal)", "V",
             minimum=1e-3, maximum=MAX_VDD_V, item_type=NUMBER),
    Variable("accuracy.repeats", int, 4, "most injection passes over the test set per point (independent error draws)",
             minimum=1, maximum=1000),
    Variable("accuracy.min_repeats", int, 2, "injection passes every point gets before its interval is checked", minimum=1,
             maximum=1000),
    Variable("accuracy.half_width", NUMBER, 0.005,
             "passes are added until the 95% interval of the accuracy loss is this narrow (or repeats is reached)",
             "fraction", minimum=0, maximum=1),
    Variable("accuracy.seed", int, 1, "seed of the error draws", minimum=0, maximum=MAX_SEED),
    Variable("accuracy.max_loss", NUMBER, 0.03,
             "Vmin (Table II): largest accepted top-1 loss, as the one-sided 95% upper bound (0.03 = 3 points)",
             "fraction", minimum=0, maximum=1, open_maximum=True),
    Variable("accuracy.strict_loss", NUMBER, 0.005, "a second Vmin reported at this loss (0: none)", "fraction",
             minimum=0, maximum=1, open_maximum=True),
    Variable("workload.model", str, "",
             "your own network: path/to/net.py:ClassName or model.onnx (empty: the Fashion-MNIST reference CNN)"),
    Variable("workload.weights", str, "", "state_dict file of workload.model (torch.save(model.state_dict(), path))"),
    Variable("workload.data", str, "", "test data: .npz (images, labels) or a folder <label>/<image> (empty: Fashion-MNIST test)"),
    Variable("workload.images", int, 0, "test images used (0: all)", minimum=0, maximum=100_000_000),
]
SECTIONS = tuple(dict.fromkeys(v.section for v in VARIABLES if v.section))


def _frozen_class(name: str, variables: list[Variable], extra: list[tuple] = ()) -> type:
    fields = [(v.name, Any, field(default=None)) for v in variables] + list(extra)
    return make_dataclass(name, fields, frozen=True)


SECTION_CLASSES = {s: _frozen_class(f"{s.capitalize()}Config", [v for v in VARIABLES if v.section == s]) for s in SECTIONS}
Config = _frozen_class("Config", [v for v in VARIABLES if not v.section],
                       [(s, SECTION_CLASSES[s], field(default=None)) for s in SECTIONS]
                       + [("source_path", str, field(default=""))])
Config.__doc__ = "The resolved main-job configuration (frozen; built from VARIABLES)."


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


def _is(value, wanted) -> bool:
    wanted_bool = wanted is bool or (isinstance(wanted, tuple) and bool in wanted)
    return isinstance(value, wanted) and (wanted_bool or not isinstance(value, bool))  # bool is an int subclass


def _range_text(v: Variable) -> str:
    low = "" if v.minimum is None else f">= {v.minimum:g}"
    high = "" if v.maximum is None else f"{'<' if v.open_maximum else '<='} {v.maximum:g}"
    return " and ".join(x for x in (low, high) if x)


def _in_range(v: Variable, value) -> bool:
    if not math.isfinite(value):  # TOML has nan and inf; NaN passes every comparison
        return False
    if v.minimum is not None and value < v.minimum:
        return False
    if v.maximum is not None and (value >= v.maximum if v.open_maximum else value > v.maximum):
        return False
    return True


def check_value(v: Variable, value) -> list[str]:
    """Problems with one value against its declaration (type, items, range, choices)."""
    if not _is(value, v.type):
        return [f"value provided for {v.key!r} of type {_type_name(v.type)} is invalid: {value!r}"]
    items = value if isinstance(value, list) else [value]
    problems = []
    for item in items:
        if v.item_type is not None and isinstance(value, list) and not _is(item, v.item_type):
            problems.append(f"{v.key}: every item must be {_type_name(v.item_type)}, got {item!r}")
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and not _in_range(v, item):
            problems.append(f"{v.key} must be {_range_text(v)}{' ' + v.unit if v.unit else ''}, got {item!r}")
        elif v.choices and item not in v.choices:
            problems.append(f"{v.key}: {item!r} is not one of {', '.join(map(str, v.choices))}")
    if isinstance(value, list):
        repeated = [item for i, item in enumerate(items) if item in items[:i]]
        problems += [f"{v.key}: {item!r} is listed more than once" for item in dict.fromkeys(repeated)]
    return problems


def _cross_checks(values: dict[str, Any]) -> list[str]:
    """Rules that involve more than one variable."""
    problems = []
    if values.get("method.tile_rows", 4) % 4:
        problems.append("method.tile_rows must be a multiple of 4 (column-wise 4to1 switches groups of 4 rows)")
    problems += _out_dir_problems(values.get("out_dir", ""))
    fractions = values.get("method.iso_fractions")
    if fractions is not None and not fractions:
        problems.append("method.iso_fractions must list at least one fraction")
    elif fractions and not values.get("method.table_budget", 0) < len(fractions):
        problems.append(f"method.table_budget must index method.iso_fractions (0..{len(fractions) - 1})")
    return problems


def _out_dir_problems(pattern: str) -> list[str]:
    # Checked here, not only when the run starts: --print-config and every stage before the write agree.
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        return [f"out_dir {pattern!r} is not a valid pattern ({exc}): the only placeholder is {{platform}}; "
                "write {{ and }} for literal braces"]
    unknown = [name for name in names if name not in OUT_DIR_PLACEHOLDERS]
    if unknown:
        return [f"out_dir {pattern!r}: unknown placeholder {{{unknown[0]}}}; the only placeholder is {{platform}}"]
    return []


def build_config(values: dict[str, Any], source_path: str = "") -> Config:
    sections = {s: SECTION_CLASSES[s](**{v.name: values[v.key] for v in VARIABLES if v.section == s}) for s in SECTIONS}
    return Config(**{v.name: values[v.key] for v in VARIABLES if not v.section}, **sections, source_path=source_path)


def load_config(path: Path | None = None) -> Config:
    """The resolved configuration with defaults filled in; raises EdaError listing every problem."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise EdaError(f"configuration file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: invalid TOML: {exc}") from None
    given = _flatten(raw)
    known = {v.key: v for v in VARIABLES}
    problems = [f"unknown key {k!r}" for k in given if k not in known]
    values = {}
    for key, variable in known.items():
        value = given.get(key, variable.default)
        found = check_value(variable, value)
        problems += found
        if not found:
            values[key] = value
    problems += _cross_checks(values)
    if problems:
        raise EdaError(f"{path}: {len(problems)} problem(s) in the configuration:\n  " + "\n  ".join(problems))
    return build_config(values, str(path))


def value_of(config: Config, key: str):
    section, _, name = key.rpartition(".")
    return getattr(getattr(config, section), name) if section else getattr(config, name)


def print_config(config: Config) -> str:
    """Every resolved value with its unit, one per line (`eda run --print-config`)."""
    lines = [f"# resolved from {config.source_path}"]
    for v in VARIABLES:
        unit = f"  # {v.unit}" if v.unit else ""
        lines.append(f"{v.key} = {value_of(config, v.key)!r}{unit}")
    return "\n".join(lines)


def config_reference() -> str:
    """docs/config.md, generated from VARIABLES (a test keeps the committed file equal to this)."""
    lines = ["# `eda run` configuration reference", "",
             "Generated from `eda/jobs/config.py` (VARIABLES); `eda run --print-config` shows the resolved values.",
             "Unknown keys are errors.", "",
             "| key | type | default | unit | allowed | description |", "|---|---|---|---|---|---|"]
    for v in VARIABLES:
        allowed = ", ".join(map(str, v.choices)) if v.choices else _range_text(v)
        lines.append(f"| `{v.key}` | {_type_name(v.type)} | `{v.default!r}` | {v.unit} | {allowed} | {v.description} |")
    return "\n".join(lines) + "\n"


def mac_params(config: Config, kind: str) -> MacParams:
    """The `kind` MAC with the config's [mac] widths and adder."""
    return MacParams(kind, **asdict(config.mac))


# What a config sets for its own platform: `eda run --platform` resets these to the other platform's defaults.
PLATFORM_SPECIFIC = ("corners", "characterize.targets_ps", "errors.vdds", "accuracy.vdds", "method.sizing_vdd")


def with_platform(config: Config, name: str | None) -> tuple[Config, list[str]]:
    """The configuration on platform `name` (a config under platforms/), and the keys reset to that
    platform's defaults: corners, delay targets and supplies are the config's own platform's (sky130hd's
    1800-3600 ps and 1.8-1.2 V mean nothing on gf180 at 5 V), so another platform starts from its own
    (its [characterize] range, the nominal corner, every FO4-table supply). Same platform: unchanged."""
    from dataclasses import replace

    from eda.core.platforms import platform_config

    if name is None or name == config.platform:
        return config, []
    platform_config(name)                         # an unknown name: EdaError listing the known ones
    defaults = {v.key: v.default for v in VARIABLES}
    reset = [key for key in PLATFORM_SPECIFIC if value_of(config, key) != defaults[key]]
    sections = {}
    for key in PLATFORM_SPECIFIC:
        section, _, field_name = key.rpartition(".")
        if section:
            sections.setdefault(section, {})[field_name] = defaults[key]
    updated = replace(config, platform=name, corners=list(defaults["corners"]),
                      **{section: replace(getattr(config, section), **fields) for section, fields in sections.items()})
    return updated, reset


def with_workload(config: Config, **values) -> Config:
    """The configuration with [workload] values replaced (command-line options), checked like the file's."""
    from dataclasses import replace

    problems = [problem for key, value in values.items()
                for problem in check_value(next(v for v in VARIABLES if v.key == f"workload.{key}"), value)]
    if problems:
        raise EdaError("; ".join(problems))
    return replace(config, workload=replace(config.workload, **values)) if values else config
