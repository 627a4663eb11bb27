"""Property-based tests of the input parsers (hypothesis): any input gives either a value that keeps
the parser's stated invariants or an EdaError / click error, never another exception.

Covered: --targets and --vdd lists (eda/cli/options.py), the error-table, sensitivity and FO4
loaders, the configuration's numeric ranges, and the OpenSTA log parser on mutated real logs.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from eda.cli.options import MAX_LIST_ITEMS, MAX_TARGET_PS, MAX_VOLTAGE_V, FiniteFloatRange, parse_targets, parse_voltages
from eda.core.errors import EdaError
from eda.core.paths import REPO_ROOT
from eda.jobs.config import VARIABLES, check_value
from eda.parsers.sta import parse_sta_log
from eda.parsers.tables import load_error_table, load_sensitivity
from eda.spice.table import load_fo4_table

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words the option grammars are made of, so that random text often comes close to valid input.
TARGET_WORDS = st.sampled_from(["", "0", "1", "2", "50", "1500", "3000", "2.5", "-3", "1e3", "1e300", "nan", "inf", "-inf",
                                "ns", "ps", "2ns", "1.5ns", "1800ps", "0.0001ns", "abc", " ", ".", "e"])
VOLTAGE_WORDS = st.sampled_from(["", "0", "1.8", "1.2", "0.9", "0.05", "0.0000001", "-1", "nan", "inf", "1e308", "20",
                                 "abc", " ", "0.1"])


def _join(words: list[str], separators: list[str]) -> str:
    return "".join(w + s for w, s in zip(words, separators))


option_text = st.builds(_join, st.lists(TARGET_WORDS, max_size=8), st.lists(st.sampled_from([",", ":", "", " "]), max_size=8))
voltage_text = st.builds(_join, st.lists(VOLTAGE_WORDS, max_size=8), st.lists(st.sampled_from([",", ":", ""]), max_size=8))


@FAST
@given(st.one_of(option_text, st.text(max_size=40)))
def test_parse_targets_gives_sorted_bounded_whole_ps_or_a_click_error(text):
    try:
        targets = parse_targets(text)
    except click.BadParameter as exc:
        assert "--targets" in exc.format_message() or exc.param_hint == "--targets"
        return
    assert targets == sorted(set(targets)) and 0 < len(targets) <= MAX_LIST_ITEMS
    assert all(isinstance(t, int) and 0 < t <= MAX_TARGET_PS for t in targets)


@FAST
@given(st.one_of(voltage_text, st.text(max_size=40)))
def test_parse_voltages_gives_finite_positive_descending_volts_or_a_click_error(text):
    try:
        volts = parse_voltages(text)
    except click.BadParameter:
        return
    assert volts == sorted(set(volts), reverse=True) and 0 < len(volts) <= MAX_LIST_ITEMS
    assert all(math.isfinite(v) and 0 < v <= MAX_VOLTAGE_V for v in volts)


@FAST
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12)))
def test_finite_float_range_never_passes_nan_or_inf(text):
    kind = FiniteFloatRange(min=0, min_open=True, max=1e12)
    try:
        value = kind.convert(text, None, None)
    except click.BadParameter:
        return
    assert math.isfinite(value) and 0 < value <= 1e12


NUMERIC = [v for v in VARIABLES if v.type in (int, float, (int, float)) or v.item_type in (int, (int, float))]
config_value = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                         st.booleans(), st.text(max_size=5),
                         st.lists(st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True)), max_size=4))


@FAST
@given(st.sampled_from(NUMERIC), config_value)
def test_every_accepted_config_number_is_finite_and_in_its_stated_range(variable, value):
    problems = check_value(variable, value)
    if problems:
        assert all(variable.key in p for p in problems), problems
        return
    for item in (value if isinstance(value, list) else [value]):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        assert math.isfinite(item)
        assert variable.minimum is None or item >= variable.minimum
        if variable.maximum is not None:
            assert item < variable.maximum if variable.open_maximum else item <= variable.maximum


# --------------------------------------------------------------------------- table loaders on random tables

cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr), st.sampled_from(["", "x", "1", "0", "-1"]))
COLUMNS = ["size_index", "area_um2", "delay_ns", "vdd", "clock_ns", "p_error"]


@FAST
@given(st.lists(st.lists(cell, min_size=6, max_size=6), max_size=6), st.booleans())
def test_error_table_loader_gives_checked_rows_or_an_eda_error(rows, drop_a_column):
    header = COLUMNS[:-1] if drop_a_column else COLUMNS
    text = ",".join(header) + "\n" + "".join(",".join(r[:len(header)]) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "errors.csv"
        path.write_text(text)
        try:
            table = load_error_table(path)
        except EdaError as exc:
            assert str(path) in str(exc)
            return
    assert not table.empty
    assert np.isfinite(table[COLUMNS[1:]].to_numpy(dtype=float)).all()
    assert ((table["p_error"] >= 0) & (table["p_error"] <= 1)).all()
    assert (table[["area_um2", "delay_ns", "vdd", "clock_ns"]] > 0).all().all()
    assert list(table["area_um2"]) == sorted(table["area_um2"])


@FAST
@given(st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=4),
                min_size=1, max_size=4))
def test_sensitivity_loader_gives_finite_nonnegative_maps_or_an_eda_error(rows):
    width = len(rows[0])
    data = np.array([(r + [0.0] * width)[:width] for r in rows], dtype=float)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.npy"
        np.save(path, data)
        try:
            loaded = load_sensitivity(path)
        except EdaError as exc:
            assert str(path) in str(exc)
            return
    assert loaded.shape == data.shape and np.isfinite(loaded).all() and (loaded >= 0).all()


fo4_cell = st.one_of(st.floats(min_value=-1, max_value=500, allow_nan=False).map(lambda x: f"{x:.3f}"),
                     st.sampled_from(["", "nan", "inf", "x", "0", "100"]))


@FAST
@given(st.lists(st.lists(fo4_cell, min_size=5, max_size=5), max_size=6))
def test_fo4_loader_gives_a_monotone_table_or_an_eda_error(rows):
    text = "vdd,fo4_mean_ps,fo4_sigma_ps,samples,seed\n" + "".join(",".join(r) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fo4.csv"
        path.write_text(text)
        try:
            table = load_fo4_table(path)
        except EdaError as exc:
            assert str(path) in str(exc)
            return
    assert list(table["vdd"]) == sorted(set(table["vdd"]))
    assert (np.diff(table["fo4_mean_ps"]) < 0).all()
    assert (table[["vdd", "fo4_mean_ps", "fo4_sigma_ps", "samples"]] > 0).all().all()


# --------------------------------------------------------------------------- the OpenSTA log parser on mutated real logs

def _real_logs() -> list[Path]:
    logs = sorted((REPO_ROOT / "tests" / "data").glob("*.log"))
    logs += sorted((REPO_ROOT / "reports" / "sky130hd" / "runs").glob("*/02-sta-*/sta.log"))[:2]
    return logs


REAL_LOGS = _real_logs()


def _mutate(text: str, cuts: list[tuple[int, int, str]]) -> str:
    for position, length, insert in cuts:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + length:]
    return text


@pytest.mark.skipif(not REAL_LOGS, reason="no OpenSTA logs in tests/data or reports/")
@FAST
@given(st.sampled_from(REAL_LOGS or [Path("none")]),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 400),
                          st.sampled_from(["", "nan", "-", "\n", "Error: boom\n", "inf", "1e999", "x", "\x00", "### power\n"])),
                max_size=5))
def test_sta_log_parser_gives_a_report_or_an_eda_error(log, cuts):
    text = _mutate(log.read_text(errors="replace"), cuts)
    try:
        report = parse_sta_log(text, log)
    except EdaError:
        return
    assert report.critical_path is not None and "Total" in report.power_groups
