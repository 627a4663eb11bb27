"""Every input of a cache key changes the key, and nothing else does (issue 19 item 4).

The keys are computed without running a tool, so each input is varied alone: RTL, delay target,
scripts (through the platform's cells), liberty content, analysis settings, tool versions and
the code's own format version (characterization); netlist, MAC, operands, simulator mode and the
simulator's code (timing simulation); netlist, operands and script templates (activity power)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from eda.core.liberty import PreparedLiberty
from eda.core.platforms import load_platform
from eda.designs.mac import MacParams
from eda.designs.registry import Variant, mac_design
from eda.flow import characterize as characterize_module
from eda.flow.characterize import Toolchain, _cache_key as variant_key
from eda.flow.sta import StaSettings
from eda.jobs import dta as dta_module, power as power_module



@pytest.fixture(scope="module")
def platform():
    return load_platform("sky130hd")


def liberty(key: str = "lib-content-1", path: str = "/cache/liberty/abc/x.lib") -> PreparedLiberty:
    return PreparedLiberty(Path("sky130_fd_sc_hd__tt_025C_1v80.lib.gz"), Path(path), key, {"cap_unit_ff": 1000.0, "cells": {}})


TOOLS = Toolchain("yosys", "sta", {"yosys": "Yosys 0.23", "sta": "2.0.17"})


def base_key(platform, **change) -> str:
    args = dict(variant=Variant(mac_design(MacParams("proposed")), 2000),
                liberties={platform.nominal_corner: liberty()}, settings=StaSettings(), tools=TOOLS)
    args.update(change)
    return variant_key(args["variant"], platform, args["liberties"], args["settings"], args["tools"])


def test_characterization_key_changes_with_every_input(platform, monkeypatch):
    base = base_key(platform)
    nominal = platform.nominal_corner
    changed = {
        "rtl": base_key(platform, variant=Variant(mac_design(MacParams("proposed", razor_bits=9)), 2000)),
        "adder": base_key(platform, variant=Variant(mac_design(MacParams("proposed", accumulate_adder="yosys")), 2000)),
        "target": base_key(platform, variant=Variant(mac_design(MacParams("proposed")), 2050)),
        "liberty content": base_key(platform, liberties={nominal: liberty(key="lib-content-2")}),
        "driver cell": base_key(replace(platform, driver="sky130_fd_sc_hd__buf_2")),
        "output load": base_key(replace(platform, output_load_ff=platform.output_load_ff * 2)),
        "activity": base_key(platform, settings=replace(StaSettings(), input_activity=0.3)),
        "clock": base_key(platform, settings=replace(StaSettings(), clock_period_ns=7.0)),
        "shadow window": base_key(platform, settings=replace(StaSettings(), shadow_delay_fraction=0.3)),
        "yosys version": base_key(platform, tools=replace(TOOLS, versions={**TOOLS.versions, "yosys": "Yosys 0.40"})),
        "sta version": base_key(platform, tools=replace(TOOLS, versions={**TOOLS.versions, "sta": "2.5.0"})),
        "another corner": base_key(platform, liberties={nominal: liberty(), "ss": liberty(key="ss")}),
    }
    monkeypatch.setattr(characterize_module, "RUN_FORMAT_VERSION", "test-bump")
    changed["code format version"] = base_key(platform)
    assert all(key != base for key in changed.values()), [name for name, key in changed.items() if key == base]
    assert len(set(changed.values())) == len(changed), "two different inputs gave one key"


def test_characterization_key_ignores_where_the_cache_lives(platform):
    moved = base_key(platform, liberties={platform.nominal_corner: liberty(path="/elsewhere/liberty/abc/x.lib")})
    assert moved == base_key(platform)


def _operands(seed: int = 0) -> pd.DataFrame:
    return power_module.random_operands(64, seed)


@pytest.fixture()
def netlists(tmp_path):
    first, second = tmp_path / "a.v", tmp_path / "b.v"
    first.write_text("module m(); endmodule\n")
    second.write_text("module m(); wire x; endmodule\n")
    return first, second


def test_timing_simulation_key_changes_with_every_input(platform, netlists, monkeypatch):
    params = MacParams("tpu")
    vectors = power_module.operand_vectors(params, _operands())
    tools = {"yosys": "Yosys 0.23", "sta": "2.0.17"}

    def key(**change):
        args = dict(netlist=netlists[0], params=params, liberty=liberty(), platform=platform, settings=StaSettings(),
                    vectors=vectors, warmup_cycles=4, mode="inertial", tools=tools)
        args.update(change)
        return dta_module._cache_key(**args)

    base = key()
    changed = {
        "netlist": key(netlist=netlists[1]),
        "mac": key(params=MacParams("tpu", acc_bits=20)),
        "liberty": key(liberty=liberty(key="other")),
        "settings": key(settings=replace(StaSettings(), clock_period_ns=5.0)),
        "operands": key(vectors=power_module.operand_vectors(params, _operands(seed=1))),
        "warmup": key(warmup_cycles=5),
        "mode": key(mode="transport"),
        "tools": key(tools={**tools, "sta": "2.5.0"}),
    }
    monkeypatch.setattr(dta_module, "_code_digest", lambda: "edited simulator")
    changed["simulator code"] = key()
    assert all(k != base for k in changed.values()), [name for name, k in changed.items() if k == base]
    # The key reads the netlist's content, not its path.
    copy = netlists[0].with_name("copy.v")
    copy.write_bytes(netlists[0].read_bytes())
    monkeypatch.undo()
    assert key(netlist=copy) == key()


def test_activity_power_key_changes_with_every_input(platform, netlists, monkeypatch):
    params = MacParams("tpu")
    vectors = power_module.operand_vectors(params, _operands())
    monkeypatch.setattr(power_module, "tool_versions", lambda *tools: {"yosys": "Yosys 0.23"})

    def key(**change):
        args = dict(netlist=netlists[0], params=params, liberty=liberty(), platform=platform, settings=StaSettings(),
                    vectors=vectors, warmup_cycles=4)
        args.update(change)
        return power_module._cache_key(**args)

    base = key()
    changed = {
        "netlist": key(netlist=netlists[1]),
        "mac": key(params=MacParams("tpu", w_bits=6)),
        "liberty": key(liberty=liberty(key="other")),
        "operands": key(vectors=power_module.operand_vectors(params, _operands(seed=1))),
        "warmup": key(warmup_cycles=8),
    }
    monkeypatch.setattr(power_module, "tool_versions", lambda *tools: {"yosys": "Yosys 0.40"})
    changed["tools"] = key()
    monkeypatch.setattr(power_module, "_scripts_digest", lambda: "edited template")
    changed["script templates"] = key()
    assert all(k != base for k in changed.values()), [name for name, k in changed.items() if k == base]
