"""The allocation scenario file (YAML): read, validate, solve, run what-ifs and write the outputs.

The format is documented with a worked example in ``docs/optimize.md``; ``examples/*.yaml`` are complete
scenarios.  Tables are given as ``{file: path.csv}`` (relative to the YAML file), ``{bundled: key/or/path}``
(a file shipped with equicare) or ``{rows: [...]}`` (inline), except the demand of the worked example, which
``demand: {builder: flu_surge, ...}`` derives from the bundled FluSight admissions and state ICU capacity
(:func:`flu_surge_tables`).

Modules: :mod:`.spec` (the keys, declared once), :mod:`.builders` (bundled-data builders), :mod:`.load`
(tables into an :class:`~equicare.optimize.AllocationProblem`), :mod:`.whatif` (what-ifs, budget sweep) and
:mod:`.run` (:func:`run_scenario`).  Every problem in the file is reported at once as a
:class:`~equicare.errors.ValidationError` naming the file, the table row and the key; an infeasible scenario
raises :class:`~equicare.errors.InfeasibleError` naming the conflicting constraints.
"""

from equicare.optimize.scenario.builders import flu_surge_tables, state_pairs
from equicare.optimize.scenario.load import load_scenario, problem_from_mapping, read_scenario_yaml
from equicare.optimize.scenario.run import run_scenario
from equicare.optimize.scenario.whatif import budget_sweep, what_if

__all__ = ["budget_sweep", "flu_surge_tables", "load_scenario", "problem_from_mapping", "read_scenario_yaml",
           "run_scenario", "state_pairs", "what_if"]
