"""Shared helpers of the GitOps tooling tests: the reference corpus and manifest builders."""

from __future__ import annotations

import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The repository's root."""

REFERENCE_DIR = REPO_ROOT / ".." / "shared" / "reference"
"""Third-party reference artefacts, beside the repository."""

MANIFESTS_DIR = REFERENCE_DIR / "flagger-manifests"
"""Flagger's 42 example manifests."""


def write(root: Path, name: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``root/name``, creating directories; return the path."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


CANARY = """
apiVersion: canary.dev/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: istio
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
"""
"""A valid, fully supported Canary (namespace test, name podinfo) that the rule tests alter."""

TEMPLATE = """
apiVersion: canary.dev/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: test
spec:
  provider:
    type: prometheus
    address: http://prometheus.monitoring:9090
  query: |
    100 - sum(rate(http_requests_total{namespace="{{ namespace }}", job="{{ target }}", status!~"5.*"}[{{ interval }}]))
    / sum(rate(http_requests_total{namespace="{{ namespace }}", job="{{ target }}"}[{{ interval }}])) * 100
"""
"""A valid MetricTemplate test/error-rate."""
