"""Run the real Prometheus server for the testbed.

``PrometheusServer`` starts ``prometheus`` (Debian's package: ``/usr/bin/prometheus``)
on a free 127.0.0.1 port with a temporary data directory and a generated
config that scrapes the given targets every second, waits until ``/-/ready``,
and stops it by PID (terminate, then kill). Its first scrape comes about 5 s
after start (service discovery batches updates): ``wait_scraped()`` waits for it. It works as a plain or an async
context manager; ``stop()`` and ``start()`` let a test take Prometheus away
mid-rollout and bring it back on the same port with the same data.

``create_blocks`` backfills history with ``promtool tsdb create-blocks-from
openmetrics`` so a test need not wait in real time for past data.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import yaml

__all__ = [
    "PrometheusNotInstalledError",
    "PrometheusServer",
    "PrometheusStartError",
    "create_blocks",
    "find_prometheus",
    "free_port",
    "prometheus_available",
]

_INSTALL_HINT = "install it with 'sudo apt-get install prometheus' (make test does this when run as root)"


class PrometheusNotInstalledError(RuntimeError):
    """The ``prometheus`` (or ``promtool``) binary is not on this machine."""


class PrometheusStartError(RuntimeError):
    """Prometheus exited or did not become ready; the message carries the end of its log."""


def find_prometheus(binary: str = "prometheus") -> str | None:
    """Path of ``binary`` (``prometheus`` or ``promtool``) on PATH or in /usr/bin, or None."""
    found = shutil.which(binary)
    if found:
        return found
    candidate = Path("/usr/bin") / binary
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def prometheus_available() -> bool:
    """True when the Prometheus server binary is installed."""
    return find_prometheus() is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_blocks(openmetrics: str, data_dir: Path, *, promtool: str | None = None) -> None:
    """Write TSDB blocks from OpenMetrics text (ending in ``# EOF``) into ``data_dir``.

    Do this before the server starts on ``data_dir`` (``PrometheusServer(backfill=...)``
    does): a running server only picks new blocks up at its next reload.
    """
    tool = promtool or find_prometheus("promtool")
    if tool is None:
        raise PrometheusNotInstalledError(f"promtool is not installed: {_INSTALL_HINT}")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", delete=False) as source:
        source.write(openmetrics if openmetrics.endswith("\n") else openmetrics + "\n")
    try:
        done = subprocess.run(
            [tool, "tsdb", "create-blocks-from", "openmetrics", source.name, str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.unlink(source.name)
    if done.returncode != 0:
        raise RuntimeError(f"promtool could not backfill: {(done.stderr or done.stdout).strip()[-2000:]}")


class PrometheusServer:
    """One real Prometheus process scraping ``targets`` (``host:port`` strings) every ``scrape_interval``.

    ``url`` is its base address (``http://127.0.0.1:<port>``). The data
    directory lives until ``close()`` (or the end of the ``with`` block).
    """

    def __init__(
        self,
        targets: Sequence[str] = (),
        *,
        scrape_interval: str = "1s",
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        binary: str | None = None,
        backfill: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.binary = binary
        self.backfill = backfill
        self.extra_args = list(extra_args)
        self.port: int | None = None
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; only meaningful once started."""
        if self.port is None:
            raise RuntimeError("Prometheus has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.pid is not None

    def _config(self) -> dict[str, object]:
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": [
                {
                    "job_name": "mesh",
                    "scrape_interval": self.scrape_interval,
                    "scrape_timeout": self.scrape_interval,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }

    def _write_config(self) -> Path:
        assert self.workdir is not None
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        return path

    def start(self) -> PrometheusServer:
        """Start the server (again, on the same port and data, after ``stop()``) and wait until ready."""
        if self.running:
            return self
        binary = self.binary or find_prometheus()
        if binary is None or not os.access(binary, os.X_OK):
            where = f" at {binary}" if binary else ""
            raise PrometheusNotInstalledError(f"the Prometheus server is not installed{where}: {_INSTALL_HINT}")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="canary-prometheus-"))
            if self.backfill:
                create_blocks(self.backfill, self.workdir / "data")
        if self.port is None:
            self.port = free_port()
        config = self._write_config()
        self._log = self.workdir / "prometheus.log"
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--storage.tsdb.retention.time=1d",
                    "--log.level=warn",
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )
        self._wait_ready()
        return self

    def _log_tail(self) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")[-3000:]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                raise PrometheusStartError(f"Prometheus exited with code {code}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusStartError(f"Prometheus was not ready within {self.startup_timeout:.0f} s:\n{self._log_tail()}")

    def set_targets(self, targets: Sequence[str]) -> None:
        """Scrape ``targets`` from now on (rewrites the config and reloads a running server)."""
        self.targets = list(targets)
        if self.workdir is None:
            return
        self._write_config()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGHUP)

    def scraped_targets(self) -> set[str]:
        """Targets whose last scrape succeeded (``health == "up"`` in ``/api/v1/targets``)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/targets?state=active", timeout=2.0) as response:
                payload = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return set()
        return {
            str(target.get("labels", {}).get("instance", ""))
            for target in payload.get("data", {}).get("activeTargets", [])
            if target.get("health") == "up"
        }

    def wait_scraped(self, timeout: float = 30.0) -> None:
        """Block until every target has been scraped successfully once.

        Prometheus' service discovery batches updates every 5 s, so the first
        scrape comes about 5 s after start (or after ``set_targets``).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.targets) <= self.scraped_targets():
                return
            time.sleep(0.1)
        missing = sorted(set(self.targets) - self.scraped_targets())
        raise PrometheusStartError(f"Prometheus did not scrape {', '.join(missing)} within {timeout:.0f} s")

    async def await_scraped(self, within: float = 30.0) -> None:
        """``wait_scraped(within)`` in a worker thread."""
        await asyncio.to_thread(self.wait_scraped, within)

    def stop(self) -> None:
        """Stop the process by PID: SIGTERM, then SIGKILL after ``stop_timeout``. Keeps the data."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self.stop_timeout)

    def restart(self) -> PrometheusServer:
        """Stop the server and start it again on the same port with the same data (what it scraped stays)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its data directory."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> PrometheusServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def astart(self) -> PrometheusServer:
        """``start()`` in a worker thread, so the event loop keeps running while Prometheus boots."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """``stop()`` in a worker thread."""
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> PrometheusServer:
        """``restart()`` in a worker thread."""
        return await asyncio.to_thread(self.restart)

    async def __aenter__(self) -> PrometheusServer:
        try:
            return await self.astart()
        except BaseException:
            await asyncio.to_thread(self.close)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)
