"""equicare: fair, sufficient, good-quality sharing of scarce health-care resources.

Stages (one subpackage each): ``data`` (ingest, validate, clean), ``analyze``
(statistics, spatial access, inequality), ``forecast`` (quantile demand
forecasts), ``optimize`` (allocation and facility location on HiGHS),
``privacy`` (suppression and differential privacy), ``report`` (HTML report),
``service`` (web API and dashboard).  ``store`` is the DuckDB store and
``pipeline`` holds the surge-ICU scenario's shared stage functions; ``project`` runs a project file (and the demo, the
bundled US project) end to end.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("equicare")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
