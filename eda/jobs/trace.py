"""`eda trace`: from one number of a finished run down to the tool logs it came from.

Every table a run writes carries its provenance in its own columns (`run_dir`/`cache_key` in the
characterization tables, `mac_runs`/`overhead_runs` in table2.csv, `point_key` in accuracy.csv), so
a trace reads files only: it reruns nothing. The chain is returned as data (`TraceLink`s); the
command prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError

# Which inputs each Table II column depends on (eda/method/table2.py says how it is computed).
TABLE2_DEPENDS = {
    "area_mm2": ("mac", "overhead"), "mac_area_mm2": ("mac",), "switching_area_mm2": ("overhead",),
    "power_nominal_w": ("mac", "overhead"), "power_scaled_w": ("mac", "overhead", "vmin"),
    "energy_per_op_pj": ("mac", "overhead", "vmin", "clock"), "energy_per_op_nominal_pj": ("mac", "overhead", "clock"),
    "vmin_v": ("vmin",), "frequency_mhz": ("clock",), "clock_ns": ("clock",), "throughput_gops": ("clock",),
}
SAVING_PREFIXES = ("power_saving_vs_", "energy_saving_vs_")
RUN_LOG_GLOBS = ("*/*.log", "*.log")


@dataclass
class TraceLink:
    what: str                                   # one line: the number or the input at this hop
    files: list[str] = field(default_factory=list)  # files a reader opens at this hop
    children: list["TraceLink"] = field(default_factory=list)


def read_table(report_dir: Path, name: str) -> pd.DataFrame:
    path = report_dir / name
    if not path.is_file():
        raise EdaError(f"{path} does not exist (is {report_dir} the output folder of `eda run`?)")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: not a readable CSV table: {exc}") from None


def select_row(table: pd.DataFrame, row: str, source: str) -> pd.Series:
    """ROW is a 0-based index or a value of the table's first column (e.g. a design name)."""
    if row.isdigit():
        index = int(row)
        if not 0 <= index < len(table):
            raise EdaError(f"{source}: row {index} out of range (0..{len(table) - 1})")
        return table.iloc[index]
    match = table[table.iloc[:, 0].astype(str) == row]
    if match.empty:
        raise EdaError(f"{source}: no row whose {table.columns[0]} is {row!r} "
                       f"(have: {', '.join(map(str, table.iloc[:, 0].unique()[:12]))})")
    return match.iloc[0]


def run_link(report_dir: Path, table_name: str, run_dir: str, cache_key: str, cache_dir: Path | None, note: str) -> TraceLink:
    """A characterization run: its row fields and the logs in its folder (local copy, else the cache)."""
    base = Path(table_name).parent
    local = report_dir / base / run_dir
    folder = local if local.is_dir() else (cache_dir / "runs" / cache_key if cache_dir and cache_key else None)
    files = []
    if folder is not None and folder.is_dir():
        for pattern in RUN_LOG_GLOBS:
            files += [str(p) for p in sorted(folder.glob(pattern))]
    else:
        files.append(f"(run folder {local} not present; cache key {cache_key or '?'})")
    return TraceLink(f"{table_name}: {run_dir} (cache key {cache_key}) {note}".rstrip(), files)


def characterization_links(report_dir: Path, table_name: str, runs: str, columns: list[str],
                           cache_dir: Path | None) -> list[TraceLink]:
    """`run_dir@key:count;...` -> one link per run with the columns that feed the number."""
    if not isinstance(runs, str) or not runs:
        return []
    table = read_table(report_dir, table_name)
    links = []
    for part in runs.split(";"):
        run_dir, _, rest = part.partition("@")
        key, _, count = rest.partition(":")
        if table_name.startswith("tiles/"):
            run_dir = run_dir.removeprefix("tiles/")
        rows = table[table["run_dir"] == run_dir]
        nominal = rows.iloc[0] if len(rows) else None
        values = ", ".join(f"{c}={nominal[c]}" for c in columns if nominal is not None and c in nominal.index)
        key = key or (str(nominal["cache_key"]) if nominal is not None else "")
        note = (f"x {count} MACs: " if count else ": ") + values
        links.append(run_link(report_dir, table_name, run_dir, key, cache_dir, note))
    return links


def vmin_link(report_dir: Path, design: str, budget: str, cache_dir: Path | None) -> TraceLink:
    vmin = read_table(report_dir, "accuracy/vmin.csv")
    row = vmin[(vmin["design"] == design) & (vmin["budget"] == budget)]
    sweep = read_table(report_dir, "accuracy/accuracy.csv")
    points = sweep[(sweep["design"] == design) & (sweep["budget"] == budget)]
    what = (f"accuracy/vmin.csv: {design}/{budget} vmin_v={row['vmin_v'].iloc[0] if len(row) else '?'}: the lowest swept "
            f"supply at and above which accuracy_mean >= clean_accuracy - max_loss")
    children = []
    for r in points.itertuples():
        cached = cache_dir / "accuracy" / f"{r.point_key}.json" if cache_dir else None
        files = [str(cached)] if cached is not None and cached.is_file() else []
        children.append(TraceLink(f"accuracy/accuracy.csv: {r.vdd:g} V accuracy_mean={r.accuracy_mean:.4f} "
                                  f"(mean MAC p_error {r.mean_mac_p_error:.3g}, {r.repeats} repeats, point {r.point_key})", files))
    return TraceLink(what, [str(report_dir / "accuracy" / "vmin.csv")], children)


def clock_link(report_dir: Path, kind: str, clock_ns: float, cache_dir: Path | None) -> TraceLink:
    """The kind's clock: the slowest Pareto size's delay at nominal (errors/<kind>/error_probability.csv)."""
    errors = read_table(report_dir, f"errors/{kind}/error_probability.csv")
    slowest = errors.loc[errors["delay_ns"].idxmax()]
    characterization = read_table(report_dir, "characterization.csv")
    rows = characterization[(characterization["kind"] == kind) & (characterization["target_ps"] == slowest["target_ps"])]
    children = []
    if len(rows):
        children.append(run_link(report_dir, "characterization.csv", rows["run_dir"].iloc[0], rows["cache_key"].iloc[0],
                                 cache_dir, f": delay_ns={slowest['delay_ns']} (OpenSTA period minus worst slack)"))
    return TraceLink(f"errors/{kind}/error_probability.csv: clock_ns={clock_ns} = delay of the slowest {kind} size "
                     f"(target {slowest['target_ps']} ps)", [str(report_dir / "errors" / kind / "error_probability.csv")], children)


def trace_table2(report_dir: Path, row: str, column: str, cache_dir: Path | None) -> TraceLink:
    table = read_table(report_dir, "table2.csv")
    if column not in table.columns:
        raise EdaError(f"table2.csv has no column {column!r} (have: {', '.join(table.columns)})")
    record = select_row(table, row, "table2.csv")
    top = TraceLink(f"table2.csv: {record['design']} {column} = {record[column]} (eda/method/table2.py)",
                    [str(report_dir / "table2.csv")])
    depends = TABLE2_DEPENDS.get(column)
    if depends is None and column.startswith(SAVING_PREFIXES):
        base = column.rpartition("_vs_")[2]
        measure = "power_scaled_w" if column.startswith("power") else "energy_per_op_pj"
        top.children.append(trace_table2(report_dir, str(record["design"]), measure, cache_dir))
        top.children.append(trace_table2(report_dir, base, measure, cache_dir))
        return top
    settings = json.loads((report_dir / "method_manifest.json").read_text())["settings"] \
        if (report_dir / "method_manifest.json").is_file() else {}
    budget = settings.get("table_budget", "medium")
    for dep in depends or ():
        if dep == "mac":
            top.children += characterization_links(
                report_dir, "characterization.csv", record.get("mac_runs", ""),
                ["area_um2", "power_internal_w", "power_switching_w", "power_leakage_w", "power_clock_ns"], cache_dir)
        elif dep == "overhead":
            top.children += characterization_links(report_dir, "tiles/characterization.csv", record.get("overhead_runs", ""),
                                                   ["area_um2", "power_w", "power_clock_ns"], cache_dir)
        elif dep == "vmin":
            top.children.append(vmin_link(report_dir, str(record["design"]), budget, cache_dir))
        elif dep == "clock":
            top.children.append(clock_link(report_dir, str(record["kind"]), float(record["clock_ns"]), cache_dir))
    return top


def trace(report_dir: Path, table_name: str, row: str, column: str, cache_dir: Path | None) -> TraceLink:
    report_dir = Path(report_dir)
    if table_name == "table2.csv":
        return trace_table2(report_dir, row, column, cache_dir)
    table = read_table(report_dir, table_name)
    if column not in table.columns:
        raise EdaError(f"{table_name} has no column {column!r} (have: {', '.join(table.columns)})")
    record = select_row(table, row, table_name)
    top = TraceLink(f"{table_name}: {column} = {record[column]}", [str(report_dir / table_name)])
    if "run_dir" in record.index:
        top.children.append(run_link(report_dir, table_name, record["run_dir"], str(record.get("cache_key", "")), cache_dir, ""))
    elif table_name == "accuracy/vmin.csv":
        top.children.append(vmin_link(report_dir, str(record["design"]), str(record["budget"]), cache_dir))
    else:
        raise EdaError(f"{table_name} carries no provenance columns; trace table2.csv, characterization.csv, "
                       "tiles/characterization.csv or accuracy/vmin.csv")
    return top


def render(link: TraceLink, depth: int = 0) -> list[str]:
    pad = "  " * depth
    lines = [f"{pad}{'<- ' if depth else ''}{link.what}"]
    lines += [f"{pad}     {f}" for f in link.files]
    for child in link.children:
        lines += render(child, depth + 1)
    return lines
