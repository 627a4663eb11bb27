"""An independent check of size_fast's optimality certificate (method/sizer.py).

Nothing here reuses size_fast's bookkeeping: the Lagrangian bound and the reduced costs are
recomputed from the inputs over every size (dominated and off-hull ones included), and the core
is re-solved by the reference dynamic program (size_dp, the paper's Alg. 2). If all of it holds,
no sizing within the budget has a smaller objective than the one size_fast returned:

  for any sizing x, obj(x) = L(lam) + sum_i r_i(x_i) + lam * (unused area), every term >= 0,
  with r_i(k) = s_i f_k + lam w_k - min_k' (s_i f_k' + lam w_k'). A MAC outside the core whose
  every move away from its base size has r >= obj - L cannot move in a better sizing, so a
  better sizing would be a sizing of the core alone, and the DP shows there is none. Moves to a
  dominated size (another size has no more area and no more error) are not counted: a better
  sizing stays better with every dominated choice replaced by its dominator.
"""

from __future__ import annotations

import math

import numpy as np

from eda.core.errors import EdaError
from eda.method.sizer import SizingResult, area_grid_problem, size_dp

# Relative slack for comparisons of sums of ~n terms in floating point.
RELATIVE_TOLERANCE = 1e-9


def dominated_sizes(w: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mask of sizes with another size of no more area and no more error (of two equal sizes,
    the later one counts as dominated)."""
    k = w.size
    dominated = np.zeros(k, dtype=bool)
    for a in range(k):
        for b in range(k):
            if a != b and w[b] <= w[a] and f[b] <= f[a] and (w[b] < w[a] or f[b] < f[a] or b < a):
                dominated[a] = True
    return dominated


def check_certificate(result: SizingResult, sensitivity, area_um2, p_error, budget_um2, *,
                      max_dp_cells: float = 5e8) -> None:
    """Raise EdaError unless result.certificate proves result.objective optimal for these inputs."""
    cert = result.certificate
    if cert is None:
        raise EdaError(f"the {result.solver} result carries no optimality certificate (gap {result.gap:g})")
    s, w, f, budget_q, quantum = area_grid_problem(sensitivity, area_um2, p_error, budget_um2, result.area_quantum_um2)
    n = s.size
    base = np.asarray(cert.base, dtype=np.int64).ravel()
    core = np.asarray(cert.core, dtype=np.int64).ravel()
    if base.shape != (n,) or (base < 0).any() or (base >= f.size).any():
        raise EdaError(f"certificate: base must give one size index in [0, {f.size}) per MAC")
    lam = float(cert.lam_per_quantum)
    if not math.isfinite(lam) or lam < 0:
        raise EdaError(f"certificate: the multiplier must be a finite number >= 0, got {lam!r}")
    excess = w - int(w.min())
    # A better sizing may be taken to use undominated sizes only, so its area above n x the
    # smallest is a multiple of their excesses' gcd: the usable budget rounds down to one.
    dominated = dominated_sizes(w, f)
    useful = excess[~dominated]
    step = int(np.gcd.reduce(useful[useful > 0])) if (useful > 0).any() else 1
    cap = (budget_q - n * int(w.min())) // step * step
    vals = s[:, None] * f[None, :] + lam * excess[None, :].astype(float)
    vmin = vals.min(axis=1)
    bound = math.fsum(vmin.tolist()) - lam * cap
    objective = result.objective
    slack = RELATIVE_TOLERANCE * (abs(objective) + math.fsum(np.abs(vmin).tolist()) + lam * cap) + 1e-300
    if objective < bound - slack:
        raise EdaError(f"certificate: objective {objective!r} is below the Lagrangian bound {bound!r}; "
                       "the sizing cannot be feasible")
    if core.size == 0:
        if objective > bound + slack:
            raise EdaError(f"certificate: no core, but objective {objective!r} exceeds the bound {bound!r}")
        return
    outside = np.ones(n, dtype=bool)
    outside[core] = False
    reduced = vals - vmin[:, None]
    reduced[np.arange(n), base] = np.inf  # staying at base is no move
    reduced[:, dominated] = np.inf
    cheapest_move = reduced[outside].min(axis=1) if outside.any() else np.zeros(0)
    if (cheapest_move < objective - bound - slack).any():
        worst = int(np.flatnonzero(outside)[int(np.argmin(cheapest_move))])
        raise EdaError(f"certificate: MAC {worst} outside the core can move for reduced cost "
                       f"{float(cheapest_move.min())!r} < objective - bound = {objective - bound!r}")
    core_budget = budget_q - int(w[base[outside]].sum())
    cells = core.size * max(core_budget, 0) * f.size
    if cells > max_dp_cells:
        raise EdaError(f"certificate: re-solving the {core.size}-MAC core needs {cells:.3g} DP cells (limit {max_dp_cells:.3g})")
    core_best = size_dp(s[core], w.astype(float), f, float(core_budget), area_quantum_um2=1)
    fixed = math.fsum((s[outside] * f[base[outside]]).tolist())
    if core_best.objective + fixed < objective - slack:
        raise EdaError(f"certificate: the core has a sizing of objective {core_best.objective + fixed!r} "
                       f"< the claimed optimum {objective!r}")
