"""Flagger's 42 example manifests: converted with ``canary convert``, then checked with ``canary validate``.

Each file is validated together with the other files taken from the same
Flagger document (the suffix of its name after ``--``), the way a repository
would hold a tutorial's Canary beside its MetricTemplates. The expected
outcome of every file is written out below: the fields reported as errors
(the rollout cannot run as written) and as warnings (accepted, not acted on
yet, or defined twice).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from canary.gitops import FLAGGER_MESSAGE, convert_paths, validate_paths, write_conversion
from tests.unit.gitops.conftest import MANIFESTS_DIR

AUTOSCALER = "spec.autoscalerRef"

# file number -> (fields with an error, fields with a warning)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    # Istio, Linkerd and Kuma examples: valid; the primary's autoscaler is not built yet.
    "001": (set(), {AUTOSCALER}),
    "002": (set(), {AUTOSCALER}),
    "003": (set(), set()),
    "004": (set(), {AUTOSCALER}),
    "005": (set(), {AUTOSCALER}),
    "006": (set(), set()),
    # Snippets from the FAQ: not whole Canaries.
    "007": ({"spec.analysis"}, set()),
    "008": ({"metadata", "spec.targetRef", "spec.analysis"}, set()),
    # APISIX is not routed.
    "009": ({"spec.provider"}, {"spec.routeRef"}),
    "010": (set(), {AUTOSCALER}),
    "011": (set(), set()),
    "012": (set(), set()),
    # Gateway API tutorial without spec.provider: the default (istio) does not use gatewayRefs.
    "013": (set(), {AUTOSCALER, "spec.service.gatewayRefs"}),
    "014": ({"spec.provider"}, {AUTOSCALER}),
    "015": (set(), {AUTOSCALER}),
    "016": (set(), {AUTOSCALER}),
    # provider kubernetes has no proxy metrics for the built-in checks.
    "017": ({"spec.analysis.metrics[0].name", "spec.analysis.metrics[1].name"}, {AUTOSCALER}),
    # Knative: not routed, not a Deployment, no spec.service.
    "018": ({"spec.provider", "spec.targetRef.kind", "spec.service"}, set()),
    "019": ({"spec.analysis.metrics[0].name", "spec.analysis.metrics[1].name"}, {AUTOSCALER}),
    "020": (set(), set()),
    "021": (set(), set()),
    "022": (set(), set()),
    "023": (set(), {AUTOSCALER, "spec.service.gatewayRefs"}),
    "024": ({"spec.provider"}, {AUTOSCALER, "spec.ingressRef"}),
    "025": (set(), set()),
    "026": (set(), set()),
    "027": (set(), set()),
    "028": ({"spec.provider"}, {AUTOSCALER, "spec.ingressRef"}),
    "029": ({"spec.provider"}, {AUTOSCALER}),
    "030": ({"metadata", "spec.targetRef", "spec.analysis"}, set()),
    "031": (set(), set()),
    "032": (set(), set()),
    # The docs' field reference, every value null: null fields are pruned, as the API server does.
    "033": ({"spec.provider.type", "spec.provider.secretRef.name", "spec.query"}, set()),
    # Same name (no namespace) as 033.
    "034": (set(), {"metadata.name"}),
    "035": (set(), set()),
    "036": (set(), set()),
    "037": ({"spec.query"}, set()),
    # Metrics backends other than Prometheus are refused; 038 also repeats 035's name.
    "038": ({"spec.provider.type"}, {"metadata.name"}),
    "039": ({"spec.provider.type"}, set()),
    "040": ({"spec.provider.type"}, set()),
    "041": ({"spec.provider.type"}, set()),
    "042": ({"spec.query"}, {"metadata.name"}),
}


@pytest.fixture(scope="module")
def converted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus converted into a temporary directory."""
    out = tmp_path_factory.mktemp("converted")
    conversion = convert_paths([str(MANIFESTS_DIR)])
    assert conversion.read_errors == []
    write_conversion(conversion, out, [str(MANIFESTS_DIR)])
    return out


def test_the_corpus_is_complete() -> None:
    assert sorted(path.name[:3] for path in MANIFESTS_DIR.glob("*.yaml")) == sorted(EXPECTED)


def test_every_flagger_manifest_converts_then_validates_as_expected(converted_dir: Path) -> None:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(converted_dir.glob("*.yaml")):
        groups[path.name.split("--", 1)[1]].append(path)
    outcomes: dict[str, tuple[set[str], set[str]]] = {}
    for files in groups.values():
        report = validate_paths([str(path) for path in files])
        for path in files:
            mine = [finding for finding in report.findings if Path(finding.file).name == path.name]
            assert all(finding.path for finding in mine), mine
            outcomes[path.name[:3]] = (
                {finding.path for finding in mine if finding.severity == "error"},
                {finding.path for finding in mine if finding.severity == "warning"},
            )
    assert outcomes == EXPECTED


def test_conversion_only_changes_the_api_version_line(converted_dir: Path) -> None:
    for original in sorted(MANIFESTS_DIR.glob("*.yaml")):
        before = original.read_text(encoding="utf-8").splitlines()
        after = (converted_dir / original.name).read_text(encoding="utf-8").splitlines()
        changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
        assert len(changed) == 1, original.name
        assert changed[0][0].startswith("apiVersion: flagger.app/")
        assert changed[0][1] == "apiVersion: canary.dev/v1beta1"


def test_the_older_api_version_is_noted() -> None:
    conversion = convert_paths(
        [str(MANIFESTS_DIR / "039-metrictemplate-cloudwatch-error-rate--docs-gitbook-usage-metrics-md.yaml")]
    )
    assert [(note.path, note.severity) for note in conversion.notes] == [("apiVersion", "info")]
    assert "flagger.app/v1alpha1" in conversion.notes[0].message


def test_unconverted_corpus_is_refused_with_a_pointer_to_convert() -> None:
    report = validate_paths([str(MANIFESTS_DIR)])
    assert report.flagger == 42
    assert {(finding.path, finding.message) for finding in report.findings} == {("apiVersion", FLAGGER_MESSAGE)}
    assert len(report.findings) == 42
    assert not report.ok
