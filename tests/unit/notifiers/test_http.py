"""The shared HTTP path: retries on 429/5xx with Retry-After, no retry on 4xx, timeouts, and secrets kept out."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from canary.notifiers import NotifierError, slack
from canary.notifiers.http import REDACTED, WebhookPoster, parse_retry_after, redact
from tests.unit.notifiers.conftest import Receiver

SECRET_PATH = "/services/T0001/B0002/s3cr3tTokenXYZ"
ADDRESS = f"https://hooks.example.invalid{SECRET_PATH}"


class Sleeps:
    """Records the waits the poster asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def mock_client(answers: list[httpx.Response | Exception], seen: list[httpx.Request]) -> httpx.AsyncClient:
    """A client whose transport answers from ``answers`` in order and records the requests."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def poster(client: httpx.AsyncClient, sleeps: Sleeps, **kwargs: object) -> WebhookPoster:
    return WebhookPoster(ADDRESS, service="slack", client=client, sleep=sleeps, **kwargs)  # type: ignore[arg-type]


def assert_no_secret(text: str) -> None:
    assert SECRET_PATH not in text and "s3cr3tTokenXYZ" not in text and ADDRESS not in text


async def test_posts_utf8_json_once_when_accepted() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    async with mock_client([httpx.Response(200, text="ok")], seen) as client:
        response = await poster(client, sleeps).post_json({"text": "97.2 % < 99 % 🚨"})
    assert response.status_code == 200
    [request] = seen
    assert request.method == "POST" and str(request.url) == ADDRESS
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.content.decode("utf-8") == '{"text": "97.2 % < 99 % 🚨"}'
    assert sleeps.waits == []


async def test_retries_5xx_and_429_honouring_retry_after() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    answers: list[httpx.Response | Exception] = [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, text="ok"),
    ]
    async with mock_client(answers, seen) as client:
        await poster(client, sleeps, backoff=0.25).post_json({"text": "x"})
    assert len(seen) == 3
    assert sleeps.waits == [0.25, 2.0]  # backoff without the header, the server's wish with it


async def test_gives_up_after_the_attempts_with_the_last_status() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    answers: list[httpx.Response | Exception] = [httpx.Response(502, text="bad gateway")] * 3
    async with mock_client(list(answers), seen) as client:
        with pytest.raises(NotifierError) as caught:
            await poster(client, sleeps, attempts=3, backoff=0.5).post_json({"text": "x"})
    assert len(seen) == 3
    assert sleeps.waits == [0.5, 1.0]
    assert caught.value.status == 502 and caught.value.body == "bad gateway"
    assert "HTTP 502" in str(caught.value) and "after 3 attempts" in str(caught.value)


async def test_a_retry_after_beyond_the_cap_ends_the_retries_at_once() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    async with mock_client([httpx.Response(429, headers={"Retry-After": "120"})], seen) as client:
        with pytest.raises(NotifierError, match="retry after 120s"):
            await poster(client, sleeps, max_retry_after=10).post_json({"text": "x"})
    assert len(seen) == 1 and sleeps.waits == []


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_client_errors_are_not_retried(status: int) -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    async with mock_client([httpx.Response(status, text="invalid_payload")], seen) as client:
        with pytest.raises(NotifierError) as caught:
            await poster(client, sleeps).post_json({"text": "x"})
    assert len(seen) == 1 and caught.value.status == status
    assert "invalid_payload" in str(caught.value)


async def test_a_timeout_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    async with mock_client([httpx.ReadTimeout("timed out")], seen) as client:
        with pytest.raises(NotifierError, match="no answer within 3s") as caught:
            await poster(client, sleeps, timeout=3).post_json({"text": "x"})
    assert len(seen) == 1 and caught.value.status is None


async def test_connection_failures_are_retried() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    answers: list[httpx.Response | Exception] = [httpx.ConnectError("refused"), httpx.Response(200, text="ok")]
    async with mock_client(answers, seen) as client:
        await poster(client, sleeps).post_json({"text": "x"})
    assert len(seen) == 2 and len(sleeps.waits) == 1


async def test_a_service_check_turns_an_odd_2xx_into_a_failure() -> None:
    seen: list[httpx.Request] = []
    async with mock_client([httpx.Response(200, text="no_text")], seen) as client:
        with pytest.raises(NotifierError, match="Slack answered 'no_text'"):
            await poster(client, Sleeps(), check_response=slack.check_response).post_json({"text": "x"})


async def test_nan_in_a_payload_is_a_notifier_error_not_a_crash() -> None:
    async with mock_client([], []) as client:
        with pytest.raises(NotifierError, match="not JSON"):
            await poster(client, Sleeps()).post_json({"value": float("nan")})


@pytest.mark.parametrize("address", ["", "hooks.slack.com/services/x", "ftp://host/secret-path-123"])
def test_an_address_that_is_no_http_url_is_refused_without_echoing_it(address: str) -> None:
    with pytest.raises(NotifierError) as caught:
        WebhookPoster(address, service="slack")
    if address:
        assert address not in str(caught.value) and "secret-path-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(7.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


FailingCall = Callable[[], object]


async def test_address_never_in_errors_or_logs(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """The hook URL appears in no error, no error body, no log line (httpx's own included)."""
    caplog.set_level(logging.DEBUG)
    address = f"{receiver.url}{SECRET_PATH}"
    # The server echoes the path in its error body, as some services do.
    receiver.script = [(500, {}, f"no hook at {SECRET_PATH}")] * 2
    with pytest.raises(NotifierError) as caught:
        await WebhookPoster(address, service="discord", attempts=2, sleep=Sleeps()).post_json({"content": "x"})
    error = caught.value
    assert len(receiver.requests) == 2 and receiver.requests[0].path == SECRET_PATH  # it was really posted there
    for text in (str(error), repr(error), error.body, caplog.text):
        assert_no_secret(text)
    assert error.body == f"no hook at {REDACTED}"
    assert error.__cause__ is None and error.__context__ is None
    # httpx did log the requests, with the address redacted:
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert httpx_lines and all(REDACTED in line for line in httpx_lines)


async def test_connection_refused_error_names_no_address(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    address = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(NotifierError, match="could not connect") as caught:
        await WebhookPoster(address, service="gchat", attempts=2, sleep=Sleeps()).post_json({"text": "x"})
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert_no_secret(text)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_redact_hides_the_address_its_path_and_proxy_credentials() -> None:
    proxy = "http://user:pa55word@proxy.internal:3128"
    text = f"POST {ADDRESS} failed; path {SECRET_PATH}; via {proxy}"
    cleaned = redact(text, ADDRESS, proxy)
    assert_no_secret(cleaned)
    assert "pa55word" not in cleaned and "user:pa55word" not in cleaned


async def test_proxy_is_used_even_with_a_shared_client(receiver: Receiver) -> None:
    """With ``proxy`` set the request goes to the proxy, in absolute form, for the real address."""
    address = "http://chat.example.invalid/hooks/abc123secret"
    async with httpx.AsyncClient() as shared:
        await WebhookPoster(address, service="rocket", proxy=receiver.url, client=shared).post_json({"text": "x"})
    [request] = receiver.requests
    assert request.path == address  # a forward proxy receives the absolute URL
    assert request.json() == {"text": "x"}


async def test_an_answer_in_a_charset_it_does_not_hold_is_read_as_text() -> None:
    seen: list[httpx.Request] = []
    answer = httpx.Response(
        403, content="no_channel".encode("utf-16-le"), headers={"Content-Type": "text/plain; charset=utf-16"}
    )
    async with mock_client([answer], seen) as client:
        with pytest.raises(NotifierError) as caught:  # not a UnicodeError out of the alert task
            await poster(client, Sleeps()).post_json({"text": "x"})
    assert "no_channel" in str(caught.value)


async def test_a_proxy_that_cannot_be_used_is_a_notifier_error_without_the_proxy() -> None:
    for proxy in ("proxy.corp:3128", "http://[::1", "socks5://proxy.corp:1080"):
        with pytest.raises(NotifierError, match="the proxy cannot be used") as caught:
            await WebhookPoster(ADDRESS, service="slack", proxy=proxy).post_json({"text": "x"})
        assert "proxy.corp" not in str(caught.value) and "::1" not in str(caught.value)
