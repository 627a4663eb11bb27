"""Selective bit protection (Rathore et al., GLSVLSI 2023): which partial-sum bits get a Razor flop.

Input: the per-cycle lateness of the TPU MAC's partial-sum bits, measured by timing simulation on the
workload's operands (eda dta: per register bit and cycle, settle + setup time at the nominal supply;
at supply V every delay is scaled by mu(V)/mu(Vnom), eda/method/measured_errors.py). At V and clock P
a bit is *late* in a cycle when its scaled time exceeds P, and *beyond the window* when it exceeds
P (1 + w), w the Razor shadow window (the shadow flop samples w P after the edge, the STA's
`shadow_delay_fraction`). For a protected set S, per MAC operation:

  replay  = P(some bit of S is late)                        caught: one replay cycle, no error
  p_flip  = P(some bit not in S is late, or some bit of S is beyond the window)   an unrecovered error
  flip weight of bit b = P(b late) for b not in S, P(b beyond the window) for b in S

(joint probabilities from the same cycles, not products of marginals: the bits of one carry chain are
late together). An unrecovered error inverts one partial-sum bit drawn from the flip weights
(eda/nn/faults.py psum semantics, as the tpu design of `eda run`).

Choosing S at a target supply V (`smallest_passing_prefix`): rank the bits by expected damage
d_b = P(b late at V) x e_b, e_b the measured effect of one inversion of bit b on the network (the
cross-entropy increase per injected flip of bit b alone), ties to the higher bit; protect the top
bits, the fewest whose accuracy loss meets the bound (the greedy "add the next most damaging bit
until the loss is within the bound", found by bisection over the prefix length, assuming the loss
does not grow as bits are protected). Bits never late at V are not candidates; late bits whose
measured effect is zero come last, the higher bit first.

Energy per inference = P_nom x (V / Vnom)^2 x cycles per inference x clock x (1 + replay fraction),
the Table II rule (eda/method/table2.py) with every replay cycle at full power. The replay fraction
is the per-MAC one (`mac`: each caught error costs its MAC one cycle, the seed paper's latency
overhead) or the array's (`array`: one MAC's error stalls the whole array for a cycle, as the RTL's
shared err_in does: 1 - (1 - replay)^busy MACs).

Plain numpy/pandas: no tools, no files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

REPLAY_SCOPES = ("mac", "array")


def lateness(required_ns: np.ndarray, delay_scale: float, clock_ns: float, window_fraction: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """(late, beyond): bool [bits, cycles], time x scale > P, and > P (1 + window_fraction).

    required_ns: [bits, cycles] settle + setup at the nominal supply (-inf where the bit did not move)."""
    if not clock_ns > 0:
        raise EdaError(f"the clock period must be positive, got {clock_ns}")
    if not (math.isfinite(window_fraction) and window_fraction >= 0):
        raise EdaError(f"the Razor window must be a fraction >= 0 of the period, got {window_fraction}")
    if not (math.isfinite(delay_scale) and delay_scale > 0):
        raise EdaError(f"the delay scale must be a positive number, got {delay_scale}")
    scaled = np.asarray(required_ns, dtype=float) * delay_scale
    return scaled > clock_ns, scaled > clock_ns * (1.0 + window_fraction)


def protected_mask(protected: Sequence[int], bits: int) -> np.ndarray:
    mask = np.zeros(bits, dtype=bool)
    mask[list(protected)] = True
    return mask


@dataclass(frozen=True)
class ProtectionRates:
    p_flip: float              # per MAC operation: an unrecovered error (one partial-sum bit inverted)
    replay: float              # per MAC operation: a caught error (one replay cycle)
    flip_weights: np.ndarray   # (bits,) P(bit b latched wrong and not corrected)
    p_late_any: float          # per MAC operation: any bit late (no protection: the tpu's failure rate)


def protection_rates(late: np.ndarray, beyond: np.ndarray, protected: Sequence[int]) -> ProtectionRates:
    """The rates of the module docstring for one protected set, from one supply's lateness."""
    late, beyond = np.asarray(late, dtype=bool), np.asarray(beyond, dtype=bool)
    if late.shape != beyond.shape or late.ndim != 2 or late.shape[1] == 0:
        raise EdaError(f"late and beyond must be bool [bits, cycles] of one shape with cycles, got {late.shape}, {beyond.shape}")
    mask = protected_mask(protected, late.shape[0])
    uncorrected = np.where(mask[:, None], beyond, late)
    return ProtectionRates(float(uncorrected.any(axis=0).mean()), float(late[mask].any(axis=0).mean()) if mask.any() else 0.0,
                           uncorrected.mean(axis=1), float(late.any(axis=0).mean()))


def bit_table(required_ns: np.ndarray, scales: pd.DataFrame, clock_ns: float, window_fraction: float) -> pd.DataFrame:
    """Per supply and bit: p_late, p_beyond_window. scales: columns vdd, delay_scale."""
    rows = []
    for vdd, scale in zip(scales["vdd"], scales["delay_scale"]):
        late, beyond = lateness(required_ns, scale, clock_ns, window_fraction)
        for bit in range(late.shape[0]):
            rows.append({"vdd": float(vdd), "bit": bit, "p_late": float(late[bit].mean()),
                         "p_beyond_window": float(beyond[bit].mean())})
    return pd.DataFrame(rows)


def damage_scores(p_late: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Expected damage per MAC operation of leaving each bit unprotected: P(late) x effect of one flip."""
    p_late, effect = np.asarray(p_late, dtype=float), np.asarray(effect, dtype=float)
    if p_late.shape != effect.shape or p_late.ndim != 1:
        raise EdaError(f"p_late and effect must be per-bit vectors of one length, got {p_late.shape}, {effect.shape}")
    if (p_late < 0).any() or (p_late > 1).any() or not np.isfinite(effect).all() or (effect < 0).any():
        raise EdaError("p_late must be probabilities and effect finite and >= 0")
    return p_late * effect


def rank_bits(p_late: np.ndarray, effect: np.ndarray) -> list[int]:
    """The candidate bits (late in some cycle), most damaging first; ties (a zero measured effect
    included) to the higher, more significant bit."""
    damage = damage_scores(p_late, effect)
    candidates = [b for b in range(len(damage)) if p_late[b] > 0]
    return sorted(candidates, key=lambda b: (-damage[b], -b))


@dataclass(frozen=True)
class PrefixSearch:
    k: int | None                 # the fewest top bits that pass; None: not even all candidates pass
    evaluated: dict[int, bool]    # prefix length -> passes, in the order tried


def smallest_passing_prefix(candidates: int, passes: Callable[[int], bool]) -> PrefixSearch:
    """The smallest k in 0..candidates with passes(k), by bisection: 0 first (no protection needed?),
    then all candidates (can protection meet the bound at all?), then the boundary between them.
    Assumes passes is monotone (protecting more bits does not raise the loss)."""
    if candidates < 0:
        raise EdaError(f"the number of candidate bits must be >= 0, got {candidates}")
    done: dict[int, bool] = {}

    def check(k: int) -> bool:
        if k not in done:
            done[k] = bool(passes(k))
        return done[k]

    if check(0):
        return PrefixSearch(0, done)
    if candidates == 0 or not check(candidates):
        return PrefixSearch(None, done)
    fails, good = 0, candidates
    while good - fails > 1:
        middle = (fails + good) // 2
        if check(middle):
            good = middle
        else:
            fails = middle
    return PrefixSearch(good, done)


def array_replay_fraction(replay: float, busy_macs: int) -> float:
    """P(some busy MAC of the array flags an error in a cycle), the MACs independent: 1 - (1 - replay)^busy."""
    if not 0 <= replay <= 1:
        raise EdaError(f"the replay probability must be in [0, 1], got {replay}")
    if busy_macs < 0:
        raise EdaError(f"the number of busy MACs must be >= 0, got {busy_macs}")
    return 1.0 if replay >= 1 else float(-math.expm1(busy_macs * math.log1p(-replay)))


def replay_fraction(replay: float, scope: str, busy_macs: int) -> float:
    if scope not in REPLAY_SCOPES:
        raise EdaError(f"replay scope must be one of {', '.join(REPLAY_SCOPES)}, got {scope!r}")
    return replay if scope == "mac" else array_replay_fraction(replay, busy_macs)


def energy_per_inference_j(power_nominal_w: float, vdd: float, nominal_vdd: float, cycles: float, clock_ns: float,
                           replay: float = 0.0) -> float:
    """Power at nominal x (V/Vnom)^2 (Table II's rule) x cycles x (1 + replay) x clock."""
    if not (nominal_vdd > 0 and vdd > 0 and clock_ns > 0 and cycles > 0 and power_nominal_w >= 0 and replay >= 0):
        raise EdaError("energy per inference needs positive supplies, clock and cycles, power >= 0 and replay >= 0")
    return power_nominal_w * (vdd / nominal_vdd) ** 2 * cycles * (1.0 + replay) * clock_ns * 1e-9


def interpolated_power(protected: int, power_none_w: float, power_all_w: float, bits: int) -> float:
    """Power of a MAC with `protected` Razor bits, linear between the synthesized none and all (used only
    to choose the target supply; the chosen set is synthesized itself)."""
    if not 0 <= protected <= bits:
        raise EdaError(f"protected bits must be 0..{bits}, got {protected}")
    return power_none_w + (power_all_w - power_none_w) * protected / bits


def choose_target(candidates: pd.DataFrame) -> pd.Series:
    """The candidate (vdd, bits) of the lowest energy per inference among the feasible ones; ties to the
    higher supply. candidates: columns vdd, feasible, energy_per_inference_j."""
    feasible = candidates[candidates["feasible"]]
    if feasible.empty:
        raise EdaError("no supply of the sweep meets the accuracy bound even with every late bit protected")
    ordered = feasible.sort_values(["energy_per_inference_j", "vdd"], ascending=[True, False], kind="stable")
    return ordered.iloc[0]
