"""The ClusterRole in deploy/ grants exactly what the controller uses: every permission, and nothing more.

For each mesh (Istio, Linkerd) the testbed runs the controller in its own
process with the command line of the rendered Deployment (cluster-wide, as
deployed) and its own identity: the kubeconfig's bearer token is the
ServiceAccount's user name, which the sandbox API server counts every
request under. kopf and the official client inside the controller both send
that token, so both are attributed, and the testbed's own requests (made
anonymously) are not. During the run:

- a healthy revision is promoted and a failing one rolled back;
- the first Canary adopts the Service its app already had, a custom metric
  reads a MetricTemplate and the Secret holding its credentials, and chat
  alerts go to a local receiver through an AlertProvider whose hook address
  is in a Secret;
- on Istio, a hand edit of a DestinationRule is reverted by the controller;
- both Canaries are deleted, so the finalizer gives everything back.

Each request becomes (API group, resource[/subresource], verb) by
Kubernetes' mapping (see :func:`kubeemu.audit.rbac_verb`).
Every one must be granted, and every grant must have been used on some mesh
or be listed in :data:`GRANTED_UNUSED` with its reason.
"""

from __future__ import annotations

import base64
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from canary.kube.api import (
    ALERT_PROVIDERS,
    CANARIES,
    DESTINATION_RULES,
    METRIC_TEMPLATES,
    SECRETS,
    SERVICES,
    JsonDict,
    Resource,
)
from canary.routers.registry import METRIC_SERIES, WRITTEN_RESOURCES
from canary_testbed.demo import demo_canary
from canary_testbed.testbed import Testbed
from kubeemu.audit import ANONYMOUS, AuditEntry, fetch_audit
from tests.unit.deploy.render import find, render_deploy

pytestmark = [pytest.mark.testbed]

CONTROLLER_USER = "system:serviceaccount:canary-system:canary-controller"
MESHES = tuple(METRIC_SERIES)  # every mesh the testbed simulates: istio, linkerd
INTERVAL = "2s"
Permission = tuple[str, str, str]  # (API group, resource[/subresource], verb)

# Granted on purpose although no request in this test uses them, each with its reason.
GRANTED_UNUSED: dict[Permission, str] = {
    ("canary.dev", "canaries/finalizers", "update"): (
        "objects the controller creates have their Canary as owner with blockOwnerDeletion, which clusters "
        "running the OwnerReferencesPermissionEnforcement admission plugin (OpenShift) authorize as this; "
        "the sandbox API server does not enforce it"
    ),
}
# Every kind a registered router writes. Those of providers this test does not run (Gateway API's
# HTTPRoutes) go through the same code (routers.objects: ensure_object, release_object) as the mesh
# objects of those it does, so they are granted exactly the verbs those were used with.
ROUTED_KINDS: set[tuple[str, str]] = {(resource.group, resource.plural) for resource in WRITTEN_RESOURCES}
# Every user may read these (the built-in system:discovery ClusterRole): no rule of ours is needed.
DISCOVERY_PATHS = ("/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/openapi", "/openapi/*")
# The controller's two clients: kopf, and the official Python client behind canary.kube.client.ClusterApi.
CLIENT_AGENTS = ("kopf/*", "OpenAPI-Generator/*/python")


@dataclass
class MeshRun:
    """What one mesh's run showed: the controller's requests, and what the user saw."""

    entries: list[AuditEntry]
    anonymous: list[AuditEntry]
    phases: dict[str, str]
    messages: dict[str, str]  # each Canary's last status message and checks, for failure reports
    chat_messages: int  # how many alerts reached the chat receiver
    service_after_delete: JsonDict | None
    leftovers: list[str]

    @property
    def used(self) -> set[Permission]:
        """The permissions the controller's resource requests needed."""
        return {
            (
                e.key.api_group or "",
                f"{e.key.resource}/{e.key.subresource}" if e.key.subresource else str(e.key.resource),
                e.key.verb,
            )
            for e in self.entries
            if e.key.resource is not None
        }


def _granted() -> set[Permission]:
    role = find(render_deploy(), "ClusterRole", "canary-controller")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _controller_args(bed: Testbed, kubeconfig: Path) -> list[str]:
    """The rendered Deployment's command line, pointed at the testbed and sped up as the testbed does."""
    (container,) = find(render_deploy(), "Deployment", "canary-controller")["spec"]["template"]["spec"]["containers"]
    args = list(container["args"])
    assert bed.prometheus_url is not None
    args[args.index("--prometheus") + 1] = bed.prometheus_url
    return [
        *args,
        "--kubeconfig", str(kubeconfig),
        "--provider", bed.provider,
        "--tick", str(bed.tick),
        "--min-interval", str(bed.min_interval),
        "--metrics-port", str(bed.metrics_port),
        # the scheduler's watches need the most of the ClusterRole (list and watch of Deployments); the
        # default timer uses a subset of what it grants
        "--scheduling", "events",
    ]  # fmt: skip


@contextlib.contextmanager
def _controller(bed: Testbed) -> Iterator[Path]:
    """Run the controller as the ServiceAccount's user; yields its log file."""
    assert bed.kubeconfig is not None and bed.workdir is not None
    config = yaml.safe_load(bed.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": CONTROLLER_USER}
    kubeconfig = bed.workdir / "controller.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    log = bed.workdir / "rbac-controller.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "canary", *_controller_args(bed, kubeconfig)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _canary(bed: Testbed, name: str, template: str | None = None, alerts: str | None = None) -> JsonDict:
    manifest = demo_canary(bed.provider, name=name, interval=INTERVAL, deadline=30)
    analysis = manifest["spec"]["analysis"]
    # three failed checks in a row: at 10 canary requests a second, one error of the healthy canary's
    # 0.1 % in a 2 s window already reads as a success rate under 99 %, and two in a row happened
    analysis["threshold"] = 3
    if template is not None:
        analysis["metrics"].append(
            {"name": "targets-up", "templateRef": {"name": template}, "thresholdRange": {"min": 1}, "interval": "15s"}
        )
    if alerts is not None:
        analysis["alerts"] = [{"name": "team-chat", "severity": "info", "providerRef": {"name": alerts}}]
    return manifest


@contextlib.asynccontextmanager
async def _chat_receiver() -> AsyncIterator[tuple[str, list[JsonDict]]]:
    """A local incoming-webhook endpoint: yields its URL and the messages posted to it."""
    received: list[JsonDict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    finally:
        await runner.cleanup()


async def _create(bed: Testbed, resource: Resource, body: JsonDict) -> JsonDict:
    assert bed.api is not None
    body = {"apiVersion": resource.api_version, "kind": resource.kind, **body}
    body["metadata"] = {**body["metadata"], "namespace": bed.namespace}
    return await bed.api.create(resource, bed.namespace, body)


async def _run(mesh: str) -> MeshRun:
    async with (
        _chat_receiver() as (hook_url, chat),
        Testbed(provider=mesh, namespace="test", tick=0.5, min_interval=1.0, rps=100) as bed,
    ):
        api = bed.api
        assert api is not None and bed.prometheus_url is not None
        ns = bed.namespace
        # What the user had before canary: the app's own Service, and credentials for a metrics backend.
        user_service = await _create(
            bed,
            SERVICES,
            {"metadata": {"name": "podinfo"}, "spec": {"selector": {"app": "podinfo"}, "ports": [{"port": 9898}]}},
        )
        credentials = {"username": "canary", "password": "not-checked"}
        data = {key: base64.b64encode(value.encode()).decode() for key, value in credentials.items()}
        await _create(bed, SECRETS, {"metadata": {"name": "prometheus-auth"}, "type": "Opaque", "data": data})
        await _create(
            bed,
            METRIC_TEMPLATES,
            {
                "metadata": {"name": "targets-up"},
                "spec": {
                    "provider": {
                        "type": "prometheus",
                        "address": bed.prometheus_url,
                        "secretRef": {"name": "prometheus-auth"},
                    },
                    "query": "sum(up)",
                },
            },
        )
        address = {"address": base64.b64encode(hook_url.encode()).decode()}
        await _create(bed, SECRETS, {"metadata": {"name": "chat-webhook"}, "type": "Opaque", "data": address})
        chat_provider = {"type": "generic", "secretRef": {"name": "chat-webhook"}}
        await _create(bed, ALERT_PROVIDERS, {"metadata": {"name": "team-chat"}, "spec": chat_provider})
        await bed.add_app("podinfo")
        await bed.add_app("backend")
        await bed.apply_canary(_canary(bed, "podinfo", template="targets-up", alerts="team-chat"))
        await bed.apply_canary(_canary(bed, "backend"))

        with _controller(bed) as log:
            try:
                await bed.wait_phase("podinfo", {"Initialized"}, timeout=30)
                await bed.wait_phase("backend", {"Initialized"}, timeout=30)
                if mesh == "istio":  # someone edits a DestinationRule by hand: the controller puts it back
                    found: list[JsonDict] = []

                    async def routed() -> bool:  # routing objects follow the primary's readiness
                        rule = await api.get(DESTINATION_RULES, ns, "podinfo-primary")
                        found[:] = [rule] if rule is not None else []
                        return bool(found)

                    await bed.wait_for("the primary DestinationRule", routed, timeout=10)
                    (rule,) = found
                    edit = {"spec": {"trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}}}}
                    await api.patch(DESTINATION_RULES, ns, "podinfo-primary", edit)

                    async def restored() -> bool:
                        current = await api.get(DESTINATION_RULES, ns, "podinfo-primary")
                        return current is not None and current["spec"] == rule["spec"]

                    await bed.wait_for("the hand-edited DestinationRule to be restored", restored, timeout=10)
                await bed.new_revision("podinfo", image="podinfo:6.0.1", behaviour="healthy")
                await bed.new_revision("backend", image="backend:2.0.0", behaviour="errors")
                phases, messages = {}, {}
                for name in ("podinfo", "backend"):
                    done = await bed.wait_phase(name, {"Succeeded", "Failed"}, timeout=60)
                    phases[name] = done["status"]["phase"]
                    messages[name] = f"{done['status'].get('message')} {done['status'].get('checks')}"
                for name in ("podinfo", "backend"):
                    await api.delete(CANARIES, ns, name)

                async def finalized() -> bool:
                    return [await api.get(CANARIES, ns, name) for name in ("podinfo", "backend")] == [None, None]

                await bed.wait_for("both Canaries to be finalized and gone", finalized, timeout=20)
            except (TimeoutError, AssertionError) as error:
                left = [(o["metadata"], o.get("status", {}).get("phase")) for o in await api.list(CANARIES, ns)]
                raise AssertionError(f"{error}\ncanaries: {left}\ncontroller log:\n{log.read_text()[-4000:]}") from None
        leftovers = []
        for resource in {(r.group, r.plural): r for r in WRITTEN_RESOURCES if r.group}.values():  # each mesh kind
            leftovers += [f"{resource.kind} {o['metadata']['name']}" for o in await api.list(resource, ns)]
        leftovers += [
            f"Service {o['metadata']['name']}"
            for o in await api.list(SERVICES, ns)
            if o["metadata"]["name"] != user_service["metadata"]["name"]
        ]
        audit = await fetch_audit(bed.url)
        return MeshRun(
            entries=[e for e in audit if e.key.user == CONTROLLER_USER],
            anonymous=[e for e in audit if e.key.user == ANONYMOUS],
            phases=phases,
            messages=messages,
            chat_messages=len(chat),
            service_after_delete=await api.get(SERVICES, ns, "podinfo"),
            leftovers=leftovers,
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs() -> AsyncIterator[dict[str, MeshRun]]:
    """One full run per mesh, one after the other (the machine has two cores)."""
    results = {}
    for mesh in MESHES:
        results[mesh] = await _run(mesh)
    yield results


@pytest.mark.asyncio(loop_scope="module")
async def test_the_rollouts_ran_and_the_finalizer_gave_everything_back(runs: dict[str, MeshRun]) -> None:
    for mesh, run in runs.items():
        assert run.phases == {"podinfo": "Succeeded", "backend": "Failed"}, (mesh, run.messages)
        assert run.chat_messages > 0, f"{mesh}: no alert reached the chat receiver"
        assert run.leftovers == [], f"{mesh}: left behind after the Canaries were deleted"
        service = run.service_after_delete
        assert service is not None, f"{mesh}: the adopted Service was deleted instead of given back"
        assert service["spec"]["selector"] == {"app": "podinfo"}, mesh
        assert not any(k.startswith("canary.dev/") for k in service["metadata"].get("annotations") or {}), mesh


@pytest.mark.asyncio(loop_scope="module")
async def test_requests_are_attributed_to_the_controller_and_both_its_clients(runs: dict[str, MeshRun]) -> None:
    for mesh, run in runs.items():
        agents = {e.key.user_agent for e in run.entries}
        for pattern in CLIENT_AGENTS:
            assert any(fnmatch(agent, pattern) for agent in agents), f"{mesh}: no request from {pattern}: {agents}"
        unknown = {a for a in agents if not any(fnmatch(a, p) for p in CLIENT_AGENTS)}
        assert not unknown, f"{mesh}: requests from an unexpected client {unknown}"
        # The testbed's own requests (creating Canaries, simulating the kubelet) are not the controller's.
        assert any(e.key.verb == "create" and e.key.resource == "canaries" for e in run.anonymous), mesh
        assert not any(e.key.verb == "create" and e.key.resource == "canaries" for e in run.entries), mesh


@pytest.mark.asyncio(loop_scope="module")
async def test_the_cluster_role_grants_every_request_the_controller_made(runs: dict[str, MeshRun]) -> None:
    granted = _granted()
    for mesh, run in runs.items():
        missing = sorted(run.used - granted)
        assert not missing, f"{mesh}: the controller used permissions deploy/clusterrole.yaml does not grant: {missing}"
        paths = {e.key.path for e in run.entries if e.key.path is not None}
        outside = {p for p in paths if not any(fnmatch(p, pattern) for pattern in DISCOVERY_PATHS)}
        assert not outside, f"{mesh}: non-resource requests beyond discovery need a nonResourceURLs rule: {outside}"


@pytest.mark.asyncio(loop_scope="module")
async def test_the_cluster_role_grants_nothing_the_controller_never_used(runs: dict[str, MeshRun]) -> None:
    used = set().union(*(run.used for run in runs.values()))
    granted = _granted()
    same_as: set[Permission] = set()
    used_kinds = {(g, r) for g, r, _ in used}
    like = {verb for g, r, verb in used if (g, r) in ROUTED_KINDS and g}  # the mesh objects' verbs
    assert like, "no mesh object was written during the runs"
    for group, resource in sorted(ROUTED_KINDS - used_kinds):
        mine = {verb for g, r, verb in granted if (g, r) == (group, resource)}
        assert mine == like, f"{group}/{resource} must be granted the verbs the mesh objects were used with"
        same_as |= {(group, resource, verb) for verb in mine}
    unused = sorted(granted - used - same_as - set(GRANTED_UNUSED))
    assert not unused, f"deploy/clusterrole.yaml grants what no request used (remove it, or explain it): {unused}"
    stale = sorted(set(GRANTED_UNUSED) - granted) + sorted(set(GRANTED_UNUSED) & used)
    assert not stale, f"GRANTED_UNUSED lists permissions that are not granted, or are used after all: {stale}"


def test_the_cluster_role_names_every_permission_explicitly() -> None:
    role: dict[str, Any] = find(render_deploy(), "ClusterRole", "canary-controller")
    for rule in role["rules"]:
        assert "*" not in [*rule["apiGroups"], *rule["resources"], *rule["verbs"]], rule
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
    assert "aggregationRule" not in role
