"""The allocation model as one sparse LP: named column and row blocks, one small builder per constraint family.

Only this module knows where a column or a row sits.  :class:`Layout` maps each block name to its
positions; :class:`AllocationLP` reads a solution back by name (:meth:`AllocationLP.units`,
:meth:`AllocationLP.shares`, ...) and writes one (:meth:`AllocationLP.assemble`).

Columns (in this order)
    ``x`` (n m) new units; ``t`` (T) transfers along the allowed pairs; ``v`` (L n m) covered need, one
    segment per scenario; ``z`` (1) the common level of the max-min LPs; ``N`` (m) national shares;
    ``smin``, ``smax`` (m) the lowest and highest share (gap cap).
Rows
    ``link`` (coverage <= capacity after transfers), ``nonneg_capacity`` (a region cannot send what it
    does not have), ``stock``, ``budget``, ``fair`` (share - z >= 0), ``national``, ``coverage_floor``,
    ``gap_min``/``gap_max``/``max_gap``, ``no_worse_off``.  Gini cuts are appended while solving
    (:mod:`equicare.optimize.allocation.gini`).

Expected coverage :math:`E[\\min(eff, D)]` is concave piecewise linear in the effective capacity: ``v`` is
split into segments between the sorted scenario needs; segment *k* has slope :math:`P(D \\ge` its end)
(filled in order by any maximisation, as the slopes fall), so one link row per region and type suffices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from equicare.optimize.allocation.problem import AllocationProblem
from equicare.optimize.highs import LinearModel

COLUMN_BLOCKS = ("x", "t", "v", "z", "N", "smin", "smax")


@dataclass
class Layout:
    """Block name -> positions, for the columns and the rows of the LP."""

    cols: dict[str, slice] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    ncol: int = 0
    nrow: int = 0

    def add_cols(self, name: str, k: int) -> slice:
        self.cols[name] = slice(self.ncol, self.ncol + k)
        self.ncol += k
        return self.cols[name]

    def add_rows(self, name: str, k: int) -> np.ndarray:
        self.rows[name] = np.arange(self.nrow, self.nrow + k)
        self.nrow += k
        return self.rows[name]

    def col(self, name: str) -> slice:
        """The columns of block ``name``."""
        return self.cols[name]

    def index(self, name: str, k: int = 0) -> int:
        """The position of the ``k``-th column of block ``name``."""
        s = self.cols[name]
        if not 0 <= k < s.stop - s.start:
            raise IndexError(f"block {name} has {s.stop - s.start} columns, not {k + 1}")
        return s.start + k

    def has_rows(self, name: str) -> bool:
        return name in self.rows


@dataclass(frozen=True)
class Arcs:
    """Allowed transfers: origin ``a``, destination ``b``, resource ``r``, distance and money per unit."""

    a: np.ndarray
    b: np.ndarray
    r: np.ndarray
    dist: np.ndarray
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def _arcs(P: AllocationProblem) -> Arcs:
    if P.pooling is None:
        z = np.zeros(0, int)
        return Arcs(z, z, z, np.zeros(0), np.zeros(0))
    idx = {g: k for k, g in enumerate(P.regions)}
    pr = P.pooling.pairs
    o, d = pr["origin"].astype(str), pr["destination"].astype(str)
    ok = (pr["distance"].to_numpy(float) <= P.pooling.max_distance)
    ok &= o.isin(idx).to_numpy() & d.isin(idx).to_numpy() & (o.to_numpy() != d.to_numpy())
    a = o[ok].map(idx).to_numpy(int)
    b = d[ok].map(idx).to_numpy(int)
    dist = pr["distance"].to_numpy(float)[ok]
    pooled = [P.resources.index(r) for r in (P.pooling.resources or P.resources)]
    k = len(pooled)
    A, B, D = np.tile(a, k), np.tile(b, k), np.tile(dist, k)
    R = np.repeat(np.asarray(pooled, int), len(a))
    cost = P.pooling.cost_per_unit + P.pooling.cost_per_unit_distance * D
    return Arcs(A, B, R, D, cost)


class AllocationLP:
    """Column/row layout, bounds, matrix and objective pieces of the allocation LP for one problem."""

    def __init__(self, P: AllocationProblem):
        self.P = P
        n, m = P.n, P.m
        nm = n * m
        if P.uncertainty == "quantile":
            self.lp_scen = np.array([P.scenario_names.index(P.design_scenario)])
            self.p = np.array([1.0])
        else:
            self.lp_scen = np.arange(P.demand.shape[0])
            self.p = np.asarray(P.scenario_weights)
        L = len(self.lp_scen)
        self.L = L
        self.D = P.demand[self.lp_scen]  # (L, n, m)
        self.Ed = np.tensordot(self.p, self.D, axes=1)  # (n, m)
        self.arcs = _arcs(P)
        T = len(self.arcs)
        self.T = T
        self.pooled_r = np.zeros(m, bool)
        if T:
            self.pooled_r[np.unique(self.arcs.r)] = True
        lay = Layout()
        for name, k in zip(COLUMN_BLOCKS, (nm, T, L * nm, 1, m, m, m)):
            lay.add_cols(name, k)
        self.layout = lay
        self.ncol = lay.ncol
        self._bounds()
        self._fair_shares()
        self._rows: list[sp.csr_matrix] = []
        self._rlo: list[np.ndarray] = []
        self._rhi: list[np.ndarray] = []
        self._link_rows()
        self._stock_rows()
        self._budget_row()
        self._fairness_rows()
        self._inequality_rows()
        self.A = sp.vstack(self._rows).tocsc()
        self.row_lo = np.concatenate(self._rlo)
        self.row_hi = np.concatenate(self._rhi)
        del self._rows, self._rlo, self._rhi
        self._objectives()

    # --- builders -------------------------------------------------------------------------------
    def _add(self, name: str, block, lo, hi) -> None:
        block = sp.csr_matrix(block)
        k = block.shape[0]
        self.layout.add_rows(name, k)
        self._rows.append(block)
        self._rlo.append(np.broadcast_to(np.asarray(lo, float), (k,)))
        self._rhi.append(np.broadcast_to(np.asarray(hi, float), (k,)))

    def _over(self, parts: dict[str, sp.spmatrix], k: int) -> sp.csr_matrix:
        """A ``k``-row block with the given sub-matrices under the named column blocks, zeros elsewhere."""
        out = []
        for name in COLUMN_BLOCKS:
            s = self.layout.cols[name]
            out.append(sp.csr_matrix(parts[name]) if name in parts else sp.csr_matrix((k, s.stop - s.start)))
        return sp.hstack(out).tocsr()

    def _bounds(self) -> None:
        P, lay = self.P, self.layout
        n, m, L = P.n, P.m, self.L
        nm = n * m
        D = self.D
        xlo = P.min_alloc.ravel().copy()
        xhi = P.max_alloc.ravel().copy()
        if P.cap_at_need:
            short = np.maximum(D.max(axis=0) - P.capacity, 0.0)
            if P.pooling is not None:  # a donor region's new units may serve neighbours: cap at the pooled need
                short = np.repeat(short.sum(axis=0)[None, :], n, 0)
            # whole units: a need of 0.3 of a unit is met by one unit, so round the cap up
            short = np.where(P.integer[None, :], np.ceil(short - 1e-9), short).ravel()
            xhi = np.minimum(xhi, np.maximum(short, xlo))
        self.xlo, self.xhi = xlo, xhi
        col_lo = np.zeros(self.ncol)
        col_hi = np.full(self.ncol, np.inf)
        col_lo[lay.col("x")], col_hi[lay.col("x")] = xlo, xhi
        D2 = D.reshape(L, nm)
        srt = np.argsort(D2, axis=0, kind="stable")
        Dsort = np.take_along_axis(D2, srt, axis=0)
        psort = self.p[srt]
        self.slope = np.flip(np.cumsum(np.flip(psort, 0), 0), 0)  # (L, nm) tail sums
        self.seg_start = np.vstack([np.zeros((1, nm)), Dsort[:-1]])
        self.seglen = Dsort - self.seg_start
        col_hi[lay.col("v")] = self.seglen.reshape(-1)
        # existing capacity and guaranteed minimums always count as covered (they cannot be "un-counted"
        # to meet a coverage floor or gap cap); not for pooled resources, whose capacity may move away
        pooled = np.tile(self.pooled_r, n)
        sure = np.where(pooled, 0.0, P.capacity.ravel() + xlo)
        col_lo[lay.col("v")] = np.clip(sure[None, :] - self.seg_start, 0.0, self.seglen).reshape(-1)
        sure0 = np.where(pooled, 0.0, P.capacity.ravel())
        self.v_lo_nomin = np.clip(sure0[None, :] - self.seg_start, 0.0, self.seglen).reshape(-1)
        col_hi[lay.col("z")] = 1.0
        for b in ("N", "smin", "smax"):
            col_hi[lay.col(b)] = 1.0
        self.col_lo, self.col_hi = col_lo, col_hi
        integ = np.zeros(self.ncol, bool)
        integ[lay.col("x")] = np.tile(P.integer, n)
        if self.T:
            integ[lay.col("t")] = P.integer[self.arcs.r]
        self.integ = integ

    def _fair_shares(self) -> None:
        """The share matrix ``Sh`` (fair pairs x v columns): share_q = sum_l p_l v_lq / Ed_q, for Ed_q > 0."""
        P, L = self.P, self.L
        nm = P.n * P.m
        fair = np.flatnonzero(self.Ed.ravel() > 0)
        self.fair = fair
        F = len(fair)
        rr = np.tile(np.arange(F), L)
        cc = (np.arange(L)[:, None] * nm + fair[None, :]).ravel()
        vals = (self.slope[:, fair] / self.Ed.ravel()[fair][None, :]).ravel()
        self.Sh = sp.csr_matrix((vals, (rr, cc)), shape=(F, L * nm))
        self.fair_r = fair % P.m
        # Gini cap: per resource, the positions of its fair pairs and their weights (expected need)
        fr = self.fair_r
        self.gini_groups = {r: (np.flatnonzero(fr == r), self.Ed.ravel()[fair][fr == r])
                            for r in range(P.m) if (fr == r).sum() > 1} if P.max_gini is not None else {}

    def _link_rows(self) -> None:
        P, arcs = self.P, self.arcs
        n, m, T = P.n, P.m, self.T
        nm = n * m
        I_nm = sp.identity(nm, format="csr")
        if T:  # t incidence on (i, r): +1 inflow at b, -1 outflow at a
            tin = sp.csr_matrix((np.ones(T), (arcs.b * m + arcs.r, np.arange(T))), shape=(nm, T))
            tout = sp.csr_matrix((np.ones(T), (arcs.a * m + arcs.r, np.arange(T))), shape=(nm, T))
            tnet = tin - tout
        else:
            tnet = sp.csr_matrix((nm, 0))
        # sum_k v_kir - x_ir - net_ir <= c_ir
        self._add("link", self._over({"x": -I_nm, "t": -tnet, "v": sp.hstack([I_nm] * self.L)}, nm),
                  -np.inf, P.capacity.ravel())
        if T:
            rows = np.unique(np.concatenate([arcs.a * m + arcs.r, arcs.b * m + arcs.r]))
            blk = self._over({"x": I_nm, "t": tnet}, nm)[rows]
            self._add("nonneg_capacity", blk, -P.capacity.ravel()[rows], np.inf)

    def _stock_rows(self) -> None:
        P = self.P
        n, m = P.n, P.m
        nm = n * m
        R = sp.csr_matrix((np.ones(nm), (np.tile(np.arange(m), n), np.arange(nm))), shape=(m, nm))
        fin = np.flatnonzero(np.isfinite(P.stock))
        self.stock_rows: dict[int, int] = {}
        if len(fin):
            self._add("stock", self._over({"x": R[fin]}, len(fin)), -np.inf, P.stock[fin])
            for k, r in enumerate(fin):
                self.stock_rows[int(r)] = int(self.layout.rows["stock"][k])

    def _budget_row(self) -> None:
        P = self.P
        if P.budget is None:
            return
        row = np.zeros(self.ncol)
        row[self.layout.col("x")] = np.tile(P.unit_cost, P.n)
        row[self.layout.col("t")] = self.arcs.cost
        self._add("budget", sp.csr_matrix(row), -np.inf, P.budget)

    def _on_shares(self, extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> sp.csr_matrix:
        """Rows ``share_q + sum coef * col`` for the fair pairs; ``extra`` maps a block to (offsets, coefs)."""
        F = len(self.fair)
        parts = {"v": self.Sh}
        for name, (off, coef) in (extra or {}).items():
            s = self.layout.cols[name]
            parts[name] = sp.csr_matrix((coef, (np.arange(F), off)), shape=(F, s.stop - s.start))
        return self._over(parts, F)

    def _fairness_rows(self) -> None:
        P = self.P
        F, m = len(self.fair), P.m
        fr = self.fair_r
        self._add("fair", self._on_shares({"z": (np.zeros(F, int), -np.ones(F))}), 0.0, np.inf)
        # national share rows: N_r - sum_i Ed_ir share_ir / sum_i Ed_ir = 0
        tot = self.Ed.sum(axis=0)
        natw = self.Ed.ravel()[self.fair] / np.where(tot[fr] > 0, tot[fr], 1.0)
        Rn = sp.csr_matrix((natw, (fr, np.arange(F))), shape=(m, F))
        self._add("national", self._over({"v": -(Rn @ self.Sh), "N": sp.identity(m)}, m), 0.0, 0.0)

    def _inequality_rows(self) -> None:
        P = self.P
        F, m = len(self.fair), P.m
        fr = self.fair_r
        if P.coverage_floor is not None:
            self._add("coverage_floor", self._on_shares({"N": (fr, -P.coverage_floor * np.ones(F))}), 0.0, np.inf)
        if P.max_gap is not None:
            self._add("gap_min", self._on_shares({"smin": (fr, -np.ones(F))}), 0.0, np.inf)
            self._add("gap_max", self._on_shares({"smax": (fr, -np.ones(F))}), -np.inf, 0.0)
            self._add("max_gap", self._over({"smin": -sp.identity(m), "smax": sp.identity(m)}, m), -np.inf,
                      P.max_gap)
        if self.T and P.pooling.no_worse_off:  # bounds set per solve (the reference shares)
            self._add("no_worse_off", self._on_shares(), -np.inf, np.inf)

    def _objectives(self) -> None:
        P, lay = self.P, self.layout
        n, m, T = P.n, P.m, self.T
        cov = np.zeros(self.ncol)
        cov[lay.col("v")] = (self.slope * np.tile(P.weight, n)[None, :]).ravel()
        self.c_cov = cov
        tie = np.zeros(self.ncol)
        cost = np.tile(P.unit_cost, n)
        tie[lay.col("x")] -= 1e-6 * cost / max(float(cost.max()), 1e-12)
        tie[lay.col("t")] -= 1e-6 * (1 + self.arcs.cost / max(float(self.arcs.cost.max(initial=0)), 1e-12))
        if P.quality is not None and P.quality_weight:
            tie[lay.col("x")] += P.quality_weight * np.repeat(P.quality, m)
        self.c_tie = tie
        self.c_z = np.zeros(self.ncol)
        self.c_z[lay.index("z")] = 1.0
        # upper bound on each fair share from its own bounds (used to freeze capped rows early)
        eff_max = P.capacity.ravel() + self.xhi
        if T:  # pooled resources can receive up to the whole pool
            eff_max = np.where(np.tile(self.pooled_r, n), np.inf, eff_max)
        ub = (self.p[:, None] * np.minimum(self.D.reshape(self.L, n * m), eff_max[None, :])).sum(0)
        self.share_ub = ub[self.fair] / self.Ed.ravel()[self.fair]

    # --- use --------------------------------------------------------------------------------------
    def build(self, **kw) -> LinearModel:
        """A fresh HiGHS model of this LP (objective: expected coverage; integrality for whole units)."""
        return LinearModel(self.c_cov, self.A, self.row_lo, self.row_hi, self.col_lo, self.col_hi,
                           integrality=self.integ if self.integ.any() else None, maximize=True, **kw)

    def rows(self, name: str) -> np.ndarray:
        """Row indices of block ``name`` (empty if the block is absent)."""
        return self.layout.rows.get(name, np.zeros(0, int))

    def shared_rows(self) -> dict[str, int]:
        """``stock:<resource>`` and ``budget`` -> row index (the constraints all regions share)."""
        out = {f"stock:{self.P.resources[r]}": row for r, row in self.stock_rows.items()}
        if "budget" in self.layout.rows:
            out["budget"] = int(self.layout.rows["budget"][0])
        return out

    def units(self, col: np.ndarray) -> np.ndarray:
        """``(n, m)`` new units of a column vector."""
        return np.asarray(col)[self.layout.col("x")].reshape(self.P.n, self.P.m)

    def transfers(self, col: np.ndarray) -> np.ndarray:
        """``(T,)`` transfer amounts of a column vector."""
        return np.asarray(col)[self.layout.col("t")]

    def cover(self, col: np.ndarray) -> np.ndarray:
        """The covered-need segments ``v`` of a column vector (flat, ``L n m``)."""
        return np.asarray(col)[self.layout.col("v")]

    def shares(self, col: np.ndarray) -> np.ndarray:
        """Shares of need met of the fair pairs, as the LP counts them (from ``v``)."""
        return self.Sh @ self.cover(col)

    def level(self, col: np.ndarray) -> float:
        """The common level ``z``."""
        return float(np.asarray(col)[self.layout.index("z")])

    def national(self, col: np.ndarray) -> np.ndarray:
        """``(m,)`` national shares ``N``."""
        return np.asarray(col)[self.layout.col("N")]

    def coverage_segments(self, eff: np.ndarray) -> np.ndarray:
        """``v`` for effective capacity ``eff`` (flat ``n m``): each segment filled as far as ``eff`` reaches."""
        return np.clip(eff[None, :] - self.seg_start, 0.0, self.seglen).ravel()

    def assemble(self, **blocks: np.ndarray) -> np.ndarray:
        """A column vector with the given blocks (by name) and zeros elsewhere."""
        col = np.zeros(self.ncol)
        for name, val in blocks.items():
            col[self.layout.col(name)] = np.ravel(val)
        return col

    def point(self, x: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
        """The column vector of units ``x`` (``(n, m)`` or flat) and transfers ``t``, with every other block
        (``v``, ``z``, ``N``, ``smin``, ``smax``) at the values these units give (coverage as far as it reaches)."""
        P = self.P
        x = np.reshape(x, (P.n, P.m))
        t = np.zeros(self.T) if t is None else np.asarray(t, float)
        eff = np.maximum(P.capacity + x + self.net_transfers(t), 0.0)
        v = self.coverage_segments(eff.ravel())
        share = self.Sh @ v
        Ed = self.Ed.ravel()[self.fair]
        nat, smin, smax = np.zeros(P.m), np.zeros(P.m), np.zeros(P.m)
        for r in range(P.m):
            sel = self.fair_r == r
            if sel.any():
                nat[r] = float((Ed[sel] * share[sel]).sum() / Ed[sel].sum())
                smin[r], smax[r] = float(share[sel].min()), float(share[sel].max())
        return self.assemble(x=x, t=t, v=v, z=float(share.min()) if len(share) else 1.0, N=nat, smin=smin,
                             smax=smax)

    def with_units(self, col: np.ndarray, x: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
        """A copy of ``col`` with new units ``x`` (``(n, m)``) and, if given, transfers ``t``."""
        out = np.array(col, dtype=float, copy=True)
        out[self.layout.col("x")] = np.ravel(x)
        if t is not None and self.T:
            out[self.layout.col("t")] = t
        return out

    def net_transfers(self, t: np.ndarray) -> np.ndarray:
        """``(n, m)`` units each region receives minus those it sends, for transfer amounts ``t``."""
        net = np.zeros((self.P.n, self.P.m))
        if self.T:
            np.add.at(net, (self.arcs.b, self.arcs.r), t)
            np.add.at(net, (self.arcs.a, self.arcs.r), -t)
        return net

    def fix_transfers(self, lm: LinearModel) -> None:
        """Fix every transfer at zero in ``lm`` (the no-pooling reference)."""
        s = self.layout.col("t")
        lm.set_col_bounds(np.arange(s.start, s.stop), 0.0, 0.0)

    def relax_minimums(self, lm: LinearModel) -> None:
        """Drop the region minimums from ``lm`` (units and the coverage they guarantee)."""
        s, v = self.layout.col("x"), self.layout.col("v")
        lm.set_col_bounds(np.arange(s.start, s.stop), 0.0, self.xhi)
        lm.set_col_bounds(np.arange(v.start, v.stop), self.v_lo_nomin, self.col_hi[v])

    def drop_integrality(self, lm: LinearModel) -> None:
        """Solve ``lm`` as an LP from now on."""
        lm.set_integrality(np.zeros(self.ncol, bool))
