"""Summary measures of health inequality across population subgroups, as in WHO's HEAT / healthequal.

Each function takes the subgroup estimates of one indicator in one setting and year, for one
dimension of inequality (e.g. wealth quintiles, regions, sex), and returns a :class:`Measure`
with the estimate, its standard error where there is one, and a confidence interval:
analytic where HEAT has a formula, otherwise simulation-based (Ahn et al. 2019: the estimates are
redrawn ``n_sim`` times from normal distributions with their standard errors, truncated to
``[0, inf)``, or to ``[0, 100]`` for percentages, and the 2.5/97.5 percentiles taken).

This module reads tables in the HEAT Plus upload template (:func:`read_heat_table`) and reports
every measure for every dimension (:func:`heat_summary`); the measures live in
:mod:`~equicare.analyze.heat_pairwise` (D, R, PAR, PAF), :mod:`~equicare.analyze.heat_ordered`
(ACI, RCI, SII, RII) and :mod:`~equicare.analyze.heat_nonordered` (the rest), on the shared pieces
of :mod:`~equicare.analyze.heat_core`, and are all re-exported here.

Definitions, direction rules and CI formulas follow the WHO R package ``healthequal`` (which
documents HEAT's measures) function by function; the docstrings give each formula. Direction
rules: in **ordered** dimensions (``subgroup_order`` 1 = most disadvantaged ... n = most
advantaged) the most advantaged and disadvantaged subgroups are compared; in **non-ordered**
dimensions the best and worst subgroups, or a user-selected ``reference_subgroup``; whether
high is good (``favourable_indicator = 1``) or bad (0) decides the direction.

Known, documented departures from healthequal 1.0.1: a subgroup whose population is 0 holds no
people, so it has zero width and drops out of every measure that uses population (ACI, RCI, SII,
RII, BGV, BGSD, COV, MDBW, MDMW, IDISW, TI, MLD, and PAR/PAF computed from population): adding such
a subgroup changes none of them (healthequal returns nothing for SII/RII, keeps it in the degrees
of freedom of ACI/RCI and may pick it as the best subgroup of MDBW, PAR and PAF); the unweighted
measures (D, R, MDBU, MDMU, MDRU, IDISU) still count it as a subgroup, and MDRW keeps a reference
subgroup of population 0 as its benchmark. A value that would be undefined (a ratio over 0, a mean
of 0, estimates above the indicator scale) raises :class:`~equicare.errors.EquicareError` with the
reason instead of returning NaN or infinity. Measures that cannot be negative (TI, MLD) are exactly
0 when every estimate is equal, and ACI/RCI are exactly 0 then too, never a round-off residue such
as ``-2.2e-16``. Simulated CIs use numpy's random generator, so they equal healthequal's only in
distribution, not digit for digit.

References
----------
Schlotheuber A., Hosseinpoor A.R. (2022) "Summary measures of health inequality: a review of
existing measures and their application", Int. J. Environ. Res. Public Health 19(6):3697.
WHO (2024) healthequal: Calculating summary measures of health inequality, R package 1.0.1.
Ahn J. et al. (2018) "Variance estimation and confidence intervals for 11 commonly used health
disparity measures", JCO Clin. Cancer Inform. 2:1-19. Ahn J. et al. (2019) "Improved Monte Carlo
methods for estimating confidence intervals for eleven commonly used health disparity measures",
PLoS One 14(7). Walter S.D. (1978) "Calculation of attributable risks from epidemiological data",
Int. J. Epidemiol. 7(2):175-182.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.readers import read_table, sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError

from equicare.analyze.heat_core import N_SIM, SEED, Measure, check_conf_level, check_n_sim
from equicare.analyze.heat_nonordered import (bgsd, bgv, cov, idisu, idisw, mdbu, mdbw, mdmu, mdmw, mdru, mdrw,
                                              mld, theil_index)
from equicare.analyze.heat_ordered import aci, rci, rii, sii
from equicare.analyze.heat_pairwise import difference, paf, par, ratio

__all__ = [
    "Measure",
    "difference", "ratio", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov",
    "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw", "idisu", "idisw", "theil_index", "mld",
    "paf", "par", "HEAT_COLUMNS", "ALL_MEASURES", "read_heat_table", "heat_summary",
    "check_conf_level", "check_n_sim", "N_SIM", "SEED",
]


# ---------------------------------------------------------------------------------- HEAT tables
#: Columns of the HEAT Plus upload template.
HEAT_COLUMNS = ("setting", "date", "source", "indicator_abbr", "indicator_name", "dimension", "subgroup",
                "estimate", "se", "population", "favourable_indicator", "indicator_scale", "ordered_dimension",
                "subgroup_order", "reference_subgroup", "setting_average")
_REQUIRED = ("setting", "date", "indicator_abbr", "dimension", "subgroup", "estimate")
_NUMERIC = ("estimate", "se", "population", "favourable_indicator", "indicator_scale", "ordered_dimension",
            "subgroup_order", "reference_subgroup", "setting_average")
GROUP_KEYS = ["setting", "date", "source", "indicator_abbr", "indicator_name", "dimension"]


def read_heat_table(data: pd.DataFrame | str | Path, file: str | None = None) -> pd.DataFrame:
    """Load and check a table in the HEAT Plus upload template (``HEAT_COLUMNS``).

    Required: ``setting, date, indicator_abbr, dimension, subgroup, estimate``; the others are
    optional (missing columns are added empty; ``favourable_indicator`` defaults to 1 and
    ``ordered_dimension`` to 0, and the table's ``attrs["notes"]`` then says so). Raises :class:`ValidationError` naming file, row and column for
    non-numeric values, flags other than 0/1, negative estimates/SEs/populations, flags that vary
    within one indicator and dimension, ordered dimensions without ``subgroup_order`` and
    duplicate subgroups.
    """
    if isinstance(data, (str, Path)):
        file = file or str(data)
        df = read_table(data, label=file, na_values=("",))
    else:
        df = data.copy()
    file = file or "HEAT table"
    df.columns = [str(c).strip() for c in df.columns]
    problems = [Problem(file, None, c, "required column is missing") for c in _REQUIRED if c not in df.columns]
    if problems:
        raise ValidationError(problems)
    for c in HEAT_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    for c in ("source", "indicator_name"):
        df[c] = df[c].astype(object).where(df[c].notna(), "")
    for c in ("setting", "date", "indicator_abbr", "dimension", "subgroup"):
        df[c] = df[c].astype(str).str.strip()
    rows = sheet_rows(df, np.arange(len(df)))
    for c in _NUMERIC:
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna() & (raw.astype(str).str.strip() != "")
        for k in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must be a number", raw.iloc[k]))
        df[c] = num.astype(float)
    for k in np.flatnonzero(df["estimate"].isna().to_numpy())[:20]:
        problems.append(Problem(file, int(rows[k]), "estimate", "estimate is missing"))
    for c in ("estimate", "se", "population"):
        for k in np.flatnonzero((df[c] < 0).to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must not be negative", df[c].iloc[k]))
    notes = [f"{c} is missing in {int(df[c].isna().sum())} of {len(df)} rows: taken as {v:g} ({meaning})"
             for c, v, meaning in (("favourable_indicator", 1, "higher is better"),
                                   ("ordered_dimension", 0, "non-ordered dimension"))
             if df[c].isna().any()]
    df["favourable_indicator"] = df["favourable_indicator"].fillna(1.0)
    df["ordered_dimension"] = df["ordered_dimension"].fillna(0.0)
    df["reference_subgroup"] = df["reference_subgroup"].fillna(0.0)
    for c in ("favourable_indicator", "ordered_dimension", "reference_subgroup"):
        for k in np.flatnonzero(~df[c].isin([0.0, 1.0]).to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must be 0 or 1", df[c].iloc[k]))
    if not problems:
        df["_row"] = rows
        for key, g in df.groupby(GROUP_KEYS, sort=False, dropna=False):
            r0 = int(g["_row"].iloc[0])
            for c in ("favourable_indicator", "ordered_dimension", "indicator_scale", "setting_average"):
                if g[c].nunique(dropna=True) > 1:
                    problems.append(Problem(file, r0, c, f"must be the same in all subgroups of {key[3]!r} / {key[5]!r}"))
            if g["ordered_dimension"].iloc[0] == 1 and g["subgroup_order"].isna().any():
                problems.append(Problem(file, int(g.loc[g["subgroup_order"].isna(), "_row"].iloc[0]), "subgroup_order",
                                        "an ordered dimension needs subgroup_order in every subgroup"))
            if g["reference_subgroup"].sum() > 1:
                problems.append(Problem(file, r0, "reference_subgroup", "more than one reference subgroup"))
            elif g["ordered_dimension"].iloc[0] == 1 and g["reference_subgroup"].sum() == 1:
                notes.append(f"{key[3]} / {key[5]}: reference_subgroup is not used in an ordered dimension (D and R "
                             "compare its ends, as in healthequal)")
            dup = g["subgroup"].duplicated()
            if dup.any():
                problems.append(Problem(file, int(g.loc[dup, "_row"].iloc[0]), "subgroup", "duplicate subgroup",
                                        g.loc[dup, "subgroup"].iloc[0]))
        df = df.drop(columns="_row")
    if problems:
        raise ValidationError(problems)
    df.attrs["notes"] = notes
    return df


ORDERED_MEASURES = ("d", "r", "aci", "rci", "sii", "rii", "par", "paf")
NONORDERED_MEASURES = ("d", "r", "bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw",
                       "idisu", "idisw", "ti", "mld", "par", "paf")
#: Every measure :func:`heat_summary` reports for each dimension, in this order.
ALL_MEASURES = ("d", "r", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw",
                "mdru", "mdrw", "idisu", "idisw", "ti", "mld", "par", "paf")
# measures that need the population of every subgroup (the ordered ones rank by population share)
_WEIGHTED = {"aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbw", "mdmw", "mdrw", "idisw", "ti", "mld"}


def _not_applicable(name: str, n: int, ordered: bool, has_pop: bool, has_ref: bool, has_avg: bool) -> str | None:
    """Why measure ``name`` does not apply to a dimension (``None`` if it does)."""
    if n < 2:
        return "needs at least two subgroups"
    if name in ("d", "r"):
        return None
    if n == 2:
        return "needs more than two subgroups (two subgroups get D and R only)"
    if ordered and name not in ORDERED_MEASURES:
        return "applies to non-ordered dimensions only"
    if not ordered and name not in NONORDERED_MEASURES:
        return "applies to ordered dimensions only"
    if name in ("mdru", "mdrw") and not has_ref:
        return "needs a reference subgroup (reference_subgroup = 1)"
    if name in _WEIGHTED and not has_pop:
        return "needs the population of every subgroup"
    if name in ("mdmu", "idisu", "par", "paf") and not has_pop and not has_avg:
        return "needs the population of every subgroup or the setting average"
    return None


def _group_measures(g: pd.DataFrame, conf_level: float, n_sim: int, seed: int) -> list[tuple[Measure, str]]:
    """Every measure of ``ALL_MEASURES`` for one dimension, each with a note: empty when the measure
    was computed, else why not (its estimate is then NaN)."""
    y = g["estimate"].to_numpy(float)
    se = g["se"].to_numpy(float)
    se = se if np.all(np.isfinite(se)) else None
    pop = g["population"].to_numpy(float)
    pop = pop if np.all(np.isfinite(pop)) and pop.sum() > 0 else None
    fav = int(g["favourable_indicator"].iloc[0])
    ordered = bool(g["ordered_dimension"].iloc[0] == 1)
    order = g["subgroup_order"].to_numpy(float) if ordered else None
    ref = g["reference_subgroup"].to_numpy(float)
    has_ref = ref.sum() == 1
    scale_v = g["indicator_scale"].to_numpy(float)
    scale = scale_v if np.all(np.isfinite(scale_v)) else None
    sa = g["setting_average"].dropna()
    savg = float(sa.iloc[0]) if len(sa) else None
    kw = {"conf_level": conf_level}
    sim = {"n_sim": n_sim, "seed": seed, "conf_level": conf_level}
    refs = ref if has_ref else None
    calls = {
        "d": lambda: difference(y, se, fav, ordered, order, refs, **kw),
        "r": lambda: ratio(y, se, fav, ordered, order, refs, **kw),
        "aci": lambda: aci(y, order, pop, **kw),
        "rci": lambda: rci(y, order, pop, **kw),
        "sii": lambda: sii(y, order, pop, scale, **kw),
        "rii": lambda: rii(y, order, pop, **kw),
        "bgv": lambda: bgv(y, pop, se, **kw),
        "bgsd": lambda: bgsd(y, pop, se, scale, **sim),
        "cov": lambda: cov(y, pop, se, scale, **sim),
        "mdbu": lambda: mdbu(y, se, fav, scale, **sim),
        "mdbw": lambda: mdbw(y, pop, se, fav, scale, **sim),
        "mdmu": lambda: mdmu(y, pop, se, scale, savg, **sim),
        "mdmw": lambda: mdmw(y, pop, se, scale, **sim),
        "mdru": lambda: mdru(y, ref, se, scale, **sim),
        "mdrw": lambda: mdrw(y, pop, ref, se, scale, **sim),
        "idisu": lambda: idisu(y, pop, se, scale, savg, **sim),
        "idisw": lambda: idisw(y, pop, se, scale, **sim),
        "ti": lambda: theil_index(y, pop, se, **kw),
        "mld": lambda: mld(y, pop, se, **kw),
        "par": lambda: par(y, pop, fav, ordered, order, savg, scale, **kw),
        "paf": lambda: paf(y, pop, fav, ordered, order, savg, scale, **kw),
    }
    out: list[tuple[Measure, str]] = []
    for name in ALL_MEASURES:
        note = _not_applicable(name, y.size, ordered, pop is not None, has_ref, savg is not None)
        if note is None:
            try:
                m = _finite(calls[name]())
                if m is not None:  # an estimate without an interval says why (never a silent empty cell)
                    out.append((m, "" if np.isfinite(m.lowerci) else _no_interval(name, m, se is None, pop is None)))
                    continue
                note = "undefined for these estimates (the formula gives no finite number)"
            except EquicareError as exc:  # a measure these data do not allow: say why
                note = str(exc)
            except np.linalg.LinAlgError as exc:  # e.g. a regression with no variation to fit
                note = f"could not be computed ({exc})"
        out.append((Measure(name, float("nan")), note))
    return out


def _no_interval(name: str, m: Measure, no_se: bool, no_pop: bool) -> str:
    """Why a computed measure has no confidence interval."""
    if name in ("par", "paf") and no_pop:
        return "no confidence interval: its standard error (Walter 1978) needs the population of every subgroup"
    if no_se:
        return "no confidence interval: the standard errors (se) of some subgroups are missing"
    if name == "r" and m.estimate == 0:
        return "no confidence interval: R = 0 (the numerator subgroup's estimate is 0) has no log-scale interval"
    return "no confidence interval: undefined for these estimates"


def _finite(m: Measure) -> Measure | None:
    """``m`` with non-finite SE or interval bounds blanked (an estimate without an interval), or
    ``None`` when the estimate itself is not finite: never an interval beside an empty estimate,
    never infinity."""
    if not np.isfinite(m.estimate):
        return None
    if np.isfinite(m.lowerci) and np.isfinite(m.upperci):
        return m
    se = m.se if np.isfinite(m.se) else float("nan")
    return Measure(m.measure, m.estimate, se)


def heat_summary(data: pd.DataFrame | str | Path, conf_level: float = 0.95, n_sim: int = N_SIM,
                 seed: int = SEED, file: str | None = None) -> pd.DataFrame:
    """Every HEAT summary measure for every setting, date, indicator and dimension.

    ``data`` is a table (or CSV path) in the HEAT Plus upload template. Returns one row per
    setting, date, source, indicator, dimension and measure of ``ALL_MEASURES`` with columns
    ``setting, date, source, indicator_abbr, indicator_name, dimension, measure, estimate, se,
    lowerci, upperci, note``. Ordered dimensions get D, R, ACI, RCI, SII, RII, PAR, PAF; non-ordered
    ones D, R, BGV, BGSD, COV, MDBU, MDBW, MDMU, MDMW, (MDRU, MDRW with a reference subgroup), IDISU,
    IDISW, TI, MLD, PAR, PAF; two-subgroup dimensions only D and R (as HEAT). A measure that does
    not apply is still reported, with NaN values and a ``note`` saying why (e.g. "applies to
    ordered dimensions only"); ``note`` is empty for the measures that were computed with their interval, and says why when a
    computed measure has none (no standard errors, or R = 0). Defaults the
    reader applied (a missing ``favourable_indicator`` taken as 1, a missing ``ordered_dimension``
    as 0) are listed in ``attrs["notes"]`` of the result (the command prints them as ``note:`` lines).
    """
    check_conf_level(conf_level)
    check_n_sim(n_sim)
    df = read_heat_table(data, file=file)
    rows = []
    for key, g in df.groupby(GROUP_KEYS, sort=False, dropna=False):
        for m, note in _group_measures(g, conf_level, n_sim, seed):
            rows.append(dict(zip(GROUP_KEYS, key)) | m.to_dict() | {"note": note})
    cols = GROUP_KEYS + ["measure", "estimate", "se", "lowerci", "upperci", "note"]
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["notes"] = list(df.attrs.get("notes", []))
    return out
