"""The testbed's Kubernetes API server: an in-memory stand-in served over real HTTP on 127.0.0.1.

kopf, the official ``kubernetes`` client and kubectl talk to it as to a
cluster. Use it in one of three ways:

- in a background thread with its own event loop (sync or async code)::

      with ApiServerThread(namespaces=["demo"], crds=[path]) as api:
          write_kubeconfig(api.url, tmp_path / "kubeconfig", namespace="demo")

- in the current event loop: ``async with serve(EmulatedApiServer()) as url: ...``;
- in a subprocess, so that a controller can be killed and restarted against
  the same state: ``with ApiServerProcess(namespaces=["demo"]) as api: ...``
  or ``python -m kubeemu.server --port 8001 --namespace demo --crds crds/*.yaml``
  (prints the URL once listening).

The server itself is :class:`~kubeemu.http.EmulatedApiServer`;
its state is :class:`~kubeemu.store.ObjectStore`.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypeVar

import httpx
import yaml

from kubeemu.faults import FaultPlan
from kubeemu.http import EmulatedApiServer, read_crd_files, serve
from kubeemu.model import JsonDict, StatusError

__all__ = [
    "ApiServerProcess",
    "ApiServerThread",
    "EmulatedApiServer",
    "load_crds",
    "main",
    "read_crd_files",
    "serve",
    "write_kubeconfig",
]

T = TypeVar("T")
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class _Lifecycle:
    """``with`` and ``async with`` for a server that has blocking ``start()`` and ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


class ApiServerThread(_Lifecycle):
    """Runs a :class:`EmulatedApiServer` on 127.0.0.1 in a daemon thread with its own event loop.

    Usable as a context manager from sync code (``with``) and async code
    (``async with``); :attr:`url` is ``http://127.0.0.1:PORT``. ``call(fn)``
    runs ``fn(server)`` inside the server's loop, the only safe way to touch
    :attr:`server.store <EmulatedApiServer.store>` directly.
    """

    def __init__(
        self,
        server: EmulatedApiServer | None = None,
        *,
        namespaces: Iterable[str] = (),
        crds: Iterable[Path] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = server if server is not None else EmulatedApiServer(namespaces=namespaces)
        if server is not None:
            for namespace in namespaces:
                ns = {"metadata": {"name": namespace}}
                with contextlib.suppress(StatusError):
                    server.store.create(server.store.resolve("", "v1", "namespaces"), None, ns)
        self.server.add_crd_files(crds)
        self._host = host
        self._port = port
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._url is None:
            raise RuntimeError("the API server is not running")
        return self._url

    def start(self, timeout: float = 10.0) -> Self:
        """Start serving; returns once the port is listening."""
        self._thread = threading.Thread(target=self._run, name="sandbox-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the emulated API server did not start in time")
        if self._error is not None:
            raise RuntimeError("the emulated API server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start()
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        async with serve(self.server, self._host, self._port) as url:
            self._url = url
            self._ready.set()
            await self._stopping.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (closes open watches) and join the thread."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just finished
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout)
        self._thread = None
        self._url = None

    def call(self, fn: Callable[[EmulatedApiServer], T], timeout: float = 10.0) -> T:
        """Run ``fn(server)`` in the server's event loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the API server is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def runner() -> None:
            try:
                future.set_result(fn(self.server))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(runner)
        return future.result(timeout)


class ApiServerProcess(_Lifecycle):
    """Runs ``python -m kubeemu.server`` in a subprocess; :attr:`url` once it listens.

    The state survives restarts of other processes (e.g. a controller that is
    killed and started again), and ends with :meth:`stop`. ``log_path`` gets
    the server's stderr (discarded if None); ``faults`` a fault plan in force
    from the start (``--faults``).
    """

    def __init__(
        self,
        *,
        namespaces: Iterable[str] = (),
        crds: Iterable[Path] = (),
        port: int = 0,
        log_path: Path | None = None,
        python: str = sys.executable,
        faults: FaultPlan | None = None,
    ) -> None:
        self._args = [python, "-m", "kubeemu.server", "--port", str(port)]
        if faults is not None:
            self._args += ["--faults", json.dumps(faults.to_json())]
        for namespace in namespaces:
            self._args += ["--namespace", namespace]
        for crd in crds:
            self._args += ["--crds", str(crd)]
        self._log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._url is None:
            raise RuntimeError("the API server is not running")
        return self._url

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._proc is None:
            raise RuntimeError("the API server is not running")
        return self._proc.pid

    def start(self, timeout: float = 30.0) -> Self:
        """Start the subprocess and wait until it prints its URL."""
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        log: IO[str] | int = open(self._log_path, "a") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        finally:
            if not isinstance(log, int):
                log.close()
        lines: list[str] = []
        stdout = self._proc.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0].startswith("http"):
            self.stop()
            raise RuntimeError(f"the emulated API server did not start: {lines!r}")
        self._url = lines[0].strip()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the subprocess (kill it if it does not exit in time)."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()


def write_kubeconfig(url: str, path: Path, namespace: str = "default") -> Path:
    """Write a kubeconfig for ``url`` (plain HTTP, no auth) that kopf, the client and kubectl accept."""
    config: JsonDict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace}}],
        "current-context": "sandbox",
        "preferences": {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_crds(target: str | EmulatedApiServer | ApiServerThread | ApiServerProcess, paths: Iterable[Path]) -> None:
    """Serve the CRDs in these (multi-document) YAML files: POSTed over HTTP to a URL or running server.

    A :class:`EmulatedApiServer` object is filled directly (only safe before it
    serves, or from its own event loop). CRDs that already exist are skipped.
    """
    crds = read_crd_files(paths)
    if isinstance(target, EmulatedApiServer):
        target.add_crds(crds)
        return
    url = target if isinstance(target, str) else target.url
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for crd in crds:
            body = {key: value for key, value in crd.items() if key != "status"}
            response = client.post(_CRD_PATH, json=body)
            if response.status_code != 409:
                response.raise_for_status()


def _fault_plan(text: str) -> FaultPlan:
    """Parse ``--faults``: a plan as JSON, or ``@path`` of a file holding one."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return FaultPlan.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"invalid fault plan: {exc}") from None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kubeemu.server", description="Serve the emulated Kubernetes API on 127.0.0.1."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--namespace", action="extend", nargs="+", default=[], help="create these namespaces (repeatable)"
    )
    parser.add_argument(
        "--crds",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        help="serve the CRDs in these YAML files (repeatable)",
    )
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig here")
    parser.add_argument(
        "--faults",
        type=_fault_plan,
        help='inject faults from the start: a plan as JSON, {"seed": 1, "rules": [{"fault": "status", '
        '"status": 503, "rate": 0.1}]}, or @FILE; change it later at /sandbox/faults',
    )
    return parser.parse_args(argv)


async def _serve_forever(args: argparse.Namespace) -> None:
    server = EmulatedApiServer(namespaces=args.namespace)
    server.add_crd_files(args.crds)
    if args.faults is not None:
        server.faults.configure(args.faults)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with serve(server, args.host, args.port) as url:
        if args.kubeconfig:
            write_kubeconfig(url, args.kubeconfig, namespace=(args.namespace or ["default"])[0])
        print(url, flush=True)
        await stopping.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """The CLI entry point: serve until SIGINT/SIGTERM, after printing the URL on stdout."""
    asyncio.run(_serve_forever(_parse_args(argv)))


if __name__ == "__main__":
    main()
