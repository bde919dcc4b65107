"""A real kopf operator against the sandbox API server: handlers, finalizers, status, timers, deletion."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import kopf
import yaml

from kubeemu.server import ApiServerThread, load_crds

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.sandbox.test"},
    "spec": {
        "group": "sandbox.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                "subresources": {"status": {}},
            }
        ],
    },
}
WIDGETS = "/apis/sandbox.test/v1/namespaces/ops/widgets"


async def wait_for(client: httpx.AsyncClient, path: str, check: Any, what: str, limit: float = 20.0) -> Any:
    """Poll ``path`` until ``check(response)`` is truthy; fail with ``what`` if it never is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        response = await client.get(path)
        result = check(response)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen; last response: {response.status_code} {response.text}")
        await asyncio.sleep(0.1)


async def test_kopf_operator_handles_create_timer_finalizer_and_delete(tmp_path: Path) -> None:
    crd_file = tmp_path / "widgets.yaml"
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
    registry = kopf.OperatorRegistry()
    calls: dict[str, list[Any]] = {"create": [], "timer": [], "delete": []}

    async with ApiServerThread(namespaces=["ops"]) as api:
        load_crds(api.url, [crd_file])

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=api.url, insecure=True)

        @kopf.on.create("sandbox.test", "v1", "widgets", registry=registry)
        def created(body: kopf.Body, spec: Any, patch: kopf.Patch, **_: Any) -> None:
            calls["create"].append(dict(spec))
            patch.status["phase"] = "Ready"
            kopf.info(body, reason="Built", message="widget built")

        @kopf.timer("sandbox.test", "v1", "widgets", interval=0.2, registry=registry)
        def tick(patch: kopf.Patch, **_: Any) -> None:
            calls["timer"].append(1)
            patch.status["ticks"] = len(calls["timer"])

        @kopf.on.delete("sandbox.test", "v1", "widgets", registry=registry)
        def deleted(name: str, **_: Any) -> None:
            calls["delete"].append(name)

        settings = kopf.OperatorSettings()
        settings.watching.server_timeout = 10
        settings.watching.client_timeout = 15
        stop = asyncio.Event()
        ready = asyncio.Event()
        operator = asyncio.create_task(
            kopf.operator(
                registry=registry,
                settings=settings,
                standalone=True,
                namespaces=["ops"],
                stop_flag=stop,
                ready_flag=ready,
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), timeout=20)
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
                response = await client.post(
                    WIDGETS,
                    json={
                        "apiVersion": "sandbox.test/v1",
                        "kind": "Widget",
                        "metadata": {"name": "w1"},
                        "spec": {"size": 3},
                    },
                )
                assert response.status_code == 201

                body = await wait_for(
                    client,
                    f"{WIDGETS}/w1",
                    lambda r: (
                        r.status_code == 200
                        and (
                            r.json().get("status", {}).get("phase") == "Ready"
                            and r.json().get("status", {}).get("ticks", 0) >= 2
                        )
                        and r.json()
                    ),
                    "the create handler and two timer ticks",
                )
                assert calls["create"] == [{"size": 3}]
                assert body["metadata"].get("finalizers"), "kopf added its finalizer"

                events = await wait_for(
                    client,
                    "/api/v1/namespaces/ops/events",
                    lambda r: [e for e in r.json()["items"] if e["involvedObject"]["name"] == "w1"],
                    "kopf's events",
                )
                assert [(e["reason"], e["message"]) for e in events] == [("Built", "widget built")]

                response = await client.delete(f"{WIDGETS}/w1")
                assert response.status_code == 200
                await wait_for(
                    client,
                    f"{WIDGETS}/w1",
                    lambda r: r.status_code == 404,
                    "deletion after kopf released the finalizer",
                )
                assert calls["delete"] == ["w1"]
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(operator, timeout=15)
