"""The alpha-power voltage model (eda voltage-model): the fit, the FO4 table it writes, the liberty
merge of a split corner, and the prediction check against real OpenSTA at the gf180 and ihp-sg13g2
voltage corners. Tests that run tools skip when EDA_PLATFORMS_DIR is unset."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.method.voltage_model import (DEFAULT_ALPHA, corner_pair_check, default_table_vdds, fit_alpha_power,
                                      fo4_table_from_fit, voltage_groups)

needs_platforms = pytest.mark.skipif(not os.environ.get("EDA_PLATFORMS_DIR"), reason="EDA_PLATFORMS_DIR is unset")

# Largest |prediction / STA - 1| of the fitted law per ordered corner pair, measured on 2026-08 with
# `eda voltage-model --check-targets` (gf180: 4000-10000 ps; ihp: 2000-5000 ps; tpu and proposed),
# plus one percentage point of margin. The test characterizes a subset of those sizes.
MEASURED_MAX_ERROR = {
    "gf180": {("tt_025C_5v00", "tt_025C_3v30"): 0.0425, ("tt_025C_5v00", "tt_025C_1v80"): 0.1422,
              ("tt_025C_3v30", "tt_025C_5v00"): 0.0444, ("tt_025C_3v30", "tt_025C_1v80"): 0.1041,
              ("tt_025C_1v80", "tt_025C_5v00"): 0.1658, ("tt_025C_1v80", "tt_025C_3v30"): 0.1162},
    "ihp-sg13g2": {("typ_1p50V_25C", "typ_1p20V_25C"): 0.0278, ("typ_1p20V_25C", "typ_1p50V_25C"): 0.0286,
                   ("slow_1p35V_125C", "slow_1p08V_125C"): 0.0324, ("slow_1p08V_125C", "slow_1p35V_125C"): 0.0335,
                   ("fast_1p65V_m40C", "fast_1p32V_m40C"): 0.0258, ("fast_1p32V_m40C", "fast_1p65V_m40C"): 0.0251},
}
MARGIN = 0.01
CHECK_TARGETS = {"gf180": [4000, 8000], "ihp-sg13g2": [2500, 5000]}


def test_fit_recovers_a_known_law():
    v = np.array([1.8, 3.3, 5.0])
    delay = 300.0 * v / (v - 0.9) ** 1.4
    fit = fit_alpha_power(v, delay)
    assert fit.alpha_fitted and fit.vth == pytest.approx(0.9, abs=2e-3) and fit.alpha == pytest.approx(1.4, abs=5e-3)
    assert fit.max_residual < 1e-4


def test_two_voltages_fix_alpha_and_pass_through_both_points():
    fit = fit_alpha_power([1.2, 1.5], [124.7, 82.9])
    assert not fit.alpha_fitted and fit.alpha == DEFAULT_ALPHA and 0 < fit.vth < 1.2
    assert fit.max_residual < 1e-6


@pytest.mark.parametrize("vdd, delay, message", [
    ([1.2], [100.0], "at least two different"),
    ([1.2, 1.5], [80.0, 100.0], "does not fall with rising supply"),
    ([1.2, 1.5], [100.0, -1.0], "positive"),
])
def test_fit_rejects_bad_points(vdd, delay, message):
    with pytest.raises(EdaError, match=message):
        fit_alpha_power(vdd, delay)


def test_table_has_the_fo4_columns_the_nominal_row_and_a_stated_sigma(tmp_path):
    from eda.spice.table import load_fo4_table

    fit = fit_alpha_power([1.2, 1.5], [124.7, 82.9])
    table = fo4_table_from_fit(fit, default_table_vdds(fit, 1.2), sigma_fraction=0.03)
    path = tmp_path / "fo4.csv"
    table.to_csv(path, index=False)
    loaded = load_fo4_table(path)  # the reader the flow uses accepts it
    assert list(loaded.columns) == ["vdd", "fo4_mean_ps", "fo4_sigma_ps", "samples", "seed"]
    assert 1.2 in set(loaded["vdd"].round(6)) and loaded["fo4_mean_ps"].is_monotonic_decreasing
    assert np.allclose(loaded["fo4_sigma_ps"] / loaded["fo4_mean_ps"], 0.03, rtol=1e-3)
    with pytest.raises(EdaError, match="within 50 mV of the fitted Vth"):
        fo4_table_from_fit(fit, [fit.vth + 0.01])


def test_groups_need_one_process_and_temperature_at_two_supplies():
    corners = pd.DataFrame({"corner": ["a", "b", "c", "d"], "process": ["tt", "tt", "ss", "ff"],
                            "vdd": [1.8, 1.4, 1.4, 1.95], "temp_c": [25.0, 25.0, -40.0, 100.0]})
    groups = voltage_groups(corners)
    assert len(groups) == 1 and list(groups[0]["corner"]) == ["b", "a"]


def test_pair_check_on_a_table():
    table = pd.DataFrame({"kind": ["tpu"] * 2, "target_ps": [1000] * 2, "corner": ["hi", "lo"], "process": ["tt"] * 2,
                          "vdd": [1.5, 1.2], "temp_c": [25.0] * 2, "delay_ns": [2.0, 3.0]})
    fit = fit_alpha_power([1.2, 1.5], [3.0, 2.0])
    reference = pd.DataFrame({"vdd": [1.2, 1.5], "fo4_mean_ps": [100.0, 80.0], "fo4_sigma_ps": [1.0, 1.0]})
    check = corner_pair_check(table, reference, {("tt", 25.0): fit})
    down = check[check["to_corner"] == "lo"].iloc[0]
    assert down["error_alpha_power"] == pytest.approx(0.0, abs=1e-6)
    assert down["delay_reference_fo4_ns"] == pytest.approx(2.5) and down["error_reference_fo4"] == pytest.approx(2.5 / 3 - 1)


@needs_platforms
def test_asap7_corner_is_merged_from_its_five_files(tmp_path):
    from eda.core.liberty import prepare_corner_liberty
    from eda.core.platforms import load_platform

    platform = load_platform("asap7")
    liberty = prepare_corner_liberty(platform.nominal.libs, platform.dont_use, tmp_path)
    assert len(liberty.info["merged_from"]) == 5 and liberty.info["time_unit"] == "ps" and liberty.cap_unit_ff == 1.0
    names = set(liberty.cells)
    assert {"INVx1_ASAP7_75t_R", "DHLx1_ASAP7_75t_R", "TIEHIx1_ASAP7_75t_R", "AO21x1_ASAP7_75t_R", "OA21x2_ASAP7_75t_R"} <= names


@needs_platforms
@pytest.mark.slow
@pytest.mark.parametrize("platform_name", ["gf180", "ihp-sg13g2"])
def test_alpha_power_predicts_the_voltage_corners(platform_name, tmp_path):
    """Real OpenSTA: FO4 stage at every corner, the fit, MACs timed at every corner pair; the law's
    prediction error per pair must not grow past what was measured (plus MARGIN).
    Slow (~30-60 s): two MAC syntheses timed at every liberty corner of the PDK, the check issue 16 asks for."""
    from eda.core.platforms import load_platform
    from eda.designs.mac import MacParams
    from eda.designs.registry import mac_design
    from eda.flow.voltage_model import characterize_voltage_corners, fit_groups, measure_corners
    from eda.spice.table import load_fo4_table, platform_fo4_table

    platform = load_platform(platform_name)
    measured = measure_corners(platform, tmp_path / "cache", tmp_path / "work")
    fits = fit_groups(measured)
    designs = [mac_design(MacParams(kind)) for kind in ("tpu", "proposed")]
    table = characterize_voltage_corners(platform, designs, CHECK_TARGETS[platform_name], tmp_path / "cache", jobs=1)
    check = corner_pair_check(table, load_fo4_table(platform_fo4_table("sky130hd")), fits)
    worst = check.assign(abs_error=check["error_alpha_power"].abs()).groupby(["from_corner", "to_corner"])["abs_error"].max()
    assert set(worst.index) == set(MEASURED_MAX_ERROR[platform_name])
    grown = {pair: (round(error, 4), MEASURED_MAX_ERROR[platform_name][pair]) for pair, error in worst.items()
             if error > MEASURED_MAX_ERROR[platform_name][pair] + MARGIN}
    assert not grown, f"alpha-power prediction error grew past the measured one (+{MARGIN:.0%}): {grown}"
