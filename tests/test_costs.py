"""Cost matrices: great-circle and Euclidean with a cut-off, long tables; checked by brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------------------------ coordinates out of range (issue #11, item 8)
def test_swapped_latitude_and_longitude_are_refused():
    """Los Angeles as (lat 34.05, lon -118.24); swapped, its latitude -118.24 is off the globe: an error
    naming the point, not a distance of thousands of km."""
    from equicare.errors import EquicareError

    with pytest.raises(EquicareError, match=r"origin latitude at position 0 .* -118.24, outside \[-90, 90\].*swapped"):
        great_circle_costs([-118.24], [34.05], [40.71], [-74.01], max_km=20_000)
    with pytest.raises(EquicareError, match=r"destination longitude at position 1 .* 190"):
        great_circle_costs([34.05], [-118.24], [40.71, 10.0], [-74.01, 190.0], max_km=100)
    with pytest.raises(EquicareError, match="latitude -91"):
        haversine_km(-91, 0, 0, 0)
    with pytest.raises(EquicareError, match="max_km"):
        great_circle_costs([34.05], [-118.24], [40.71], [-74.01], max_km=float("nan"))
    with pytest.raises(EquicareError, match="radius_km"):
        great_circle_costs([34.05], [-118.24], [40.71], [-74.01], max_km=10, radius_km=0)
    # the edges of the range are valid points
    c = great_circle_costs([90.0, -90.0], [180.0, -180.0], [90.0], [0.0], max_km=30_000)
    assert c.nnz == 2 and c[0, 0] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(-200, 200), st.floats(-400, 400))
def test_coordinates_are_accepted_exactly_when_on_the_globe(lat, lon):
    from equicare.errors import EquicareError

    on_globe = -90 <= lat <= 90 and -180 <= lon <= 180
    try:
        c = great_circle_costs([lat], [lon], [0.0], [0.0], max_km=30_000)
    except EquicareError:
        assert not on_globe
    else:
        assert on_globe and c.nnz == 1
        assert c[0, 0] == pytest.approx(haversine_km(lat, lon, 0.0, 0.0), abs=1e-9)
