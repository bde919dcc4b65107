"""The schema helper itself: it must catch what the API server would refuse or silently prune."""

from __future__ import annotations

from tests.unit.routers.schemas import schema_errors


def test_valid_virtual_service_passes() -> None:
    obj = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo"},
        "spec": {
            "hosts": ["podinfo"],
            "http": [{"route": [{"destination": {"host": "podinfo-primary"}, "weight": 100}]}],
        },
    }
    assert schema_errors(obj) == []


def test_unknown_and_mistyped_fields_are_reported() -> None:
    obj = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo"},
        "spec": {"hosts": "podinfo", "http": [{"route": [{"destination": {}, "weight": "ten"}], "weights": 1}]},
    }

    errors = schema_errors(obj)

    assert "spec.hosts: 'podinfo' is not of type 'array'" in errors
    assert "spec.http.0.route.0.weight: 'ten' is not of type 'integer'" in errors
    assert "spec.http.0.route.0.destination: 'host' is a required property" in errors
    assert "spec.http.0: Additional properties are not allowed ('weights' was unexpected)" in errors


def test_int_or_string_and_version_specific_weights() -> None:
    backends = [{"service": "podinfo-canary", "weight": "500m"}, {"service": "podinfo-primary", "weight": 1}]
    v1alpha1 = {"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit", "metadata": {}}
    v1alpha2 = {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit", "metadata": {}}
    spec = {"service": "podinfo", "backends": backends}

    assert schema_errors({**v1alpha1, "spec": spec}) == []
    assert schema_errors({**v1alpha2, "spec": spec}) == ["spec.backends.0.weight: '500m' is not of type 'number'"]


def test_gateway_api_enums_and_patterns_are_checked() -> None:
    obj = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "podinfo"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [{"matches": [{"path": {"type": "Prefix", "value": "/"}}], "timeouts": {"request": "30 s"}}],
        },
    }

    errors = schema_errors(obj)

    assert any(error.startswith("spec.rules.0.matches.0.path.type: 'Prefix' is not one of") for error in errors)
    assert any(error.startswith("spec.rules.0.timeouts.request: '30 s' does not match") for error in errors)
