"""Rendered MAC RTL parses back with pyverilog and has the interface MacParams describes."""

import pytest
from pyverilog.vparser import ast
from pyverilog.vparser.parser import parse

from eda.core.errors import EdaError
from eda.designs.mac import MAC_KINDS, MacParams, render_mac
from eda.designs.mac import MacPort, mac_ports

NARROW = dict(a_bits=4, w_bits=6, acc_bits=16, razor_bits=5)
RENDERED = (
    [pytest.param(MacParams(kind), id=kind) for kind in MAC_KINDS]
    + [pytest.param(MacParams(kind, **NARROW), id=f"{kind}-narrow") for kind in MAC_KINDS]
    + [pytest.param(MacParams("proposed", razor_bits=bits), id=f"proposed-razor{bits}") for bits in (0, 16)]
)


def expected_ports(params: MacParams) -> list[MacPort]:
    """The MAC interface, written out from the parameters (the spec the templates must meet)."""
    a, w, acc = params.a_bits, params.w_bits, params.acc_bits
    ports = [
        ("clk", "input", 1), ("w_load", "input", 1),
        ("w_in", "input", w), ("w_out", "output", w),
        ("a_in", "input", a), ("a_out", "output", a),
        ("psum_in", "input", acc), ("psum_out", "output", acc),
    ]
    if params.kind == "thundervolt":
        ports += [("clk_shadow", "input", 1), ("err_in", "input", 1), ("psum_in_shadow", "input", acc),
                  ("psum_shadow_out", "output", acc), ("err_out", "output", 1)]
    elif params.kind == "proposed":
        ports += [("clk_shadow", "input", 1), ("err_out", "output", 1)]
    return [MacPort(*port) for port in ports]


@pytest.fixture(scope="module")
def parser_tables_dir(tmp_path_factory):
    # pyverilog writes its parser tables to a directory; build them once for all parses.
    return tmp_path_factory.mktemp("pyverilog_tables")


def parsed_modules(verilog_path, parser_tables_dir) -> dict[str, ast.ModuleDef]:
    tree, _ = parse([str(verilog_path)], outputdir=str(parser_tables_dir), debug=False)
    return {d.name: d for d in tree.description.definitions if isinstance(d, ast.ModuleDef)}


def port_of(ioport: ast.Ioport) -> MacPort:
    decl = ioport.first
    direction = {ast.Input: "input", ast.Output: "output"}[type(decl)]
    bits = 1 if decl.width is None else int(decl.width.msb.value) - int(decl.width.lsb.value) + 1
    return MacPort(decl.name, direction, bits)


@pytest.mark.parametrize("params", RENDERED)
def test_rendered_mac_has_the_ports_its_params_describe(params, tmp_path, parser_tables_dir):
    verilog_path = tmp_path / f"{params.module}.v"
    verilog_path.write_text(render_mac(params))

    modules = parsed_modules(verilog_path, parser_tables_dir)

    # The Razor flop module comes along exactly when the design uses it; the proposed MAC's
    # written-out accumulate adder likewise.
    expected = {params.module} | ({"razor_ff"} if params.has_razor else set())
    if params.kind == "proposed":
        expected.add(f"{params.accumulate_adder}_adder")
    assert set(modules) == expected
    ports = [port_of(p) for p in modules[params.module].portlist.ports]
    assert ports == expected_ports(params)
    # The testbench in eda.verify.mac_sim drives the MAC through this same interface.
    assert list(mac_ports(params)) == ports


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kind="systolic"), "unknown MAC kind"),
        (dict(kind="tpu", acc_bits=15), "acc_bits"),
        (dict(kind="tpu", a_bits=1), "a_bits"),
        (dict(kind="proposed", razor_bits=17), "razor_bits"),
        (dict(kind="proposed", razor_bits=-1), "razor_bits"),
    ],
    ids=["unknown-kind", "acc-narrower-than-product", "a-bits-too-small", "razor-wider-than-product", "razor-negative"],
)
def test_bad_params_raise_eda_error(kwargs, message):
    with pytest.raises(EdaError, match=message):
        MacParams(**kwargs)
