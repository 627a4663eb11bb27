"""Heterogeneous MAC sizing (Shin et al. 2019, sections IV-D/E, eq. 10).

Choose one size k_i per MAC i (i over the M x N array) from K sizes with area a_k and
timing-error probability f_k at the chosen voltage, to

    minimize  sum_i s_i f(a_{k_i})   subject to   sum_i a_{k_i} <= A_max,

where s_i >= 0 is the sensitivity of MAC i. It is a multiple-choice knapsack whose item
sets are identical for every MAC and differ only by the weight s_i.

Two solvers, both exact on the same integer area grid:

* `size_dp`: the paper's dynamic program (Alg. 2), the reference for small arrays.
  Cost ~ n_macs x excess_budget_units x K, hopeless at 256 x 256.
* `size_fast`: Lagrangian (LP) bound, greedy incumbent, then an exact dynamic program over
  the few MACs whose reduced cost can still matter ("core"); returns the certified gap,
  which is 0 whenever the core argument closes (the normal case).

Area grid. Both solvers work on integer areas w_k = round(a_k / q) and an integer budget
B = floor(A_max / q), with q = `area_quantum_um2`. The default (None) picks the coarsest of
1, 0.1, 0.01, 0.001, 0.0001 um^2 on which every area is exact (so nothing is rounded); if
none is, 0.0001 um^2 and areas are rounded to it (half a quantum per MAC at most). Pass the
same q to both solvers to compare them. The DP's cost grows as 1/q; size_fast barely cares.

Plain numpy; no file I/O here (outputs live in eda/outputs/sizing.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from eda.core.errors import EdaError

AUTO_QUANTA_UM2 = (1.0, 0.1, 0.01, 0.001, 0.0001)
# Budgets are usually computed as n x area in floating point; this relative slack keeps
# such a budget on its own grid point instead of one quantum below it when floored.
_BUDGET_FLOOR_RTOL = 1e-12


@dataclass(frozen=True, eq=False)
class OptimalityCertificate:
    """What size_fast's optimality rests on, in terms that can be rechecked from the inputs alone
    (eda/method/sizer_certificate.py): with the Lagrange multiplier lam_per_quantum, every MAC
    outside `core` costs at least objective - L(lam) in reduced cost to move away from its `base`
    size, so a better sizing could only resize core MACs; and no sizing of the core MACs, the
    others at base, beats the objective."""

    lam_per_quantum: float  # the multiplier, per area quantum
    base: np.ndarray  # (n,) size index per MAC (into the size list given to the solver)
    core: np.ndarray  # flat indices of the MACs solved exactly (empty: the objective meets L(lam))


@dataclass(frozen=True)
class SizingResult:
    """One sizing. size_index has the shape of the sensitivity map; entries index the
    size list given to the solver (area_um2[k], p_error[k])."""

    size_index: np.ndarray
    objective: float  # sum_i s_i f(a_i), the expected accuracy degradation (eq. 10)
    total_area_um2: float  # sum of the chosen sizes' areas as given (not the grid)
    lower_bound: float  # certified: no feasible sizing on the grid has a smaller objective
    gap: float  # objective - lower_bound (0: proven optimal)
    solver: str
    seconds: float
    budget_um2: float = math.nan
    area_quantum_um2: float = math.nan
    lp_bound: float = math.nan  # LP-relaxation (Lagrangian) bound, for information
    core_macs: int = 0  # size_fast: MACs in the exact finishing DP (0 if none was needed)
    certificate: OptimalityCertificate | None = None  # size_fast, when proven optimal

    @property
    def proven_optimal(self) -> bool:
        return self.gap == 0.0


# --------------------------------------------------------------------------- helpers


def iso_area_budget(n_macs: int, area_of_size_um2: float) -> float:
    """Area of an array of n_macs identical MACs of one size: the paper's iso-area budget."""
    if int(n_macs) != n_macs or n_macs < 1:
        raise EdaError(f"n_macs must be a positive integer, got {n_macs!r}")
    area = float(area_of_size_um2)
    if not math.isfinite(area) or area <= 0:
        raise EdaError(f"area_of_size_um2 must be a positive number, got {area_of_size_um2!r}")
    return int(n_macs) * area


def expected_degradation(sensitivity, p_error, size_index) -> float:
    """sum_i s_i f(a_{k_i}), summed exactly (math.fsum) so any order gives the same digits."""
    s = np.asarray(sensitivity, dtype=float).ravel()
    f = np.asarray(p_error, dtype=float)
    k = np.asarray(size_index).ravel()
    return math.fsum((s * f[k]).tolist())


def choose_area_quantum(area_um2) -> float:
    """The coarsest of AUTO_QUANTA_UM2 on which every area is an exact multiple."""
    a = np.asarray(area_um2, dtype=float)
    for q in AUTO_QUANTA_UM2:
        units = a / q
        if np.all(np.abs(units - np.rint(units)) <= 1e-6):
            return q
    return AUTO_QUANTA_UM2[-1]


@dataclass(frozen=True)
class _Problem:
    s: np.ndarray  # (n,) sensitivities, flattened
    shape: tuple[int, ...]
    area_um2: np.ndarray  # (K,) as given
    p_error: np.ndarray  # (K,)
    w: np.ndarray  # (K,) int64 areas in quanta
    budget_q: int  # floor(A_max / q)
    quantum_um2: float
    budget_um2: float

    @property
    def n(self) -> int:
        return self.s.size


def _prepare(sensitivity, area_um2, p_error, budget_um2, area_quantum_um2) -> _Problem:
    try:
        s_map = np.asarray(sensitivity, dtype=float)
        a = np.asarray(area_um2, dtype=float)
        f = np.asarray(p_error, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EdaError(f"sensitivity, area_um2 and p_error must be numeric arrays: {exc}") from exc
    if s_map.ndim == 0 or s_map.size == 0:
        raise EdaError("the sensitivity map is empty: give one sensitivity per MAC (an M x N array)")
    if a.ndim != 1 or f.ndim != 1 or a.size == 0:
        raise EdaError(f"area_um2 and p_error must be 1-D lists with one entry per size, got shapes {a.shape} and {f.shape}")
    if a.size != f.size:
        raise EdaError(f"area_um2 has {a.size} sizes but p_error has {f.size}: give one error probability per size")
    if a.size > 255:
        raise EdaError(f"{a.size} sizes; at most 255 are supported")
    s = s_map.ravel()
    bad = ~np.isfinite(s)
    if bad.any():
        first = np.unravel_index(int(np.flatnonzero(bad)[0]), s_map.shape)
        raise EdaError(f"the sensitivity map has {int(bad.sum())} NaN/inf entries (first at {tuple(int(x) for x in first)})")
    if (s < 0).any():
        first = np.unravel_index(int(np.argmin(s)), s_map.shape)
        raise EdaError(f"the sensitivity map has {int((s < 0).sum())} negative entries (smallest {s.min():.6g} at "
                       f"{tuple(int(x) for x in first)}); sensitivities are magnitudes and must be >= 0")
    if not np.all(np.isfinite(a)) or (a <= 0).any():
        raise EdaError(f"every MAC area must be a positive number, got {a.tolist()}")
    if not np.all(np.isfinite(f)) or (f < 0).any():
        raise EdaError(f"every error probability must be a number >= 0, got {f.tolist()}")
    try:
        budget = float(budget_um2)
    except (TypeError, ValueError) as exc:
        raise EdaError(f"the area budget must be a number in um^2, got {budget_um2!r}") from exc
    if not math.isfinite(budget):
        raise EdaError(f"the area budget must be finite, got {budget_um2!r}")
    q = choose_area_quantum(a) if area_quantum_um2 is None else float(area_quantum_um2)
    if not math.isfinite(q) or q <= 0:
        raise EdaError(f"area_quantum_um2 must be positive, got {area_quantum_um2!r}")
    w = np.rint(a / q).astype(np.int64)
    if (w < 1).any():
        raise EdaError(f"area quantum {q:g} um^2 is coarser than the smallest MAC area {a.min():g} um^2")
    n = s.size
    min_area_um2 = n * float(a.min())
    units = budget / q
    budget_q = math.floor(units + abs(units) * _BUDGET_FLOOR_RTOL) if units > 0 else math.floor(units)
    if budget_q < n * int(w.min()):
        raise EdaError(f"area budget {budget:.10g} um^2 is infeasible: the smallest array is {n} MACs x "
                       f"{float(a.min()):.10g} um^2 = {min_area_um2:.10g} um^2")
    return _Problem(s, s_map.shape, a, f, w, int(budget_q), q, budget)


def area_grid_problem(sensitivity, area_um2, p_error, budget_um2, area_quantum_um2):
    """The validated inputs on the integer area grid (for sizer_certificate): s, w, f, B, q."""
    prob = _prepare(sensitivity, area_um2, p_error, budget_um2, area_quantum_um2)
    return prob.s, prob.w, prob.p_error, prob.budget_q, prob.quantum_um2


def _result(prob: _Problem, idx: np.ndarray, lower_bound: float | None, solver: str, t0: float,
            lp_bound: float = math.nan, core_macs: int = 0, certificate: OptimalityCertificate | None = None) -> SizingResult:
    idx = np.asarray(idx, dtype=np.int64)
    used_q = int(prob.w[idx].sum())
    if used_q > prob.budget_q:  # the solvers never do this; a guard, not a user error
        raise AssertionError(f"{solver}: sizing uses {used_q} quanta > budget {prob.budget_q}")
    objective = expected_degradation(prob.s, prob.p_error, idx)
    lower = objective if lower_bound is None else min(objective, lower_bound)
    return SizingResult(
        size_index=idx.reshape(prob.shape),
        objective=objective,
        total_area_um2=math.fsum(prob.area_um2[idx].tolist()),
        lower_bound=lower,
        gap=objective - lower,
        solver=solver,
        seconds=time.perf_counter() - t0,
        budget_um2=prob.budget_um2,
        area_quantum_um2=prob.quantum_um2,
        lp_bound=lp_bound,
        core_macs=core_macs,
        certificate=certificate if lower_bound is None else None,
    )


# --------------------------------------------------------------------------- reference DP (Alg. 2)


def size_dp(sensitivity, area_um2, p_error, budget_um2, *, area_quantum_um2: float | None = None,
            max_table_bytes: int = 256 << 20, max_memory_bytes: int = 4 << 30) -> SizingResult:
    """The paper's Alg. 2: Exp(i, m) = min_u Exp(i-1, m-u) + s_i f(u), over MACs i and areas m.

    Same recurrence, same tie rule (a size replaces the incumbent only if strictly better,
    sizes tried in increasing area), MACs taken from MN-1 down to 0 as in the paper. Two
    changes that do not alter the result: areas are stored as the excess over i x a_min
    (Alg. 2 starts m at (i+1) u_0), and states that leave too little area for the
    remaining MACs at the smallest size are not stored, so every stage spans the same
    B - n w_min + 1 grid points. The loop over m is vectorized. The choice table is kept
    whole when it fits in max_table_bytes; otherwise E is checkpointed every ~sqrt(8n)
    MACs and each segment is recomputed on the way back (about twice the time).
    """
    t0 = time.perf_counter()
    prob = _prepare(sensitivity, area_um2, p_error, budget_um2, area_quantum_um2)
    n, s = prob.n, prob.s
    w_min = int(prob.w.min())
    excess = prob.w - w_min  # >= 0, per size
    width = prob.budget_q - n * w_min + 1  # grid points m - i*w_min in [0, B - n*w_min]
    order_k = np.argsort(prob.w, kind="stable")  # Alg. 2 loops u upwards from u_0
    whole_table = n * width <= max_table_bytes
    seg = max(1, math.ceil(math.sqrt(8 * n)))
    # working rows (E, new, buffer, mask) + the choice table or the checkpoints and one segment
    need_bytes = 4 * 8 * width + (n * width if whole_table else (math.ceil(n / seg) * 8 + seg) * width)
    if need_bytes > max_memory_bytes:
        raise EdaError(f"size_dp needs {width} area grid points per stage and ~{need_bytes / 2**30:.1f} GiB "
                       f"(limit {max_memory_bytes / 2**30:.1f} GiB): use size_fast or a coarser area_quantum_um2")
    macs = np.arange(n - 1, -1, -1)  # the paper fills MAC MN-1 first

    buf = np.empty(width)
    better = np.empty(width, dtype=bool)

    def stage(E: np.ndarray, i: int, choice_row: np.ndarray | None) -> np.ndarray:
        new = np.full(width, np.inf)
        for k in order_k:
            e = int(excess[k])
            if e >= width:
                continue
            span = width - e
            np.add(E[:span], s[i] * prob.p_error[k], out=buf[:span])
            np.less(buf[:span], new[e:], out=better[:span])
            np.copyto(new[e:], buf[:span], where=better[:span])
            if choice_row is not None:
                np.copyto(choice_row[e:], np.uint8(k), where=better[:span])
        return new

    E0 = np.full(width, np.inf)
    E0[0] = 0.0
    if whole_table:
        choice = np.zeros((n, width), dtype=np.uint8)
        E = E0
        for t, i in enumerate(macs):
            E = stage(E, i, choice[t])
        m = int(np.argmin(E))  # first minimum: the smallest total area among ties
        idx = np.empty(n, dtype=np.int64)
        for t in range(n - 1, -1, -1):
            k = int(choice[t, m])
            idx[macs[t]] = k
            m -= int(excess[k])
    else:
        starts = list(range(0, n, seg))
        checkpoints = []
        E = E0
        for t, i in enumerate(macs):
            if t % seg == 0:
                checkpoints.append(E)
            E = stage(E, i, None)
        m = int(np.argmin(E))
        idx = np.empty(n, dtype=np.int64)
        choice = np.zeros((seg, width), dtype=np.uint8)
        for c in range(len(starts) - 1, -1, -1):
            lo, hi = starts[c], min(n, starts[c] + seg)
            E = checkpoints[c]
            for t in range(lo, hi):
                E = stage(E, macs[t], choice[t - lo])
            for t in range(hi - 1, lo - 1, -1):
                k = int(choice[t - lo, m])
                idx[macs[t]] = k
                m -= int(excess[k])
    if m != 0:
        raise AssertionError("size_dp traceback did not return to the empty array")
    return _result(prob, idx, None, "dp", t0)


# --------------------------------------------------------------------------- fast exact solver


def _efficient_sizes(w: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Indices of the sizes not dominated by another (no smaller-or-equal area with lower-or-equal
    error), sorted by area; their error then strictly decreases. With s_i >= 0 a dominated size
    is never needed: swapping it for its dominator costs no area and no error."""
    order = np.lexsort((np.arange(w.size), f, w))
    kept, best = [], math.inf
    for k in order:
        if f[k] < best:
            kept.append(int(k))
            best = f[k]
    return np.array(kept, dtype=np.int64)


def _lower_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Vertices of the lower convex hull of points with strictly increasing x (collinear points dropped)."""
    hull: list[int] = []
    for j in range(x.size):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            if (x[a] - x[o]) * (y[j] - y[o]) - (y[a] - y[o]) * (x[j] - x[o]) <= 0:
                hull.pop()
            else:
                break
        hull.append(j)
    return hull


def _pareto_order(group, d, v) -> np.ndarray:
    """Indices of the Pareto states, per group: sorted by (group, d), keeping a state only if
    its objective v is strictly below that of every state of its group with smaller-or-equal
    area d. (Within a group the future is the same, so a dominated state can never win.)"""
    order = np.lexsort((v, d, group))
    if order.size <= 1:
        return order
    # Running minimum that restarts at each group, on exact integer keys: the dense rank of v
    # (order-preserving, ties equal) shifted down by a whole rank range per group.
    _, rank = np.unique(v[order], return_inverse=True)
    key = rank.ravel().astype(np.int64) - group[order].astype(np.int64) * (int(rank.max()) + 1)
    keep = np.ones(order.size, dtype=bool)
    keep[1:] = key[1:] < np.minimum.accumulate(key)[:-1]
    return order[keep]


def _pareto_states(d, v, c, parent, opt):
    """Keep, per area d, the smallest objective v, and only if it beats every smaller area."""
    keep = _pareto_order(np.zeros(d.size, dtype=np.int64), d, v)
    return d[keep], v[keep], c[keep], parent[keep], opt[keep]


def _expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value) for every integer value in [lo_j, hi_j], j = owner (empty if hi < lo)."""
    lengths = np.maximum(hi - lo + 1, 0)
    owner = np.repeat(np.arange(lo.size), lengths)
    first = np.cumsum(lengths) - lengths
    value = np.arange(owner.size, dtype=np.int64) - first[owner] + lo[owner]
    return owner, value


def _run_moves(s_run, ks, r_run, u, f, bound, limit):
    """The useful sizings of a run of core MACs that share one option set ks (sorted by area).

    Within such a run an optimal sizing may be taken monotone (smaller sensitivity, smaller
    area): swapping two MACs' sizes keeps the area, cannot cost (f falls as area grows) and
    keeps every option allowed. So a run's sizing is a list of breakpoints P_0 <= ... <= P_R
    = m over its MACs sorted by s, and its costs come from prefix sums. Only breakpoints whose
    reduced cost can stay within bound are generated (reduced costs are >= 0, so a partial
    cost plus the cheapest completion must stay within bound).
    Returns (breakpoints (ways, R), d, v, c) or None if more than `limit` ways survive.
    """
    m, R = r_run.shape
    zero = np.zeros((1, R))
    r_cum = np.concatenate([zero, np.cumsum(r_run, axis=0)]).T  # (R, m+1)
    s_cum = np.concatenate([[0.0], np.cumsum(s_run)])
    # cheapest completion from MAC p on with options after o: suffix sums of a running min
    best_after = np.minimum.accumulate(r_run[:, ::-1], axis=1)[:, ::-1]  # min over options >= o
    rest = np.zeros((R, m + 1))
    for o in range(R - 1):
        rest[o, :m] = np.cumsum(best_after[::-1, o + 1])[::-1]
    pos = np.zeros(1, dtype=np.int64)
    c = np.zeros(1)
    d = np.zeros(1, dtype=np.int64)
    v = np.zeros(1)
    cuts = np.zeros((1, 0), dtype=np.int64)
    for o in range(R):
        if o == R - 1:
            end = np.full(pos.size, m, dtype=np.int64)
            owner = np.arange(pos.size)
        else:
            # block cost rises with its end, so the last affordable end is a binary search
            hi = np.minimum(np.searchsorted(r_cum[o], r_cum[o, pos] + (bound - c), side="right") - 1, m)
            if int(np.maximum(hi - pos + 1, 0).sum()) > limit:
                return None
            owner, end = _expand_ranges(pos, hi)
        start = pos[owner]
        c_new = c[owner] + (r_cum[o, end] - r_cum[o, start])
        ok = c_new + rest[o, end] <= bound
        owner, end, start, c_new = owner[ok], end[ok], start[ok], c_new[ok]
        d = d[owner] + (end - start) * int(u[ks[o]])
        v = v[owner] + f[ks[o]] * (s_cum[end] - s_cum[start])
        cuts = np.concatenate([cuts[owner], end[:, None]], axis=1)
        pos, c = end, c_new
        if pos.size == 0:
            break
        # Same MACs placed (same pos) -> same future: drop dominated partial sizings.
        keep = _pareto_order(pos, d, v)
        pos, c, d, v, cuts = pos[keep], c[keep], d[keep], v[keep], cuts[keep]
    return cuts, d, v, c


def _core_dp(s_core, f, u, r_core, allowed, cap, lam, bound, max_states):
    """Exact DP over the core MACs (all others fixed at their Lagrangian choice).

    States are Pareto pairs (core area d, core objective v), like a sparse knapsack table
    that only stores useful entries; c = sum of reduced costs of the choices so far. Core
    MACs with the same allowed options form one stage (a run) whose moves are its monotone
    sizings (see _run_moves); reduced costs are convex in s, so each option is allowed on
    one interval of s and there are at most ~2K runs, however large the core. A state is
    dropped when it cannot end within `bound` (= incumbent - Lagrangian bound): c already
    exceeds it, or the area it must leave unused (times lam) does, or it can no longer fit
    in cap. Returns (option per core MAC or None, status); max_states caps the work.
    """
    patterns, run_of = np.unique(allowed, axis=0, return_inverse=True)
    run_of = run_of.ravel()
    moves = []  # per run: (members sorted by s, options, breakpoints, d, v, c)
    for j in range(patterns.shape[0]):
        members = np.flatnonzero(run_of == j)
        members = members[np.argsort(s_core[members], kind="stable")]
        ks = np.flatnonzero(patterns[j])
        got = _run_moves(s_core[members], ks, r_core[np.ix_(members, ks)], u, f, bound, max_states)
        if got is None:
            return None, "too many states"
        cuts, md, mv, mc = got
        if md.size == 0:
            return None, "no sizing within bound"
        md, mv, mc, keep, _ = _pareto_states(md, mv, mc, np.arange(md.size), np.zeros(md.size, dtype=np.int64))
        moves.append((members, ks, cuts[keep], md, mv, mc))
    dmin = np.array([mv[3].min() for mv in moves], dtype=np.int64)
    dmax = np.array([mv[3].max() for mv in moves], dtype=np.int64)
    min_rest = np.concatenate([np.cumsum(dmin[::-1])[::-1], [0]])
    max_rest = np.concatenate([np.cumsum(dmax[::-1])[::-1], [0]])
    d = np.zeros(1, dtype=np.int64)
    v = np.zeros(1)
    c = np.zeros(1)
    history = []
    total = 0
    for j, (_, _, _, md, mv, mc) in enumerate(moves):
        total += d.size * md.size
        if total > max_states:
            return None, "too many states"
        nd = (d[:, None] + md[None, :]).ravel()
        nv = (v[:, None] + mv[None, :]).ravel()
        nc = (c[:, None] + mc[None, :]).ravel()
        parent = np.repeat(np.arange(d.size), md.size)
        opt = np.tile(np.arange(md.size), d.size)
        unused = (cap - nd - max_rest[j + 1]).clip(min=0)
        ok = (nc <= bound) & (nd + min_rest[j + 1] <= cap) & (nc + lam * unused <= bound)
        d, v, c, parent, opt = _pareto_states(nd[ok], nv[ok], nc[ok], parent[ok], opt[ok])
        if d.size == 0:
            return None, "no sizing within bound"
        history.append((parent, opt))
    best = int(np.argmin(v))
    choice = np.empty(s_core.size, dtype=np.int64)
    for j in range(len(moves) - 1, -1, -1):
        parent, opt = history[j]
        members, ks, cuts = moves[j][0], moves[j][1], moves[j][2]
        ends = cuts[opt[best]]
        choice[members] = np.repeat(ks, np.diff(np.concatenate([[0], ends])))
        best = int(parent[best])
    return choice, "solved"


def _fill_leftover(s: np.ndarray, f: np.ndarray, u: np.ndarray, level: np.ndarray, cap: int) -> np.ndarray:
    """Spend what the greedy left of the budget: repeatedly the one upgrade (to any kept size, on
    the hull or not) with the largest gain that still fits. The greedy stops at the first whole
    hull step that does not fit, which can leave most of a step unused; with sizes between hull
    vertices (collinear or off the hull) or many tied MACs that leftover is where the optimum
    differs from it, and an incumbent this close to the LP bound keeps the exact core small."""
    level = level.copy()
    left = cap - int(u[level].sum())
    for _ in range(4 * u.size):
        extra = u[None, :] - u[level][:, None]
        gain = s[:, None] * (f[level][:, None] - f[None, :])
        gain = np.where((extra > 0) & (extra <= left) & (gain > 0), gain, -np.inf)
        best = int(np.argmax(gain))
        mac, size = divmod(best, u.size)
        if not np.isfinite(gain[mac, size]):
            break
        level[mac] = size
        left -= int(extra[mac, size])
    return level


def _core_by_alg2(s_core: np.ndarray, f: np.ndarray, u: np.ndarray, cap_core: int, max_work: float) -> np.ndarray | None:
    """The core solved exactly by the reference DP (size_dp, Alg. 2), with no bound at all, when
    its table is small enough (MACs x grid points x sizes <= max_work); None otherwise. This is
    the way out when many tied MACs make the Pareto DP's state count explode: their sizings are
    then numerous but their (area, objective) pairs are few, which is exactly Alg. 2's table.
    Areas are the excess over the smallest size plus one unit, on the g-scaled grid (exact)."""
    if cap_core < 0 or s_core.size * (cap_core + 1) * f.size > max_work:
        return None
    result = size_dp(s_core, (u + 1).astype(float), f, float(cap_core + s_core.size), area_quantum_um2=1)
    return result.size_index.ravel()


def size_fast(sensitivity, area_um2, p_error, budget_um2, *, area_quantum_um2: float | None = None,
              max_core_macs: int | None = None, max_states: int = 4_000_000, max_dp_work: float = 3e8) -> SizingResult:
    """Exact sizing for large arrays: LP bound + greedy incumbent + exact DP over a core.

    1. Drop dominated sizes; divide the areas' excess over the smallest by their gcd
       (an exact rescaling of the grid); lower convex hull of (area, error).
    2. LP relaxation = Lagrangian dual: upgrades along the hull, ordered by efficiency
       s_i * (slope of the hull step), fill the budget greedily; the first upgrade that does
       not fit fixes lambda* and the bound L = sum_i min_k (s_i f_k + lambda* u_k) - lambda* C.
       The fitting prefix is a feasible sizing (the incumbent U).
    3. For any sizing x: obj(x) = L + sum_i r_i(x_i) + lambda* (unused area), all terms >= 0,
       where r_i(k) = s_i f_k + lambda* u_k - min_k'(...) is the reduced cost. So a sizing that
       beats U moves only MACs with some r_i(k) <= U - L, and only to such sizes (hull or not).
    4. Solve exactly over the `core` of MACs with the cheapest alternatives (sparse Pareto DP,
       _core_dp), first with a tight trial bound (finds the optimum of the core cheaply),
       growing the core x4 until it holds every MAC with a reduced cost <= U - L: then U is
       optimal (gap 0). On the grid this is exact, not a heuristic; float rounding only
       enters through a 1e-12 relative slack that widens the search. Where ties make the
       sparse DP's states explode, the core goes to Alg. 2 (size_dp) instead if its table
       has at most max_dp_work cells.
    If max_core_macs or max_states stops the growth first, the result is the best sizing
    found, with the certified bound min(U, L + smallest reduced cost outside the core).
    That happens on degenerate maps where thousands of MACs sit at a threshold with equal
    or near-equal sensitivity (e.g. a few distinct values, or all within 0.1 %): the gap is
    then ~1e-5 of the objective. Continuous (e.g. lognormal) maps solve exactly in < 1 s.
    """
    t0 = time.perf_counter()
    prob = _prepare(sensitivity, area_um2, p_error, budget_um2, area_quantum_um2)
    n, s = prob.n, prob.s
    kept = _efficient_sizes(prob.w, prob.p_error)
    f = prob.p_error[kept]
    w = prob.w[kept]
    excess = w - w[0]
    g = int(np.gcd.reduce(excess[1:])) if kept.size > 1 else 1
    u = excess // g  # area above the smallest kept size, in units of g quanta
    cap = (prob.budget_q - n * int(w[0])) // g  # grid budget above n x smallest, in those units

    def finish(level_kept: np.ndarray, lower: float | None, lp: float, core: int,
               certificate: OptimalityCertificate | None = None) -> SizingResult:
        # Canonical monotone form: the chosen areas, sorted, go to the MACs sorted by
        # sensitivity (rearrangement: f falls as area grows, so this never costs anything).
        by_s = np.argsort(s, kind="stable")
        sorted_levels = np.sort(level_kept)
        out = np.empty(n, dtype=np.int64)
        out[by_s] = kept[sorted_levels]
        return _result(prob, out, lower, "fast", t0, lp, core, certificate)

    if int(u[-1]) * int(np.count_nonzero(s)) <= cap:
        # Every MAC that matters (s > 0) fits at the lowest-error size: optimal, it meets the
        # bound sum_i s_i min_k f_k. MACs with s = 0 stay smallest (they gain nothing).
        level = np.where(s > 0, kept.size - 1, 0)
        # lam = 0: L = sum_i s_i min_k f_k, met by this sizing; no core needed.
        return finish(level, None, expected_degradation(s, f, level), 0,
                      OptimalityCertificate(0.0, kept[level], np.zeros(0, dtype=np.int64)))

    hull = np.array(_lower_hull(u.astype(float), f))
    du = np.diff(u[hull])  # > 0
    slope = (f[hull[:-1]] - f[hull[1:]]) / du  # > 0, strictly decreasing

    # Greedy over upgrade items (MAC i, hull step j), most efficient first. Items are laid
    # out step-major so a stable sort breaks ties by step: a MAC's steps stay in order.
    pos = np.flatnonzero(s > 0)
    eff = (s[pos][None, :] * slope[:, None]).ravel()
    step = np.repeat(np.arange(du.size), pos.size)
    order = np.argsort(-eff, kind="stable")
    filled = np.cumsum(du[step[order]])
    crit = int(np.searchsorted(filled, cap, side="right"))  # first upgrade that does not fit
    lam = float(eff[order[crit]])
    taken = order[:crit]
    hull_level = np.zeros(n, dtype=np.int64)
    np.add.at(hull_level, pos[taken % pos.size], 1)
    incumbent = _fill_leftover(s, f, u, hull[hull_level], cap)  # indices into kept
    U = expected_degradation(s, f, incumbent)

    # Lagrangian bound and reduced costs over every kept size (hull or not).
    vals = s[:, None] * f[None, :] + lam * u[None, :].astype(float)
    vmin = vals.min(axis=1)
    L = math.fsum(vmin.tolist()) - lam * cap
    red = vals - vmin[:, None]
    # Float slack for every comparison against U - L (it only ever widens the search): a
    # generous multiple of the rounding error of L, U and the reduced costs.
    tol = 1e-12 * (abs(U) + math.fsum(np.abs(vmin).tolist()) + lam * cap) + 1e-300
    # Each MAC's reference choice: the incumbent's where that is a Lagrangian minimizer (it
    # is, up to rounding; this matters when many equal sensitivities tie at the threshold),
    # else the cheapest. MACs outside the core stay there.
    rows = np.arange(n)
    base = np.where(red[rows, incumbent] <= tol, incumbent, np.argmin(vals, axis=1))
    red_alt = red.copy()
    red_alt[rows, base] = np.inf
    rho = red_alt.min(axis=1)  # cheapest move away from the reference choice
    mac_order = np.argsort(rho, kind="stable")
    rho_sorted = rho[mac_order]

    # Exact core rounds. A round searches every core sizing within `bound` of L. A first,
    # much tighter trial bound keeps the DP small (the greedy incumbent is far from optimal
    # while the optimum is usually within ~1e-9 of L); if the DP finds a sizing at all, it
    # found the best of the core (anything better is even closer to L), else the trial
    # bound grows x100 until it reaches U - L.
    core_limit = n if max_core_macs is None else max(1, min(n, int(max_core_macs)))
    exact_n = 0  # largest core solved exactly (every better sizing confined to it was seen)
    size = 0
    trial = max(tol, (U - L) * 1e-6)
    lower: float | None = None
    while True:
        gap_bound = U - L + tol
        if U - L <= tol:  # the incumbent meets the LP bound
            break
        need = int(np.searchsorted(rho_sorted, gap_bound, side="right"))
        if exact_n and need <= exact_n:  # every MAC that could still move was in an exact core
            break
        if exact_n >= core_limit:
            lower = min(U, L + float(rho_sorted[exact_n])) if exact_n < n else None
            break
        size = min(core_limit, max(size, 64, min(need, 4 * exact_n)))
        core = mac_order[:size]
        fixed = np.ones(n, dtype=bool)
        fixed[core] = False
        cap_core = cap - int(u[base[fixed]].sum())
        bound = min(trial, U - L) + tol
        allowed = red[core] <= bound
        choice, status = _core_dp(s[core], f, u, red[core], allowed, cap_core, lam, bound, max_states)
        if status == "too many states":
            choice = _core_by_alg2(s[core], f, u, cap_core, max_dp_work)
            if choice is None:  # stop with what is certified so far
                lower = min(U, L + float(rho_sorted[exact_n])) if exact_n else L
                break
        if choice is not None:
            candidate = base.copy()
            candidate[core] = choice
            value = expected_degradation(s, f, candidate)
            if value < U:
                U, incumbent = value, candidate
            exact_n = size
        elif bound >= gap_bound:  # nothing in this core beats the incumbent
            exact_n = size
        else:
            trial *= 100.0
    # Areas u are in units of g quanta, so the multiplier per quantum is lam / g.
    certificate = (OptimalityCertificate(lam / g, kept[base], np.sort(mac_order[:exact_n]) if U - L > tol else np.zeros(0, np.int64))
                   if lower is None else None)
    return finish(incumbent, lower, L, exact_n, certificate)
