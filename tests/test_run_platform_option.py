"""`eda run --platform P`: another platform starts from its own targets, corners and supplies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.core.platforms import load_platform
from eda.jobs.config import load_config, with_platform
from eda.jobs.main import delay_targets

ROOT = Path(__file__).resolve().parents[1]


def test_another_platform_resets_what_the_config_set_for_its_own():
    config = load_config(ROOT / "voltscale.toml")
    assert config.platform == "sky130hd" and config.characterize.targets_ps and config.accuracy.vdds
    same, reset = with_platform(config, "sky130hd")
    assert same is config and reset == []
    moved, reset = with_platform(config, "gf180")
    assert moved.platform == "gf180"
    assert reset == ["corners", "characterize.targets_ps", "accuracy.vdds"]      # errors.vdds, sizing_vdd: defaults already
    assert (moved.corners, moved.characterize.targets_ps, moved.accuracy.vdds, moved.errors.vdds) == ([], [], [], [])
    assert moved.accuracy.max_loss == config.accuracy.max_loss and moved.mac == config.mac   # the rest is kept
    with pytest.raises(EdaError, match="unknown platform 'nowhere'.*Known platforms: asap7"):
        with_platform(config, "nowhere")


def test_empty_targets_take_the_platforms_range():
    config = load_config(ROOT / "voltscale.toml")
    moved, _ = with_platform(config, "gf180")
    gf180 = load_platform("gf180")
    assert delay_targets(moved, gf180) == list(range(4000, 12001, 500)) == list(gf180.targets_ps)
    assert delay_targets(config, gf180) == config.characterize.targets_ps            # given targets win
    with pytest.raises(EdaError, match="characterize.targets_ps is empty and .*sets no \\[characterize\\] targets_ps"):
        delay_targets(moved, replace(gf180, targets_ps=()))


def test_run_platform_option_prints_the_reset():
    result = CliRunner().invoke(cli, ["run", "--platform", "ihp-sg13g2", "--print-config"])
    assert result.exit_code == 0, result.output
    assert "platform = 'ihp-sg13g2'" in result.output and "characterize.targets_ps = []" in result.output
    assert "corners, characterize.targets_ps, accuracy.vdds reset from the config's voltscale.toml" in result.output
