"""Characterization with real Yosys and OpenSTA runs: areas, delays, power, Razor structure."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from eda.flow.characterize import CSV_COLUMNS, characterize, prepare_corners, write_outputs
from eda.designs.registry import Variant
from eda.designs.registry import mac_design
from eda.core.errors import EdaError
from eda.parsers.sta import parse_sta_log
from eda.core.platforms import load_platform
from eda.designs.mac import MAC_KINDS, MacParams
from eda.flow.sta import StaSettings

TARGETS = (2000, 3500)
SETTINGS = StaSettings()


@pytest.fixture(scope="module")
def sky130(platforms_root, tmp_path_factory):
    platform = load_platform("sky130hd", platforms_root)
    cache = tmp_path_factory.mktemp("cache")
    variants = [Variant(mac_design(MacParams(kind)), t) for kind in MAC_KINDS for t in TARGETS]
    result = characterize(variants, platform, SETTINGS, cache, jobs=2, progress=False)
    out = tmp_path_factory.mktemp("out")
    write_outputs(result, out, platform, SETTINGS, ["pytest"])
    return platform, result, out, cache


def row(table: pd.DataFrame, kind: str, target: int) -> pd.Series:
    return table[(table["kind"] == kind) & (table["target_ps"] == target)].iloc[0]


def test_every_variant_has_real_numbers(sky130):
    _, result, _, _ = sky130
    table = result.table
    assert len(table) == len(MAC_KINDS) * len(TARGETS)
    assert (table["area_um2"] > 1000).all() and (table["delay_ns"] > 1).all() and (table["cells"] > 300).all()
    assert (table["area_sequential_um2"] + table["area_combinational_um2"] - table["area_um2"]).abs().max() < 1e-3
    # The Debian OpenSTA reports zero internal power on raw sky130 liberty; the
    # normalized copy must not, and internal power dominates a MAC's power there.
    assert (table["power_internal_w"] > 0.4 * table["power_w"]).all()
    parts = table["power_internal_w"] + table["power_switching_w"] + table["power_leakage_w"]
    assert ((parts - table["power_w"]).abs() <= 1e-6 * table["power_w"]).all()


def test_tighter_target_buys_speed_with_area(sky130):
    _, result, _, _ = sky130
    for kind in MAC_KINDS:
        fast, slow = row(result.table, kind, TARGETS[0]), row(result.table, kind, TARGETS[1])
        assert fast["area_um2"] > slow["area_um2"], kind
        assert fast["delay_ns"] < slow["delay_ns"], kind


def test_razor_structure_is_in_the_netlist(sky130):
    """Razor flops cost one shadow element per protected bit plus the held error latch.

    Thundervolt's shadow elements are flops (its shadow value must survive the next
    edge, see rtl/razor_ff.v.j2), so it has 24 more flops than the 24 + 16 of tpu."""
    platform, result, out, _ = sky130
    expected_latches = {"tpu": 0, "thundervolt": 1, "proposed": 10 + 1}
    expected_flops = {"tpu": 8 + 8 + 24, "thundervolt": 8 + 8 + 24 + 24, "proposed": 8 + 8 + 24 + 16}
    for kind, latches in expected_latches.items():
        counts = json.loads((out / "runs" / f"{kind}-D{TARGETS[1]}" / "01-synth" / "cell_counts.json").read_text())
        assert counts.get(platform.latch_cell, 0) == latches, kind
        flops = sum(n for cell, n in counts.items() if "__df" in cell)
        assert flops == expected_flops[kind], (kind, counts)
    table = result.table
    # Pipelining the product shortens the proposed MAC's critical path (paper IV-A).
    assert row(table, "proposed", TARGETS[0])["delay_ns"] < row(table, "tpu", TARGETS[0])["delay_ns"]
    assert row(table, "thundervolt", TARGETS[1])["area_um2"] > row(table, "tpu", TARGETS[1])["area_um2"]
    assert table[table["kind"] == "tpu"]["razor_window_slack_ns"].isna().all()
    assert table[table["kind"] != "tpu"]["razor_window_slack_ns"].notna().all()


def test_outputs_trace_to_logs(sky130):
    platform, result, out, _ = sky130
    table = pd.read_csv(out / "characterization.csv")
    assert list(table.columns) == CSV_COLUMNS
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tools"]["yosys"].startswith("Yosys") and manifest["tools"]["sta"]
    liberty = manifest["liberty"]["tt_025C_1v80"]
    assert len(liberty["sha256"]) == 64
    assert any("default_operating_conditions" in change for change in liberty["changes"])
    for entry in manifest["runs"]:
        for log in entry["logs"].values():
            assert (out / log).is_file(), log
    # The delay in the CSV is the one in the STA log of that run.
    first = table.iloc[0]
    log = (out / first["run_dir"] / "02-sta-tt_025C_1v80" / "sta.log").read_text()
    report = parse_sta_log(log)
    assert first["delay_ns"] == pytest.approx(SETTINGS.clock_period_ns - report.critical_path.slack_ns)
    assert first["power_w"] == report.power_total.total_w


def test_flow_internal_power_matches_independent_table_computation(sky130, platforms_root, tmp_path):
    """Power you can trust: the flow's OpenSTA internal power against our own liberty-table sum."""
    from eda.flow.power_check import check_internal_power

    cache = sky130[3]
    for name in ("sky130hd", "nangate45"):
        platform = load_platform(name, platforms_root)
        result = characterize([Variant(mac_design(MacParams("tpu")), 3000)], platform, SETTINGS, cache, progress=False)
        liberty = prepare_corners(platform, None, cache)[platform.nominal_corner]
        check = check_internal_power(f"{result.runs[0]['cache_dir']}/01-synth/netlist.v", liberty.path, top="mac_tpu",
                                     clock_period_ns=SETTINGS.clock_period_ns, input_activity=SETTINGS.input_activity,
                                     work_dir=tmp_path / name)
        flow_internal = result.table.iloc[0]["power_internal_w"]
        assert flow_internal > 0
        assert check.internal_power_ours_w == pytest.approx(flow_internal, rel=0.05), name


def test_sta_log_missing_sections_is_an_error(sky130):
    _, _, out, _ = sky130
    log = (out / "runs" / f"tpu-D{TARGETS[0]}" / "02-sta-tt_025C_1v80" / "sta.log").read_text()
    with pytest.raises(EdaError, match="missing section"):
        parse_sta_log(log[: log.index("@@ power")])


def test_activity_propagates_through_every_register(sky130):
    """Every kind's power covers all of its registers (OpenSTA's activity reached them).

    Thundervolt's Razor flops have one more flop per bit than tpu, so it burns more."""
    _, result, _, _ = sky130
    table = result.table
    assert table["power_activity_propagated"].astype(bool).all()
    for target in TARGETS:
        assert row(table, "thundervolt", target)["power_w"] > row(table, "tpu", target)["power_w"]


def test_stalled_activity_propagation_is_detected():
    """OpenSTA 2.0.17 stopped activity propagation at the first register stage of the
    earlier Thundervolt design (Power.cc sets found_reg_without_activity_ with = where
    later versions use |=); the recorded trace must be flagged, not trusted."""
    from pathlib import Path

    from eda.parsers.sta import parse_activity_trace

    trace = parse_activity_trace((Path(__file__).parent / "data" / "sta_activity_trace_stalled.log").read_text())
    assert trace.pins_set > 0 and trace.register_outputs_reached == 0
    assert not trace.propagated
