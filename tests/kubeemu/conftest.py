"""Fixtures for the sandbox API server tests: a live server on 127.0.0.1 and clients for it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from kubeemu.server import ApiServerProcess, ApiServerThread, write_kubeconfig

# The client's config helpers are untyped: hold them as Any.
_new_client_from_config: Any = kubernetes.config.new_client_from_config
REFERENCE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


def reference_crds() -> list[Path]:
    """The third-party mesh CRD files shipped in the shared reference folder."""
    return sorted((REFERENCE_DIR / "crds").glob("*.yaml"))


@pytest.fixture
def api() -> Iterator[ApiServerThread]:
    """A fresh API server (namespaces ``default`` and ``test``) running in a background thread."""
    with ApiServerThread(namespaces=["test"]) as server:
        yield server


@pytest.fixture
def http(api: ApiServerThread) -> Iterator[httpx.Client]:
    """A raw HTTP client for the API server."""
    with httpx.Client(base_url=api.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def k8s(api: ApiServerThread, tmp_path: Path) -> Iterator[Any]:
    """The official client, configured from a kubeconfig written by ``write_kubeconfig``."""
    path = write_kubeconfig(api.url, tmp_path / "kubeconfig", namespace="test")
    client = _new_client_from_config(config_file=str(path))
    try:
        yield client
    finally:
        client.close()


REPO_CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))


class Kubectl:
    """The kubectl on this machine, pointed at one emulated API server by its own kubeconfig and cache."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.kubeconfig = write_kubeconfig(url, workdir / "kubeconfig", namespace="test")
        self.cache = workdir / "kube-cache"

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl args...``; with ``check``, fail the test (showing stderr) unless it exits 0."""
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """kubectl against ``python -m kubeemu.server`` in a subprocess (namespace ``test``, this repo's CRDs)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    with ApiServerProcess(namespaces=["test"], crds=REPO_CRDS) as server:
        yield Kubectl(server.url, tmp_path_factory.mktemp("kubectl"))
