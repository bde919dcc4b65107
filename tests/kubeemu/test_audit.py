"""The sandbox API server's audit summary names each request as Kubernetes RBAC would authorize it.

The RBAC test trusts these attributes, so each verb mapping is checked here
with a real request of that kind: GET of one object is ``get``, of a
collection ``list``, with ``?watch`` ``watch``; POST ``create``; PUT
``update``; PATCH ``patch``; DELETE ``delete`` or ``deletecollection``; and
the user is the one the request's credentials name.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from kubeemu.audit import ANONYMOUS, AUDIT_PATH, AuditKey, fetch_audit
from kubeemu.server import ApiServerThread

AGENT = "audit-test/1.0"
CONFIGMAPS = "/api/v1/namespaces/test/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/test/deployments"


@pytest.fixture
def server() -> Iterator[ApiServerThread]:
    with ApiServerThread(namespaces=["test"]) as api:
        yield api


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}", "User-Agent": AGENT}, timeout=10)


def _counts(server: ApiServerThread, user: str) -> dict[AuditKey, int]:
    return {entry.key: entry.count for entry in server.call(lambda s: s.audit_entries()) if entry.key.user == user}


def _key(verb: str, resource: str, *, group: str = "", sub: str | None = None, ns: str | None = "test") -> AuditKey:
    return AuditKey("alice", AGENT, verb, group, resource, sub, ns)


def test_each_request_is_counted_with_its_rbac_verb(server: ApiServerThread) -> None:
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "w"}]}},
        },
    }
    with _client(server.url, "alice") as client:
        client.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"k": "1"}}).raise_for_status()
        client.post(CONFIGMAPS, json={"metadata": {"name": "b"}}).raise_for_status()
        client.get(f"{CONFIGMAPS}/a").raise_for_status()
        client.get(CONFIGMAPS).raise_for_status()
        client.get("/api/v1/configmaps").raise_for_status()  # all namespaces
        client.get(CONFIGMAPS, params={"watch": "true", "timeoutSeconds": "0"}).raise_for_status()
        current = client.get(f"{CONFIGMAPS}/a").json()
        client.put(f"{CONFIGMAPS}/a", json={**current, "data": {"k": "2"}}).raise_for_status()
        merge = {"Content-Type": "application/merge-patch+json"}
        client.patch(f"{CONFIGMAPS}/a", content=b'{"data": {"k": "3"}}', headers=merge).raise_for_status()
        client.delete(f"{CONFIGMAPS}/a").raise_for_status()
        client.delete(CONFIGMAPS).raise_for_status()
        client.post(DEPLOYMENTS, json=deployment).raise_for_status()
        status = b'{"status": {"readyReplicas": 1}}'
        client.patch(f"{DEPLOYMENTS}/web/status", content=status, headers=merge).raise_for_status()
        client.get("/apis").raise_for_status()

    assert _counts(server, "alice") == {
        _key("create", "configmaps"): 2,
        _key("get", "configmaps"): 2,
        _key("list", "configmaps"): 1,
        _key("list", "configmaps", ns=None): 1,
        _key("watch", "configmaps"): 1,
        _key("update", "configmaps"): 1,
        _key("patch", "configmaps"): 1,
        _key("delete", "configmaps"): 1,
        _key("deletecollection", "configmaps"): 1,
        _key("create", "deployments", group="apps"): 1,
        _key("patch", "deployments", group="apps", sub="status"): 1,
        AuditKey("alice", AGENT, "get", path="/apis"): 1,
    }


def test_the_user_is_named_by_the_credentials(server: ApiServerThread) -> None:
    basic = base64.b64encode(b"bob:secret").decode()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get(CONFIGMAPS, headers={"Authorization": f"Basic {basic}"}).raise_for_status()
        client.get(CONFIGMAPS).raise_for_status()
    users = {entry.key.user for entry in server.call(lambda s: s.audit_entries())}
    assert users == {"bob", ANONYMOUS}


async def test_the_summary_is_served_over_http_and_does_not_count_itself(server: ApiServerThread) -> None:
    with _client(server.url, "alice") as client:
        client.get(CONFIGMAPS).raise_for_status()
        client.get(AUDIT_PATH).raise_for_status()
    entries = await fetch_audit(server.url, user="alice")
    assert [(entry.key, entry.count) for entry in entries] == [(_key("list", "configmaps"), 1)]
    assert await fetch_audit(server.url, user="nobody") == []
