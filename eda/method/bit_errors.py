"""Per-output-bit timing-error probability (after Rathore et al. 2023).

Every register bit of the MAC is an STA endpoint with its own worst path. Its
delay (period minus slack, like the MAC's critical path) turns into a stage count
T_bit = d_bit / d_inv, and eqs. 7-9 give the probability that this bit is latched
wrong at a scaled supply; one path per bit by default, since the endpoint report
gives each bit's worst path. This tells which product and accumulator bits fail
first: what selective bit protection needs.

Synthesis renames the flops (`_1466_`), so an endpoint is traced to its bit through
the net its Q pin drives in the netlist, read with pyverilog.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from eda.method.errmodel import standard_normal_samples, timing_error_probability_with_variation
from eda.core.errors import EdaError
from eda.method.errtable import ErrorModelSettings, nominal_inverter_delay_ns, stage_statistics
from eda.designs.mac import MacParams

# Register nets of the MAC templates -> (group, offset of bit 0 in that group).
# The Razor flops of `proposed` hold the upper product bits (offset set per MAC).
# With a written-out accumulate adder (rtl/prefix_adder.v.j2) the flattened product register
# takes the adder's `accumulate.y_narrow` or `accumulate.y` (bit k = product bit k; yosys picks
# either name).
BIT_GROUPS = {"psum_out": "accumulator", "product_ext": "product", "product_lo_q": "product", "product_q": "product",
              "product_razor.q": "product", "accumulate.y_narrow": "product",
              "accumulate.y": "product", "a_out": "activation", "w_out": "weight"}
_NET = re.compile(r"^\\?(?P<name>[^\s\[]+)\s*(?:\[(?P<bit>\d+)\])?$")






def classify_bit(net: str, params: MacParams) -> tuple[str, int] | None:
    """('accumulator' | 'product' | 'activation' | 'weight', bit index) for a register net, or None."""
    match = _NET.match(net.strip())
    if not match:
        return None
    name, bit = match.group("name"), int(match.group("bit") or 0)
    group = BIT_GROUPS.get(name)
    if group is None:
        return None
    if name == "product_razor.q":
        bit += params.prod_bits - params.razor_bits
    if name == "accumulate.y":  # the adder's sign-extended copy: its upper bits are the product's sign bit
        bit = min(bit, params.prod_bits - 1)
    return group, bit


def bit_delays(endpoints: pd.DataFrame, nets: dict[str, str], params: MacParams, clock_period_ns: float,
               source: str = "endpoints") -> pd.DataFrame:
    """Worst path delay per register bit: one row per (group, bit)."""
    missing = {"endpoint", "slack_ns"} - set(endpoints.columns)
    if missing:
        raise EdaError(f"{source}: missing column(s) {', '.join(sorted(missing))}")
    rows = []
    for endpoint, slack_ns in zip(endpoints["endpoint"], endpoints["slack_ns"]):
        if "/" not in endpoint:
            continue  # an output port, not a register
        instance = endpoint.rsplit("/", 1)[0]
        net = nets.get(instance)
        bit = classify_bit(net, params) if net else None
        if bit is not None:
            rows.append({"group": bit[0], "bit": bit[1], "endpoint": endpoint, "net": net,
                         "delay_ns": round(clock_period_ns - float(slack_ns), 4)})
    if not rows:
        raise EdaError(f"{source}: no endpoint could be traced to a MAC register bit")
    table = pd.DataFrame(rows)
    return table.sort_values("delay_ns", ascending=False).drop_duplicates(["group", "bit"]).sort_values(["group", "bit"]).reset_index(drop=True)


def path_split(delays: pd.DataFrame) -> dict[str, float]:
    """Where one MAC's critical path lies, from its per-bit worst delays (bit_delays).

    product_stage_ns: the worst path into the product register (the proposed MAC's multiplier
    stage; NaN for a MAC without one); accumulate_ns: the worst path into the partial-sum register
    (for the proposed MAC its adder and MUX; for a single-stage MAC multiplier, adder and MUX);
    accumulate_fraction: accumulate_ns over the worst of all register paths."""
    worst = delays.groupby("group")["delay_ns"].max()
    if "accumulator" not in worst:
        raise EdaError("no partial-sum register bit among the traced endpoints")
    critical_ns = float(worst.max())
    accumulate_ns = float(worst["accumulator"])
    return {"critical_path_ns": critical_ns, "product_stage_ns": float(worst.get("product", float("nan"))),
            "accumulate_ns": accumulate_ns, "accumulate_fraction": round(accumulate_ns / critical_ns, 4)}


def bit_error_table(delays: pd.DataFrame, fo4: pd.DataFrame, nominal_vdd: float, clock_ns: float, vdds: list[float] | None = None,
                    settings: ErrorModelSettings = ErrorModelSettings(critical_paths=1)) -> pd.DataFrame:
    """One row per bit and voltage: p_error of that bit (eqs. 7-9 with the bit's own worst path)."""
    stages = stage_statistics(fo4, vdds)
    d_inv_ns = nominal_inverter_delay_ns(fo4, nominal_vdd)
    probability = timing_error_probability_with_variation(
        delays["delay_ns"].to_numpy(float)[:, None], d_inv_ns, stages["fo4_mean_ns"].to_numpy()[None, :],
        stages["fo4_sigma_ns"].to_numpy()[None, :], clock_ns, standard_normal_samples(settings.process_samples, settings.seed),
        p=settings.propagation_p, n_paths=settings.critical_paths)
    n_vdd = len(stages)
    return pd.DataFrame({
        "group": np.repeat(delays["group"].to_numpy(), n_vdd),
        "bit": np.repeat(delays["bit"].to_numpy(), n_vdd),
        "delay_ns": np.repeat(delays["delay_ns"].to_numpy(), n_vdd),
        "vdd": np.tile(stages["vdd"].to_numpy(), len(delays)),
        "clock_ns": clock_ns,
        "p_error": probability.ravel(),
    })


