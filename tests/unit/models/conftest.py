"""Shared helpers of the model tests: where the repository and the reference artefacts are."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The repository's root (holds crds/ and pyproject.toml)."""

REFERENCE_DIR = REPO_ROOT / ".." / "shared" / "reference"
"""Third-party reference artefacts, beside the repository."""

MANIFESTS_DIR = REFERENCE_DIR / "flagger-manifests"
"""Flagger's 42 example manifests."""


def load_manifest(name: str) -> dict[str, Any]:
    """One Flagger manifest from the corpus, as a dict."""
    loaded = yaml.safe_load((MANIFESTS_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def ours(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Flagger manifest with ``flagger.app/v1beta1`` rewritten to ``canary.dev/v1beta1``."""
    out = copy.deepcopy(obj)
    if out.get("apiVersion") == "flagger.app/v1beta1":
        out["apiVersion"] = "canary.dev/v1beta1"
    return out


@pytest.fixture
def istio_canary() -> dict[str, Any]:
    """A complete, valid Istio Canary (Flagger's own example) in our API group."""
    return ours(load_manifest("002-canary-podinfo--artifacts-examples-istio-canary-yaml.yaml"))


def minimal_canary(**analysis: Any) -> dict[str, Any]:
    """The smallest valid Canary, with ``analysis`` fields merged over a stepWeight of 10."""
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"stepWeight": 10, **analysis},
        },
    }
