"""The typed configuration: declarations, checks, the printed values and the generated reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.jobs.config import VARIABLES, config_reference, load_config, value_of

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_fill_a_frozen_typed_config(tmp_path):
    config = load_config(write(tmp_path, 'platform = "nangate45"\n[characterize]\ntargets_ps = [2000]\n'))
    assert config.platform == "nangate45"
    assert config.characterize.targets_ps == [2000]
    assert config.errors.propagation_p == 0.8 and config.mac.acc_bits == 24
    with pytest.raises(AttributeError):
        config.platform = "x"  # frozen
    unset = {v.key: v.default for v in VARIABLES if v.key not in ("platform", "characterize.targets_ps")}
    assert all(value_of(config, key) == default for key, default in unset.items())


@pytest.mark.parametrize("text, message", [
    ("[characterize]\ntargets_ps = [2000, 2000]", "listed more than once"),
    ('kinds = ["tpu", "tpu"]\n[characterize]\ntargets_ps = [1]', "listed more than once"),
    ("[characterize]\ntargets_ps = [2000]\nshadow_delay_fraction = -0.1", "shadow_delay_fraction must be >= 0"),
    ("[characterize]\ntargets_ps = [2000]\nshadow_delay_fraction = 1.5", "shadow_delay_fraction must be >= 0 and < 1"),
    ("[characterize]\ntargets_ps = [2000]\n[errors]\nseed = -1", "errors.seed must be >= 0"),
    ("[characterize]\ntargets_ps = [2000]\n[errors]\npropagation_p = 1.0", "propagation_p must be >= 0 and < 1"),
    ('[characterize]\ntargets_ps = [2000]\n[method]\nsensitivity_method = "x"', "is not one of taylor, curvature"),
    ("[characterize]\ntargets_ps = [2000]\n[accuracy]\nvdds = [1.2, true]", "every item must be int or float"),
    ('corners = [1]\n[characterize]\ntargets_ps = [2000]', "every item must be str"),
    ("[characterize]\ntargets_ps = [2000]\nbogus = 1", "unknown key 'characterize.bogus'"),
])
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(EdaError, match=message):
        load_config(write(tmp_path, text))


def test_binary_config_is_a_clear_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(EdaError, match="invalid TOML"):
        load_config(path)


def test_print_config_shows_every_variable_with_its_unit(capsys):
    assert main(["run", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "characterize.clock_period_ns = 10.0  # ns" in out
    assert sum(1 for line in out.splitlines() if " = " in line) == len(VARIABLES)


def test_committed_reference_is_generated_from_the_declarations():
    assert DOCS.read_text() == config_reference(), "docs/config.md is stale: regenerate it from config_reference()"
