"""``kubectl get events``: the server-side table has kube-apiserver's Event columns, not NAME and AGE."""

from __future__ import annotations

import datetime
import json

import httpx

from kubeemu.server import ApiServerThread
from tests.kubeemu.conftest import Kubectl


def _ago(seconds: int) -> str:
    then = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=seconds)
    return then.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name: str, **fields: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Canary", "name": "podinfo", "namespace": "test"},
        "type": "Warning",
        "reason": "Synced",
        "message": "New revision detected! ",
        "source": {"component": "canary"},
        **fields,
    }


def test_kubectl_get_events_shows_kube_apiservers_columns(kubectl: Kubectl) -> None:
    body = event("podinfo.1", count=3, firstTimestamp=_ago(3600), lastTimestamp=_ago(30))
    kubectl.run("create", "-f", "-", stdin=json.dumps(body))
    lines = kubectl.run("get", "events").stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[1].split()[1:] == ["Warning", "Synced", "canary/podinfo", "New", "revision", "detected!"]
    wide = kubectl.run("get", "events", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-4:] == ["FIRST", "SEEN", "COUNT", "NAME"]
    assert wide[1].split()[-2:] == ["3", "podinfo.1"]


def test_event_rows_follow_kube_apiservers_printer(api: ApiServerThread, http: httpx.Client) -> None:
    """A series' last observation and count win; an event with only eventTime is first and last seen then."""
    http.post(
        "/apis/events.k8s.io/v1/namespaces/test/events",
        json={
            "metadata": {"name": "new-style"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Deployment", "name": "web"},
            "note": "scaled  ",
            "type": "Normal",
            "reason": "Scaled",
            "reportingController": "canary",
            "reportingInstance": "canary-0",
            "action": "Scale",
            "series": {"count": 5, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
        },
    )
    table = http.get(
        "/apis/events.k8s.io/v1/namespaces/test/events",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    ).json()
    assert [column["name"] for column in table["columnDefinitions"]] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ]
    cells = table["rows"][0]["cells"]
    assert cells[1:7] == ["Normal", "Scaled", "deployment/web", "", "canary, canary-0", "scaled"]
    assert cells[8:] == [5, "new-style"]
