"""equicare.privacy: small-cell suppression and differentially private release of aggregates.

- :func:`equicare.privacy.suppress.suppress_small_cells` -- CMS-style suppression (1..10 hidden) with
  complementary suppression so that no hidden count can be recovered from totals.
- :mod:`equicare.privacy.dp` -- OpenDP releases of per-region counts, sums and means.
- :mod:`equicare.privacy.ledger` -- the privacy-loss ledger, keyed on the data (not the file), with budgets
  per data family and per organisation.
- :mod:`equicare.privacy.fingerprint` -- the canonical fingerprint of a table's typed rows.
- :mod:`equicare.privacy.disclosure` -- the record of suppressed cells per dataset, and the check that a
  new output together with earlier ones discloses no hidden count.
"""

from equicare.privacy.dp import DPRelease, dp_release
from equicare.privacy.ledger import (
    org_budget,
    privacy_budget,
    privacy_ledger,
    privacy_spent,
    release_dataset,
    set_org_budget,
    set_privacy_budget,
)
from equicare.privacy.suppress import SuppressionReport, suppress_small_cells

__all__ = ["DPRelease", "SuppressionReport", "dp_release", "org_budget", "privacy_budget", "privacy_ledger",
           "privacy_spent", "release_dataset", "set_org_budget", "set_privacy_budget", "suppress_small_cells"]
