"""The ihuyi endpoints answered straight from the HTTP protocol, without an ASGI request cycle.

Submit is the hot path: on the event loop, uvicorn's ASGI cycle (scope dict, proxy-headers middleware, the app's
routing, receive/send message dicts and their checks) was a sixth of a Submit's CPU. ``IhuyiCycle`` takes the
place of uvicorn's ``RequestResponseCycle`` for a GET or POST to an ihuyi path: the protocol
(``server.lenient_http``) fills its body as it does a cycle's, pipelining, keep-alive, flow control, graceful
shutdown and the keep-alive timeout stay uvicorn's, and ``run_asgi`` (the name the protocol calls) asks
``api.compat_ihuyi.answer`` and writes the response bytes the ASGI path would have written:

    HTTP/1.1 200 OK, the server's default headers (date), content-type, content-length, [connection: close]

Anything else (other paths and methods, ``Expect: 100-continue``, upgrades, a concurrency limit, an app not
built by ``api.app.create_app`` behind uvicorn's proxy-headers middleware alone) goes through ASGI as before.
The client address is the one the proxy-headers middleware would give the app (X-Forwarded-For from a trusted
proxy only), using that middleware's own list of trusted hosts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import FlowControl

from hongyan.api import compat_ihuyi
from hongyan.api.params import MAX_BODY

log = logging.getLogger(__name__)

_STATUS_200 = b"HTTP/1.1 200 OK\r\n"


class Route:
    """What the direct path needs from the app: its ihuyi paths, its platform, and the trusted proxies."""

    __slots__ = ("app", "paths", "trusted")

    def __init__(self, app: Any, trusted: Any) -> None:
        self.app = app
        self.paths: dict[str, bool] = app.compat_paths  # path → international
        self.trusted = trusted  # uvicorn's _TrustedHosts, or None without the proxy-headers middleware

    def client_ip(self, client: tuple[str, int] | None, forwarded_for: list[bytes]) -> str:
        host = client[0] if client else ""
        if forwarded_for and self.trusted is not None and host in self.trusted:
            forwarded, _port = self.trusted.get_trusted_client_address(b", ".join(forwarded_for).decode("latin1"))
            if forwarded:
                return forwarded
        return host


def route_for(loaded_app: Any) -> Route | None:
    """The route of an app chain that is exactly [ProxyHeadersMiddleware →] an app with ``compat_paths``."""
    app, trusted = loaded_app, None
    if isinstance(loaded_app, ProxyHeadersMiddleware):
        app, trusted = loaded_app.app, loaded_app.trusted_hosts
    if not isinstance(getattr(app, "compat_paths", None), dict):
        return None
    return Route(app, trusted)


class IhuyiCycle:
    """One request to an ihuyi path; the protocol treats it as it does uvicorn's ``RequestResponseCycle``."""

    __slots__ = (
        "_waiter",
        "body",
        "client_ip",
        "content_type",
        "default_headers",
        "disconnected",
        "flow",
        "international",
        "keep_alive",
        "message_event",
        "more_body",
        "on_response",
        "post",
        "query_string",
        "response_complete",
        "route",
        "transport",
    )

    def __init__(
        self,
        route: Route,
        *,
        international: bool,
        post: bool,
        query_string: bytes,
        content_type: str,
        client_ip: str,
        transport: asyncio.Transport,
        flow: FlowControl,
        default_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        on_response: Any,
    ) -> None:
        self.route = route
        self.international = international
        self.post = post
        self.query_string = query_string
        self.content_type = content_type
        self.client_ip = client_ip
        self.transport = transport
        self.flow = flow
        self.default_headers = default_headers
        self.keep_alive = keep_alive
        self.on_response = on_response
        self.body = bytearray()
        self.more_body = True
        self.disconnected = False
        self.response_complete = False
        self.message_event = self  # the protocol calls message_event.set() on body, completion and disconnect
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _whole_body(self) -> bytes | None:
        """The request body once complete; None when it passed MAX_BODY (or the client went away)."""
        while self.more_body and not self.disconnected and len(self.body) <= MAX_BODY:
            self.flow.resume_reading()
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        if self.disconnected or len(self.body) > MAX_BODY:
            return None
        return bytes(self.body)

    async def run_asgi(self, _app: Any) -> None:
        try:
            body = await self._whole_body() if self.post else b""
            if self.disconnected:
                return
            answer = await compat_ihuyi.answer(
                self.route.app.state.platform,
                query_string=self.query_string,
                content_type=self.content_type,
                body=body,
                client_ip=self.client_ip,
                international=self.international,
            )
            await self._send(compat_ihuyi.media_type_bytes(answer), answer.body)
        except Exception:  # never expected: compat_ihuyi.answer answers every error itself
            log.exception("unexpected error answering an ihuyi request")
            if not self.response_complete:
                self.transport.close()
        finally:
            self.on_response = _nothing

    async def _send(self, media_type: bytes, body: bytes) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        head = [_STATUS_200]
        for name, value in self.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: ", media_type, b"\r\ncontent-length: %d\r\n" % len(body)]
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", body]
        self.transport.write(b"".join(head))
        self.response_complete = True
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


def _nothing() -> None:
    return None
