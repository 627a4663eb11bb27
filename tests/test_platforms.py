"""Platform lookup order: --platforms-dir, $EDA_PLATFORMS_DIR, $FLOW_HOME/platforms, $PDK_ROOT."""

from __future__ import annotations

import pytest

from eda.core.errors import EdaError
from eda.core.platforms import available_platforms, load_platform

NOMINAL = "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"


def fake_platform(root, platforms_root, subdir="sky130hd"):
    """A folder holding only the nominal liberty (a symlink to the real one)."""
    lib_dir = root / subdir / "lib"
    lib_dir.mkdir(parents=True)
    (lib_dir / NOMINAL).symlink_to(platforms_root / "sky130hd" / "lib" / NOMINAL)
    return root


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("EDA_PLATFORMS_DIR", "FLOW_HOME", "PDK_ROOT"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_known_platforms():
    assert {"sky130hd", "nangate45"} <= set(available_platforms())


def test_lookup_order(tmp_path, platforms_root, clean_env):
    explicit = fake_platform(tmp_path / "explicit", platforms_root)
    env_dir = fake_platform(tmp_path / "env", platforms_root)
    flow_home = tmp_path / "orfs" / "flow"
    fake_platform(flow_home / "platforms", platforms_root)
    pdk_root = tmp_path / "pdk"
    fake_platform(pdk_root, platforms_root, subdir="sky130A/libs.ref/sky130_fd_sc_hd")

    clean_env.setenv("PDK_ROOT", str(pdk_root))
    assert load_platform("sky130hd").data_dir == pdk_root / "sky130A/libs.ref/sky130_fd_sc_hd"
    clean_env.setenv("FLOW_HOME", str(flow_home))
    assert load_platform("sky130hd").data_dir == flow_home / "platforms" / "sky130hd"
    clean_env.setenv("EDA_PLATFORMS_DIR", str(env_dir))
    assert load_platform("sky130hd").data_dir == env_dir / "sky130hd"
    assert load_platform("sky130hd", explicit).data_dir == explicit / "sky130hd"


def test_missing_optional_corners_are_dropped_not_faked(tmp_path, platforms_root, clean_env):
    platform = load_platform("sky130hd", fake_platform(tmp_path, platforms_root))
    assert list(platform.corners) == ["tt_025C_1v80"]
    assert platform.lefs == ()
    full = load_platform("sky130hd", platforms_root)
    assert set(full.corners) == {"tt_025C_1v80", "ss_n40C_1v40", "ff_100C_1v95"}
    assert full.corners["ss_n40C_1v40"].vdd == 1.40 and len(full.lefs) == 2


def test_missing_data_says_where_it_looked(tmp_path, clean_env):
    clean_env.setenv("FLOW_HOME", str(tmp_path / "orfs"))
    with pytest.raises(EdaError) as info:
        load_platform("nangate45")
    message = str(info.value)
    assert "--platforms-dir: not set" in message and "$EDA_PLATFORMS_DIR: not set" in message
    assert f"$FLOW_HOME/platforms: no {tmp_path / 'orfs' / 'platforms' / 'nangate45'}/lib/NangateOpenCellLibrary_typical.lib[.gz]" in message
    assert "EDA_PLATFORMS_DIR" in message.splitlines()[-1]


def test_explicit_folder_is_the_only_place_looked(tmp_path, platforms_root, clean_env):
    """A mistyped --platforms-dir must not fall back to other data through the environment."""
    clean_env.setenv("EDA_PLATFORMS_DIR", str(platforms_root))
    with pytest.raises(EdaError) as info:
        load_platform("nangate45", tmp_path / "empty")
    message = str(info.value)
    assert f"--platforms-dir: no {tmp_path / 'empty' / 'nangate45'}/lib/" in message
    assert "$EDA_PLATFORMS_DIR" not in message.split("Point")[0]


def test_unknown_platform():
    with pytest.raises(EdaError, match="unknown platform 'nosuch'.*Known platforms: .*sky130hd"):
        load_platform("nosuch")
