"""The one HTTP path every notifier posts through: timeout, proxy, bounded retries, redaction.

Webhook addresses are secrets (whoever has a Slack or Discord hook URL can post
to the channel), and so may be a proxy URL with credentials. This module keeps
them out of everything it produces: exception messages, response bodies copied
into errors, and its own log lines. httpx itself logs each request with its
full URL at INFO level on the ``httpx`` logger; a filter installed on that
logger rewrites every registered secret to ``<redacted>`` before any handler
sees the record.

Retries: a 429 or a 5xx answer (and a connection that failed before any answer)
is retried up to ``attempts`` times in all. A ``Retry-After`` header is obeyed
when it asks for at most ``max_retry_after`` seconds; a longer wait gives up at
once (a notification that arrives minutes late helps nobody and must not hold
anything up). Without the header the wait doubles from ``backoff`` seconds.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from canary.notifiers.base import NotifierError

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_TIMEOUT",
    "REDACTED",
    "WebhookPoster",
    "answer_text",
    "parse_retry_after",
    "redact",
    "register_secret",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds for connecting, sending and reading one attempt."""
DEFAULT_ATTEMPTS = 3
"""Attempts in all (the first and two retries)."""
DEFAULT_MAX_RETRY_AFTER = 10.0
"""Longest ``Retry-After`` (seconds) honoured; a longer one ends the retries."""
DEFAULT_BACKOFF = 0.5
"""First wait (seconds) between attempts without ``Retry-After``; doubles each time."""
REDACTED = "<redacted>"
"""What a secret is replaced with."""
_BODY_SNIPPET = 300

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _variants(secret: str) -> set[str]:
    """The secret and the parts of it that identify it on their own (path with query, userinfo)."""
    found = {secret}
    try:
        parts = urlsplit(secret)
    except ValueError:
        return found
    if parts.netloc:
        found.add(secret.split("://", 1)[-1])
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(tail) >= 8:  # a bare "/" or "/hook" is no secret, and redacting it would garble messages
            found.add(tail)
        if "@" in parts.netloc:
            found.add(parts.netloc.rsplit("@", 1)[0])
    return {v for v in found if len(v) >= 4}


def register_secret(secret: str) -> None:
    """Have :func:`redact` and the ``httpx`` log filter hide ``secret`` (and its path or credentials)."""
    if not secret:
        return
    with _secrets_lock:
        _secrets.update(_variants(secret))


def redact(text: str, *extra: str) -> str:
    """``text`` with every registered secret and every ``extra`` secret replaced by ``<redacted>``."""
    with _secrets_lock:
        secrets = set(_secrets)
    for secret in extra:
        if secret:
            secrets |= _variants(secret)
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: the full URL before its path
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites log records of the ``httpx`` logger so registered secrets never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def _install_filter() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


_install_filter()


def answer_text(raw: bytes, charset: str | None) -> str:
    """An HTTP answer's text in its declared charset, or UTF-8 when that cannot decode it (never an exception)."""
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except (LookupError, UnicodeError, TypeError, AssertionError):  # no such text codec, or a broken one
        return raw.decode("utf-8", errors="replace")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds (fractions allowed) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


ResponseCheck = Callable[[httpx.Response], str | None]
"""Service-specific check of a 2xx answer: a failure sentence, or ``None`` when it was accepted."""


class WebhookPoster:
    """POSTs JSON to one webhook address with a timeout, an optional proxy and bounded retries.

    ``client``: a shared ``httpx.AsyncClient`` to post with (its owner closes it).
    Without one, each :meth:`post_json` opens and closes its own client. A
    ``proxy`` needs a client of its own (httpx binds proxies to clients), so
    with a proxy the shared client is not used. Clients made here honour the
    ``HTTPS_PROXY``/``NO_PROXY`` environment when no ``proxy`` is given. ``sleep`` is the wait between
    attempts (a test passes a recorder instead of sleeping).
    """

    def __init__(
        self,
        address: str,
        *,
        service: str,
        proxy: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        backoff: float = DEFAULT_BACKOFF,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        check_response: ResponseCheck | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not address:
            raise NotifierError(f"{service}: no webhook address", service=service)
        scheme = urlsplit(address).scheme.lower() if "://" in address else ""
        if scheme not in ("http", "https"):
            # Name the scheme only, and only when it looks like one: the address itself is a secret.
            shown = scheme if scheme.isalpha() and len(scheme) <= 10 else ("none" if not scheme else "?")
            raise NotifierError(
                f"{service}: the webhook address must be an http(s) URL (got scheme {shown!r})",
                service=service,
            )
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        register_secret(address)
        if proxy:
            register_secret(proxy)
        self._address = address
        self._proxy = proxy or None
        self.service = service
        self.timeout = timeout
        self.attempts = attempts
        self.max_retry_after = max_retry_after
        self.backoff = backoff
        self._client = client
        self._headers = dict(headers or {})
        self._check_response = check_response
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"WebhookPoster(service={self.service!r}, address={REDACTED!r}, proxy={'set' if self._proxy else None})"

    def _error(self, what: str, *, status: int | None = None, body: str = "") -> NotifierError:
        body = redact(body, self._address, self._proxy or "")
        return NotifierError(
            redact(f"{self.service} webhook: {what}", self._address, self._proxy or ""),
            service=self.service,
            status=status,
            body=body,
        )

    async def post_json(self, payload: Mapping[str, Any]) -> httpx.Response:
        """POST ``payload`` as UTF-8 JSON; the accepted response, or :class:`NotifierError`."""
        try:
            content = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise self._error(f"payload is not JSON: {exc}") from None
        headers = {"Content-Type": "application/json; charset=utf-8", **self._headers}
        if self._client is not None and self._proxy is None:
            return await self._post_with(self._client, content, headers)
        try:
            client = httpx.AsyncClient(proxy=self._proxy, timeout=self.timeout)
        except (httpx.InvalidURL, ValueError, ImportError) as exc:  # (its text may hold the proxy: only its kind)
            problem = "a proxy scheme without its support installed" if isinstance(exc, ImportError) else "not a URL"
            raise self._error(f"the proxy cannot be used ({problem})") from None
        async with client:
            return await self._post_with(client, content, headers)

    async def _post_with(self, client: httpx.AsyncClient, content: bytes, headers: dict[str, str]) -> httpx.Response:
        failure: NotifierError | None = None
        for attempt in range(1, self.attempts + 1):
            response: httpx.Response | None = None
            final = False
            try:
                response = await client.post(self._address, content=content, headers=headers, timeout=self.timeout)
            except httpx.TimeoutException as exc:
                # Not retried: one more full timeout would only delay the next notification.
                failure = self._error(f"no answer within {self.timeout:g}s ({type(exc).__name__})")
                final = True
            except httpx.LocalProtocolError as exc:  # a header we cannot send: its text would show the header
                failure = self._error(f"the request cannot be sent ({type(exc).__name__})")
                final = True
            except httpx.TransportError as exc:
                failure = self._error(f"could not connect ({type(exc).__name__}: {exc})")
            except (httpx.InvalidURL, ValueError) as exc:  # e.g. a host IDNA refuses; the text may hold the address
                failure = self._error(f"the address cannot be called ({type(exc).__name__})")
                final = True
            # Errors are raised here, outside the ``except`` blocks, so the httpx exception (whose
            # text may hold the URL) is neither the cause nor the context of the NotifierError.
            if final and failure is not None:
                raise failure
            wait = self._backoff(attempt)
            if response is not None:
                body = answer_text(response.content, response.charset_encoding)[:_BODY_SNIPPET]
                status = response.status_code
                if 200 <= status < 300:
                    problem = self._check_response(response) if self._check_response else None
                    if problem is None:
                        return response
                    raise self._error(f"HTTP {status} but {problem}", status=status, body=body)
                failure = self._error(f"HTTP {status}{': ' + body if body else ''}", status=status, body=body)
                if status != 429 and status < 500:
                    raise failure  # 4xx: the payload or the address is wrong; retrying cannot help
                asked = parse_retry_after(response.headers.get("Retry-After"))
                if asked is not None and asked > self.max_retry_after:
                    raise self._error(
                        f"HTTP {status}, asked to retry after {asked:g}s (more than {self.max_retry_after:g}s): giving up",
                        status=status,
                        body=body,
                    )
                if asked is not None:
                    wait = asked
            if attempt < self.attempts:
                log.debug("%s webhook: attempt %d failed (%s); retrying in %.2fs", self.service, attempt, failure, wait)
                await self._sleep(wait)
        assert failure is not None
        if self.attempts > 1:
            failure = NotifierError(
                f"{failure.message} (after {self.attempts} attempts)",
                service=failure.service,
                status=failure.status,
                body=failure.body,
            )
        raise failure

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * 2.0 ** (attempt - 1), self.max_retry_after)
