"""Scoring quantile forecasts: weighted interval score, absolute error of the median, interval coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.forecast.hub import HORIZONS, QUANTILES, check_forecasts

TASK = ["reference_date", "location", "horizon"]


def wis(y: np.ndarray, q: np.ndarray, levels: np.ndarray | tuple[float, ...] = QUANTILES) -> np.ndarray:
    r"""Weighted interval score of quantile forecasts.

    For a median ``m`` and ``K`` central ``(1 - alpha_k)`` intervals ``[l_k, u_k]``,

    .. math:: \mathrm{WIS} = \frac{1}{K + 1/2}\Big(\tfrac12 |y - m| + \sum_{k=1}^K \tfrac{\alpha_k}{2}
              \big[(u_k - l_k) + \tfrac{2}{\alpha_k}(l_k - y)_+ + \tfrac{2}{\alpha_k}(y - u_k)_+\big]\Big),

    which equals ``2 / (2K + 1)`` times the sum of pinball losses
    ``rho_tau(y - q_tau) = (y - q_tau)(tau - 1[y < q_tau])`` over the ``2K + 1`` quantile levels (for the 23
    hub levels: twice their mean).

    Parameters
    ----------
    y
        ``(n,)`` observed values.
    q
        ``(n, m)`` predictive quantiles at ``levels`` (a symmetric set containing 0.5).
    levels
        Quantile levels, ``m`` of them.

    References
    ----------
    Bracher, Ray, Gneiting & Reich (2021), "Evaluating epidemic forecasts in an interval format",
    PLoS Comput Biol 17(2): e1008618, eq. (2)-(3).
    """
    y = np.asarray(y, dtype=float)[:, None]
    q = np.asarray(q, dtype=float)
    tau = np.asarray(levels, dtype=float)[None, :]
    pin = (y - q) * (tau - (y < q))
    return 2.0 * pin.sum(axis=1) / q.shape[1]


def _task_matrix(forecasts: pd.DataFrame, file: str = "forecasts", target_end=None
                 ) -> tuple[pd.DataFrame, list[tuple]]:
    """Quantile values as one row per task (reference date, location, horizon) and one column per level.

    The rows are checked against the hub's rules first (:func:`~equicare.forecast.hub.check_forecasts`: no
    decreasing quantiles, no duplicate task and level, ``target_end_date`` matching the horizon).  Tasks that
    lack some of the 23 levels cannot be scored; they are returned (as ``(reference_date, location, horizon,
    missing levels)``) for the caller to report.
    """
    f = check_forecasts(forecasts, file, target_end)
    incomplete = list(f.attrs.get("incomplete_tasks", []))
    wide = f.pivot(index=TASK + ["target_end_date"], columns="output_type_id", values="value")
    levels = [round(x, 4) for x in QUANTILES]
    if not any(lv in wide.columns for lv in levels) or wide.reindex(columns=levels).dropna().empty:
        raise EquicareError(f"{file}: no task has all of the hub's 23 quantile levels "
                            f"({', '.join(f'{x:g}' for x in levels)}); cannot score")
    wide = wide.reindex(columns=levels).dropna()
    return wide.reset_index(), incomplete


def score(truth: pd.DataFrame, forecasts: pd.DataFrame, versus: pd.DataFrame | None = None,
          exclude: tuple[str, ...] = ("US",), horizons: tuple[int, ...] = HORIZONS, target_end=None) -> dict:
    """Score hubverse quantile forecasts against observed admissions.

    Tasks are (reference date, location, horizon) with all 23 quantiles and an observed value for the
    target week; locations in ``exclude`` (the national ``US`` row by default) and horizons outside
    ``horizons`` are left out, as in the issue's comparison.  With ``versus``, only tasks both forecast sets
    cover are scored (every figure, a note says how many tasks were left out) and ``wis_ratio`` is the mean WIS
    of ``forecasts`` divided by that of ``versus`` on them.
    ``target_end(reference_date, horizon)`` gives the target date of a planner's own daily, weekly or monthly
    series (:func:`equicare.forecast.series.score_counts`) instead of the hub's weekly rule.

    Parameters
    ----------
    truth
        Output of :func:`~equicare.forecast.truth.load_truth`.
    forecasts, versus
        Hubverse quantile tables (e.g. from :func:`~equicare.forecast.run.backtest` or
        :func:`~equicare.forecast.hub.load_forecasts`).

    Returns
    -------
    dict
        ``wis`` (mean WIS), ``ae_median`` (mean absolute error of the median), ``coverage_50`` and
        ``coverage_95`` (share of observations inside the central 50% / 95% intervals, ends included),
        ``n_tasks``; with ``versus`` also ``wis_versus``, ``wis_ratio`` (``None`` where the versus WIS is 0: the
        ratio is undefined and a note says so; never nan) and the other set's coverage;
        ``by_horizon`` maps each horizon to the same figures; ``incomplete_tasks`` (and
        ``incomplete_tasks_versus``) list the tasks left out because they lack some quantile levels, as
        ``(reference_date, location, horizon, missing levels)``; ``notes`` says which other tasks were left
        out (a horizon not scored, no observed value for the target week).

    Raises
    ------
    ValidationError
        A forecast set breaks a hub rule (:func:`~equicare.forecast.hub.check_forecasts`).

    References
    ----------
    Bracher et al. (2021), PLoS Comput Biol 17(2): e1008618.
    """
    obs = truth.assign(target_end_date=pd.to_datetime(truth["date"]).dt.strftime("%Y-%m-%d"))[
        ["target_end_date", "location", "value"]].rename(columns={"value": "observed"})
    levels = [round(x, 4) for x in QUANTILES]

    incomplete: dict[str, list[tuple]] = {}
    notes: list[str] = []

    def prep(fc: pd.DataFrame, which: str) -> pd.DataFrame:
        m, missing = _task_matrix(fc, str(fc.attrs.get("file", which)), target_end)
        incomplete[which] = [t for t in missing if t[1] not in exclude and t[2] in horizons]
        out_loc = m[m["location"].isin(exclude)]
        if len(out_loc):  # said, not silently dropped
            notes.append(f"{_tasks(len(out_loc))} of the {which} left out: location "
                         f"{', '.join(sorted(out_loc['location'].unique()))} is not scored (the national total, as "
                         "in the hub's comparison of state forecasts)")
        m = m[~m["location"].isin(exclude)]
        off = m[~m["horizon"].isin(horizons)]
        if len(off):  # said, not silently dropped
            notes.append(f"{_tasks(len(off))} of the {which} left out: horizon "
                         f"{', '.join(str(int(h)) for h in sorted(off['horizon'].unique()))} is not scored "
                         f"(scored horizons: {', '.join(map(str, horizons))})")
        m = m[m["horizon"].isin(horizons)]
        got = m.merge(obs, on=["target_end_date", "location"], how="inner")
        if len(got) < len(m):
            lost = m.merge(obs, on=["target_end_date", "location"], how="left", indicator=True)
            lost = lost[lost["_merge"] == "left_only"]
            pairs = lost[["location", "target_end_date"]].drop_duplicates()  # each target listed once
            step = "week" if target_end is None else "date"  # a series may be daily or monthly
            shown = "; ".join(f"{r.location} {step} {r.target_end_date}" for r in pairs.head(5).itertuples())
            notes.append(f"{_tasks(len(lost))} of the {which} left out: no observed value for the target "
                         f"{step} in the truth data ({len(pairs)} target{'s' if len(pairs) != 1 else ''}: {shown}"
                         f"{f'; ... and {len(pairs) - 5} more' if len(pairs) > 5 else ''})")
        return got

    a = prep(forecasts, "forecasts")
    b = None
    if versus is not None:
        b = prep(versus, "versus")
        common = a[TASK].merge(b[TASK], on=TASK)
        if len(common) < max(len(a), len(b)):  # every figure, not only the ratio, is on the shared tasks
            notes.append(f"with versus, every figure (WIS, AE, coverage of both sets) is computed on the "
                         f"{len(common):,} tasks both sets forecast and can be scored: {len(a) - len(common):,} of the "
                         f"forecasts' {len(a):,} and {len(b) - len(common):,} of the versus' {len(b):,} left out")
        a = a.merge(common, on=TASK)
        b = b.merge(common, on=TASK)
    if a.empty:
        raise EquicareError("no forecast task has an observed value to score against "
                            "(check dates, locations and horizons)")

    def figures(m: pd.DataFrame) -> dict:
        q = m[levels].to_numpy(dtype=float)  # checked non-decreasing; never re-sorted
        y = m["observed"].to_numpy(dtype=float)
        i25, i50, i75 = levels.index(0.25), levels.index(0.5), levels.index(0.75)
        i025, i975 = levels.index(0.025), levels.index(0.975)
        return {"wis": float(wis(y, q).mean()),
                "ae_median": float(np.abs(y - q[:, i50]).mean()),
                "coverage_50": float(((y >= q[:, i25]) & (y <= q[:, i75])).mean()),
                "coverage_95": float(((y >= q[:, i025]) & (y <= q[:, i975])).mean()),
                "n_tasks": len(m)}

    def combined(ma: pd.DataFrame, mb: pd.DataFrame | None, label: str = "all horizons") -> dict:
        res = figures(ma)
        if mb is not None:
            fb = figures(mb)
            if not fb["wis"] > 0:  # undefined, said (one note below) rather than written as nan or inf
                undefined.append(label)
            res.update({"wis_versus": fb["wis"], "wis_ratio": res["wis"] / fb["wis"] if fb["wis"] > 0 else None,
                        "ae_median_versus": fb["ae_median"], "coverage_50_versus": fb["coverage_50"],
                        "coverage_95_versus": fb["coverage_95"]})
        return res

    undefined: list[str] = []
    out = combined(a, b)
    out["incomplete_tasks"] = incomplete["forecasts"]
    if versus is not None:
        out["incomplete_tasks_versus"] = incomplete["versus"]
    out["by_horizon"] = {int(h): combined(a[a["horizon"] == h], None if b is None else b[b["horizon"] == h],
                                          f"at horizon {int(h)}")
                         for h in sorted(a["horizon"].unique())}
    if undefined:
        notes.append(f"WIS ratio undefined ({', '.join(undefined)}): the versus forecasts' WIS is 0 there (every "
                     "observation exactly at its forecast, e.g. a region of zeros forecast as zero), and a ratio "
                     "to 0 is not a number; shown as n/a")
    out["notes"] = notes
    return out


def _tasks(n: int) -> str:
    return f"{n} task{'s' if n != 1 else ''}"
