"""Fault injection on the emulated API server: seeded, rate-based, switchable at run time, counted."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from kubernetes.client import ApiException, CoreV1Api

from kubeemu.faults import FAULTS_PATH, FaultInjector, FaultPlan, FaultRule, clear_faults, fault_counts, set_faults
from kubeemu.server import ApiServerProcess, ApiServerThread

CONFIGMAPS = "/api/v1/namespaces/test/configmaps"


def decisions(seed: int, count: int = 200) -> list[str]:
    injector = FaultInjector(FaultPlan((FaultRule("status", rate=0.3, status=500),), seed))
    return ["fail" if injector.decide("list", "configmaps", "", CONFIGMAPS).failure else "ok" for _ in range(count)]


def test_the_same_seed_injects_the_same_faults_and_the_rate_holds() -> None:
    first, again, other = decisions(7), decisions(7), decisions(8)
    assert first == again
    assert first != other
    assert 40 <= first.count("fail") <= 80  # 30 % of 200, within a wide binomial margin


def test_rules_match_verbs_resources_and_paths() -> None:
    rule = FaultRule("status", verbs=frozenset({"list"}), resources=frozenset({"deployments.apps"}))
    assert rule.matches("list", "deployments", "apps", "/apis/apps/v1/deployments")
    assert not rule.matches("get", "deployments", "apps", "/apis/apps/v1/namespaces/a/deployments/x")
    assert not rule.matches("list", "configmaps", "", "/api/v1/configmaps")
    by_path = FaultRule("drop", paths=("/apis/canary.dev",))
    assert by_path.matches("watch", "canaries", "canary.dev", "/apis/canary.dev/v1beta1/canaries")
    assert not by_path.matches("get", None, None, "/version")
    with pytest.raises(ValueError, match="status must be one of"):
        FaultRule("status", status=418)
    with pytest.raises(ValueError, match="rate"):
        FaultRule("delay", rate=2.0)


def test_statuses_are_kubernetes_shaped_and_counted(api: ApiServerThread, http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    plan = set_faults(
        api.url,
        [
            {"fault": "status", "status": 429, "retryAfter": 3, "verbs": ["list"], "resources": ["configmaps"]},
            {"fault": "status", "status": 409, "verbs": ["update"]},
            {"fault": "status", "status": 503, "resources": ["secrets"]},
            {"fault": "status", "status": 500, "paths": ["/apis/apps"]},
        ],
        seed=1,
    )
    assert plan["seed"] == 1 and len(plan["rules"]) == 4
    throttled = http.get(CONFIGMAPS)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Too many requests, please try again later.",
        "reason": "TooManyRequests",
        "details": {"retryAfterSeconds": 3},
        "code": 429,
    }
    assert http.get(f"{CONFIGMAPS}/a").status_code == 200  # a get is not a list
    conflict = http.put(f"{CONFIGMAPS}/a", json={"metadata": {"name": "a"}})
    assert conflict.status_code == 409
    assert conflict.json()["message"].startswith('Operation cannot be fulfilled on configmaps "a": the object has')
    unavailable = http.get("/api/v1/namespaces/test/secrets")
    assert (unavailable.status_code, unavailable.json()["reason"]) == (503, "ServiceUnavailable")
    internal = http.get("/apis/apps/v1/deployments")
    assert (internal.status_code, internal.json()["reason"]) == (500, "InternalError")
    counts = fault_counts(api.url)
    assert counts["injected"] == {"429": 1, "409": 1, "503": 1, "500": 1}
    assert counts["examined"] == 5
    assert {"rule": 0, "fault": "429", "count": 1} in counts["rules"]
    assert clear_faults(api.url)["injected"]["429"] == 1
    assert http.get(CONFIGMAPS).status_code == 200
    assert http.get(FAULTS_PATH).json()["rules"] == []


def test_a_bad_plan_is_refused_and_changes_nothing(http: httpx.Client) -> None:
    response = http.put(FAULTS_PATH, json={"rules": [{"fault": "status", "status": 404}]})
    assert response.status_code == 400
    assert "status must be one of" in response.json()["message"]
    assert http.put(FAULTS_PATH, json={"rules": [{"fault": "drop", "oops": 1}]}).status_code == 400
    assert http.get(FAULTS_PATH).json()["rules"] == []


def test_connections_are_dropped_or_reset(api: ApiServerThread) -> None:
    set_faults(
        api.url,
        [{"fault": "drop", "verbs": ["list"]}, {"fault": "reset", "verbs": ["get"], "resources": ["configmaps"]}],
    )
    with httpx.Client(base_url=api.url, timeout=10.0) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # closed without an answer
            client.get(CONFIGMAPS)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.get(f"{CONFIGMAPS}/a")
        assert client.get("/version").status_code == 200  # the server itself carries on
    assert fault_counts(api.url)["injected"] == {"drop": 1, "reset": 1}


def test_delays_are_added_before_the_request_is_served(api: ApiServerThread, http: httpx.Client) -> None:
    set_faults(api.url, [{"fault": "delay", "seconds": 0.3, "verbs": ["create"]}])
    started = time.monotonic()
    assert http.post(CONFIGMAPS, json={"metadata": {"name": "slow"}}).status_code == 201
    assert time.monotonic() - started >= 0.3
    assert fault_counts(api.url)["injected"] == {"delay": 1}


def test_the_official_client_gets_an_api_exception(api: ApiServerThread, k8s: Any) -> None:
    set_faults(api.url, [{"fault": "status", "status": 503, "retryAfter": 2}])
    with pytest.raises(ApiException) as info:
        CoreV1Api(k8s).list_namespaced_config_map("test")
    assert info.value.status == 503
    assert info.value.headers["Retry-After"] == "2"
    assert json.loads(info.value.body)["reason"] == "ServiceUnavailable"


def test_the_server_command_takes_a_plan_from_the_start() -> None:
    plan = FaultPlan((FaultRule("status", status=500, verbs=frozenset({"list"})),), seed=3)
    with ApiServerProcess(namespaces=["test"], faults=plan) as server:
        response = httpx.get(f"{server.url}{CONFIGMAPS}", timeout=10.0)
        assert response.status_code == 500
        assert httpx.get(f"{server.url}{FAULTS_PATH}", timeout=10.0).json()["seed"] == 3


def test_rules_can_single_out_one_user(api: ApiServerThread, http: httpx.Client) -> None:
    set_faults(api.url, [{"fault": "status", "status": 503, "users": ["controller"]}])
    assert http.get(CONFIGMAPS, headers={"Authorization": "Bearer controller"}).status_code == 503
    assert http.get(CONFIGMAPS).status_code == 200  # system:anonymous
