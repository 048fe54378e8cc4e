"""equicare: fair, sufficient, good-quality sharing of scarce health-care resources.

Stages (one subpackage each): ``data`` (ingest, validate, clean), ``analyze``
(statistics, spatial access, inequality), ``forecast`` (quantile demand
forecasts), ``optimize`` (allocation and facility location on HiGHS),
``privacy`` (suppression and differential privacy), ``report`` (HTML report),
``service`` (web API and dashboard).  ``store`` is the DuckDB store and
``pipeline`` ties the stages together for the CLI and the service.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("equicare")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
