"""Common interface of forecast models and helpers shared by them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from equicare.forecast.hub import QUANTILES
from equicare.forecast.truth import Panel

Q = np.asarray(QUANTILES)


class ForecastModel(ABC):
    """A probabilistic forecaster of weekly admissions for every location of a :class:`Panel`.

    Subclasses implement :meth:`predict`.  The panel a model receives has already been cut at the last
    week it may use (``reference_date - 7`` days), so a model cannot look ahead.
    """

    name: ClassVar[str] = "model"

    @abstractmethod
    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        """Quantiles of admissions ``steps`` weeks after the panel's last week.

        Parameters
        ----------
        panel
            Observations up to and including the last usable week.
        steps
            Weeks ahead of ``panel.dates[-1]`` (hub horizon ``h`` is step ``h + 1``).

        Returns
        -------
        numpy.ndarray
            ``(n_locations, len(steps), 23)`` values at the levels of :data:`~equicare.forecast.hub.QUANTILES`
            (the caller sorts and clips them at zero).
        """

    def __repr__(self) -> str:
        def show(v: object) -> str:
            return f"<Panel {v.values.shape[0]} weeks x {v.values.shape[1]} series>" if isinstance(v, Panel) else repr(v)

        params = ", ".join(f"{k}={show(v)}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last observed value forward down each column (leading NaNs stay NaN)."""
    v = np.asarray(values, dtype=float)
    idx = np.where(~np.isnan(v), np.arange(v.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = v[idx, np.arange(v.shape[1])[None, :]]
    return out


def last_value(values: np.ndarray) -> np.ndarray:
    """Most recent observed value of each column (0 where a column has none)."""
    last = ffill(values)[-1]
    return np.where(np.isnan(last), 0.0, last)


def season_angle(dates: np.ndarray) -> np.ndarray:
    """Phase of the year of the given dates, ``2 pi * day_of_year / 365.25``."""
    d = np.asarray(dates, dtype="datetime64[D]")
    year_start = d.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (d - year_start).astype(float)
    return 2.0 * np.pi * doy / 365.25
