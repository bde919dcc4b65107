"""Flagger's webhooks: gates that decide, tests that count as checks, and side-channel notices.

Each hook is a POST of ``{name, namespace, phase, checksum, metadata}``; a 2xx
answer is success, anything else (or no answer within ``timeout`` after
``retries``) a failure whose response body is kept for the Event. Which
types decide what (Flagger's semantics):

- ``confirm-rollout``: a closed gate holds a new revision in Waiting;
- ``pre-rollout``: a failure counts as a failed check before the first step;
- ``rollout``: run at every analysis tick, a failure is a failed check;
- ``confirm-traffic-increase``: a closed gate holds the weight where it is;
- ``confirm-promotion``: a closed gate holds the rollout in WaitingPromotion
  while the checks keep running;
- ``rollback``: a 2xx rolls the canary back now;
- ``post-rollout`` and ``event``: notices; their failures change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from canary.models import Canary, CanaryWebhook
from canary.notifiers.http import answer_text, register_secret

__all__ = ["HookResult", "WebhookCaller", "hook_payload"]

log = logging.getLogger(__name__)

_BODY_LIMIT = 500
_KEEP_ALIVE_READ = 65536
# Hook types whose failure decides nothing: every one of them is always called.
_NOTICES = frozenset({"event", "post-rollout", "rollback"})


@dataclass(frozen=True)
class HookResult:
    """What one webhook answered."""

    name: str
    type: str
    ok: bool
    status: int | None
    message: str
    muted: bool = False  # the hook's muteAlert: its failure is not sent to chat

    @property
    def reason(self) -> str:
        """One sentence for status, Events and chat."""
        if self.ok:
            return f"{self.type} hook {self.name}: ok"
        answer = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.type} hook {self.name} failed ({answer}): {self.message}".rstrip(": ")


def hook_payload(
    canary: Canary, hook: CanaryWebhook, phase: str, extra: dict[str, str] | None = None, checksum: str | None = None
) -> dict[str, Any]:
    """The JSON body Flagger posts to a hook (``extra`` joins ``metadata``, as for event hooks).

    ``checksum`` names the revision the hook is asked about (by default the
    one in status; a gate for a brand-new revision passes the new one).
    """
    metadata = {**(hook.metadata or {}), **(extra or {})}
    return {
        "name": canary.name,
        "namespace": canary.namespace,
        "phase": phase,
        "checksum": checksum or canary.status.lastAppliedSpec or "",
        "metadata": metadata,
    }


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any], timeout: float) -> tuple[int, str]:
    """POST ``body``: the status and, for a failure, the start of the answer as text.

    ``timeout`` bounds the whole call (httpx's bounds each read: an answer
    trickling in a byte at a time would hold the tick for ever), and no more
    of the answer is read than is kept: an endless one cannot fill memory.
    """
    async with asyncio.timeout(timeout), client.stream("POST", url, json=body, timeout=timeout) as response:
        ok = 200 <= response.status_code < 300
        # (a short answer read to its end keeps the connection for the next call)
        limit = _KEEP_ALIVE_READ if ok else 4 * _BODY_LIMIT
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) >= limit:
                break
        return response.status_code, "" if ok else answer_text(raw, response.charset_encoding).strip()[:_BODY_LIMIT]


class WebhookCaller:
    """Calls a Canary's hooks of one type; one HTTP client per TLS setting, reused."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def _client(self, verify: bool) -> httpx.AsyncClient:
        if verify not in self._clients:
            self._clients[verify] = httpx.AsyncClient(verify=verify, follow_redirects=False)
        return self._clients[verify]

    async def close(self) -> None:
        """Close the HTTP clients."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def call(
        self,
        canary: Canary,
        hook: CanaryWebhook,
        phase: str,
        extra: dict[str, str] | None = None,
        checksum: str | None = None,
    ) -> HookResult:
        """POST to one hook, retrying ``retries`` times after a failure."""
        client = self._client(verify=not hook.disableTLS)
        register_secret(hook.url)  # its credentials or token (userinfo, query) never reach the httpx log
        body = hook_payload(canary, hook, phase, extra, checksum)
        attempts = 1 + max(0, int(hook.retries or 0))
        muted = bool(hook.muteAlert)
        result = HookResult(hook.name, hook.hook_type(), False, None, "not called", muted)
        for attempt in range(attempts):
            try:
                status, text = await _post(client, hook.url, body, hook.timeout_seconds())
            except TimeoutError:
                text = f"no answer within the hook's timeout ({hook.timeout_seconds():g}s)"
                result = HookResult(hook.name, hook.hook_type(), False, None, text, muted)
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                text = type(error).__name__ + (f": {error}" if str(error) else "")
                result = HookResult(hook.name, hook.hook_type(), False, None, text, muted)
            except ValueError as error:  # e.g. a host name IDNA refuses: an address that cannot be called
                text = f"invalid URL: {error}"
                return HookResult(hook.name, hook.hook_type(), False, None, text, muted)  # (no retry can help)
            else:
                ok = 200 <= status < 300
                result = HookResult(hook.name, hook.hook_type(), ok, status, text, muted)
                if ok:
                    return result
            if attempt + 1 < attempts:
                await asyncio.sleep(min(0.5 * (attempt + 1), 2.0))
        return result

    async def run(
        self,
        canary: Canary,
        types: Iterable[str],
        phase: str,
        extra: dict[str, str] | None = None,
        checksum: str | None = None,
    ) -> list[HookResult]:
        """Call the hooks of the given types one by one, in spec order, as Flagger does.

        Gates and tests stop at the first failure (a later hook may rely on an
        earlier one, and one failure already decides); notices are all sent.
        """
        wanted = set(types)
        results: list[HookResult] = []
        for hook in canary.spec.analysis.webhooks:
            if hook.hook_type() not in wanted:
                continue
            result = await self.call(canary, hook, phase, extra, checksum)
            results.append(result)
            if not result.ok and result.type not in _NOTICES:
                break
        return results

    def has(self, canary: Canary, type_: str) -> bool:
        """Whether the Canary has any hook of this type."""
        return any(h.hook_type() == type_ for h in canary.spec.analysis.webhooks)
