"""The day-2 commands as a user runs them: against the emulated API server, through a kubeconfig."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from canary.kube.api import CANARIES
from canary.kube.client import ClusterApi, load_client_config
from canary.models.crdgen import generate
from canary.operator.gates import ABORT, APPROVE, PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY, SUSPEND
from canary_testbed.demo import demo_canary
from kubeemu.server import ApiServerThread, write_kubeconfig

NS = "shop"


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    with ApiServerThread(namespaces=[NS]) as server:
        server.call(lambda s: s.add_crds(generate()))
        path = write_kubeconfig(server.url, tmp_path / "kubeconfig", namespace=NS)
        yield path


def canary_cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canary", *args, "--kubeconfig", str(kubeconfig), "-n", NS],
        capture_output=True, text=True, timeout=60, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


async def annotations(kubeconfig: Path) -> dict[str, str]:
    api = ClusterApi(load_client_config(kubeconfig))
    try:
        canary = await api.get(CANARIES, NS, "podinfo")
        assert canary is not None
        return dict(canary["metadata"].get("annotations") or {})
    finally:
        api.close()


async def test_steering_commands_write_the_annotations_the_controller_honours(kubeconfig: Path) -> None:
    api = ClusterApi(load_client_config(kubeconfig))
    body = demo_canary("istio")
    body["metadata"]["namespace"] = NS
    await api.create(CANARIES, NS, body)
    status = {"phase": "WaitingPromotion", "canaryWeight": 50, "lastAppliedSpec": "abc123", "message": "waiting for QA"}
    await api.patch(CANARIES, NS, "podinfo", {"status": status}, subresource="status")
    api.close()

    assert canary_cli(kubeconfig, "approve", "podinfo").returncode == 0
    assert (await annotations(kubeconfig))[APPROVE] == "abc123"  # this revision only
    assert canary_cli(kubeconfig, "suspend", "podinfo").returncode == 0
    assert (await annotations(kubeconfig))[SUSPEND] == "true"
    assert canary_cli(kubeconfig, "resume", "podinfo").returncode == 0
    assert SUSPEND not in await annotations(kubeconfig)
    assert canary_cli(kubeconfig, "abort", "podinfo").returncode == 0
    assert ABORT in await annotations(kubeconfig)
    assert canary_cli(kubeconfig, "promote", "podinfo", "--force").returncode == 0
    promoted = await annotations(kubeconfig)
    assert (promoted[PROMOTE], promoted[PROMOTE_FORCE]) == ("abc123", "true")
    assert promoted[PROMOTE_REQUESTED_BY] == "sandbox"  # the kubeconfig's user
    refused = canary_cli(kubeconfig, "retry", "podinfo")
    assert refused.returncode == 1 and "only a Failed canary" in refused.stdout

    shown = canary_cli(kubeconfig, "status", "podinfo")
    assert shown.returncode == 0, shown.stderr
    assert "WaitingPromotion" in shown.stdout and "50 %" in shown.stdout and "waiting for QA" in shown.stdout
    listed = canary_cli(kubeconfig, "list")
    assert listed.returncode == 0 and "podinfo" in listed.stdout and "WaitingPromotion" in listed.stdout
    missing = canary_cli(kubeconfig, "status", "nope")
    assert missing.returncode == 1 and "not found" in missing.stdout and "Traceback" not in missing.stderr
