"""Production mode as real processes: `hongyan serve --workers N`, `hongyan worker …`, `hongyan simulator`,
plus a keep-alive HTTP client for the ihuyi API and a push receiver, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from tests.support import free_port

BIN = Path(sys.executable).parent


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{proc.args} did not listen on {port}"
            time.sleep(0.05)


@dataclass
class Cluster:
    """Processes started with one environment; ``stop()`` ends every one of them (SIGTERM, then SIGKILL)."""

    env: dict[str, str]
    cwd: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.cwd / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process in stop()
        proc = subprocess.Popen(
            [str(BIN / "hongyan"), *args], env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs[name] = proc
        return proc

    def wait_port(self, name: str, port: int, timeout: float = 60) -> None:
        try:
            wait_port(port, self.procs[name], timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log(name)}") from None

    def log(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")[-4000:]

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def alive(self) -> dict[str, int | None]:
        return {name: proc.poll() for name, proc in self.procs.items()}

    def stop(self, timeout: float = 20) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            proc.log.close()  # type: ignore[attr-defined]


def start_simulator(cluster: Cluster, name: str, *args: str) -> tuple[int, int]:
    """A `hongyan simulator` process; returns (smpp port, control port) once both listen."""
    port, control = free_port(), free_port()
    proc = cluster.start(name, "simulator", "--port", str(port), "--control-port", str(control), *args)
    wait_port(port, proc)
    wait_port(control, proc)
    return port, control


def control_get(control: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{control}{path}", timeout=10) as response:
        return json.loads(response.read())


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


class SubmitClient:
    """Form POSTs over ``connections`` keep-alive sockets (much cheaper per request than httpx, so the
    load generator does not take the CPU the servers need)."""

    def __init__(self, port: int, connections: int = 32) -> None:
        self.port = port
        self.connections = connections

    async def post_all(self, path: str, forms: list[dict[str, str]], on_answer=None) -> list[dict]:
        answers: list[dict | None] = [None] * len(forms)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(forms)):
            queue.put_nowait(i)

        async def worker() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                while not queue.empty():
                    i = queue.get_nowait()
                    body = urlencode(forms[i]).encode()
                    head = (
                        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
                    )
                    writer.write(head.encode() + body)
                    status, payload = await _read_response(reader)
                    assert status == 200, (status, payload)
                    answers[i] = json.loads(payload)
                    if on_answer is not None:
                        on_answer(i, answers[i])
            finally:
                writer.close()

        await asyncio.gather(*(worker() for _ in range(min(self.connections, len(forms)))))
        return answers  # type: ignore[return-value]


class PushReceiver:
    """A customer's receipt URL: answers ``success`` and counts every push per smsid."""

    def __init__(self) -> None:
        self.pushes: Counter[str] = Counter()
        self.fields: dict[str, dict[str, str]] = {}
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/receipts"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                fields = dict(parse_qsl(body.decode()))
                self.pushes[fields.get("smsid", "")] += 1
                self.fields[fields.get("smsid", "")] = fields
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nsuccess")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def base_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HONGYAN_", "PROMETHEUS_"))}
    env.update(
        {
            "HONGYAN_DATABASE_URL": database_url,
            "HONGYAN_VAR_DIR": str(var_dir),
            "HONGYAN_SECRET_KEY": "test-secret",
            "HONGYAN_LOG_LEVEL": "warning",
            "HONGYAN_LIMIT_PER_SECOND": "100000",
            "HONGYAN_LIMIT_DAILY": "100000",
            "HONGYAN_LIMIT_DAILY_CODES": "100000",
            "HONGYAN_LIMIT_DAILY_CEILING": "1000000",
            **extra,
        }
    )
    return env
