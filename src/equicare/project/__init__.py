"""A planner's own project: one YAML file naming their regions, facilities and series, run end to end.

>>> from equicare.project import run_project                       # doctest: +SKIP
>>> run_project("project.yaml", "out").summary["min_share"]        # doctest: +SKIP
"""

from equicare.project.run import ProjectResult, check_project, run_project
from equicare.project.spec import Project, load_project

__all__ = ["Project", "ProjectResult", "check_project", "load_project", "run_project"]
