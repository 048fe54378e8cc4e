"""The bundled real US data, turned into the core tables through the same validation as any upload.

Sources (see ``files/README.md`` for licences): CovidCareMap hospital capacity, Census 2020 county
population centres, CMS hospital quality ratings and 2018 county age structure, and CDC FluSight weekly
influenza admissions.  Every join between sources is counted in the cleaning report: FIPS vintages and
county names differ between files, and rows that do not join are reported, never lost silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.clean import CleaningReport, pad_fips, percent_to_fraction
from equicare.data.load import fingerprint, load_table, read_file

FILES = {
    "facility": "capacity/facility.csv",
    "state_capacity": "capacity/state.csv",
    "county_capacity": "capacity/county.csv",
    "county_centres": "geo/county_population_centers_2020.csv",
    "county_ages": "cms/county_population_2018.csv",
    "quality": "cms/hospital_general_information.csv",
    "admissions": "flusight/target-hospital-admissions.csv",
    "locations": "flusight/locations.csv",
    "states_map": "us-atlas/states-albers-10m.json",
    "counties_map": "us-atlas/counties-albers-10m.json",
}

AGE65 = ["est2018_65to69", "est2018_70to74", "est2018_75to79", "est2018_80to84", "est2018_85plus"]


def data_path(key: str) -> Path:
    """Path of a bundled file, by key of :data:`FILES` or by relative path."""
    rel = FILES.get(key, key)
    return Path(str(resources.files("equicare.data").joinpath("files", rel)))


@dataclass
class BundledData:
    """The core tables built from the bundled files."""

    counties: pd.DataFrame
    states: pd.DataFrame
    facilities: pd.DataFrame
    demand: pd.DataFrame
    state_capacity: pd.DataFrame
    report: CleaningReport
    fingerprints: dict[str, str] = field(default_factory=dict)

    def tables(self) -> dict[str, tuple[str, pd.DataFrame, str]]:
        """name -> (kind, table, source file), for saving in the store."""
        return {"counties": ("regions", self.counties, FILES["county_centres"]),
                "states": ("regions", self.states, FILES["county_centres"]),
                "facilities": ("facilities", self.facilities, FILES["facility"]),
                "flu_admissions": ("demand", self.demand, FILES["admissions"]),
                "state_capacity": ("state_capacity", self.state_capacity, FILES["state_capacity"])}


_SUFFIXES = re.compile(r"\b(COUNTY|PARISH|BOROUGH|CITY AND BOROUGH|CENSUS AREA|MUNICIPALITY|MUNICIPIO)\b")


def county_key(name: pd.Series) -> pd.Series:
    """Normalise county names for matching: upper case, 'St.' -> 'SAINT', suffixes and punctuation removed."""
    s = name.astype("string").str.upper().str.strip()
    s = s.str.replace(r"^STE?\.?\s", lambda m: "SAINTE " if m.group(0).startswith("STE") else "SAINT ", regex=True)
    s = s.str.replace(r"\bST\.?\s", "SAINT ", regex=True)
    s = s.str.replace(_SUFFIXES, "", regex=True)
    s = s.str.replace(r"[^A-Z]", "", regex=True)
    return s


def _locations() -> pd.DataFrame:
    loc = read_file(data_path("locations"))
    loc["location"] = pad_fips(loc["location"])
    loc["population"] = pd.to_numeric(loc["population"])
    return loc


def build_counties(report: CleaningReport) -> pd.DataFrame:
    """Counties: 2020 population centres joined with 2018 age structure (for people aged 65+)."""
    label = "geo/county_population_centers_2020.csv"
    geo = read_file(data_path("county_centres"))
    geo["id"] = pad_fips(geo["STATEFP"], 2) + pad_fips(geo["COUNTYFP"], 3)
    ages = read_file(data_path("county_ages"))
    before = ages["statecountyfips"].astype("string").str.strip()
    ages["id"] = pad_fips(ages["statecountyfips"], 5)
    report.add("cms/county_population_2018.csv", "FIPS zero-padded", "statecountyfips",
               int((ages["id"] != before).sum()), "4-digit codes padded to 5")
    ages["pop_65plus"] = ages[AGE65].apply(pd.to_numeric).sum(axis=1)
    bands = [c for c in ages.columns if c.startswith("est2018_") and c != "est2018_all"]
    band_frame = ages[["id"]].copy()
    for c in bands:
        band_frame["pop_" + c.removeprefix("est2018_")] = pd.to_numeric(ages[c])
    band_frame["pop_65plus"] = ages["pop_65plus"]
    joined = geo.merge(band_frame, on="id", how="left", indicator=True)
    no_age = joined["_merge"] == "left_only"
    report.add(label, "join: no 2018 age structure", "id", int(no_age.sum()),
               "2020 counties without a 2018 CMS age row (FIPS vintages differ, e.g. Alaska, Connecticut, "
               "Puerto Rico); pop_65plus kept missing")
    unused = ~ages["id"].isin(geo["id"])
    report.add("cms/county_population_2018.csv", "join: county not in 2020 centres", "statecountyfips",
               int(unused.sum()), "2018 counties with no 2020 centre (FIPS vintage); not used")
    out = pd.DataFrame({
        "id": joined["id"], "name": joined["COUNAME"] + ", " + joined["STNAME"],
        "parent": joined["id"].str[:2], "population": joined["POPULATION"],
        "lat": joined["LATITUDE"].str.replace("+", "", regex=False),
        "lon": joined["LONGITUDE"].str.replace("+", "", regex=False),
    })
    for c in band_frame.columns[1:]:
        out[c] = joined[c]
    table, _ = load_table(out, "regions", name=label, report=report)
    return table


def build_states(counties: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """States, DC and Puerto Rico: county sums, population-weighted centres, names from FluSight locations."""
    loc = _locations().set_index("location")
    w = counties["population"]
    g = counties.assign(wlat=counties["lat"] * w, wlon=counties["lon"] * w).groupby("parent")
    st = pd.DataFrame({
        "population": g["population"].sum(),
        "pop_65plus": g["pop_65plus"].sum(min_count=1),
        "lat": g["wlat"].sum() / g["population"].sum(),
        "lon": g["wlon"].sum() / g["population"].sum(),
    })
    st.index.name = "id"
    st = st.reset_index()
    incomplete = counties.groupby("parent")["pop_65plus"].apply(lambda s: s.isna().any())
    st.loc[st["id"].isin(incomplete[incomplete].index), "pop_65plus"] = np.nan
    report.add("geo/county_population_centers_2020.csv", "aggregate: state 65+ kept missing", "pop_65plus",
               int(incomplete.sum()), "states with a county lacking 2018 age data (no partial sums)")
    st["name"] = st["id"].map(loc["location_name"])
    st["abbr"] = st["id"].map(loc["abbreviation"])
    st["parent"] = "US"
    table, _ = load_table(st[["id", "name", "parent", "population", "pop_65plus", "lat", "lon", "abbr"]],
                          "regions", name="states (aggregated from counties)", report=report)
    return table


def _match_county(fac: pd.DataFrame, counties: pd.DataFrame, report: CleaningReport, label: str) -> pd.Series:
    """County FIPS for each facility: by state and county name, else the nearest county centre in the state."""
    ckey = counties.assign(key=county_key(counties["name"].str.split(",").str[0]))
    lookup = ckey.drop_duplicates(["parent", "key"]).set_index(["parent", "key"])["id"]
    keys = pd.MultiIndex.from_arrays([fac["state_fips"], county_key(fac["County"])])
    region = pd.Series(lookup.reindex(keys).to_numpy(), index=fac.index, dtype="object")
    todo = region.isna()
    report.add(label, "join: county matched by name", "County", int((~todo).sum()),
               "state + normalised county name matched a 2020 county")
    if todo.any():
        lat = np.radians(fac.loc[todo, "lat"].astype(float).to_numpy())
        lon = np.radians(fac.loc[todo, "lon"].astype(float).to_numpy())
        states = fac.loc[todo, "state_fips"].to_numpy()
        filled = []
        for s in np.unique(states):
            cs = counties[counties["parent"] == s]
            m = states == s
            if cs.empty:
                filled.append(pd.Series([None] * m.sum(), index=fac.index[todo][m]))
                continue
            clat, clon = np.radians(cs["lat"].to_numpy()), np.radians(cs["lon"].to_numpy())
            d = (np.sin((lat[m, None] - clat) / 2) ** 2
                 + np.cos(lat[m, None]) * np.cos(clat) * np.sin((lon[m, None] - clon) / 2) ** 2)
            filled.append(pd.Series(cs["id"].to_numpy()[np.argmin(d, axis=1)], index=fac.index[todo][m]))
        near = pd.concat(filled)
        region.loc[near.index] = near
        report.add(label, "join: county by nearest centre", "County", int(near.notna().sum()),
                   "county name did not match (spelling, independent cities); nearest 2020 county centre in "
                   "the same state used")
    return region


def build_facilities(counties: pd.DataFrame, states: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Hospitals with county, capacity per resource type, usual occupancy and CMS quality rating.

    Missing-value policies (stated, and counted in the report): staffed beds missing are imputed as
    licensed beds times the median staffed/licensed ratio of hospitals that report both; staffed ICU
    beds and occupancy rates missing are kept missing and flagged; the quality rating is missing where
    CMS has none ("Not Available").
    """
    label = "capacity/facility.csv"
    fac = read_file(data_path("facility"))
    abbr_to_fips = _locations().set_index("abbreviation")["location"]
    fac["state_fips"] = fac["State"].map(abbr_to_fips)
    keep = fac["state_fips"].isin(states["id"])
    report.add(label, "excluded: outside states, DC and PR", "State", int((~keep).sum()),
               "territories without county population data: " + ", ".join(sorted(fac.loc[~keep, "State"].unique())))
    fac = fac.loc[keep].reset_index(drop=True)
    fac["lat"] = pd.to_numeric(fac["Latitude"])
    fac["lon"] = pd.to_numeric(fac["Longitude"])
    fac["region"] = _match_county(fac, counties, report, label)

    staffed = pd.to_numeric(fac["Staffed All Beds"])
    licensed = pd.to_numeric(fac["Licensed All Beds"])
    both = staffed.notna() & licensed.notna() & (licensed > 0)
    ratio = float(np.median(staffed[both] / licensed[both]))
    fill = staffed.isna() & licensed.notna()
    staffed = staffed.where(~fill, np.round(licensed * ratio))
    report.add(label, "missing: imputed", "cap_beds", int(fill.sum()),
               f"staffed beds = licensed beds x {ratio:.3f} (median staffed/licensed ratio of "
               f"{int(both.sum())} hospitals reporting both)")

    qual = read_file(data_path("quality"))
    qual["ccn"] = pad_fips(qual["Facility ID"], 6)
    rating = pd.to_numeric(qual.set_index("ccn")["Hospital overall rating"], errors="coerce")
    ccn = pad_fips(fac["HCRIS-ID"], 6)
    quality = ccn.map(rating)
    report.add(label, "join: CMS quality rating", "quality", int(quality.notna().sum()),
               f"HCRIS provider number matched CMS Hospital Compare with a star rating; "
               f"{int(ccn.notna().sum() - quality.notna().sum())} with a number but no rating, "
               f"{int(ccn.isna().sum())} with no provider number (kept missing)")

    out = pd.DataFrame({
        "id": fac["CCM_ID"], "name": fac["Name"], "region": fac["region"], "state": fac["state_fips"],
        "type": fac["Hospital Type"], "lat": fac["lat"], "lon": fac["lon"],
        "cap_beds": staffed, "cap_icu_beds": pd.to_numeric(fac["Staffed ICU Beds"]),
        "cap_licensed_beds": licensed,
        "occ_beds": pd.to_numeric(fac["All Bed Occupancy Rate"]),
        "occ_icu_beds": pd.to_numeric(fac["ICU Bed Occupancy Rate"]),
        "quality": quality,
    })
    for col in ("occ_beds", "occ_icu_beds"):
        out = percent_to_fraction(out, col, report, label)
    table, _ = load_table(out, "facilities", name=label, regions=set(counties["id"]), report=report)
    return table


def build_demand(states: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Weekly confirmed influenza admissions by state (the national row is kept out of state demand)."""
    label = "flusight/target-hospital-admissions.csv"
    raw = read_file(data_path("admissions"))
    nat = raw["location"] == "US"
    report.add(label, "excluded: national total", "location", int(nat.sum()),
               "the US row is the sum of the states; kept out of state-level demand")
    raw = raw.loc[~nat]
    out = pd.DataFrame({"region": raw["location"], "date": raw["date"], "value": raw["value"]})
    table, _ = load_table(out, "demand", name=label, regions=set(states["id"]), report=report)
    return table.sort_values(["region", "date"]).reset_index(drop=True)


def build_state_capacity(states: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Staffed ICU beds, usual ICU occupancy and ventilators by state (CovidCareMap aggregates)."""
    label = "capacity/state.csv"
    raw = read_file(data_path("state_capacity"))
    abbr_to_fips = states.set_index("abbr")["id"]
    vent = [c for c in raw.columns if c.startswith("Estimated No. Full-Featured Mechanical Ventilators (")]
    out = pd.DataFrame({
        "state": raw["State"].map(abbr_to_fips), "abbr": raw["State"],
        "beds": pd.to_numeric(raw["Staffed All Beds"]), "icu_beds": pd.to_numeric(raw["Staffed ICU Beds"]),
        "bed_occupancy": pd.to_numeric(raw["All Bed Occupancy Rate"]),
        "icu_occupancy": pd.to_numeric(raw["ICU Bed Occupancy Rate"]),
        "ventilators": pd.to_numeric(raw[vent[0]]) if vent else np.nan,
    })
    missing_states = sorted(set(states["id"]) - set(out["state"]))
    report.add(label, "join: state without capacity row", "State", len(missing_states),
               "no CovidCareMap state row: " + ", ".join(states.set_index("id").loc[missing_states, "name"]))
    for col in ("bed_occupancy", "icu_occupancy"):
        out = percent_to_fraction(out, col, report, label)
    return out


def load_bundled(report: CleaningReport | None = None) -> BundledData:
    """Build every core table from the bundled files, with one cleaning report for all of them."""
    report = report if report is not None else CleaningReport()
    counties = build_counties(report)
    states = build_states(counties, report)
    facilities = build_facilities(counties, states, report)
    demand = build_demand(states, report)
    state_capacity = build_state_capacity(states, report)
    fps = {FILES[k]: fingerprint(data_path(k)) for k in
           ("facility", "state_capacity", "county_centres", "county_ages", "quality", "admissions", "locations")}
    return BundledData(counties, states, facilities, demand, state_capacity, report, fps)
