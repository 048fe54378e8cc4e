"""Origin-destination cost matrices for spatial access: from long tables or from coordinates.

Every function here returns a :class:`scipy.sparse.csr_matrix` of shape ``(n_origins, n_destinations)``
in canonical form (sorted column indices, no duplicates) that holds **only the pairs within the
cut-off**. A pair that is absent is "out of reach"; a pair at cost ``0`` (a facility in the same
place as the population centre, or the same tract on both sides) is stored as an **explicit
entry whose value is 0.0**. No epsilon is added, so costs stay exact. The consequence for callers:
work on ``.data`` / ``.indices`` / ``.indptr`` (as :mod:`equicare.analyze.access` does), or on
:func:`reach_mask`, and never call ``eliminate_zeros()`` or sparse arithmetic that drops explicit
zeros (``cost > 0``, ``cost.multiply(...)``) before deciding what is in reach.

Distances are computed with a spatial index (:class:`scipy.spatial.cKDTree`) queried with the
cut-off radius, never as an all-pairs matrix, so memory grows with the number of pairs in reach.
Great-circle distances use 3-D unit vectors: the index is searched with the chord length that
corresponds to the cut-off, and each pair found is then given its exact haversine distance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from equicare.data.readers import sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError, plain_text

#: Mean Earth radius (IUGG R1), km.
EARTH_RADIUS_KM = 6371.0088

__all__ = [
    "EARTH_RADIUS_KM",
    "great_circle_costs",
    "euclidean_costs",
    "haversine_km",
    "cost_matrix_from_long",
    "cost_matrix_to_long",
    "reach_mask",
]


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Great-circle distance in km between points given in decimal degrees (element-wise).

    Uses the haversine formula
    :math:`d = 2R\\arcsin\\sqrt{\\sin^2(\\Delta\\varphi/2) + \\cos\\varphi_1\\cos\\varphi_2\\sin^2(\\Delta\\lambda/2)}`
    (Sinnott 1984, "Virtues of the haversine", Sky & Telescope 68(2):159), which is accurate for
    small distances, on a sphere of radius ``radius_km`` (default: IUGG mean radius 6371.0088 km).
    Raises :class:`~equicare.errors.EquicareError` for a latitude outside [-90, 90] or a longitude
    outside [-180, 180] (NaN passes through as NaN).
    """
    lat1, lon1, lat2, lon2 = (np.asarray(a, float) for a in (lat1, lon1, lat2, lon2))
    for what, arrays, lim in (("latitude", (lat1, lat2), 90.0), ("longitude", (lon1, lon2), 180.0)):
        for a in arrays:
            if np.any(np.abs(a) > lim):
                v = float(a[np.abs(a) > lim].ravel()[0])
                raise EquicareError(f"haversine_km: {what} {v:g} is outside [{-lim:g}, {lim:g}] decimal degrees")
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * radius_km * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lmb = np.radians(lat), np.radians(lon)
    c = np.cos(phi)
    return np.column_stack([c * np.cos(lmb), c * np.sin(lmb), np.sin(phi)])


def _check_coords(name: str, *arrays: np.ndarray) -> None:
    for a in arrays:
        if a.ndim != 1:
            raise EquicareError(f"{name}: coordinates must be 1-D arrays")
        if not np.all(np.isfinite(a)):
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            raise EquicareError(f"{name}: coordinate at position {bad} is missing or not finite")


def _check_lat_lon(name: str, which: str, lat: np.ndarray, lon: np.ndarray) -> None:
    """Latitudes in [-90, 90] and longitudes in [-180, 180] (decimal degrees), else an error naming the
    first bad point."""
    for what, a, lim in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        bad = np.flatnonzero(np.abs(a) > lim)
        if bad.size:
            k = int(bad[0])
            hint = " (are latitude and longitude swapped?)" if what == "latitude" and abs(lon[k]) <= 90 else ""
            raise EquicareError(f"{name}: {which} {what} at position {k} (0-based) is {float(a[k]):g}, outside "
                                f"[{-lim:g}, {lim:g}] decimal degrees{hint}; {bad.size} point(s) out of range")


def _pairs_to_csr(i: np.ndarray, j: np.ndarray, d: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    order = np.lexsort((j, i))
    i, j, d = i[order], j[order], d[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=shape[0]), out=indptr[1:])
    m = sp.csr_matrix((d.astype(float), j.astype(np.int32), indptr), shape=shape)
    m.has_canonical_format = True  # sorted by (row, column), one entry per pair
    return m


def great_circle_costs(orig_lat, orig_lon, dest_lat, dest_lon, max_km: float,
                       radius_km: float = EARTH_RADIUS_KM) -> sp.csr_matrix:
    """Great-circle distances (km) from origins to destinations, only for pairs within ``max_km``.

    Parameters
    ----------
    orig_lat, orig_lon, dest_lat, dest_lon : array_like
        Decimal degrees (WGS84 latitude/longitude treated as a sphere); latitudes must lie in
        [-90, 90] and longitudes in [-180, 180], else :class:`~equicare.errors.EquicareError`
        (swapped latitude and longitude are caught this way whenever a longitude exceeds 90).
    max_km : float
        Cut-off; pairs with distance ``<= max_km`` are kept.
    radius_km : float
        Sphere radius, default the IUGG mean Earth radius 6371.0088 km.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_origins, n_destinations)``, km, canonical CSR. Zero distances are stored as explicit
        entries with value 0.0 (see the module docstring).

    Notes
    -----
    Destinations are indexed in a k-d tree on 3-D unit vectors; each origin is searched with the
    chord :math:`c = 2\\sin(\\theta/2)`, :math:`\\theta = \\text{max\\_km}/R` (slightly enlarged so
    no pair is lost to rounding); the pairs found get their haversine distance and are filtered
    to ``<= max_km`` exactly. Cost is :math:`O((n+m)\\log m + \\text{pairs})`, never ``n*m``.
    """
    olat, olon = np.asarray(orig_lat, float), np.asarray(orig_lon, float)
    dlat, dlon = np.asarray(dest_lat, float), np.asarray(dest_lon, float)
    _check_coords("great_circle_costs", olat, olon, dlat, dlon)
    if olat.shape != olon.shape or dlat.shape != dlon.shape:
        raise EquicareError("great_circle_costs: latitude and longitude arrays differ in length")
    _check_lat_lon("great_circle_costs", "origin", olat, olon)
    _check_lat_lon("great_circle_costs", "destination", dlat, dlon)
    if not (isinstance(max_km, (int, float, np.integer, np.floating)) and max_km >= 0):
        raise EquicareError(f"great_circle_costs: max_km must be a number >= 0 (value: {plain_text(max_km)})")
    if not (isinstance(radius_km, (int, float, np.integer, np.floating)) and 0 < radius_km < np.inf):
        raise EquicareError(f"great_circle_costs: radius_km must be a number > 0 (value: {plain_text(radius_km)})")
    shape = (olat.size, dlat.size)
    if olat.size == 0 or dlat.size == 0:
        return sp.csr_matrix(shape, dtype=float)
    theta = min(max_km / radius_km, np.pi)
    chord = 2.0 * np.sin(theta / 2.0) * (1.0 + 1e-9) + 1e-12
    tree_o = cKDTree(_unit_vectors(olat, olon))
    tree_d = cKDTree(_unit_vectors(dlat, dlon))
    pairs = tree_o.sparse_distance_matrix(tree_d, chord, output_type="ndarray")
    i = pairs["i"].astype(np.int64)
    j = pairs["j"].astype(np.int64)
    d = haversine_km(olat[i], olon[i], dlat[j], dlon[j], radius_km)
    keep = d <= max_km
    return _pairs_to_csr(i[keep], j[keep], d[keep], shape)


def euclidean_costs(orig_xy, dest_xy, max_dist: float) -> sp.csr_matrix:
    """Euclidean distances between projected points, only for pairs within ``max_dist``.

    Parameters
    ----------
    orig_xy, dest_xy : array_like, shape (n, 2) and (m, 2)
        Projected coordinates (e.g. metres in a local CRS such as EPSG:2790).
    max_dist : float
        Cut-off in the same unit; pairs with distance ``<= max_dist`` are kept.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n, m)`` canonical CSR; zero distances are explicit entries (see the module docstring).
    """
    o = np.asarray(orig_xy, float).reshape(-1, 2)
    d = np.asarray(dest_xy, float).reshape(-1, 2)
    _check_coords("euclidean_costs", o.ravel(), d.ravel())
    if not max_dist >= 0:
        raise EquicareError(f"euclidean_costs: max_dist must be >= 0 (value: {plain_text(max_dist)})")
    shape = (o.shape[0], d.shape[0])
    if 0 in shape:
        return sp.csr_matrix(shape, dtype=float)
    pairs = cKDTree(o).sparse_distance_matrix(cKDTree(d), max_dist, output_type="ndarray")
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    dist = np.hypot(o[i, 0] - d[j, 0], o[i, 1] - d[j, 1])
    keep = dist <= max_dist
    return _pairs_to_csr(i[keep], j[keep], dist[keep], shape)


def _as_str_ids(values: Sequence | pd.Series | np.ndarray) -> pd.Index:
    return pd.Index(pd.Series(np.asarray(values, dtype=object)).astype(str).str.strip(), dtype=object)


def cost_matrix_from_long(df: pd.DataFrame, origin_ids, dest_ids, *, origin_col: str = "origin",
                          dest_col: str = "destination", cost_col: str = "cost",
                          max_cost: float | None = None, file: str = "cost table",
                          allow_unknown: bool = False) -> sp.csr_matrix:
    """Sparse cost matrix from a long ``origin,destination,cost`` table.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per origin-destination pair.
    origin_ids, dest_ids : sequence
        The ids that define the rows and the columns of the result, in that order (for example
        the ``id`` column of the demand file and of the supply file). Ids are compared as
        stripped strings, so ``17031010100`` and ``"17031010100"`` match.
    origin_col, dest_col, cost_col : str
        Column names in ``df``.
    max_cost : float, optional
        Keep only pairs with ``cost <= max_cost``.
    file : str
        Name used in error messages.
    allow_unknown : bool
        If False (default) an id in ``df`` that is not in ``origin_ids``/``dest_ids`` is an
        error; if True such rows are dropped.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(len(origin_ids), len(dest_ids))``; zero costs are explicit entries.

    Raises
    ------
    ValidationError
        Missing columns, unknown ids, missing/non-numeric/negative costs, duplicate pairs; each
        problem names the file, the 1-based data row and the column.
    """
    problems: list[Problem] = []
    for col in (origin_col, dest_col, cost_col):
        if col not in df.columns:
            problems.append(Problem(file, None, col, "required column is missing"))
    if problems:
        raise ValidationError(problems)
    oidx, didx = _as_str_ids(origin_ids), _as_str_ids(dest_ids)
    for name, idx in (("origin ids", oidx), ("destination ids", didx)):
        if not idx.is_unique:
            dup = idx[idx.duplicated()][0]
            raise EquicareError(f"{file}: {name} are not unique (value: {plain_text(dup)})")
    o = oidx.get_indexer(_as_str_ids(df[origin_col]))
    d = didx.get_indexer(_as_str_ids(df[dest_col]))
    c = pd.to_numeric(df[cost_col], errors="coerce").to_numpy(float)
    rows = sheet_rows(df, np.arange(len(df)))

    def _report(mask: np.ndarray, column: str, rule: str, values) -> None:
        for k in np.flatnonzero(mask)[:50]:
            v = values[k]
            problems.append(Problem(file, int(rows[k]), column, rule, v.item() if isinstance(v, np.generic) else v))

    wide = df.attrs.get("wide_origin_column")
    from equicare.data.clean import lost_zeros_hint

    o_hint = lost_zeros_hint(sorted(set(_as_str_ids(df[origin_col])[o < 0]))[:50], list(oidx)) if (o < 0).any() else ""
    d_hint = lost_zeros_hint(sorted(set(_as_str_ids(df[dest_col])[d < 0]))[:50], list(didx)) if (d < 0).any() else ""
    if not allow_unknown and wide is not None:  # a wide matrix: one message per unknown row or column header
        for v in pd.unique(df[dest_col].to_numpy(object)[d < 0])[:50]:
            problems.append(Problem(file, 1, str(v), "unknown destination id: this column of the matrix is not a "
                                                     "supply id" + d_hint, v))
        seen_o: set = set()
        for k in np.flatnonzero(o < 0):
            v = df[origin_col].iloc[k]
            if v not in seen_o and len(seen_o) < 50:
                seen_o.add(v)
                problems.append(Problem(file, int(rows[k]), wide, "unknown origin id (not in the demand ids)" + o_hint,
                                        v))
    elif not allow_unknown:
        _report(o < 0, origin_col, "unknown origin id (not in the demand ids)" + o_hint, df[origin_col].to_numpy())
        _report(d < 0, dest_col, "unknown destination id (not in the supply ids)" + d_hint, df[dest_col].to_numpy())
    _report(~np.isfinite(c), cost_col, "cost is missing or not a number", df[cost_col].to_numpy())
    _report(np.isfinite(c) & (c < 0), cost_col, "cost must not be negative", c)
    keep = (o >= 0) & (d >= 0)
    pair = o[keep].astype(np.int64) * max(len(didx), 1) + d[keep]
    if pair.size and np.unique(pair).size != pair.size:
        _, first, counts = np.unique(pair, return_index=True, return_counts=True)
        seen = np.zeros(pair.size, bool)
        seen[first] = True
        dup_rows = rows[keep][~seen]
        for r in dup_rows[:20]:
            problems.append(Problem(file, int(r), f"{origin_col},{dest_col}", "duplicate origin-destination pair"))
    if problems:
        raise ValidationError(problems)
    o, d, c = o[keep], d[keep], c[keep]
    if max_cost is not None:
        within = c <= max_cost
        o, d, c = o[within], d[within], c[within]
    return _pairs_to_csr(o.astype(np.int64), d.astype(np.int64), c, (len(oidx), len(didx)))


def cost_matrix_to_long(cost: sp.csr_matrix, origin_ids, dest_ids) -> pd.DataFrame:
    """The inverse of :func:`cost_matrix_from_long`: a long ``origin,destination,cost`` table."""
    cost = sp.csr_matrix(cost)
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    return pd.DataFrame({"origin": np.asarray(origin_ids)[rows],
                         "destination": np.asarray(dest_ids)[cost.indices],
                         "cost": cost.data})


def reach_mask(cost: sp.csr_matrix, max_cost: float | None = None) -> sp.csr_matrix:
    """Boolean-valued (1.0) CSR with the same structure, keeping pairs with ``cost <= max_cost``.

    Explicit zero costs become entries with value 1.0, so the result is safe for ordinary sparse
    arithmetic (e.g. ``reach_mask(c) @ supply`` = supply within reach of each origin).
    """
    cost = sp.csr_matrix(cost)
    keep = np.ones(cost.nnz, bool) if max_cost is None else cost.data <= max_cost
    return _subset(cost, keep, np.ones(int(keep.sum())))


def _subset(cost: sp.csr_matrix, keep: np.ndarray, data: np.ndarray | None = None) -> sp.csr_matrix:
    """Entries of ``cost`` where ``keep`` (aligned with ``cost.data``), optionally with new data."""
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))[keep]
    indptr = np.zeros(cost.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=cost.shape[0]), out=indptr[1:])
    vals = cost.data[keep] if data is None else data
    m = sp.csr_matrix((np.asarray(vals, float), cost.indices[keep], indptr), shape=cost.shape)
    if cost.has_canonical_format:
        m.has_canonical_format = True
    elif cost.has_sorted_indices:
        m.has_sorted_indices = True
    return m
