"""The simulator's HTTP control port (stdlib asyncio, JSON, one request per connection).

GET /stats[?full=1]     counters (``full`` adds per-destination and per-text counts)
GET /parts?dst=MOBILE   the parts received for a destination (data_coding, esm_class, UDH, bytes in hex)
POST /drop              drop every SMPP connection
POST /mo                {"mobile": "...", "text": "...", "to": "..."?} send an MO message
POST /config            {"status_mix"?, "dlr_delay_s"?, "max_tps"?, "resp_delay_s"?}
POST /reset             zero the counters
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlsplit

from hongyan.simulator.smsc import Simulator

log = logging.getLogger(__name__)

_MAX_HEAD = 16_384
_MAX_BODY = 1_048_576
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}


class ControlServer:
    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._handle(reader)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError, TypeError) as exc:
            status, payload = 400, {"error": str(exc) or type(exc).__name__}
        body = json.dumps(payload, ensure_ascii=False).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader) -> tuple[int, object]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            return 413, {"error": "header too large"}
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or "0")
        if length > _MAX_BODY:
            return 413, {"error": "body too large"}
        raw = await reader.readexactly(length) if length else b""
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        return self.route(method.upper(), url.path.rstrip("/") or "/", query, data)

    def route(self, method: str, path: str, query: dict[str, str], data: dict[str, object]) -> tuple[int, object]:
        sim = self.simulator
        if path == "/stats":
            if method != "GET":
                return 405, {"error": "GET only"}
            return 200, sim.snapshot(full=query.get("full", "") in ("1", "true", "yes"))
        if path == "/parts":
            dst = query.get("dst", "")
            return 200, {"parts": [p.as_json() for p in sim.parts_for(dst)]}
        if method != "POST":
            return (405, {"error": "POST only"}) if path in ("/drop", "/mo", "/config", "/reset") else (404, {})
        if path == "/drop":
            return 200, {"dropped": sim.drop_connections()}
        if path == "/reset":
            sim.reset_counters()
            return 200, {"ok": True}
        if path == "/mo":
            mobile, text = data.get("mobile"), data.get("text")
            if not isinstance(mobile, str) or not isinstance(text, str) or not mobile:
                return 400, {"error": "mobile and text are required strings"}
            to = data.get("to")
            parts = sim.send_mo(mobile, text, to=to) if isinstance(to, str) and to else sim.send_mo(mobile, text)
            return 200, {"queued_parts": parts}
        if path == "/config":
            kwargs: dict[str, object] = {}
            if "status_mix" in data:
                kwargs["status_mix"] = str(data["status_mix"])
            for key in ("dlr_delay_s", "resp_delay_s"):
                if key in data:
                    kwargs[key] = float(data[key])  # type: ignore[arg-type]
            if "max_tps" in data:
                value = data["max_tps"]
                kwargs["max_tps"] = float(value) if value else None  # type: ignore[arg-type]
            sim.configure(**kwargs)  # type: ignore[arg-type]
            return 200, sim.snapshot()["config"]
        return 404, {"error": f"no route {path}"}
