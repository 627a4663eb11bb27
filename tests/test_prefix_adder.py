"""Parallel-prefix adders: the networks are complete, and the synthesized proposed MAC has its
accumulate path at about half its critical path (the paper's premise), which the behavioural `+` does not."""

import os
from pathlib import Path

import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.designs.prefix_adder import ADDER_STRUCTURES, check_prefix_network, prefix_depth, prefix_levels, prefix_nodes


@pytest.mark.parametrize("structure", ADDER_STRUCTURES)
@pytest.mark.parametrize("width", [1, 2, 3, 7, 16, 24, 33])
def test_every_structure_is_a_complete_prefix_network(structure, width):
    check_prefix_network(prefix_levels(structure, width), width)


def test_depths_and_sizes_are_the_textbook_ones_for_24_bits():
    # Kogge-Stone and Sklansky: ceil(log2 24) = 5 levels; Brent-Kung 2*5 - 1 = 9; ripple 23.
    assert {s: prefix_depth(s, 24) for s in ADDER_STRUCTURES} == {"ripple": 23, "kogge_stone": 5, "sklansky": 5, "brent_kung": 9}
    # Kogge-Stone: sum over levels of (24 - 2^l); Sklansky: 12 per level with its top level cut at 24.
    assert prefix_nodes("kogge_stone", 24) == sum(24 - 2 ** level for level in range(5))
    assert prefix_nodes("ripple", 24) == 23


def test_a_network_with_a_gap_is_rejected():
    levels = prefix_levels("kogge_stone", 8)
    broken = [level for level in levels[:-1]]  # the last level joins bits 4-7 to bits 0-3
    with pytest.raises(EdaError, match=r"without a carry from bit 0"):
        check_prefix_network(broken, 8)
    with pytest.raises(EdaError, match=r"does not join two adjacent groups"):
        check_prefix_network([[(3, 0)]], 4)


def _path_split(tmp_path, adder: str) -> dict:
    from eda.core.platforms import load_platform
    from eda.designs.mac import MacParams
    from eda.designs.registry import Variant, mac_design
    from eda.flow.characterize import characterize
    from eda.flow.sta import StaSettings
    from eda.method.bit_errors import bit_delays, path_split
    from eda.parsers.netlist import register_output_nets

    platform = load_platform("sky130hd")
    params = MacParams("proposed", accumulate_adder=adder)
    result = characterize([Variant(mac_design(params), 2200)], platform, StaSettings(), tmp_path / "cache", jobs=1)
    run_dir = Path(result.runs[0]["cache_dir"])
    endpoints = pd.read_csv(run_dir / f"02-sta-{platform.nominal_corner}" / "endpoints.csv")
    return path_split(bit_delays(endpoints, register_output_nets(run_dir / "01-synth" / "netlist.v"), params, 10.0))


@pytest.mark.skipif(not os.environ.get("EDA_PLATFORMS_DIR"), reason="needs EDA_PLATFORMS_DIR (sky130hd liberty)")
def test_written_out_adder_makes_the_accumulate_path_about_half_the_critical_path(tmp_path):
    """Slow (~25 s): two real syntheses and STA path splits of the proposed MAC; the claim is about
    what ABC does with each adder, which only a synthesis shows."""
    prefix = _path_split(tmp_path, "sklansky")
    behavioural = _path_split(tmp_path, "yosys")
    # Measured (yosys 0.23, sky130hd tt, target 2200 ps): sklansky ~0.6, behavioural `+` ~0.9.
    assert prefix["accumulate_fraction"] < 0.72, prefix
    assert behavioural["accumulate_fraction"] > 0.8, behavioural
    assert prefix["accumulate_ns"] < behavioural["accumulate_ns"] - 0.4
    # The multiplier stage is what sets the critical path once the adder is fast.
    assert prefix["critical_path_ns"] == prefix["product_stage_ns"]
