"""Bundled extra training data for the forecasters: older NHSN admissions and ILINet epidemics.

The hub's target file starts in 2022, and the seasons before 2022-23 had little flu, so a model trained on it
alone has seen about one epidemic.  equicare ships two more sources (see ``data/files/README.md``):

* the hub's earlier target, NHSN/HHS Protect admissions for weeks ending 2020-01-11 to 2023-11-11, used only for
  (date, location) pairs absent from the truth file (:func:`~equicare.forecast.truth.to_panel`);
* ILINet influenza-like illness extracts (states 2010/11-2019/20, ten HHS regions 1997/98-2019/20) turned into
  pseudo admission rates by :func:`~equicare.forecast.ilinet.load_ilinet` (weeks before 2020-07-01 only), extra
  training rows for the pooled models and the default ensemble.

Both obey the information rule: a forecast for reference date ``R`` sees only weeks dated ``R - 7`` or earlier.
The command line, the bundled US project (the demo) and the web service use them by default (``--no-extras`` turns them off).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from equicare.forecast.ilinet import load_ilinet
from equicare.forecast.truth import Panel, bundled_path, load_truth

#: Bundled file names of the extras.
HISTORY_FILE = "hhs-flu-admissions-2020-2023.csv.gz"
ILINET_FILES = ("ilinet_state.csv.gz", "ilinet_hhs.csv.gz")


@dataclass(frozen=True)
class TrainingExtras:
    """Extra training data: older admissions (``history``) and ILINet pseudo-rates (``augment``)."""

    history: pd.DataFrame | None = None
    augment: Panel | None = None

    def kwargs(self) -> dict:
        """``history=`` and ``augment=`` for :func:`~equicare.forecast.forecast` and ``backtest``."""
        return {"history": self.history, "augment": self.augment}


@lru_cache(maxsize=1)
def _bundled() -> TrainingExtras:
    return TrainingExtras(load_truth(bundled_path(HISTORY_FILE)),
                          load_ilinet([bundled_path(f) for f in ILINET_FILES]))


def bundled_extras(use: bool = True) -> TrainingExtras:
    """The bundled NHSN history and ILINet pseudo-rates (read once per process); nothing when ``use`` is False."""
    return _bundled() if use else TrainingExtras()
