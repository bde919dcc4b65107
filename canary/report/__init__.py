"""Rollout reporting: the Grafana dashboards (:mod:`canary.report.dashboards`) and ``canary report`` (a PNG).

``canary report`` reads a rollout's history from Prometheus
(:mod:`canary.report.fetch`) into a :class:`~canary.report.data.ReportData` and
draws it with matplotlib (:mod:`canary.report.draw`).
"""

__all__: list[str] = []
