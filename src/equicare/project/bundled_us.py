"""The bundled US surge-ICU scenario as an ordinary project: files written from the bundled data, then run by
:func:`equicare.project.run_project` like any planner's project.

The project declares ``id_format: us-fips`` (the only place US FIPS handling happens), states as point
regions (population-weighted centres of their counties) with their staffed ICU beds and usual ICU occupancy
(CovidCareMap) as region columns, the hospitals with coordinates, and the FluSight weekly admissions (the
national ``US`` series is kept for training the pooled forecasters only, as the demo does).  The scenario
parameters are the demo's (:class:`equicare.pipeline.DemoParams`), so the key figures are the demo's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from equicare.pipeline import DemoParams

#: Name of ``equicare run bundled:us``.
BUNDLED = {"us": "Surge ICU beds for a severe influenza season (bundled US data)"}


def write_us_project(folder: str | Path, params: DemoParams | None = None) -> Path:
    """Write ``states.csv``, ``hospitals.csv``, ``admissions.csv`` and ``project.yaml`` into ``folder``."""
    from equicare.data.bundled import data_path, load_bundled

    p = params or DemoParams()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = load_bundled()
    cap = data.state_capacity[["state", "icu_beds", "icu_occupancy"]]
    states = cap.merge(data.states[["id", "name", "population", "lat", "lon"]], left_on="state", right_on="id")
    states = states[["id", "name", "population", "lat", "lon", "icu_beds", "icu_occupancy"]]
    states.to_csv(folder / "states.csv", index=False)
    f = data.facilities
    f = f[f["lat"].notna() & f["lon"].notna() & f["state"].isin(set(states["id"]))]
    pd.DataFrame({"id": f["id"], "name": f["name"], "state": f["state"], "lat": f["lat"], "lon": f["lon"],
                  "beds": f["cap_beds"], "icu_beds": f["cap_icu_beds"]}).to_csv(folder / "hospitals.csv", index=False)
    shutil.copyfile(data_path("admissions"), folder / "admissions.csv")
    doc = {
        "name": BUNDLED["us"],
        "missing": "flag",
        "regions": {"file": "states.csv", "id": "id", "name": "name", "population": "population", "lat": "lat",
                    "lon": "lon", "id_format": "us-fips"},
        "facilities": {"file": "hospitals.csv", "id": "id", "name": "name", "lat": "lat", "lon": "lon",
                       "region": "state", "capacity": ["beds", "icu_beds"]},
        "demand": {"file": "admissions.csv", "region": "location", "date": "date", "value": "value"},
        "forecast": {"model": p.forecast_model, "extras": True, "as_of": p.as_of, "compare": list(p.compare_models),
                     "baseline": p.baseline_model, "holdout_start": p.holdout_start, "holdout_end": p.holdout_end},
        "allocate": {"resource": "icu_beds", "stock": p.stockpile, "need": "forecast_surge", "severity": p.severity,
                     "scenario_quantile": p.scenario_quantile, "capacity": "icu_beds", "occupancy": "icu_occupancy",
                     "as_of": p.as_of},
        "inequality": {"n_boot": p.n_boot},
    }
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
