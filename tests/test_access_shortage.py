"""Shortage areas: hand-worked ranking, people affected, supply gap; and on real county data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equicare.analyze.shortage import provider_ratio, shortage_areas, shortage_summary
from equicare.errors import EquicareError


def test_shortage_ranking_and_supply_gap():
    ids = ["a", "b", "c", "d"]
    beds = [1.0, 5.0, 0.0, 3.0]
    pop = [1000.0, 1000.0, 2000.0, 1000.0]
    ratio = provider_ratio(beds, pop, per=1000)  # 1, 5, 0, 3 per 1,000
    np.testing.assert_allclose(ratio, [1.0, 5.0, 0.0, 3.0])
    tab = shortage_areas(ids, ratio, pop, threshold=2.0, per=1000)
    assert list(tab.id) == ["c", "a"]  # worst (largest gap) first
    np.testing.assert_allclose(tab.gap, [2.0, 1.0])
    np.testing.assert_allclose(tab.supply_gap, [4.0, 1.0])  # beds needed to reach 2 per 1,000
    np.testing.assert_allclose(tab.cumulative_population, [2000.0, 3000.0])
    np.testing.assert_allclose(tab.share_of_population, [0.4, 0.6])
    s = shortage_summary(tab, sum(pop))
    assert s == {"regions": 2, "people": 3000.0, "share_of_population": 0.6, "supply_gap": 5.0}


def test_relative_line_missing_and_cost_direction():
    ids = np.array(["a", "b", "c"])
    score = np.array([1.0, np.nan, 4.0])  # b: no provider in reach
    pop = np.array([1.0, 1.0, 2.0])
    # missing counts as 0: weighted mean (1*1 + 1*0 + 2*4)/4 = 2.25 -> half of it = 1.125
    tab = shortage_areas(ids, score, pop, 0.5, relative_to_mean=True)
    assert tab.line.iloc[0] == pytest.approx(1.125)
    assert list(tab.id) == ["b", "a"]
    # travel time: higher is worse
    tab = shortage_areas(ids, [10.0, 50.0, 70.0], pop, 60.0, higher_is_better=False)
    assert list(tab.id) == ["c"] and tab.gap.iloc[0] == pytest.approx(10.0)
    with pytest.raises(EquicareError):
        shortage_areas(ids, score, [1.0, -1.0, 1.0], 1.0)


def test_counties_below_half_the_national_bed_ratio(shared_data):
    county = pd.read_csv(shared_data / "capacity" / "county.csv")
    beds = county.filter(like="Staffed All Beds").iloc[:, 0].fillna(0).to_numpy(float)
    pop = county["Population"].fillna(0).to_numpy(float)
    ratio = provider_ratio(beds, pop)
    tab = shortage_areas(county["fips_code"].to_numpy(), ratio, pop, 0.5, relative_to_mean=True, per=1000)
    assert len(tab) > 0 and (np.diff(tab.gap) <= 1e-12).all()
    # independent check of the people affected
    ok = pop > 0
    line = 0.5 * np.sum(beds[ok]) / np.sum(pop[ok]) * 1000
    below = np.where(np.isfinite(ratio), ratio, 0) < line
    assert tab.population.sum() == pytest.approx(pop[below].sum())
