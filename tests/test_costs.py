"""Cost matrices: great-circle and Euclidean with a cut-off, long tables; checked by brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from equicare.analyze.costs import (EARTH_RADIUS_KM, cost_matrix_from_long, cost_matrix_to_long,
                                    euclidean_costs, great_circle_costs, haversine_km, reach_mask)
from equicare.errors import ValidationError


def test_haversine_hand_worked():
    # one degree of latitude along a meridian is R*pi/180; a quarter of the equator is R*pi/2
    assert haversine_km(0, 10, 1, 10) == pytest.approx(EARTH_RADIUS_KM * math.pi / 180, rel=1e-12)
    assert haversine_km(0, 0, 0, 90) == pytest.approx(EARTH_RADIUS_KM * math.pi / 2, rel=1e-12)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(EARTH_RADIUS_KM * math.pi, rel=1e-12)


def test_great_circle_zero_distance_is_an_explicit_entry():
    c = great_circle_costs([40.0, 41.0], [-75.0, -75.0], [40.0, 60.0], [-75.0, 0.0], max_km=200)
    assert c.shape == (2, 2)
    assert c.nnz == 2  # (0,0) at 0 km and (1,0) at one degree of latitude; (.,1) out of reach
    assert c[0, 0] == 0.0 and (0 in c.indices[c.indptr[0]:c.indptr[1]])
    assert c[1, 0] == pytest.approx(EARTH_RADIUS_KM * math.pi / 180, rel=1e-12)
    assert reach_mask(c).toarray().tolist() == [[1.0, 0.0], [1.0, 0.0]]


def _county_and_hospital_coords(shared_data):
    cc = pd.read_csv(shared_data / "geo" / "county_population_centers_2020.csv", dtype=str)
    fac = pd.read_csv(shared_data / "capacity" / "facility.csv", usecols=["Latitude", "Longitude"]).dropna()
    return (cc.LATITUDE.astype(float).to_numpy(), cc.LONGITUDE.astype(float).to_numpy(),
            fac.Latitude.to_numpy(float), fac.Longitude.to_numpy(float))


def test_great_circle_equals_brute_force_on_real_data(shared_data):
    olat, olon, dlat, dlon = _county_and_hospital_coords(shared_data)
    rng = np.random.default_rng(0)
    oi = rng.choice(olat.size, 300, replace=False)
    olat, olon = olat[oi], olon[oi]
    c = great_circle_costs(olat, olon, dlat, dlon, max_km=100)
    full = haversine_km(olat[:, None], olon[:, None], dlat[None, :], dlon[None, :])
    i, j = np.nonzero(full <= 100)
    assert c.nnz == i.size
    np.testing.assert_allclose(np.asarray(c[i, j]).ravel(), full[i, j], rtol=1e-12, atol=1e-9)


def test_euclidean_equals_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 10_000, (200, 2)), rng.uniform(0, 10_000, (150, 2))
    b[0] = a[0]  # a zero distance
    c = euclidean_costs(a, b, 2500)
    full = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    i, j = np.nonzero(full <= 2500)
    assert c.nnz == i.size
    np.testing.assert_allclose(np.asarray(c[i, j]).ravel(), full[i, j], rtol=1e-12)
    assert c[0, 0] == 0.0 and c.indices[c.indptr[0]] == 0


def test_long_table_round_trip_and_cut_off():
    df = pd.DataFrame({"origin": ["a", "a", "b", "c"], "destination": [1, 2, 2, 1], "cost": [0.0, 5.0, 3.0, 9.0]})
    c = cost_matrix_from_long(df, ["a", "b", "c"], [1, 2])
    assert c.toarray().tolist() == [[0.0, 5.0], [0.0, 3.0], [9.0, 0.0]]
    assert c.nnz == 4  # the zero cost a->1 is stored
    back = cost_matrix_to_long(c, ["a", "b", "c"], ["1", "2"])
    assert back.cost.tolist() == [0.0, 5.0, 3.0, 9.0]
    assert cost_matrix_from_long(df, ["a", "b", "c"], [1, 2], max_cost=4).nnz == 2


def test_long_table_errors_name_row_and_column():
    df = pd.DataFrame({"origin": ["a", "x", "b", "a"], "destination": ["1", "1", "1", "1"],
                       "cost": [1.0, 2.0, -3.0, 4.0]})
    with pytest.raises(ValidationError) as e:
        cost_matrix_from_long(df, ["a", "b"], ["1"], file="C.csv")
    text = str(e.value)
    assert "C.csv, row 3, column 'origin': unknown origin id" in text
    assert "C.csv, row 4, column 'cost': cost must not be negative" in text
    assert "row 5" in text and "duplicate origin-destination pair" in text
    with pytest.raises(ValidationError, match="required column is missing"):
        cost_matrix_from_long(df.drop(columns="cost"), ["a"], ["1"])
