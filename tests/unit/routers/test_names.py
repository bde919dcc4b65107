"""Object names: Flagger's, from spec.service.name or the target."""

from __future__ import annotations

from canary.models import Canary
from canary.routers import apex_service_name, canary_service_name, primary_service_name
from tests.unit.routers.conftest import flagger_manifest


def test_names_follow_the_target() -> None:
    canary = Canary.model_validate(flagger_manifest("005"))

    assert (apex_service_name(canary), primary_service_name(canary), canary_service_name(canary)) == (
        "podinfo",
        "podinfo-primary",
        "podinfo-canary",
    )
    assert canary.primary_deployment_name() == "podinfo-primary"


def test_service_name_renames_services_but_not_the_primary_deployment() -> None:
    manifest = flagger_manifest("005")
    manifest["spec"]["service"]["name"] = "frontend"
    canary = Canary.model_validate(manifest)

    assert (apex_service_name(canary), primary_service_name(canary), canary_service_name(canary)) == (
        "frontend",
        "frontend-primary",
        "frontend-canary",
    )
    assert canary.primary_deployment_name() == "podinfo-primary"
