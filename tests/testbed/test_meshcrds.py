"""The testbed's mesh CRDs carry the projects' own short names, so kubectl users can type them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from canary_testbed.meshcrds import mesh_crds
from kubeemu.server import ApiServerThread, write_kubeconfig

REFERENCE_CRDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "crds"


def test_short_names_are_those_of_the_projects_crds() -> None:
    ours = {crd["spec"]["names"]["plural"]: crd["spec"]["names"].get("shortNames") for crd in mesh_crds()}
    for name in ("istio-virtualservices", "istio-destinationrules", "smi-trafficsplits", "gateway-api-httproutes"):
        path = REFERENCE_CRDS / f"{name}.yaml"
        if not path.exists():
            pytest.skip("the reference CRDs are not here")
        names = yaml.safe_load(path.read_text())["spec"]["names"]
        assert ours[names["plural"]] == names.get("shortNames")


def test_discovery_reports_them_and_kubectl_get_vs_works(tmp_path: Path) -> None:
    with ApiServerThread(namespaces=["test"]) as api:
        api.call(lambda server: server.add_crds(mesh_crds()))
        resources = httpx.get(f"{api.url}/apis/networking.istio.io/v1beta1", timeout=10.0).json()["resources"]
        assert {res["name"]: res.get("shortNames") for res in resources}["virtualservices"] == ["vs"]
        if shutil.which("kubectl") is None:
            pytest.skip("kubectl is not installed")
        kubeconfig = write_kubeconfig(api.url, tmp_path / "kubeconfig", namespace="test")
        for short in ("vs", "dr", "ts"):
            done = subprocess.run(
                ["kubectl", f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", "get", short],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert "No resources found in test namespace." in done.stderr
