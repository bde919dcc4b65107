"""The controller's Deployment: hardened pod, probes on the port the controller really serves, valid args.

The security settings are what the "restricted" Pod Security Standard
requires (and what the Namespace enforces), asserted one by one so a
weakened manifest names the setting it lost.
"""

from __future__ import annotations

from typing import Any

from canary.cli import build_parser
from tests.unit.deploy.render import find, render_deploy

PROMETHEUS = "http://prometheus.istio-system:9090"


def _deployment() -> dict[str, Any]:
    return find(render_deploy(), "Deployment", "canary-controller")


def _container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    namespace = find(render_deploy(), "Namespace", "canary-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_pod_runs_as_a_non_root_user_with_the_runtime_default_seccomp_profile() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host), host
    assert all("hostPath" not in volume for volume in pod.get("volumes", []))
    assert pod["serviceAccountName"] == "canary-controller"


def test_the_container_cannot_escalate_write_its_image_or_keep_capabilities() -> None:
    context = _container()["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context.get("privileged", False) is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert not context["capabilities"].get("add")
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_container_has_resource_requests_and_a_memory_limit() -> None:
    resources = _container()["resources"]
    assert set(resources["requests"]) >= {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_the_args_are_a_valid_controller_command_line() -> None:
    container = _container()
    assert "command" not in container  # the image's entrypoint (`canary`) runs them
    args = build_parser().parse_args(container["args"])
    assert args.command == "controller"
    assert args.prometheus == PROMETHEUS
    assert args.namespace is None  # cluster-wide, which the ClusterRole is for


def test_the_probes_ask_for_healthz_on_the_port_the_controller_serves() -> None:
    container = _container()
    metrics_port = build_parser().parse_args(container["args"]).metrics_port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert metrics_port in ports.values()
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/healthz", probe
        assert ports.get(http["port"], http["port"]) == metrics_port, probe


def test_only_one_controller_runs_at_a_time() -> None:
    spec = _deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"  # a rolling update would run two for a while


def test_the_service_account_is_bound_to_the_controller_cluster_role() -> None:
    objects = render_deploy()
    binding = find(objects, "ClusterRoleBinding", "canary-controller")
    account = find(objects, "ServiceAccount", "canary-controller")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": find(objects, "ClusterRole", "canary-controller")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]
