"""Delay targets with units, the platform's default targets, missed targets, and the ORFS
backend's analysis options (`eda characterize`, eda/cli/characterize.py). No tool runs:
the backends are replaced by stand-ins that record what they were asked."""

from __future__ import annotations

from types import SimpleNamespace

import click
import pandas as pd
import pytest

from eda.cli.characterize import TARGETS_CSV, target_check
from eda.cli.main import main
from eda.cli.options import parse_targets
from eda.core.platforms import load_platform


@pytest.mark.parametrize("text, expected", [
    ("2ns", [2000]), ("1800ps", [1800]), ("2000", [2000]), ("2ns,1800ps,2500", [1800, 2000, 2500]),
    ("1.5ns:2ns:250ps", [1500, 1750, 2000]), ("250:600:25", list(range(250, 601, 25))), (" 2 NS ", [2000]),
])
def test_targets_with_units(text, expected):
    assert parse_targets(text) == expected


@pytest.mark.parametrize("text, words", [
    ("2", ["'2' is read as 2 ps", "did you mean 2ns (2000ps)"]),
    ("1.5", ["did you mean 1.5ns (1500ps)"]),
    ("2:4:1", ["'2' is read as 2 ps"]),
    ("abc", ["'abc' is not a target", "bare number is ps"]),
    ("-5", ["'-5'", "positive"]),
    ("100:50:0", ["'100:50:0'", "step must be positive"]),
    ("0.0001ns", ["0.1 ps", "whole number of ps"]),
    ("1:2", ["not a target range"]),
])
def test_bad_targets_say_what_was_expected(text, words):
    with pytest.raises(click.BadParameter) as info:
        parse_targets(text)
    for word in words:
        assert word in str(info.value)


def test_small_bare_target_is_refused_on_the_command_line(tmp_path, capsys):
    assert main(["characterize", "--kind", "tpu", "--targets", "2", "--out", str(tmp_path / "out")]) == 2
    assert "did you mean 2ns" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_states_the_bare_unit(capsys):
    assert main(["characterize", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "a bare number is ps" in text and "[characterize] targets_ps" in text


def test_target_check_flags_missed_targets_at_the_nominal_corner():
    table = pd.DataFrame({"kind": ["tpu", "tpu", "tpu", "tpu"], "corner": ["tt", "tt", "tt", "ss"],
                          "target_ps": [2000, 3000, 4000, 2000], "delay_ns": [2.05, 3.5, float("nan"), 4.0]})
    check = target_check(table, "tt")
    assert list(check["target_ps"]) == [2000, 3000, 4000]  # the slow corner is not checked against the target
    assert check["target_met"].tolist()[:2] == [True, False]  # 2.05 ns is within 5% of 2 ns; 3.5 is not 3
    assert pd.isna(check["target_met"].iloc[2])  # no delay: unknown, neither met nor missed
    assert check["delay_over_target"].iloc[1] == pytest.approx(3.5 / 3.0)


def _fake_embedded(monkeypatch, seen, delays_ns):
    """eda.flow.characterize's characterize/write_outputs replaced: rows at the given delays."""
    import eda.flow.characterize as flow

    def fake_characterize(variants, platform, settings, cache_dir, **kwargs):
        seen.update(variants=variants, settings=settings, **kwargs)
        rows = [{"kind": v.design.kind, "corner": platform.nominal_corner, "target_ps": v.target_ps,
                 "delay_ns": delays_ns.get(v.target_ps, v.target_ps / 1000)} for v in variants]
        return SimpleNamespace(table=pd.DataFrame(rows), runs=[{"cached": False}] * len(rows))

    def fake_write(result, out_dir, platform, settings, command):
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir / "characterization.csv"

    monkeypatch.setattr(flow, "characterize", fake_characterize)
    monkeypatch.setattr(flow, "write_outputs", fake_write)


def test_default_targets_come_from_the_platform_and_misses_are_warned(tmp_path, monkeypatch, capsys, platforms_root):
    seen: dict = {}
    _fake_embedded(monkeypatch, seen, {4000: 5.0})
    out = tmp_path / "out"
    assert main(["characterize", "--platform", "gf180", "--kind", "tpu", "--out", str(out)]) == 0
    expected = list(load_platform("gf180").targets_ps)
    assert expected[0] == 4000 and [v.target_ps for v in seen["variants"]] == expected
    err = capsys.readouterr().err
    assert "platform.toml" in err and "warning: 1 of" in err and "tpu 4000ps -> 5000ps" in err
    check = pd.read_csv(out / TARGETS_CSV)
    assert check["target_met"].tolist() == [False] + [True] * (len(expected) - 1)


def test_orfs_backend_gets_corners_clock_and_activity(tmp_path, monkeypatch, platforms_root):
    import eda.backends.orfs.characterize as orfs

    seen: dict = {}

    def fake_orfs(variants, platform, out_dir, settings=None, **kwargs):
        seen.update(kwargs)
        return pd.DataFrame([{"kind": v.design.kind, "corner": platform.nominal_corner, "target_ps": v.target_ps,
                              "delay_ns": v.target_ps / 1000} for v in variants])

    monkeypatch.setattr(orfs, "characterize_with_orfs", fake_orfs)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["characterize", "--backend", "orfs", "--kind", "tpu", "--targets", "3ns", "--corner", "ss_n40C_1v40",
                 "--clock-period-ns", "5", "--activity", "0.3", "--out", str(out), "--cache-dir", str(tmp_path / "c")]) == 0
    assert seen["corners"] == ["ss_n40C_1v40"]
    assert (seen["sta_settings"].clock_period_ns, seen["sta_settings"].input_activity) == (5.0, 0.3)
    assert seen["cache_dir"] == (tmp_path / "c").resolve()
    assert pd.read_csv(out / TARGETS_CSV)["target_met"].tolist() == [True]
