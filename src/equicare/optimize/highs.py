"""A thin, fast bridge to HiGHS: pass a whole model as sparse arrays, re-solve after small changes.

Every optimisation model in :mod:`equicare.optimize` is assembled as numpy arrays and one
``scipy.sparse`` matrix and handed to HiGHS in a single ``passModel`` call (no modelling layer, no
per-term Python objects).  :class:`LinearModel` keeps the HiGHS instance alive so that the
lexicographic and what-if loops can change a few bounds or coefficients and re-solve from the last
basis (warm start).

References
----------
Huangfu, Q. and Hall, J. A. J. (2018). Parallelizing the dual revised simplex method.
*Mathematical Programming Computation* 10, 119-142.  (HiGHS)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

INF = highspy.kHighsInf
_BANNER = {"done": False}
_BANNER_LOCK = threading.Lock()


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (the once-per-process banner goes to /dev/null, not to our stdout).

    The first instance is made under a lock (two threads must not both redirect file descriptor 1).
    """
    with _BANNER_LOCK:
        if _BANNER["done"]:
            h = None
        else:
            h = _first_highs()
            _BANNER["done"] = True
    if h is None:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def _first_highs() -> highspy.Highs:
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


@dataclass
class Solution:
    """The result of one HiGHS solve.

    Attributes
    ----------
    status : str
        ``"optimal"``, ``"infeasible"``, ``"unbounded"``, ``"time_limit"`` or another HiGHS status.
    objective : float
        Objective value in the model's own sense (maximisation models report the maximum).
    x : ndarray
        Column values.
    row_value : ndarray
        Row activities ``A @ x``.
    row_dual : ndarray
        Row duals (LP only; zeros for a MIP): the derivative of the optimal objective, in the
        model's own sense, with respect to the row's active bound (HiGHS's convention).
    col_dual : ndarray
        Reduced costs, with the same convention.
    gap : float
        Relative MIP gap (0 for an LP).
    seconds : float
        Wall time of the solve call.
    bound : float
        A MIP's dual bound (the best objective any solution could reach); the objective for an LP.
    """

    status: str
    objective: float
    x: np.ndarray
    row_value: np.ndarray
    row_dual: np.ndarray
    col_dual: np.ndarray
    gap: float
    seconds: float
    bound: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.status == "optimal"


_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kObjectiveBound: "optimal",
}


class LinearModel:
    """A linear or mixed-integer programme ``opt c'x  s.t.  row_lo <= A x <= row_hi, col_lo <= x <= col_hi``.

    Parameters
    ----------
    c : array_like, shape (n,)
        Objective coefficients.
    A : scipy.sparse matrix, shape (m, n)
        Constraint matrix (converted to CSC once).
    row_lo, row_hi : array_like, shape (m,)
        Row bounds (use ``-inf``/``inf`` for free sides).
    col_lo, col_hi : array_like, shape (n,)
        Column bounds.
    integrality : array_like of bool, shape (n,), optional
        True for integer columns.
    maximize : bool
        Sense of the objective.
    time_limit : float, optional
        Seconds before HiGHS stops (status ``"time_limit"``; the best solution found is returned).
    mip_rel_gap : float
        Relative gap at which a MIP stops.
    threads : int, optional
        Number of HiGHS threads.
    """

    def __init__(self, c, A, row_lo, row_hi, col_lo, col_hi, integrality=None, maximize: bool = False,
                 time_limit: float | None = None, mip_rel_gap: float = 1e-6, threads: int | None = None,
                 presolve: bool = True):
        A = sp.csc_matrix(A)
        A.sort_indices()
        self.n_col = A.shape[1]
        self.n_row = A.shape[0]
        self.maximize = maximize
        self.is_mip = integrality is not None and bool(np.any(integrality))
        h = new_highs()
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if threads is not None:
            h.setOptionValue("threads", int(threads))
        if not presolve:
            h.setOptionValue("presolve", "off")
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_col
        lp.num_row_ = self.n_row
        lp.col_cost_ = np.asarray(c, dtype=np.float64)
        lp.col_lower_ = _finite(col_lo, self.n_col)
        lp.col_upper_ = _finite(col_hi, self.n_col)
        lp.row_lower_ = _finite(row_lo, self.n_row)
        lp.row_upper_ = _finite(row_hi, self.n_row)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(np.float64)
        lp.a_matrix_.num_col_ = self.n_col
        lp.a_matrix_.num_row_ = self.n_row
        lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        if self.is_mip:
            lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                               for b in np.asarray(integrality, dtype=bool)]
        h.passModel(lp)
        self.h = h

    # --- incremental changes -------------------------------------------------------------------
    def set_costs(self, c) -> None:
        """Replace the whole objective vector."""
        c = np.asarray(c, dtype=np.float64)
        self.h.changeColsCost(self.n_col, np.arange(self.n_col, dtype=np.int32), c)

    def set_row_bounds(self, rows, lo, hi) -> None:
        """Change the bounds of the given rows."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int32))
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), rows.shape).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), rows.shape).copy()
        self.h.changeRowsBounds(len(rows), rows, _finite(lo, len(rows)), _finite(hi, len(rows)))

    def set_col_bounds(self, cols, lo, hi) -> None:
        """Change the bounds of the given columns."""
        cols = np.atleast_1d(np.asarray(cols, dtype=np.int32))
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), cols.shape).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), cols.shape).copy()
        self.h.changeColsBounds(len(cols), cols, _finite(lo, len(cols)), _finite(hi, len(cols)))

    def set_coeff(self, row: int, col: int, value: float) -> None:
        """Change one matrix coefficient."""
        self.h.changeCoeff(int(row), int(col), float(value))

    def add_row(self, lo: float, hi: float, cols, values) -> int:
        """Append the row ``lo <= sum values * x[cols] <= hi`` (the basis is kept); returns its index."""
        cols = np.asarray(cols, dtype=np.int32)
        self.h.addRow(float(_finite(lo, 1)[0]), float(_finite(hi, 1)[0]), len(cols), cols,
                      np.asarray(values, dtype=np.float64))
        self.n_row += 1
        return self.n_row - 1

    def set_integrality(self, integer) -> None:
        """Make the given columns integer (True) or continuous (False); all-False turns a MIP into an LP."""
        integer = np.asarray(integer, dtype=bool)
        self.h.changeColsIntegrality(self.n_col, np.arange(self.n_col, dtype=np.int32), integer.astype(np.uint8))
        self.is_mip = bool(integer.any())

    def set_start(self, x, search: bool = True) -> None:
        """Hand HiGHS a feasible point as its first incumbent (a MIP prunes with it from the root).

        With ``search=False`` HiGHS also skips its primal heuristics and root restarts: for a start from
        a strong problem-specific heuristic, when what is left is the proof (or a better point found by
        branching).  The answer stays exact either way.
        """
        x = np.asarray(x, dtype=np.float64)
        self.h.setSolution(self.n_col, np.arange(self.n_col, dtype=np.int32), x)
        if not search:
            self.h.setOptionValue("mip_heuristic_effort", 0.0)
            for opt in ("mip_heuristic_run_feasibility_jump", "mip_heuristic_run_rins", "mip_heuristic_run_rens",
                        "mip_heuristic_run_root_reduced_cost", "mip_allow_restart"):
                self.h.setOptionValue(opt, False)

    # --- solve ---------------------------------------------------------------------------------
    def solve(self) -> Solution:
        """Run HiGHS and return a :class:`Solution` (never raises on infeasibility).

        A MIP answer is checked: when the objective HiGHS reports is not that of the point it returns
        (seen with HiGHS 1.16 when a start is given and presolve is on: the start came back as
        "optimal" with a lower objective than the true optimum; HiGHS issues #1273, #3043, #3094 are
        of the same family), the model is solved again with presolve off and that answer is used.
        """
        t0 = time.perf_counter()
        self.h.run()
        if self.is_mip and not self._consistent():
            self.h.setOptionValue("presolve", "off")
            self.h.run()
        secs = time.perf_counter() - t0
        ms = self.h.getModelStatus()
        status = _STATUS.get(ms, self.h.modelStatusToString(ms))
        sol = self.h.getSolution()
        info = self.h.getInfo()
        have = status in ("optimal", "time_limit") and sol.value_valid
        x = np.asarray(sol.col_value, dtype=float) if have else np.full(self.n_col, np.nan)
        rv = np.asarray(sol.row_value, dtype=float) if have else np.full(self.n_row, np.nan)
        if not self.is_mip and sol.dual_valid:
            rd = np.asarray(sol.row_dual, dtype=float)
            cd = np.asarray(sol.col_dual, dtype=float)
        else:
            rd = np.zeros(self.n_row)
            cd = np.zeros(self.n_col)
        obj = float(info.objective_function_value) if have else float("nan")
        gap = float(info.mip_gap) if self.is_mip and have else 0.0
        if not np.isfinite(gap):
            gap = 0.0
        bound = float(info.mip_dual_bound) if self.is_mip and have else obj
        return Solution(status, obj, x, rv, rd, cd, gap, secs, bound)


    def _consistent(self) -> bool:
        """Whether HiGHS's reported objective is that of the point it returned (or it returned none)."""
        sol = self.h.getSolution()
        if not sol.value_valid or self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return True
        lp = self.h.getLp()
        x = np.asarray(sol.col_value, dtype=float)
        obj = float(np.dot(np.asarray(lp.col_cost_, dtype=float), x)) + float(lp.offset_)
        rep = float(self.h.getInfo().objective_function_value)
        return abs(obj - rep) <= 1e-7 * max(1.0, abs(obj), abs(rep))


def _finite(v, n: int) -> np.ndarray:
    """Float64 array of length n with +-inf mapped to HiGHS's infinity."""
    a = np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
    a[a == np.inf] = INF
    a[a == -np.inf] = -INF
    return a
