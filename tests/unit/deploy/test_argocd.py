"""The Argo CD health check (deploy/argocd/health.lua) run by a real Lua 5.1, as Argo CD's gopher-lua runs it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from tests.unit.deploy.render import DEPLOY_DIR

SCRIPT = (DEPLOY_DIR / "argocd" / "health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD would show them for ``obj``."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


BASE: dict[str, Any] = {
    "apiVersion": "canary.dev/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test", "generation": 3},
    "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}},
}


def canary(phase: str | None = None, weight: int = 0, generation: int = 3, **extra: Any) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    if phase is not None:
        obj["status"] = {"phase": phase, "canaryWeight": weight, "observedGeneration": generation, "message": "m"}
        obj["status"].update(extra.pop("status", {}))
    for key, value in extra.items():
        obj[key] = {**obj.get(key, {}), **value}
    return obj


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Initialized", "Healthy"),
        ("Succeeded", "Healthy"),
        ("Initializing", "Progressing"),
        ("Progressing", "Progressing"),
        ("Promoting", "Progressing"),
        ("Finalising", "Progressing"),
        ("Waiting", "Suspended"),
        ("WaitingPromotion", "Suspended"),
        ("Failed", "Degraded"),
    ],
)
def test_each_phase_has_the_health_argo_cd_users_expect(phase: str, expected: str) -> None:
    status, message = health(canary(phase))
    assert status == expected
    assert message.startswith(f"{phase}: ")


def test_no_status_or_an_unobserved_generation_is_progressing() -> None:
    assert health(canary())[0] == "Progressing"
    status, message = health(canary("Succeeded", generation=2))
    assert (status, message) == ("Progressing", "waiting for the controller to observe generation 3")


def test_a_refused_spec_is_degraded_with_the_reason() -> None:
    refused = canary(
        "Initialized",
        status={"conditions": [{"type": "Valid", "status": "False", "message": "spec.provider 'nginx' is not routed"}]},
    )
    assert health(refused) == ("Degraded", "invalid Canary: spec.provider 'nginx' is not routed")


def test_the_message_carries_the_canary_weight_during_analysis() -> None:
    assert health(canary("Progressing", weight=30)) == ("Progressing", "Progressing: canary weight 30%: m")


@pytest.mark.parametrize(
    ("extra", "suspended"),
    [
        ({"spec": {"suspend": True}}, True),
        ({"metadata": {"annotations": {"canary.dev/suspend": "yes"}}}, True),
        ({"metadata": {"annotations": {"canary.dev/suspend": "Off"}}}, False),
    ],
)
def test_a_suspended_rollout_is_suspended_but_a_served_release_stays_healthy(
    extra: dict[str, Any], suspended: bool
) -> None:
    assert health(canary("Progressing", **copy.deepcopy(extra)))[0] == ("Suspended" if suspended else "Progressing")
    assert health(canary("Succeeded", **copy.deepcopy(extra)))[0] == "Healthy"


def test_the_configmap_snippet_carries_the_script_as_it_is() -> None:
    config = yaml.safe_load((DEPLOY_DIR / "argocd" / "argocd-cm.yaml").read_text())
    assert config["kind"] == "ConfigMap" and config["metadata"]["name"] == "argocd-cm"
    assert config["data"]["resource.customizations.health.canary.dev_Canary"] == SCRIPT


def test_the_readme_ignores_only_the_targets_replicas() -> None:
    text = (DEPLOY_DIR / "argocd" / "README.md").read_text()
    snippet = yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])
    [ignored] = snippet["spec"]["ignoreDifferences"]
    assert ignored == {"group": "apps", "kind": "Deployment", "name": "podinfo", "jsonPointers": ["/spec/replicas"]}
    assert Path(DEPLOY_DIR / "argocd" / "health.lua").is_file()
