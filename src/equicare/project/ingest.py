"""Ingest a project's files: regions, facilities and the demand series, validated and cleaned.

Ids stay text exactly as written (trimmed of surrounding spaces); only a project that declares
``id_format: us-fips`` has its codes zero-padded.  A reference to an unknown region id is an error that names
the file, row and column, and says so when the ids look like codes that lost their leading zeros
(``1`` beside ``001``).  Every change is written to the cleaning report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare.data.clean import CleaningReport, lost_zeros_hint
from equicare.data.readers import rows_text, sheet_row
from equicare.errors import EquicareError, Problem, ValidationError
from equicare.project.geo import Layer, points_of, read_layer, region_of_points, transform_points
from equicare.project.spec import FacilitiesSpec, FileSpec, Project, RegionsSpec, resolve_column
from equicare.project.tables import is_spatial, read_tabular


@dataclass
class Inputs:
    """The project's cleaned tables.

    ``regions``: ``id, name, population, lat, lon`` (+ ``capacity``/``occupancy`` columns named in
    ``allocate``); ``facilities``: ``id, name, region, lat, lon`` and the capacity columns (and
    ``occupancy``/``quality`` when named; ``subregion`` with small areas); ``demand``: a
    :class:`~equicare.forecast.series.CountSeries`.
    """

    regions: pd.DataFrame
    layer: Layer | None
    facilities: pd.DataFrame | None
    demand: object | None
    report: CleaningReport
    fingerprints: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    subregions: pd.DataFrame | None = None
    """The small areas (``subregions``): as ``regions`` with ``parent`` (the region id)."""
    sublayer: Layer | None = None


def _read(spec: FileSpec) -> tuple[pd.DataFrame, Layer | None]:
    if is_spatial(spec.file):
        layer = read_layer(spec.file, spec.layer, spec.crs)
        return layer.frame, layer
    ids = [c for c in (getattr(spec, k, None) for k in ("id", "region", "parent", "subregion")) if isinstance(c, str)]
    return read_tabular(spec.file, sheet=spec.sheet, delimiter=spec.delimiter, decimal=spec.decimal,
                        encoding=spec.encoding, ids=ids), None


def _ids(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def _numeric(df: pd.DataFrame, col: str, file: str, label: str, policy: str, report: CleaningReport,
             lo: float | None = 0.0, hi: float | None = None) -> tuple[pd.Series, list[Problem]]:
    """A text column as numbers (decimal commas accepted), checked against ``[lo, hi]``; blanks per policy."""
    text = df[col].astype("string").str.strip()
    blank = text.isna() | (text == "")
    t = text.where(~text.str.fullmatch(r"-?\d+,\d+").fillna(False), text.str.replace(",", ".", regex=False))
    num = pd.to_numeric(t.where(~blank), errors="coerce").astype(float)
    problems = [Problem(file, sheet_row(df, i), col, f"{label}: not a number", df[col].iloc[i])
                for i in np.flatnonzero((~blank & num.isna()).to_numpy())[:20]]
    if lo is not None:
        problems += [Problem(file, sheet_row(df, i), col, f"{label}: must be >= {lo:g}", df[col].iloc[i])
                     for i in np.flatnonzero((num < lo).fillna(False).to_numpy())[:20]]
    if hi is not None:
        problems += [Problem(file, sheet_row(df, i), col, f"{label}: must be <= {hi:g}", df[col].iloc[i])
                     for i in np.flatnonzero((num > hi).fillna(False).to_numpy())[:20]]
    n = int(blank.sum())
    if n and policy == "error":
        problems += [Problem(file, sheet_row(df, i), col, f"{label}: missing value (policy error)")
                     for i in np.flatnonzero(blank.to_numpy())[:20]]
    elif n and policy == "impute_zero":
        num = num.fillna(0.0)
        report.add(file, "missing: imputed", col, n, "policy impute_zero")
    elif n and policy == "impute_median":
        med = float(np.nanmedian(num)) if num.notna().any() else 0.0
        num = num.fillna(med)
        report.add(file, "missing: imputed", col, n, f"policy impute_median (median {med:g})")
    elif n:
        what = ("the value is unknown, the row is kept" if policy == "flag" else "the whole row is left out")
        report.add(file, "missing: kept and flagged" if policy == "flag" else "missing: left out", col, n,
                   f"policy {policy}: {what}; {rows_text(df, blank.to_numpy())}")
    return num, problems



def _points(df: pd.DataFrame, spec: RegionsSpec | FacilitiesSpec, layer: Layer | None, file: str,
            problems: list[Problem]) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude of each row: declared columns, projected x/y with ``crs``, or the geometry."""
    if spec.lat or spec.lon:
        la = resolve_column(df, spec.lat, file, "lat")
        lo = resolve_column(df, spec.lon, file, "lon")
        lat, p1 = _numeric(df, la, file, "latitude", "error", CleaningReport(), -90, 90)
        lon, p2 = _numeric(df, lo, file, "longitude", "error", CleaningReport(), -180, 180)
        problems += p1 + p2
        return lat.to_numpy(float), lon.to_numpy(float)
    if spec.x or spec.y:
        if not spec.crs:
            problems.append(Problem(file, None, None, "projected x/y coordinates need the project key crs"))
            return np.full(len(df), np.nan), np.full(len(df), np.nan)
        xc = resolve_column(df, spec.x, file, "x")
        yc = resolve_column(df, spec.y, file, "y")
        x, p1 = _numeric(df, xc, file, "x", "error", CleaningReport(), None)
        y, p2 = _numeric(df, yc, file, "y", "error", CleaningReport(), None)
        problems += p1 + p2
        return transform_points(x.to_numpy(float), y.to_numpy(float), spec.crs)
    if layer is not None:
        return points_of(layer)
    # the file may well have them: coordinates are never guessed, but the columns that look like them are named
    look = {c.strip().lower(): str(c) for c in map(str, df.columns)}
    la = next((look[k] for k in ("lat", "latitude", "y_lat") if k in look), None)
    lo = next((look[k] for k in ("lon", "lng", "long", "longitude", "x_lon") if k in look), None)
    hint = (f"; this file has columns '{la}' and '{lo}': add the keys lat: {la} and lon: {lo} to this section of "
            "the project file" if la and lo else "")
    problems.append(Problem(file, None, None, "no coordinates: the project file names none (keys lat and lon, or "
                                              "x, y and crs), and it is not a GeoJSON/GeoPackage/Shapefile layer"
                                              + hint))
    return np.full(len(df), np.nan), np.full(len(df), np.nan)


def read_regions(project: Project, report: CleaningReport, spec: RegionsSpec | None = None
                 ) -> tuple[pd.DataFrame, Layer | None, list[str]]:
    """The regions (or, with ``spec=project.subregions``, the small areas): ``id, name, population,
    population_65plus, lat, lon`` (+ ``parent`` for small areas, + the allocation's region columns)."""
    sub = spec is not None and spec is not project.regions
    spec = spec or project.regions
    section = "subregions" if sub else "regions"
    df, layer = _read(spec)
    file = spec.file.name
    problems: list[Problem] = []
    warnings: list[str] = []
    idc = resolve_column(df, spec.id, file, f"{section}.id")
    ids = _ids(df[idc])
    for i in np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), idc, "missing region id"))
    if project.regions.id_format == "us-fips":
        from equicare.data.clean import pad_fips

        padded = pad_fips(ids.astype(str))
        report.add(file, "US FIPS codes zero-padded", idc, int((padded != ids.astype(str)).sum()), "id_format us-fips")
        ids = pd.Series(padded, dtype="string")
    for i in np.flatnonzero((ids.duplicated() & ids.notna()).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), idc, "duplicate region id", ids.iloc[i]))
    digits = ids.dropna()
    digits = digits[digits.str.fullmatch(r"\d+")]
    if len(digits) > 1 and digits.str.len().nunique() > 1 and digits.str.startswith("0").any():
        warnings.append(f"{file}: region ids in column {idc!r} are digits of different lengths "
                        f"(e.g. {digits.iloc[0]!r}); if some lost their leading zeros, fix them in the file")
    out = pd.DataFrame({"id": ids.astype(str)})
    namec = resolve_column(df, spec.name, file, f"{section}.name", required=False)
    out["name"] = df[namec].astype("string").fillna(out["id"]).astype(str) if namec else out["id"]
    if spec.population:
        pc = resolve_column(df, spec.population, file, f"{section}.population")
        pop, p = _numeric(df, pc, file, "population", project.missing, report)
        problems += p
        out["population"] = pop.to_numpy(float)
    else:
        out["population"] = np.nan
    if spec.population_65plus:  # an age group: kept missing when blank (no rate rather than a wrong one)
        pc = resolve_column(df, spec.population_65plus, file, f"{section}.population_65plus")
        pop, p = _numeric(df, pc, file, "population aged 65+", "flag", report)
        problems += p
        out["population_65plus"] = pop.to_numpy(float)
    lat, lon = _points(df, spec, layer, file, problems)
    out["lat"], out["lon"] = lat, lon
    if sub:
        out["parent"] = _parents(df, project, spec, file, problems)
    al = project.allocate if not sub else None
    for key in ("capacity", "occupancy", "need"):
        col = getattr(al, key, None) if al is not None else None
        if col is None or (key == "need" and col == "forecast_surge"):
            continue
        c = resolve_column(df, col, file, f"allocate.{key}")
        v, p = _numeric(df, c, file, key, project.missing, report, 0.0, 1.0 if key == "occupancy" else None)
        problems += p
        out[f"region_{key}"] = v.to_numpy(float)
    if problems:
        raise ValidationError(problems)
    dropped: list[str] = []
    if spec.population and project.missing == "drop":
        keep = out["population"].notna().to_numpy()
        dropped = out.loc[~keep, "id"].tolist()
        out = out[keep]
        layer = _subset(layer, keep)
    out = out.reset_index(drop=True)
    out.attrs["dropped_ids"] = dropped  # regions left out by the missing-value policy
    return out, layer, warnings


def _parents(df: pd.DataFrame, project: Project, spec: RegionsSpec, file: str, problems: list[Problem]) -> np.ndarray:
    """Each small area's region id (US FIPS padded for a US FIPS project); unknown ids are problems later."""
    pc = resolve_column(df, spec.parent, file, "subregions.parent")
    pid = _ids(df[pc])
    if project.regions.id_format == "us-fips":
        from equicare.data.clean import pad_fips

        pid = pd.Series(pad_fips(pid.astype(str)), dtype="string")
    for i in np.flatnonzero((pid.isna() | (pid == "")).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), pc, "missing region id of the small area"))
    return pid.astype(str).to_numpy()


def read_subregions(project: Project, regions: pd.DataFrame, report: CleaningReport
                    ) -> tuple[pd.DataFrame, Layer | None]:
    """The small areas (``subregions``), each inside a region of ``regions``.

    Raises
    ------
    ValidationError
        A parent id that is not a region id (file, row, column; a hint when leading zeros were lost).
    """
    spec = project.subregions
    sub, layer, _ = read_regions(project, report, spec)
    known = set(regions["id"]) | set(regions.attrs.get("dropped_ids", []))
    bad = ~sub["parent"].isin(known).to_numpy()
    if bad.any():
        hint = lost_zeros_hint(sorted(set(sub.loc[bad, "parent"])), sorted(known))
        raise ValidationError([Problem(spec.file.name, None, spec.parent, "region id not in the regions file" + hint,
                                       v) for v in sorted(set(sub.loc[bad, "parent"]))[:20]])
    return sub, layer


def _subset(layer: Layer | None, keep: np.ndarray) -> Layer | None:
    if layer is None or keep.all():
        return layer
    return Layer(layer.frame[keep].reset_index(drop=True), layer.geometry[keep].reset_index(drop=True),
                 layer.source_crs, layer.kind)


def read_facilities(project: Project, regions: pd.DataFrame, layer: Layer | None, report: CleaningReport,
                    subregions: pd.DataFrame | None = None, sublayer: Layer | None = None,
                    warnings: list[str] | None = None) -> pd.DataFrame:
    """The facilities: ``id, name, lat, lon, region``, each capacity column (and ``occupancy``, ``quality``,
    ``subregion`` when given).

    A blank capacity cell makes only that capacity unknown for that facility (policy ``flag``, the default): the
    facility keeps its other capacities in every measure, and is left out of that capacity's measures (a capacity
    summed over a region counts its known values); ``warnings`` receives one line per blank cell (file, row,
    column). Only ``missing: drop`` leaves out the whole facility."""
    spec = project.facilities
    df, flayer = _read(spec)
    file = spec.file.name
    problems: list[Problem] = []
    idc = resolve_column(df, spec.id, file, "facilities.id")
    out = pd.DataFrame({"id": _ids(df[idc]).astype(str)})
    for i in np.flatnonzero(out["id"].duplicated().to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), idc, "duplicate facility id", out["id"].iloc[i]))
    namec = resolve_column(df, spec.name, file, "facilities.name", required=False)
    out["name"] = df[namec].astype("string").fillna(out["id"]).astype(str) if namec else out["id"]
    lat, lon = _points(df, spec, flayer, file, problems)
    out["lat"], out["lon"] = lat, lon
    if not spec.capacity:
        problems.append(Problem(project.path.name, None, "facilities.capacity", "name at least one capacity column"))
    for cap in spec.capacity:
        c = resolve_column(df, cap, file, "facilities.capacity")
        v, p = _numeric(df, c, file, "capacity", project.missing, report)
        problems += p
        out[cap] = v.to_numpy(float)
        unknown = np.flatnonzero(v.isna().to_numpy() & ~df[c].astype("string").str.strip().fillna("").ne("")
                                 .to_numpy()) if project.missing == "flag" else []
        if warnings is not None and len(unknown) == 1:
            i = int(unknown[0])
            warnings.append(f"{file}, row {sheet_row(df, i)}, column '{c}': blank, so facility {out['id'].iloc[i]}'s "
                            f"{cap} is unknown: it is left out of the {cap} measures only (its other capacities "
                            "count)")
        elif warnings is not None and len(unknown):
            mask = np.zeros(len(df), bool)
            mask[unknown] = True
            warnings.append(f"{file}, column '{c}': {len(unknown):,} blank cells ({rows_text(df, mask, 5)}), so "
                            f"the {cap} of those facilities is unknown: they are left out of the {cap} measures only "
                            "(their other capacities count)")
    for key, hi in (("occupancy", 1.0), ("quality", None)):
        col = getattr(spec, key)
        if col:
            c = resolve_column(df, col, file, f"facilities.{key}")
            v, p = _numeric(df, c, file, key, "flag", report, 0.0, hi)
            problems += p
            out[key] = v.to_numpy(float)
    known = set(regions["id"])
    if spec.region:
        rc = resolve_column(df, spec.region, file, "facilities.region")
        rid = _ids(df[rc])
        if project.regions.id_format == "us-fips":
            from equicare.data.clean import pad_fips

            rid = pd.Series(pad_fips(rid.astype(str)), dtype="string")
        gone = rid.isin(set(regions.attrs.get("dropped_ids", []))).fillna(False).to_numpy()
        bad = ~rid.isin(known).fillna(False).to_numpy() & ~gone
        hint = lost_zeros_hint(sorted(set(rid[bad].dropna())), sorted(known))
        for i in np.flatnonzero(bad)[:20]:
            problems.append(Problem(file, sheet_row(df, i), rc, "region id not in the regions file" + hint,
                                    rid.iloc[i]))
        out["region"] = rid.astype(str).to_numpy()
        if gone.any():
            report.add(file, "facility of a region left out (missing value): left out", rc, int(gone.sum()),
                       f"policy {project.missing}")
            out = out[~gone]
    elif not problems:
        if layer is not None and layer.kind == "polygon":
            out["region"] = region_of_points(lat, lon, layer, regions["id"].to_numpy())
            how = "point in polygon"
        else:
            out["region"] = _nearest_region(lat, lon, regions)
            how = "nearest region point"
        none = pd.isna(out["region"]).to_numpy()
        report.add(file, f"region found by {how}", "region", int((~none).sum()))
        if none.any():
            report.add(file, "outside every region: left out", "region", int(none.sum()),
                       "facility points on no region polygon (nor within 5 km of one)")
            out = out[~none]
    if problems:
        raise ValidationError(problems)
    if subregions is not None:
        out["subregion"] = _facility_subregion(df.loc[out.index] if len(out) != len(df) else df, out, project,
                                               subregions, sublayer, report)
    if project.missing == "drop" and spec.capacity:  # asked for: a blank capacity leaves out the whole facility
        keep = out[spec.capacity].notna().all(axis=1)
        if not keep.all():
            report.add(file, "facility with a blank capacity: left out (policy drop)", ", ".join(spec.capacity),
                       int((~keep).sum()), ", ".join(out.loc[~keep, "id"].astype(str).head(10)))
        out = out[keep]
    all_ids = _ids(df[idc]).astype(str)
    out = out.reset_index(drop=True)
    out.attrs["dropped_ids"] = sorted(set(all_ids) - set(out["id"]))  # in the file, left out by the cleaning
    return out


def _facility_subregion(df: pd.DataFrame, out: pd.DataFrame, project: Project, subregions: pd.DataFrame,
                        sublayer: Layer | None, report: CleaningReport) -> np.ndarray:
    """Each facility's small area: the ``facilities.subregion`` column, else point in polygon, else the nearest
    small-area point.  Ids not among the small areas become missing (reported), never an error."""
    spec, file = project.facilities, project.facilities.file.name
    if spec.subregion:
        sc = resolve_column(df, spec.subregion, file, "facilities.subregion")
        sid = _ids(df[sc])
        if project.regions.id_format == "us-fips":
            from equicare.data.clean import pad_fips

            sid = pd.Series(pad_fips(sid.astype(str)), dtype="string", index=df.index)
        sid = sid.where(sid.isin(set(subregions["id"])))
        n = int(sid.isna().sum())
        if n:
            report.add(file, "small area unknown: counted in its region only", sc, n)
        return sid.astype(object).where(sid.notna(), None).to_numpy()
    lat, lon = out["lat"].to_numpy(float), out["lon"].to_numpy(float)
    if sublayer is not None and sublayer.kind == "polygon":
        sid = region_of_points(lat, lon, sublayer, subregions["id"].to_numpy())
        how = "point in polygon"
    else:
        sid = _nearest_region(lat, lon, subregions)
        how = "nearest small-area point"
    report.add(file, f"small area found by {how}", "subregion", int(pd.notna(sid).sum()))
    return np.asarray(sid, dtype=object)


def _nearest_region(lat: np.ndarray, lon: np.ndarray, regions: pd.DataFrame) -> np.ndarray:
    from scipy.spatial import cKDTree

    def unit(la, lo):
        la, lo = np.radians(la), np.radians(lo)
        return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])

    ok = regions["lat"].notna().to_numpy()
    tree = cKDTree(unit(regions["lat"].to_numpy(float)[ok], regions["lon"].to_numpy(float)[ok]))
    _, j = tree.query(unit(lat, lon))
    return regions["id"].to_numpy()[ok][j]


def read_demand(project: Project, regions: pd.DataFrame, report: CleaningReport):
    from equicare.forecast.series import load_counts

    spec = project.demand
    df, _ = _read(spec)
    file = spec.file.name
    rc = resolve_column(df, spec.region, file, "demand.region")
    dc = resolve_column(df, spec.date, file, "demand.date")
    vc = resolve_column(df, spec.value, file, "demand.value")
    if project.regions.id_format == "us-fips":
        from equicare.data.clean import pad_fips

        df = df.assign(**{rc: pad_fips(_ids(df[rc]).astype(str))})
    rid = _ids(df[rc])
    known = set(regions["id"])
    bad = ~rid.isin(known).fillna(False).to_numpy()
    if bad.any():
        hint = lost_zeros_hint(sorted(set(rid[bad].dropna())), sorted(known))
        if hint or bad.all():
            raise ValidationError([Problem(file, sheet_row(df, i), rc, "region id not in the regions file" + hint,
                                           rid.iloc[i]) for i in np.flatnonzero(bad)[:20]])
        report.add(file, "series of ids not in the regions file: used to train the forecast only", rc,
                   int(bad.sum()), ", ".join(sorted(set(rid[bad].dropna()))[:10]))
    n_blank = int(df[vc].astype("string").str.strip().fillna("").eq("").sum())
    series = load_counts(df, region=rc, date=dc, value=vc, file=file, freq=spec.frequency,
                         missing=project.missing, name=spec.label or spec.value, date_format=project.date_format)
    if n_blank and project.missing != "error":
        imputed = project.missing == "impute_zero"
        report.add(file, "missing: " + ("imputed" if imputed else "left out"), vc, n_blank,
                   "policy impute_zero" if imputed else f"policy {project.missing}; a forecast reads blank "
                                                        f"{_STEP.get(series.freq, 'step')}s as not reported")
    return series


_STEP = {"daily": "day", "weekly": "week", "monthly": "month"}


def _prepared_steps(project: Project, report: CleaningReport) -> None:
    """The steps of the ``prepared`` cleaning report, first in the run's."""
    df = read_tabular(project.prepared)
    cols = {c.strip().lower(): c for c in df.columns}
    missing = [c for c in ("file", "step", "column", "count") if c not in cols]
    if missing:
        raise ValidationError([Problem(project.prepared.name, 1, c, "required column is missing") for c in missing])
    count = pd.to_numeric(df[cols["count"]], errors="coerce")
    bad = np.flatnonzero(count.isna().to_numpy())[:20]
    if len(bad):
        raise ValidationError([Problem(project.prepared.name, sheet_row(df, i), cols["count"], "count: not a number",
                                       df[cols["count"]].iloc[i]) for i in bad])
    detail = df[cols["detail"]].fillna("") if "detail" in cols else pd.Series("", index=df.index)
    for f, st, c, n, d in zip(df[cols["file"]], df[cols["step"]], df[cols["column"]].fillna(""), count, detail):
        report.add(str(f), str(st), str(c), int(n), str(d))


def ingest(project: Project) -> Inputs:
    """Read and validate every input of ``project`` (nothing is stored here).

    Raises
    ------
    ValidationError
        The first file with broken rules, every problem in it listed with file, row, column and rule.
    """
    from equicare.data.load import fingerprint

    report = CleaningReport()
    if project.prepared is not None:
        _prepared_steps(project, report)
    regions, layer, warnings = read_regions(project, report)
    if regions.empty:
        raise EquicareError(f"{project.regions.file.name}: no regions")
    sub = sublayer = None
    if project.subregions is not None:
        sub, sublayer = read_subregions(project, regions, report)
    fac = (read_facilities(project, regions, layer, report, sub, sublayer, warnings)
           if project.facilities is not None else None)
    demand = read_demand(project, regions, report) if project.demand is not None else None
    fps = {}
    for spec in (project.regions, project.subregions, project.facilities, project.demand):
        if spec is not None:
            fps[spec.file.name] = fingerprint(spec.file)
    return Inputs(regions, layer, fac, demand, report, fps, warnings, sub, sublayer)
