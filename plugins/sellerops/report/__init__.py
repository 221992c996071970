"""The KPI report: one self-contained HTML page of charts per seller account.

``sellerops report --out report.html`` and the ``sellerops_models`` DAG call
:func:`write_report`; :mod:`sellerops.report.charts` has one function per chart
(SQL over the marts, aggregates only) and :mod:`sellerops.report.html` lays the
pages out with the Vega JavaScript inlined, so they open without a network.
"""

from __future__ import annotations

from sellerops.report.charts import CHART_KEYS, CHARTS, Chart, account_charts
from sellerops.report.html import ReportError, output_paths, vega_bundle, write_report

__all__ = [
    "CHARTS",
    "CHART_KEYS",
    "Chart",
    "ReportError",
    "account_charts",
    "output_paths",
    "vega_bundle",
    "write_report",
]
