"""Post-hoc diagnostic of round 4 (not a selection or test figure): the 2024-25 real-time back-test of the default,
with the two holiday-week reference dates (2024-12-28, 2025-01-04) forecast from the Thursday release (R - 2) of
week R - 7 instead of the data as of R - 3 (which lacked it).  Run: ``python bench/round4_holiday_check.py``."""
import time, pandas as pd
from pathlib import Path
from equicare.forecast import backtest, forecast, load_truth, load_forecasts, score
from equicare.forecast.extras import bundled_extras
from equicare.forecast.models import QuantileEnsemble
from equicare.forecast.vintages import load_vintages
S = Path('/work/shared/data/flusight/season-2024-25')
ex = bundled_extras(); v = load_vintages('/work/shared/data/flusight/vintages/admissions-vintages.csv.gz')
m = QuantileEnsemble(augment=ex.augment)
rt = backtest(None, '2024-11-23', '2025-05-31', model=m, history=ex.history, vintages=v)
rt.to_parquet('/tmp/round4-2024-25-ens-rt.parquet')
truth = load_truth(S/'target-hospital-admissions.csv'); base = load_forecasts(S/'FluSight-baseline-2024-25.csv.gz')
print('real time R-3', score(truth, rt, versus=base)['wis_ratio'], flush=True)
parts = [rt[~rt.reference_date.isin(['2024-12-28', '2025-01-04'])]]
for R in ('2024-12-28', '2025-01-04'):
    snap = v.snapshot(pd.Timestamp(R) - pd.Timedelta(days=2))
    parts.append(forecast(snap, R, model=m, history=ex.history))
alt = pd.concat(parts, ignore_index=True)
r = score(truth, alt, versus=base)
print('holiday weeks from the Thursday release', r['wis_ratio'], r['coverage_95'], [round(x['wis_ratio'],3) for x in r['by_horizon'].values()], flush=True)
