"""Differentially private release of per-region counts, sums and means (OpenDP), with a privacy-loss ledger.

The privacy unit is one row of a dataset (one patient record, one facility): neighbouring datasets differ
by adding or removing a row (symmetric distance 1). Every row belongs to one region.

Mechanisms (pure epsilon-DP, delta = 0)
--------------------------------------
count
    ``make_count_by_categories`` over the public list of regions (L1 sensitivity 1) followed by the
    discrete Laplace mechanism with scale ``b = 1 / epsilon``.
sum
    Values clamped to public bounds ``[L, U]`` and summed per region; the continuous Laplace mechanism
    adds noise of scale ``b = max(|L|, |U|) / epsilon`` (OpenDP's map accounts for floating-point rounding,
    so ``b`` is a hair larger). Regions are disjoint, so releasing every region's sum costs ``epsilon``
    once (parallel composition, [3]_).
mean
    A count and a sum, each with ``epsilon / 2`` (sequential composition); ``mean = sum / max(count, 1)``.

Accuracy: the 95% error bound ``t`` of a Laplace release satisfies ``P(|noise| >= t) = 0.05``:
``t = b ln(1/alpha)`` for the continuous and ``t = b ln(2 / (alpha (1 + e^{-1/b})))`` for the discrete
Laplace. For a mean, with ``t_s``, ``t_n`` the bounds of its sum and count at level ``alpha/2`` each (union
bound), ``|mean~ - mean| <= (t_s + |mean~| t_n) / (n~ - t_n)`` whenever ``n~ > t_n`` (else unbounded).

Ledger: each release's epsilon is recorded in the store table ``privacy_ledger`` against the dataset's
organisation and *fingerprint* (the hash of the uploaded bytes), so re-uploading the same file does not
reset its budget. A release whose epsilon would take the total past the dataset's budget
(``privacy_budget`` table, default :data:`DEFAULT_EPSILON_BUDGET`) is refused.

References
----------
.. [1] Dwork, C., McSherry, F., Nissim, K., Smith, A. (2006). Calibrating noise to sensitivity in private
   data analysis. TCC 2006, LNCS 3876, 265-284.
.. [2] The OpenDP Library (2024), https://docs.opendp.org -- measurements, privacy maps and
   ``discrete_laplacian_scale_to_accuracy``.
.. [3] McSherry, F. (2009). Privacy integrated queries. SIGMOD 2009 (parallel composition).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from equicare.errors import EquicareError

if TYPE_CHECKING:  # pragma: no cover
    from equicare.store import Store

__all__ = ["DEFAULT_EPSILON_BUDGET", "DPRelease", "STATISTICS", "dp_release", "laplace_error_bound",
           "discrete_laplace_error_bound", "privacy_budget", "privacy_spent", "privacy_ledger",
           "release_dataset", "set_privacy_budget"]

DEFAULT_EPSILON_BUDGET = 1.0
STATISTICS = ("count", "sum", "mean")

_LEDGER_SQL = """
CREATE SEQUENCE IF NOT EXISTS privacy_ledger_seq START 1;
CREATE TABLE IF NOT EXISTS privacy_ledger (
    id BIGINT PRIMARY KEY,
    org TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    dataset_id BIGINT,
    dataset_name TEXT,
    statistic TEXT NOT NULL,
    value_column TEXT,
    by_column TEXT,
    epsilon DOUBLE NOT NULL,
    error_bound DOUBLE,
    created_by TEXT,
    released_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS privacy_budget (
    org TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    epsilon_budget DOUBLE NOT NULL,
    PRIMARY KEY (org, fingerprint)
);
"""


def _dp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def laplace_error_bound(scale: float, alpha: float = 0.05) -> float:
    """``t`` with ``P(|X| >= t) = alpha`` for continuous Laplace noise of scale ``b``: ``t = b ln(1/alpha)``."""
    return float(scale * math.log(1.0 / alpha))


def discrete_laplace_error_bound(scale: float, alpha: float = 0.05) -> float:
    """``t`` with ``P(|X| >= t) = alpha`` for discrete Laplace noise, ``P(X=k) ∝ exp(-|k|/b)``.

    ``P(|X| >= t) = 2 e^{-t/b} / (1 + e^{-1/b})``, solved for ``t`` (continuous in ``t``, as OpenDP's
    ``discrete_laplacian_scale_to_accuracy``).
    """
    return float(scale * math.log(2.0 / (alpha * (1.0 + math.exp(-1.0 / scale)))))


@dataclass
class DPRelease:
    """One differentially private release of a per-region statistic.

    Attributes
    ----------
    table : DataFrame
        One row per public region: the region key (column named like ``by``), ``estimate`` and
        ``error_bound`` (half-width of the ``1 - alpha`` interval); a mean also has ``count_estimate``
        and ``sum_estimate``.
    statistic, column, by : str
        What was released (``column`` is None for a count).
    epsilon : float
        Privacy loss of the whole release (all regions together).
    scale : dict
        Laplace scale per noisy component (``{"count": b}``, ``{"sum": b}`` or both).
    alpha : float
        ``error_bound`` holds with probability ``1 - alpha`` per region.
    """

    table: pd.DataFrame
    statistic: str
    column: str | None
    by: str
    epsilon: float
    scale: dict[str, float]
    alpha: float
    bounds: tuple[float, float] | None = None
    mechanism: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def error_bound(self) -> float:
        """The largest per-region error bound (for a count or sum all regions share it)."""
        return float(np.nanmax(self.table["error_bound"].to_numpy(dtype=float))) if len(self.table) else 0.0

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "column": self.column, "by": self.by, "epsilon": self.epsilon,
                "scale": self.scale, "alpha": self.alpha, "confidence": 1 - self.alpha,
                "bounds": list(self.bounds) if self.bounds else None, "mechanism": self.mechanism,
                "error_bound": self.error_bound, "notes": self.notes}


def _check_epsilon(epsilon: float) -> float:
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise EquicareError(f"epsilon must be a positive number, got {epsilon!r}") from None
    if not (eps > 0 and math.isfinite(eps)):
        raise EquicareError(f"epsilon must be a positive number, got {epsilon!r}")
    return eps


def _calibrate(build, guess: float, epsilon: float) -> tuple[object, float]:
    """The measurement ``build(scale)`` with the smallest scale near ``guess`` whose privacy map at d_in=1
    is at most ``epsilon`` (the formula's scale, nudged up past floating-point slack)."""
    scale = guess
    for _ in range(60):
        meas = build(scale)
        if meas.map(1) <= epsilon:
            return meas, float(scale)
        scale *= 1 + 2.0 ** -22
    scale = _dp().binary_search_param(build, d_in=1, d_out=epsilon)
    return build(scale), float(scale)


def _noisy_counts(keys: list[str], regions: list[str], epsilon: float, alpha: float) -> tuple[np.ndarray, float, float]:
    dp = _dp()
    space = (dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance())

    def build(scale: float):
        return space >> dp.t.then_count_by_categories(categories=regions, null_category=False) \
            >> dp.m.then_laplace(scale=scale)

    meas, scale = _calibrate(build, 1.0 / epsilon, epsilon)
    noisy = np.asarray(meas(keys), dtype=float)
    return noisy, float(scale), discrete_laplace_error_bound(scale, alpha)


def _noisy_sums(keys: np.ndarray, values: np.ndarray, regions: list[str], bounds: tuple[float, float],
                epsilon: float, alpha: float) -> tuple[np.ndarray, float, float]:
    dp = _dp()
    lo, hi = float(bounds[0]), float(bounds[1])
    space = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())

    def build(scale: float):
        return space >> dp.t.then_clamp((lo, hi)) >> dp.t.then_sum() >> dp.m.then_laplace(scale=scale)

    meas, scale = _calibrate(build, max(abs(lo), abs(hi)) / epsilon, epsilon)
    # Parallel composition: each row lies in exactly one region's partition, so one row changes one sum.
    out = np.empty(len(regions))
    for i, r in enumerate(regions):
        out[i] = meas([float(v) for v in values[keys == r]])
    return out, float(scale), laplace_error_bound(scale, alpha)


def dp_release(
    df: pd.DataFrame,
    *,
    by: str,
    statistic: str,
    epsilon: float,
    regions: Sequence,
    column: str | None = None,
    bounds: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> DPRelease:
    """Release a per-region count, sum or mean of ``df`` with ``epsilon``-differential privacy.

    Parameters
    ----------
    df : DataFrame
        Row-level data; one row is the privacy unit.
    by : str
        Column holding each row's region.
    statistic : {"count", "sum", "mean"}
        What to release per region.
    epsilon : float
        Privacy loss of the whole release (> 0).
    regions : sequence
        The public list of regions to report (from a public regions table, never from the private data,
        which would leak which regions occur). Rows in other regions are dropped.
    column : str, optional
        The numeric column to sum or average (required for sum and mean); a missing value counts as 0
        clamped into the bounds, and the release notes say how many there were.
    bounds : (float, float), optional
        Public lower and upper bounds of ``column`` (required for sum and mean); values are clamped.
    alpha : float, default 0.05
        Error bounds hold with probability ``1 - alpha`` per region (95% by default).

    Returns
    -------
    DPRelease

    Raises
    ------
    EquicareError
        Unknown statistic or column, a non-positive epsilon, missing or inverted bounds.
    """
    if statistic not in STATISTICS:
        raise EquicareError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    eps = _check_epsilon(epsilon)
    if not 0 < alpha < 1:
        raise EquicareError(f"alpha must lie in (0, 1), got {alpha!r}")
    if by not in df.columns:
        raise EquicareError(f"region column '{by}' is not in the table (columns: {', '.join(map(str, df.columns))})")
    regions = [str(r) for r in regions]
    if not regions:
        raise EquicareError("the public list of regions is empty")
    if len(set(regions)) != len(regions):
        raise EquicareError("the public list of regions has duplicates")
    keys = df[by].astype(str).to_numpy()
    out = pd.DataFrame({by: regions})
    notes: list[str] = []
    if statistic == "count":
        counts, b, t = _noisy_counts(list(keys), regions, eps, alpha)
        out["estimate"] = counts
        out["error_bound"] = t
        return DPRelease(out, "count", None, by, eps, {"count": b}, alpha, None,
                         "count_by_categories + discrete Laplace", notes)

    if column is None or column not in df.columns:
        raise EquicareError(f"a {statistic} needs a numeric value column present in the table, got {column!r}")
    if bounds is None:
        raise EquicareError(f"a {statistic} of '{column}' needs public bounds (lower, upper) for clamping; "
                            "bounds taken from the data itself would leak it")
    lo, hi = (float(bounds[0]), float(bounds[1]))
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise EquicareError(f"bounds must be finite with lower < upper, got {bounds!r}")
    vals = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    n_missing = int(np.isnan(vals).sum())
    if n_missing:
        notes.append(f"{n_missing} missing value(s) of '{column}' counted as {min(max(0.0, lo), hi):g}")
        vals = np.where(np.isnan(vals), min(max(0.0, lo), hi), vals)
    if statistic == "sum":
        sums, b, t = _noisy_sums(keys, vals, regions, (lo, hi), eps, alpha)
        out["estimate"] = sums
        out["error_bound"] = t
        return DPRelease(out, "sum", column, by, eps, {"sum": b}, alpha, (lo, hi), "clamp + sum + Laplace", notes)

    counts, bc, tc = _noisy_counts(list(keys), regions, eps / 2, alpha / 2)
    sums, bs, ts = _noisy_sums(keys, vals, regions, (lo, hi), eps / 2, alpha / 2)
    n_clip = np.maximum(counts, 1.0)
    mean = np.clip(sums / n_clip, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(counts > tc, (ts + np.abs(mean) * tc) / (counts - tc), np.inf)
    out["estimate"] = mean
    out["error_bound"] = np.minimum(bound, hi - lo)
    out["count_estimate"] = counts
    out["sum_estimate"] = sums
    notes.append("mean = noisy sum / noisy count, each with epsilon/2; clipped to the bounds")
    return DPRelease(out, "mean", column, by, eps, {"count": bc, "sum": bs}, alpha, (lo, hi),
                     "count (discrete Laplace) and clamped sum (Laplace)", notes)


# -- the ledger -----------------------------------------------------------------------------------------
def _ensure(store: "Store") -> None:
    with store._lock:
        store.con.execute(_LEDGER_SQL)


def _key(store: "Store", dataset_id: int) -> tuple[str, str, str]:
    info = store.dataset_info(dataset_id)
    return str(info["org"]), str(info["fingerprint"] or f"dataset:{dataset_id}"), str(info["name"])


def privacy_budget(store: "Store", dataset_id: int) -> float:
    """The dataset's total epsilon budget (:data:`DEFAULT_EPSILON_BUDGET` unless set)."""
    _ensure(store)
    org, fp, _ = _key(store, dataset_id)
    row = store.query("SELECT epsilon_budget FROM privacy_budget WHERE org = ? AND fingerprint = ?", [org, fp])
    return DEFAULT_EPSILON_BUDGET if row.empty else float(row.epsilon_budget.iloc[0])


def set_privacy_budget(store: "Store", dataset_id: int, epsilon: float) -> None:
    """Set the dataset's total epsilon budget; it may not go below what was already spent."""
    eps = _check_epsilon(epsilon)
    _ensure(store)
    org, fp, name = _key(store, dataset_id)
    with store.transaction() as con:
        spent = con.execute("SELECT COALESCE(SUM(epsilon), 0) FROM privacy_ledger WHERE org = ? AND fingerprint = ?",
                            [org, fp]).fetchall()[0][0]
        if eps < spent - 1e-12:
            raise EquicareError(f"dataset '{name}' has already spent epsilon {spent:g}; its budget cannot be {eps:g}")
        con.execute("DELETE FROM privacy_budget WHERE org = ? AND fingerprint = ?", [org, fp])
        con.execute("INSERT INTO privacy_budget VALUES (?, ?, ?)", [org, fp, eps])


def privacy_spent(store: "Store", dataset_id: int) -> float:
    """Total epsilon of the releases made so far from this dataset's data (same org and fingerprint)."""
    _ensure(store)
    org, fp, _ = _key(store, dataset_id)
    row = store.query("SELECT COALESCE(SUM(epsilon), 0) AS s FROM privacy_ledger WHERE org = ? AND fingerprint = ?",
                      [org, fp])
    return float(row.s.iloc[0])


def privacy_ledger(store: "Store", org: str | None = None) -> pd.DataFrame:
    """Every recorded release (newest first), optionally only one organisation's."""
    _ensure(store)
    return store.select("SELECT * FROM privacy_ledger", {"org": org}, "id DESC")


def release_dataset(
    store: "Store",
    dataset_id: int,
    *,
    by: str,
    statistic: str,
    epsilon: float,
    regions: Sequence,
    column: str | None = None,
    bounds: tuple[float, float] | None = None,
    alpha: float = 0.05,
    created_by: str | None = None,
) -> DPRelease:
    """:func:`dp_release` of a stored dataset, charged to its privacy budget.

    The budget check and the ledger entry happen in one transaction after the release is computed; a
    release that would exceed the budget is refused (its noisy values are discarded unseen).

    Raises
    ------
    EquicareError
        ``"privacy budget exceeded ..."`` naming the dataset, the epsilon spent, the budget and the
        request; or any error of :func:`dp_release`.
    """
    eps = _check_epsilon(epsilon)
    _ensure(store)
    org, fp, name = _key(store, dataset_id)
    budget, spent = privacy_budget(store, dataset_id), privacy_spent(store, dataset_id)

    def refuse(spent: float) -> EquicareError:
        return EquicareError(
            f"privacy budget exceeded for dataset '{name}' (id {dataset_id}): epsilon {spent:g} of its budget "
            f"{budget:g} is spent, {max(budget - spent, 0):g} remains, and this release needs {eps:g}; "
            "ask for a smaller epsilon or reuse an earlier release")

    if spent + eps > budget + 1e-12:
        raise refuse(spent)
    rel = dp_release(store.get_dataset(dataset_id), by=by, statistic=statistic, epsilon=eps, regions=regions,
                     column=column, bounds=bounds, alpha=alpha)
    with store.transaction() as con:
        spent = con.execute("SELECT COALESCE(SUM(epsilon), 0) FROM privacy_ledger WHERE org = ? AND fingerprint = ?",
                            [org, fp]).fetchall()[0][0]
        if spent + eps > budget + 1e-12:
            raise refuse(spent)
        lid = int(con.execute("SELECT nextval('privacy_ledger_seq')").fetchall()[0][0])
        con.execute("INSERT INTO privacy_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [lid, org, fp, int(dataset_id), name, statistic, column, by, eps,
                     rel.error_bound if math.isfinite(rel.error_bound) else None, created_by,
                     datetime.now(timezone.utc).replace(tzinfo=None)])
    return rel
