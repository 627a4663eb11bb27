"""Liberty preparation: the OpenSTA 2.0.17 workaround, dont_use marking, bad files."""

from __future__ import annotations

import gzip
import re

import pytest

from eda.core.errors import EdaError
from eda.core.liberty import check_structure, prepare_liberty, read_liberty_text
from eda.core.platforms import load_platform

SKY_DONT_USE = ("sky130_fd_sc_hd__lpflow_*", "sky130_fd_sc_hd__probe_p_*")


@pytest.fixture(scope="module")
def sky130(platforms_root, tmp_path_factory):
    platform = load_platform("sky130hd", platforms_root)
    cache = tmp_path_factory.mktemp("cache")
    return platform, prepare_liberty(platform.nominal.libs[0], SKY_DONT_USE, cache), cache


def test_default_operating_conditions_moved_after_its_group(sky130):
    platform, prepared, _ = sky130
    raw = read_liberty_text(platform.nominal.libs[0])
    text = prepared.path.read_text()
    def attribute(t): return t.index('default_operating_conditions : "tt_025C_1v80"')
    def group(t): return t.index('operating_conditions ("tt_025C_1v80")')
    assert attribute(raw) < group(raw), "the source library no longer has the ordering OpenSTA 2.0.17 trips on"
    assert group(text) < attribute(text)
    assert any("default_operating_conditions" in note for note in prepared.info["notes"])
    # Nothing but the move and the dont_use lines changed.
    assert len(text) - len(raw) == text.count("dont_use : true;") * len("\n        dont_use : true;")


def test_dont_use_marks_exactly_the_matching_cells(sky130):
    _, prepared, _ = sky130
    text = prepared.path.read_text()
    marked = re.findall(r'cell \("([^"]+)"\) \{\n\s*dont_use : true;', text)
    assert marked and all(name.startswith(("sky130_fd_sc_hd__lpflow_", "sky130_fd_sc_hd__probe_p_")) for name in marked)
    assert 'cell ("sky130_fd_sc_hd__nand2_1") {\n        dont_use' not in text


def test_cell_table_and_units_read_with_liberty_parser(sky130):
    _, prepared, _ = sky130
    assert prepared.cells["sky130_fd_sc_hd__dfxtp_1"]["sequential"] is True
    assert prepared.cells["sky130_fd_sc_hd__dlxtp_1"]["sequential"] is True
    assert prepared.cells["sky130_fd_sc_hd__nand2_1"] == {"area": pytest.approx(3.7536), "sequential": False}
    assert prepared.cap_unit_ff == 1000.0  # pF library
    assert prepared.info["time_unit"] == "ns"


def test_prepared_copy_is_cached_by_content(sky130):
    platform, prepared, cache = sky130
    again = prepare_liberty(platform.nominal.libs[0], SKY_DONT_USE, cache)
    assert again.key == prepared.key and again.path == prepared.path
    other = prepare_liberty(platform.nominal.libs[0], ("sky130_fd_sc_hd__lpflow_*",), cache)
    assert other.key != prepared.key


def test_nangate_gz_is_read_as_is_and_left_in_order(platforms_root, tmp_path):
    platform = load_platform("nangate45", platforms_root)
    assert platform.nominal.libs[0].name.endswith(".lib.gz")
    prepared = prepare_liberty(platform.nominal.libs[0], platform.dont_use, tmp_path)
    assert not any("default_operating_conditions" in note for note in prepared.info["notes"])
    assert prepared.cap_unit_ff == 1.0  # fF library
    assert prepared.cells["DFF_X1"]["sequential"] and not prepared.cells["NAND2_X1"]["sequential"]


def test_truncated_liberty_names_file_and_line(tmp_path):
    text = 'library (x) {\n  time_unit : "1ns";\n  cell (a) {\n    area : 1;\n    pin (A) {\n'
    path = tmp_path / "broken.lib.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(EdaError, match=r"broken\.lib\.gz, line 5: group opened here is never closed"):
        prepare_liberty(path, (), tmp_path / "cache")
    assert not (tmp_path / "cache" / "liberty").exists() or not any((tmp_path / "cache" / "liberty").iterdir())


def test_extra_closing_brace_and_non_liberty(tmp_path):
    with pytest.raises(EdaError, match=r"x\.lib, line 3: '}' closes a group"):
        check_structure("library (x) {\n}\n}\n", tmp_path / "x.lib")
    path = tmp_path / "notes.lib"
    path.write_text("these are not the cells you are looking for\n")
    with pytest.raises(EdaError, match=r"notes\.lib: not a liberty file"):
        prepare_liberty(path, (), tmp_path / "cache")
