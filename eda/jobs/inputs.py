"""What the method half of `eda run` reads from the characterization half: sizes, error tables, nominal supply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import pandas as pd
from eda.core.errors import EdaError
from eda.parsers.tables import ERRTABLE_COLUMNS, check_error_table, read_table


@dataclass
class MethodInputs:
    out: Path
    characterization: pd.DataFrame
    nominal_corner: str
    nominal_vdd: float
    error_tables: dict[str, pd.DataFrame]  # per kind, long (size_index, target_ps, area_um2, delay_ns, vdd, clock_ns, p_error)
    bit_tables: dict[str, pd.DataFrame | None] = None  # per kind, per-bit error probability (largest size), if written


def kind_sizes(inputs: MethodInputs, kind: str) -> pd.DataFrame:
    """A kind's Pareto sizes (index = size index, as in its error table) with their nominal power."""
    table = inputs.error_tables[kind]
    sizes = table.drop_duplicates("size_index").sort_values("area_um2").set_index("size_index")
    nominal = inputs.characterization[(inputs.characterization["kind"] == kind)
                                      & (inputs.characterization["corner"] == inputs.nominal_corner)]
    power = nominal.set_index("target_ps")[["power_internal_w", "power_switching_w", "power_leakage_w", "power_w",
                                            "power_clock_ns", "run_dir", "cache_key"]]
    return sizes.join(power, on="target_ps")


def method_inputs(out: Path, characterization: pd.DataFrame, platform, kinds: list[str]) -> MethodInputs:
    error_tables = {}
    for kind in kinds:
        path = out / "errors" / kind / "error_probability.csv"
        if not path.is_file():
            raise EdaError(f"{path} is missing: the error tables are written by `eda run` before the method part")
        error_tables[kind] = check_error_table(read_table(path, "error-probability table", ERRTABLE_COLUMNS), path)
    at_nominal = characterization.loc[characterization["corner"] == platform.nominal_corner, "vdd"]
    if at_nominal.empty:
        raise EdaError(f"the characterization table has no rows at the nominal corner {platform.nominal_corner}")
    nominal_vdd = float(at_nominal.iloc[0])
    bit_tables = {}
    for kind in kinds:
        path = out / "errors" / kind / "bit_error_probability.csv"
        bit_tables[kind] = pd.read_csv(path) if path.is_file() else None
    return MethodInputs(out, characterization, platform.nominal_corner, nominal_vdd, error_tables, bit_tables)
