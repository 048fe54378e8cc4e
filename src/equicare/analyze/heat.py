"""Summary measures of health inequality across population subgroups, as in WHO's HEAT / healthequal.

Each function takes the subgroup estimates of one indicator in one setting and year, for one
dimension of inequality (e.g. wealth quintiles, regions, sex), and returns a :class:`Measure`
with the estimate, its standard error where there is one, and a confidence interval:
analytic where HEAT has a formula, otherwise simulation-based (Ahn et al. 2019: the estimates are
redrawn ``n_sim`` times from normal distributions with their standard errors, truncated to
``[0, inf)``, or to ``[0, 100]`` for percentages, and the 2.5/97.5 percentiles taken).

Definitions, direction rules and CI formulas follow the WHO R package ``healthequal`` (which
documents HEAT's measures) function by function; the docstrings give each formula. Direction
rules: in **ordered** dimensions (``subgroup_order`` 1 = most disadvantaged ... n = most
advantaged) the most advantaged and disadvantaged subgroups are compared; in **non-ordered**
dimensions the best and worst subgroups, or a user-selected ``reference_subgroup``; whether
high is good (``favourable_indicator = 1``) or bad (0) decides the direction.

Known, documented departures from healthequal 1.0.1: a subgroup whose population is 0 holds no
people, so it has zero width and drops out of every measure that uses population (ACI, RCI, SII,
RII, BGV, BGSD, COV, MDBW, MDMW, IDISW, TI, MLD, and PAR/PAF computed from population): adding such
a subgroup changes none of them (healthequal returns nothing for SII/RII, keeps it in the degrees
of freedom of ACI/RCI and may pick it as the best subgroup of MDBW, PAR and PAF); the unweighted
measures (D, R, MDBU, MDMU, MDRU, IDISU) still count it as a subgroup, and MDRW keeps a reference
subgroup of population 0 as its benchmark. A value that would be undefined (a ratio over 0, a mean
of 0, estimates above the indicator scale) raises :class:`~equicare.errors.EquicareError` with the
reason instead of returning NaN or infinity. Measures that cannot be negative (TI, MLD) are exactly
0 when every estimate is equal, and ACI/RCI are exactly 0 then too, never a round-off residue such
as ``-2.2e-16``. Simulated CIs use numpy's random generator, so they equal healthequal's only in
distribution, not digit for digit.

References
----------
Schlotheuber A., Hosseinpoor A.R. (2022) "Summary measures of health inequality: a review of
existing measures and their application", Int. J. Environ. Res. Public Health 19(6):3697.
WHO (2024) healthequal: Calculating summary measures of health inequality, R package 1.0.1.
Ahn J. et al. (2018) "Variance estimation and confidence intervals for 11 commonly used health
disparity measures", JCO Clin. Cancer Inform. 2:1-19. Ahn J. et al. (2019) "Improved Monte Carlo
methods for estimating confidence intervals for eleven commonly used health disparity measures",
PLoS One 14(7). Walter S.D. (1978) "Calculation of attributable risks from epidemiological data",
Int. J. Epidemiol. 7(2):175-182.
"""

from __future__ import annotations

from equicare.analyze.heat_core import N_SIM, SEED, Measure, check_conf_level, check_n_sim
from equicare.analyze.heat_nonordered import (bgsd, bgv, cov, idisu, idisw, mdbu, mdbw, mdmu, mdmw, mdru, mdrw, mld,
                                              theil_index)
from equicare.analyze.heat_ordered import aci, rci, rii, sii
from equicare.analyze.heat_pairwise import difference, paf, par, ratio

__all__ = [
    "Measure",
    "difference", "ratio", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov",
    "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw", "idisu", "idisw", "theil_index", "mld",
    "paf", "par", "check_conf_level", "check_n_sim", "N_SIM", "SEED",
]
