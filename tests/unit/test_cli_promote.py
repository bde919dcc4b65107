"""``canary promote``: the annotations it writes for the controller, and who it says asked."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from canary.cli import main
from canary.cli import manual as manual_cli
from canary.kube.api import CANARIES
from canary.kube.client import kubeconfig_user
from canary.kube.memory import MemoryApi
from canary.operator.gates import PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY
from tests.unit.operator.harness import NS, canary_body

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "alice@example.com", "user": {"token": "t"}}],
    "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "alice@example.com"}}],
    "current-context": "ctx",
}


class ClosingApi(MemoryApi):
    def close(self) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> ClosingApi:
    memory = ClosingApi()
    monkeypatch.setattr(manual_cli, "_api", lambda args: memory)
    return memory


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG), encoding="utf-8")
    return path


async def _canary(api: MemoryApi, phase: str, revision: str | None = "abc123", **annotations: str) -> None:
    body: dict[str, Any] = copy.deepcopy(canary_body())
    body["metadata"]["annotations"] = annotations
    body["status"] = {"phase": phase, "lastAppliedSpec": revision}
    await api.create(CANARIES, NS, body)


async def _run(argv: list[str]) -> int:
    """The command line, in a thread: the command runs its own event loop."""
    return await asyncio.to_thread(main, argv)


async def _annotations(api: MemoryApi) -> dict[str, str]:
    canary = await api.get(CANARIES, NS, "podinfo")
    assert canary is not None
    return dict(canary["metadata"].get("annotations") or {})


def test_the_requester_is_the_kubeconfig_user(kubeconfig: Path, tmp_path: Path) -> None:
    assert kubeconfig_user(kubeconfig) == "alice@example.com"
    assert kubeconfig_user(tmp_path / "missing") is None


async def test_promote_names_the_revision_under_analysis_and_the_requester(api: ClosingApi, kubeconfig: Path) -> None:
    await _canary(api, "Progressing", **{PROMOTE_FORCE: "true"})  # a stale force is cleared
    assert await _run(["promote", "podinfo", "-n", NS, "--kubeconfig", str(kubeconfig)]) == 0
    assert await _annotations(api) == {PROMOTE: "abc123", PROMOTE_REQUESTED_BY: "alice@example.com"}


async def test_promote_force_adds_the_force_and_may_name_another_requester(api: ClosingApi, kubeconfig: Path) -> None:
    await _canary(api, "WaitingPromotion")
    args = ["promote", "podinfo", "-n", NS, "--kubeconfig", str(kubeconfig), "--force", "--requested-by", "bob"]
    assert await _run(args) == 0
    assert await _annotations(api) == {PROMOTE: "abc123", PROMOTE_FORCE: "true", PROMOTE_REQUESTED_BY: "bob"}


@pytest.mark.parametrize(("phase", "revision"), [("Succeeded", "abc123"), ("Failed", "abc123"), ("Progressing", None)])
async def test_nothing_to_promote_without_a_revision_under_analysis(
    api: ClosingApi, kubeconfig: Path, phase: str, revision: str | None
) -> None:
    await _canary(api, phase, revision)
    assert await _run(["promote", "podinfo", "-n", NS, "--kubeconfig", str(kubeconfig)]) == 1
    assert await _annotations(api) == {}
