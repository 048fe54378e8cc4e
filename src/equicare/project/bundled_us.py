"""The bundled US surge-ICU scenario as an ordinary project: files written from the bundled data, then run by
:func:`equicare.project.run_project` like any planner's project.  ``equicare demo`` and ``equicare run
bundled:us`` both run it through :func:`run_bundled`.

The project declares ``id_format: us-fips`` (the only place US FIPS handling happens: zero padding and the
us-atlas maps), states as point regions (population-weighted centres of their counties) with their staffed
ICU beds and usual ICU occupancy (CovidCareMap) as region columns, counties as small areas (``subregions``,
where access and shortage areas are measured, as the demo always did), the hospitals with coordinates and
their county, and the FluSight weekly admissions (the national ``US`` series is kept for training the pooled
forecasters only).  The scenario parameters are the demo's (:class:`equicare.pipeline.DemoParams`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml

from equicare.pipeline import DemoParams

#: Name of ``equicare run bundled:us``.
BUNDLED = {"us": "Surge ICU beds for a severe influenza season (bundled US data)"}


def write_us_project(folder: str | Path, params: DemoParams | None = None) -> Path:
    """Write ``states.csv``, ``counties.csv``, ``hospitals.csv``, ``admissions.csv``, ``prepared.csv`` (the
    cleaning report of building them from the bundled sources) and ``project.yaml`` into ``folder``; returns the
    project file's path."""
    import shutil

    from equicare.csvout import write_csv
    from equicare.data.bundled import data_path, load_bundled

    p = params or DemoParams()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = load_bundled()
    cap = data.state_capacity[["state", "icu_beds", "icu_occupancy"]].rename(columns={"icu_beds": "staffed_icu_beds"})
    states = data.states[["id", "name", "population", "pop_65plus", "lat", "lon"]].merge(
        cap, left_on="id", right_on="state", how="left").drop(columns="state")
    # the package's one whole-number rule for written tables (populations and beds as 58805, not 58805.0)
    write_csv(states, folder / "states.csv")
    write_csv(data.counties[["id", "name", "parent", "population", "pop_65plus", "lat", "lon"]],
              folder / "counties.csv")
    f = data.facilities
    write_csv(pd.DataFrame({"id": f["id"], "name": f["name"], "state": f["state"], "county": f["region"],
                            "lat": f["lat"], "lon": f["lon"], "beds": f["cap_beds"], "icu_beds": f["cap_icu_beds"]}),
              folder / "hospitals.csv")
    shutil.copyfile(data_path("admissions"), folder / "admissions.csv")  # the hub's file as published
    write_csv(data.report.to_frame(), folder / "prepared.csv")  # how these files were built
    doc = {
        "name": BUNDLED["us"],
        "missing": "flag",
        "prepared": "prepared.csv",
        "suppress_threshold": p.suppress_threshold,
        "regions": {"file": "states.csv", "id": "id", "name": "name", "population": "population",
                    "population_65plus": "pop_65plus", "lat": "lat", "lon": "lon", "id_format": "us-fips"},
        "subregions": {"file": "counties.csv", "id": "id", "name": "name", "parent": "parent",
                       "population": "population", "population_65plus": "pop_65plus", "lat": "lat", "lon": "lon"},
        "facilities": {"file": "hospitals.csv", "id": "id", "name": "name", "lat": "lat", "lon": "lon",
                       "region": "state", "subregion": "county", "capacity": ["beds", "icu_beds"]},
        "demand": {"file": "admissions.csv", "region": "location", "date": "date", "value": "value",
                   "label": "influenza admissions"},
        "access": {"method": "2sfca", "supply": ["beds"], "max_km": p.catchment_km,
                   "shortage_fraction": p.shortage_fraction},
        "forecast": {"model": p.forecast_model, "extras": p.forecast_extras, "as_of": p.as_of,
                     "compare": list(p.compare_models), "baseline": p.baseline_model,
                     "holdout_start": p.holdout_start, "holdout_end": p.holdout_end},
        "allocate": {"resource": "icu_beds", "stock": p.stockpile, "need": "forecast_surge", "severity": p.severity,
                     "icu_fraction": p.icu_fraction, "icu_los_days": p.icu_los_days,
                     "target_occupancy": p.target_occupancy, "scenario_quantile": p.scenario_quantile,
                     "surge_cap_ratio": p.surge_cap_ratio, "capacity": "staffed_icu_beds",
                     "occupancy": "icu_occupancy", "as_of": p.as_of},
        "inequality": {"n_boot": p.n_boot},
    }
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_bundled(which: str = "us", out_dir: str | Path = "equicare-out", params: DemoParams | None = None, *,
                store_path: str | Path | None = None, progress=None, write_report: bool = True):
    """Write the bundled project ``which`` into ``out_dir/project`` (with ``params``, default the demo's) and
    run it with :func:`equicare.project.run_project`; returns its :class:`~equicare.project.ProjectResult`.

    Raises
    ------
    EquicareError
        An unknown bundled project name.
    """
    from equicare.errors import EquicareError
    from equicare.project.run import run_project

    if which not in BUNDLED:
        raise EquicareError(f"no bundled project {which!r}; choose one of {', '.join(BUNDLED)}")
    path = write_us_project(Path(out_dir) / "project", params)
    kw = {"progress": progress} if progress is not None else {}
    return run_project(path, out_dir, store_path=store_path, write_report=write_report, **kw)


def demo_params(severity: float | None = None, stockpile: int | None = None, as_of: str | None = None) -> DemoParams:
    """The demo's parameters with the command line's overrides (``None``: the default)."""
    changes = {"severity": severity, "stockpile": stockpile, "as_of": as_of}
    return replace(DemoParams(), **{k: v for k, v in changes.items() if v is not None})
