"""ORFS design folders (config.mk read by GNU make, SDC read by OpenSTA) and the run machinery."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from eda.designs.registry import mac_design, read_ports
from eda.core.errors import EdaError
from eda.backends.orfs.design import OrfsSettings, flow_variant_name, mac_array_design, render_mac_array, write_design_folder
from eda.parsers.orfs.reports import parse_capture_edge
from eda.backends.orfs.run import find_failed_stage, make_command, resolve_flow_home, stage_logs, tool_variables
from eda.parsers.sta import parse_path
from eda.core.platforms import load_platform
from eda.designs.mac import MAC_KINDS, MacParams, mac_ports
from eda.flow.synth import render_latch_map

PARAMS = {kind: MacParams(kind, 8, 8, 24, 10) for kind in MAC_KINDS}
TARGETS_PS = [2500, 3125]

# Prints every variable ORFS reads from config.mk as make exports it to the flow's recipes.
PRINT_MAKEFILE = """\
print-orfs-variables:
\t@env | grep -E '^(DESIGN_NAME|DESIGN_NICKNAME|PLATFORM|VERILOG_FILES|SDC_FILE|ABC_CLOCK_PERIOD_IN_PS|CORE_UTILIZATION|PLACE_DENSITY|LATCH_MAP_FILE|TNS_END_PERCENT|SYNTH_HIERARCHICAL|ADDITIONAL_LEFS)=' | sort
"""


def make_variables(config_mk: Path, flow_variant: str | None, tmp_path: Path, cwd: Path | None = None) -> tuple[int, dict, str]:
    """Evaluate config.mk with GNU make, as ORFS includes it; (exit code, exported variables, stderr)."""
    printer = tmp_path / "print.mk"
    printer.write_text(PRINT_MAKEFILE)
    command = ["make", "--no-print-directory", "-s", "-f", str(config_mk), "-f", str(printer)]
    if flow_variant is not None:
        command.append(f"FLOW_VARIANT={flow_variant}")
    env = {k: v for k, v in os.environ.items() if k != "FLOW_VARIANT"}
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd or tmp_path, env=env)
    variables = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return proc.returncode, variables, proc.stderr


# --------------------------------------------------------------------------- config.mk


@pytest.mark.parametrize("kind", MAC_KINDS)
def test_config_mk_variables_as_make_reads_them(tmp_path, kind):
    settings = OrfsSettings(core_utilization_pct=35, place_density=0.55,
                            extra_variables={"TNS_END_PERCENT": 100, "SYNTH_HIERARCHICAL": False,
                                             "ADDITIONAL_LEFS": ["a.lef", "b.lef"]})
    folder = write_design_folder(mac_design(PARAMS[kind]), TARGETS_PS, "nangate45", tmp_path / "designs", settings)
    assert folder.path == (tmp_path / "designs" / "nangate45" / f"mac_{kind}").resolve()
    assert folder.variants == ["D2500", "D3125"] and flow_variant_name(2500) == "D2500"
    for variant, period_ps in (("D2500", 2500), ("D3125", 3125)):
        code, variables, err = make_variables(folder.config_mk, variant, tmp_path)
        assert code == 0, err
        assert variables == {
            "DESIGN_NAME": f"mac_{kind}",
            "DESIGN_NICKNAME": f"mac_{kind}",
            "PLATFORM": "nangate45",
            "VERILOG_FILES": str(folder.path / "src" / f"mac_{kind}.v"),
            "SDC_FILE": str(folder.path / f"constraint-{variant}.sdc"),
            "ABC_CLOCK_PERIOD_IN_PS": str(period_ps),
            "CORE_UTILIZATION": "35",
            "PLACE_DENSITY": "0.55",
            "TNS_END_PERCENT": "100",
            "SYNTH_HIERARCHICAL": "0",
            "ADDITIONAL_LEFS": "a.lef b.lef",
        }
        assert Path(variables["SDC_FILE"]).is_file()
        assert Path(variables["VERILOG_FILES"]).read_text().startswith("// ") and f"module mac_{kind}" in Path(
            variables["VERILOG_FILES"]).read_text()
    # A DESIGN_CONFIG given relative to another folder still points at this folder's files.
    code, variables, err = make_variables(Path("designs/nangate45") / f"mac_{kind}" / "config.mk", "D2500", tmp_path, cwd=tmp_path)
    assert code == 0, err
    assert variables["SDC_FILE"] == str(folder.path / "constraint-D2500.sdc")


def test_config_mk_refuses_an_unknown_or_missing_variant(tmp_path):
    folder = write_design_folder(mac_design(PARAMS["tpu"]), TARGETS_PS, "sky130hd", tmp_path)
    for variant in ("D9999", None, "base"):
        code, variables, err = make_variables(folder.config_mk, variant, tmp_path)
        assert code != 0 and variables == {}
        assert "is not one of this design's sizing variants (D2500 D3125)" in err
        assert f"FLOW_VARIANT '{variant or ''}'" in err


def test_latch_map_default_is_the_platforms_and_voltscale_map_on_request(tmp_path, platforms_root):
    design = mac_design(PARAMS["proposed"])
    folder = write_design_folder(design, [3000], "nangate45", tmp_path)
    _, variables, _ = make_variables(folder.config_mk, "D3000", tmp_path)
    assert "LATCH_MAP_FILE" not in variables  # ORFS's platform config.mk sets it
    assert not (folder.path / "latch_map.v").exists()
    platform = load_platform("nangate45", platforms_root)
    folder = write_design_folder(design, [3000], "nangate45", tmp_path, latch_map_verilog=render_latch_map(platform))
    _, variables, _ = make_variables(folder.config_mk, "D3000", tmp_path)
    latch_map = Path(variables["LATCH_MAP_FILE"])
    assert latch_map == folder.path / "latch_map.v"
    assert "DLH_X1 _TECHMAP_REPLACE_ (.D(D), .G(E), .Q(Q));" in latch_map.read_text()
    # Writing again without it removes the file and the variable.
    folder = write_design_folder(design, [3000], "nangate45", tmp_path)
    assert not latch_map.exists()


def test_rewriting_a_folder_drops_stale_variants(tmp_path):
    design = mac_design(PARAMS["tpu"])
    write_design_folder(design, [2000, 2500], "nangate45", tmp_path)
    folder = write_design_folder(design, [2500, 3000], "nangate45", tmp_path)
    assert sorted(p.name for p in folder.path.glob("constraint-*.sdc")) == ["constraint-D2500.sdc", "constraint-D3000.sdc"]


def test_settings_and_folder_errors(tmp_path):
    with pytest.raises(EdaError) as info:
        OrfsSettings(core_utilization_pct=0, place_density=1.5,
                     extra_variables={"PLACE_DENSITY": 0.5, "lower": 1, "SDC_FILE": "x", "BAD": "a\nb"})
    message = str(info.value)
    for expected in ("core_utilization_pct must be in (0, 100]", "place_density must be in (0, 1]",
                     "PLACE_DENSITY is set by voltscale; use core_utilization_pct / place_density",
                     "'lower' is not an upper-case make variable name", "SDC_FILE is set by voltscale",
                     "BAD: value 'a\\nb' may not contain a newline"):
        assert expected in message
    design = mac_design(PARAMS["tpu"])
    with pytest.raises(EdaError, match="targets repeat"):
        write_design_folder(design, [2500, 2500], "nangate45", tmp_path)
    with pytest.raises(EdaError, match="positive integers in ps"):
        write_design_folder(design, [2.5], "nangate45", tmp_path)
    with pytest.raises(EdaError, match="contains whitespace"):
        write_design_folder(design, [2500], "nangate45", tmp_path / "my designs")
    with pytest.raises(EdaError, match="time unit of ORFS platform 'foo45' is not known"):
        write_design_folder(design, [2500], "foo45", tmp_path)
    with pytest.raises(EdaError, match="has no clock port 'clock'"):
        write_design_folder(design, [2500], "nangate45", tmp_path, OrfsSettings(clock_port="clock"))


# --------------------------------------------------------------------------- SDC in OpenSTA


def gate_level_netlist(top: str, ports: list[tuple[str, str, int]]) -> str:
    """A nangate45 netlist with exactly these ports: a DFF_X1 per output bit, a latch on clk_shadow."""
    clocks = {"clk", "clk_shadow"}
    inputs = [f"{n}[{i}]" if w > 1 else n for n, d, w in ports if d == "input" and n not in clocks for i in range(w)]
    outputs = [f"{n}[{i}]" if w > 1 else n for n, d, w in ports if d == "output" for i in range(w)]
    lines = [f"module {top} ({', '.join(n for n, _, _ in ports)});"]
    lines += [f"  {d} {f'[{w - 1}:0] ' if w > 1 else ''}{n};" for n, d, w in ports]
    lines += [f"  DFF_X1 out{j} (.D({inputs[j % len(inputs)]}), .CK(clk), .Q({bit}));" for j, bit in enumerate(outputs)]
    if "clk_shadow" in {n for n, _, _ in ports}:
        lines += ["  wire launched, shadow;",
                  f"  DFF_X1 launch (.D({inputs[0]}), .CK(clk), .Q(launched));",
                  "  DLH_X1 shadow_latch (.D(launched), .G(clk_shadow), .Q(shadow));",
                  "  DFF_X1 capture (.D(shadow), .CK(clk));"]
    return "\n".join(lines + ["endmodule", ""])


@pytest.fixture(scope="module")
def nangate45_liberty(tmp_path_factory, platforms_root) -> Path:
    """Decompressed: Debian's OpenSTA 2.0.17 does not read .lib.gz."""
    source = platforms_root / "nangate45" / "lib" / "NangateOpenCellLibrary_typical.lib.gz"
    target = tmp_path_factory.mktemp("nangate45") / "NangateOpenCellLibrary_typical.lib"
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def run_sta_on_sdc(work: Path, liberty: Path, top: str, netlist: str, sdc: Path) -> dict[str, str]:
    (work / "netlist.v").write_text(netlist)
    script = f"""\
read_liberty {liberty}
read_verilog netlist.v
link_design {top}
puts "@@ sdc"
read_sdc {sdc}
puts "@@ clocks"
report_clock_properties
puts "@@ clk"
report_checks -from [get_clocks clk] -to [get_clocks clk] -path_delay max -digits 4
puts "@@ shadow"
if {{[llength [get_clocks -quiet clk_shadow]] > 0}} {{ report_checks -to [get_clocks clk_shadow] -path_delay max -digits 4 }}
puts "@@ end"
"""
    (work / "sta.tcl").write_text(script)
    sta = os.environ.get("OPENSTA_EXE") or shutil.which("sta")
    proc = subprocess.run([sta, "-no_init", "-exit", "sta.tcl"], cwd=work, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    # OpenSTA 2.0.17 exits 0 even when a command fails: the output is the verdict.
    bad = [line for line in output.splitlines() if re.match(r"^\s*(Error|Warning)", line)]
    assert not bad, f"OpenSTA complained reading {sdc}:\n" + "\n".join(bad)
    assert "@@ end" in output, output
    parts = re.split(r"^@@ (\w+)\s*$", output, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


DESIGNS = [(kind, None) for kind in MAC_KINDS] + [(kind, (2, 2)) for kind in MAC_KINDS]


@pytest.mark.parametrize("kind, array", DESIGNS, ids=[f"{k}{'-array' if a else ''}" for k, a in DESIGNS])
def test_sdc_reads_cleanly_in_opensta(tmp_path, nangate45_liberty, kind, array):
    params = PARAMS[kind]
    if array:
        design = mac_array_design(params, *array)
        _, _, nets = render_mac_array(params, *array)
        ports = [(n.name, n.direction, n.width) for n in nets]
    else:
        design = mac_design(params)
        ports = [(p.name, p.direction, p.bits) for p in mac_ports(params)]
    folder = write_design_folder(design, [2500], "nangate45", tmp_path / "designs",
                                 OrfsSettings(io_delay_fraction=0.1, input_driver_cell="BUF_X1"))
    sdc = folder.sdc("D2500")
    report = run_sta_on_sdc(tmp_path, nangate45_liberty, design.top, gate_level_netlist(design.top, ports), sdc)
    clocks = {line.split()[0]: line.split()[1:] for line in report["clocks"].splitlines() if line.startswith("clk")}
    has_shadow = "clk_shadow" in design.ports
    assert clocks == ({"clk": ["2.50", "0.00", "1.25"], "clk_shadow": ["2.50", "1.88", "3.12"]} if has_shadow
                      else {"clk": ["2.50", "0.00", "1.25"]})
    # Register-to-register timing at the variant's period: the capturing clk edge is at 2.5 ns.
    capture = parse_capture_edge(report["clk"])
    assert (capture.clock, capture.time_ns) == ("clk", 2.5)
    if has_shadow:
        shadow = parse_capture_edge(report["shadow"])
        assert (shadow.clock, shadow.time_ns) == ("clk_shadow", 1.875)  # opens at (0.5 + 0.25) P
        assert parse_path(report["shadow"]).endpoint == "shadow_latch"
    text = sdc.read_text()
    assert "set_input_delay 0.25 -clock clk $data_inputs" in text  # 0.1 of 2.5 ns
    assert ("set_input_delay 0.25 -clock clk_shadow -clock_fall [get_ports err_in]" in text) == (kind == "thundervolt")


def test_sdc_in_picoseconds_on_asap7(tmp_path):
    folder = write_design_folder(mac_design(PARAMS["proposed"]), [2550], "asap7", tmp_path)
    text = folder.sdc("D2550").read_text()
    assert "create_clock -name clk -period 2550 [get_ports clk]" in text
    assert "-waveform {1912.5 3187.5}" in text
    assert "(time unit ps)" in text
    text = write_design_folder(mac_design(PARAMS["proposed"]), [2550], "sky130hd", tmp_path).sdc("D2550").read_text()
    assert "create_clock -name clk -period 2.55 [get_ports clk]" in text and "-waveform {1.9125 3.1875}" in text


# --------------------------------------------------------------------------- array tile


@pytest.mark.parametrize("kind", MAC_KINDS)
def test_array_tile_is_valid_verilog_with_the_computed_ports(tmp_path, kind):
    design = mac_array_design(PARAMS[kind], 2, 3)
    assert design.top == f"mac_{kind}_array_2x3" and design.kind == f"{kind}-array2x3"
    for name, text in design.sources.items():
        (tmp_path / name).write_text(text)
    files = " ".join(sorted(design.sources))
    # (Debian's yosys 0.23 writes `stat -json` with a trailing comma here, so the text stat is read.)
    script = f"read_verilog {files}\nhierarchy -check -top {design.top}\ntee -q -o stat.txt stat {design.top}\n"
    (tmp_path / "check.ys").write_text(script)
    subprocess.run([os.environ.get("YOSYS_EXE", "yosys"), "-q", "check.ys"], cwd=tmp_path, check=True, capture_output=True)
    stat = (tmp_path / "stat.txt").read_text()
    assert re.findall(r"^\s+(\S+)\s+(\d+)\s*$", stat.split("Number of cells:")[1], re.M) == [(f"mac_{kind}", "6")]
    _, text, nets = render_mac_array(PARAMS[kind], 2, 3)
    ports = read_ports([tmp_path / f"{design.top}.v"], design.top)
    assert [(p.name, p.direction, p.width) for p in ports] == [(n.name, n.direction, n.width) for n in nets]
    widths = {p.name: p.width for p in ports}
    assert (widths["a_in"], widths["w_in"], widths["psum_out"]) == (2 * 8, 3 * 8, 3 * 24)
    # Weights and partial sums move down a column, activations right along a row.
    instance = {name: body for name, body in re.findall(r"mac_\w+ (mac_r\d_c\d) \((.*?)\);", text, re.S)}
    assert ".w_out(w_in_r1_c2)" in instance["mac_r0_c2"] and ".w_in(w_in_r1_c2)" in instance["mac_r1_c2"]
    assert ".psum_out(psum_out[71:48])" in instance["mac_r1_c2"] and ".psum_in(psum_in[23:0])" in instance["mac_r0_c0"]
    assert ".a_out(a_in_r1_c1)" in instance["mac_r1_c0"] and ".a_out(a_out[15:8])" in instance["mac_r1_c2"]
    if kind == "thundervolt":
        assert ".err_out(err_in_r1_c0)" in instance["mac_r0_c0"] and ".err_out(err_out[0])" in instance["mac_r1_c0"]
    if kind == "proposed":
        assert widths["err_out"] == 6 and ".err_out(err_out[5])" in instance["mac_r1_c2"]
    with pytest.raises(EdaError, match="rows must be a positive integer"):
        mac_array_design(PARAMS[kind], 0, 2)


# --------------------------------------------------------------------------- running ORFS


def test_make_command_and_environment_checks(tmp_path, monkeypatch):
    folder = write_design_folder(mac_design(PARAMS["tpu"]), TARGETS_PS, "nangate45", tmp_path / "d")
    command = make_command(folder, "D2500", flow_home=Path("/orfs/flow"), work_home=tmp_path / "w",
                           variables={"OPENROAD_EXE": "/opt/openroad", "NUM_CORES": "1"})
    assert command == ["make", "-C", "/orfs/flow", f"DESIGN_CONFIG={folder.config_mk}", "FLOW_VARIANT=D2500",
                       f"WORK_HOME={tmp_path / 'w'}", "OPENROAD_EXE=/opt/openroad", "NUM_CORES=1", "finish"]
    with pytest.raises(EdaError, match="mac_tpu has no sizing variant 'D1' \\(variants: D2500, D3125\\)"):
        make_command(folder, "D1", flow_home=Path("/orfs/flow"), work_home=tmp_path)
    monkeypatch.delenv("FLOW_HOME", raising=False)
    with pytest.raises(EdaError, match="set FLOW_HOME to its flow/ folder"):
        resolve_flow_home()
    with pytest.raises(EdaError, match=f"FLOW_HOME={tmp_path} is not an OpenROAD-flow-scripts flow/ folder"):
        resolve_flow_home(tmp_path)
    assert tool_variables({"OPENSTA_EXE": shutil.which("sta"), "PATH": "x"}) == {"OPENSTA_EXE": shutil.which("sta")}
    with pytest.raises(EdaError, match="OPENROAD_EXE=/nonexistent/openroad is not an executable file"):
        tool_variables({"OPENROAD_EXE": "/nonexistent/openroad"})


def _write_log(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_find_failed_stage_names_the_stage_and_its_errors(tmp_path, orfs_fixtures):
    logs = tmp_path / "logs" / "nangate45" / "mac_tpu" / "D2500"
    logs.mkdir(parents=True)
    now = 1_700_000_000.0
    _write_log(logs / "1_1_yosys_canonicalize.log", "Yosys 0.57\nEnd of script.\n", now)
    _write_log(logs / "1_2_yosys.log", "Chip area for module '\\mac_tpu': 650.1\n", now + 1)
    _write_log(logs / "2_1_floorplan.log", "[INFO IFP-0001] Added 24 rows of 162 site FreePDK45.\n", now + 2)
    _write_log(logs / "3_1_place_gp_skip_io.log", "[INFO GPL-0002] DBU: 2000\n", now + 3)
    _write_log(logs / "3_3_place_gp.log",
               "[INFO GPL-0006] Number of instances: 657\n"
               "[NesterovSolve] Iter: 350 overflow: 0.512 HPWL: 12033\n"
               "[ERROR GPL-0307] RePlAce divergence detected. Re-run with a smaller max_phi_cof value.\n"
               "Error: global_place.tcl, 67 GPL-0307\n"
               "Command exited with non-zero status 1\n", now + 4)
    assert [s.step for s in stage_logs(logs)] == ["1_1_yosys_canonicalize", "1_2_yosys", "2_1_floorplan",
                                                  "3_1_place_gp_skip_io", "3_3_place_gp"]
    failure = find_failed_stage(logs)
    assert (failure.log.stage, failure.log.step) == ("place", "3_3_place_gp")
    assert failure.error_lines == (
        (3, "[ERROR GPL-0307] RePlAce divergence detected. Re-run with a smaller max_phi_cof value."),
        (4, "Error: global_place.tcl, 67 GPL-0307"),
        (5, "Command exited with non-zero status 1"))
    assert "3_3_place_gp.log:3: [ERROR GPL-0307]" in failure.describe()
    # Logs older than the run are leftovers from an earlier run: the floorplan log is this run's last.
    os.utime(logs / "3_3_place_gp.log", (now - 100, now - 100))
    os.utime(logs / "3_1_place_gp_skip_io.log", (now - 100, now - 100))
    failure = find_failed_stage(logs, since=now + 2)
    assert (failure.log.stage, failure.error_lines) == ("floorplan", ())
    assert "Added 24 rows" in failure.describe()
    assert find_failed_stage(logs, since=now + 10) is None
    # The real finish log as the last stage: no error lines, the tail is shown.
    (logs / "6_report.log").symlink_to(orfs_fixtures / "Haibo-S__BFT-asic-impl__flow__logs__nangate45__gcd__base__6_report.log" / "6_report.log")
    _write_log(logs / "6_1_merge.log", "Merged.\n", now + 5)
    assert [s.step for s in stage_logs(logs)][-2:] == ["6_1_merge", "6_report"]
    failure = find_failed_stage(logs)
    assert failure.log.stage == "finish" and failure.error_lines == ()
    assert "Elapsed time: 0:20.64[h:]min:sec." in failure.describe()


@pytest.mark.skipif(not (os.environ.get("FLOW_HOME") and os.environ.get("OPENROAD_EXE")),
                    reason="needs OpenROAD-flow-scripts: set FLOW_HOME (its flow/ folder) and OPENROAD_EXE")
def test_real_orfs_flow_on_the_tpu_mac(tmp_path, platforms_root):
    from eda.designs.registry import Variant
    from eda.backends.orfs.characterize import characterize_with_orfs

    platform = load_platform("nangate45", platforms_root)
    variants = [Variant(mac_design(PARAMS["tpu"]), 4000)]
    table = characterize_with_orfs(variants, platform, tmp_path / "out", timeout_s=3600)
    row = table.iloc[0]
    assert row["kind"] == "tpu" and row["flow_variant"] == "D4000" and row["target_ps"] == 4000
    assert row["area_um2"] > 0 and row["power_w"] > 0 and 0 < row["delay_ns"] < 20
    assert (tmp_path / "out" / "characterization.csv").is_file()


def test_cli_orfs_backend_writes_designs_and_names_flow_home(tmp_path, monkeypatch, capsys, platforms_root):
    from eda.cli.main import main

    monkeypatch.delenv("FLOW_HOME", raising=False)
    code = main(["--platforms-dir", str(platforms_root), "characterize", "--backend", "orfs", "--kind", "proposed",
                 "--targets", "2500,3000", "--orfs-var", "TNS_END_PERCENT=100", "--out", str(tmp_path)])
    assert code == 1 and "FLOW_HOME" in capsys.readouterr().err
    folder = tmp_path / "designs" / "sky130hd"
    config = next(folder.glob("*/config.mk")).read_text()
    assert "TNS_END_PERCENT" in config and "100" in config
    assert sorted(p.name for p in folder.glob("*/constraint-*.sdc")) == ["constraint-D2500.sdc", "constraint-D3000.sdc"]
