"""equicare.privacy: small-cell suppression and differentially private release of aggregates.

- :func:`equicare.privacy.suppress.suppress_small_cells` -- CMS-style suppression (1..10 hidden) with
  complementary suppression so that no hidden count can be recovered from totals.
- :mod:`equicare.privacy.dp` -- OpenDP releases of per-region counts, sums and means with a per-dataset
  privacy-loss ledger in the store.
"""

from equicare.privacy.dp import (
    DPRelease,
    dp_release,
    privacy_budget,
    privacy_ledger,
    privacy_spent,
    release_dataset,
    set_privacy_budget,
)
from equicare.privacy.suppress import SuppressionReport, suppress_small_cells

__all__ = ["DPRelease", "SuppressionReport", "dp_release", "privacy_budget", "privacy_ledger", "privacy_spent",
           "release_dataset", "set_privacy_budget", "suppress_small_cells"]
