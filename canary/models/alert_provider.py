"""The ``AlertProvider`` resource: a chat channel for rollout events (Flagger's ``AlertProvider``)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from canary.models.base import GROUP_VERSION, ApiVersion, ObjectMeta, StrictModel
from canary.models.metric_template import SecretReference

__all__ = ["ALERT_PROVIDER_TYPES", "AlertProvider", "AlertProviderSpec", "AlertProviderType"]

AlertProviderType = Literal["slack", "msteams", "discord", "rocket", "gchat", "generic"]
"""Chat services Flagger posts to."""
ALERT_PROVIDER_TYPES: tuple[str, ...] = get_args(AlertProviderType)


class AlertProviderSpec(StrictModel):
    """Where and how alerts are posted: the hook URL comes from ``address`` or from a Secret."""

    type: AlertProviderType
    """Chat service."""
    channel: str | None = None
    """Channel to post to (where the service lets the sender choose)."""
    username: str | None = None
    """Bot user name shown with the message."""
    address: str | None = None
    """Hook URL."""
    proxy: str | None = None
    """HTTP(S) proxy used to reach the hook URL."""
    secretRef: SecretReference | None = None
    """Secret holding the hook URL (key ``address``) and optionally ``proxy``, ``token``; it wins over address."""

    @model_validator(mode="after")
    def _has_address(self) -> AlertProviderSpec:
        if not self.address and self.secretRef is None:
            raise PydanticCustomError(
                "no_address", "set address or secretRef (the hook URL is needed)", {"field": "address"}
            )
        return self


class AlertProvider(StrictModel):
    """An AlertProvider: a chat destination that Canary alerts reference through ``providerRef``."""

    apiVersion: ApiVersion = GROUP_VERSION
    """Always ``canary.dev/v1beta1``."""
    kind: Literal["AlertProvider"] = "AlertProvider"
    """Always ``AlertProvider``."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
    spec: AlertProviderSpec
    """The destination."""
