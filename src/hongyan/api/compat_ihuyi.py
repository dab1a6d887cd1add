"""The ihuyi endpoints: /webservice/sms.php and /webservice/isms.php, methods Submit, GetNum, AddTemplate.

Always HTTP 200; the outcome is in ``code``. Any unexpected error still answers code 0 (提交失败) in the
requested format, never a 500 or a traceback.
"""

from __future__ import annotations

import logging

from hongyan.api import wire
from hongyan.api.params import MAX_BODY, parse_params
from hongyan.domain import codes
from hongyan.metrics import count_submit
from hongyan.pipeline.context import SubmitRequest
from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.services.submit import submit

log = logging.getLogger(__name__)


class BodyTooLarge(ValueError):
    """More than MAX_BODY bytes: answered with code 0."""


async def _read_body(receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge("request body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


_MEDIA_TYPES = {t: t.encode() for t in (wire.XML_TYPE, wire.JSON_TYPE)}


class Answer:
    __slots__ = ("body", "media_type")

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body, self.media_type = body, media_type


def _answer(payload: tuple[bytes, str]) -> Answer:
    return Answer(*payload)


async def _dispatch(platform: Platform, p: dict[str, str], client_ip: str, international: bool) -> Answer:
    method = p.get("method", "").strip().lower()
    fmt = p.get("format", "")
    id_key = "ismsid" if international else "smsid"
    if method == "submit":
        outcome = await submit(
            platform,
            SubmitRequest(
                account=p.get("account", ""),
                password=p.get("password", ""),
                mobile=p.get("mobile", ""),
                content=p.get("content", ""),
                time=p.get("time", ""),
                templateid=p.get("templateid", ""),
                sign=p.get("sign", ""),
                client_ip=client_ip,
                international=international,
            ),
        )
        count_submit(outcome.code)
        return _answer(wire.submit_answer(outcome.code, outcome.msg, outcome.smsid, fmt, id_key))
    if method == "getnum":
        code, msg, num = await account_service.get_num(
            platform, p.get("account", ""), p.get("password", ""), p.get("time", ""), client_ip
        )
        return _answer(wire.getnum_answer(code, msg, num, fmt))
    if method == "addtemplate":
        code, msg, tid = await account_service.add_template(
            platform, p.get("account", ""), p.get("password", ""), p.get("content", ""), client_ip
        )
        return _answer(wire.addtemplate_answer(code, msg, tid, fmt))
    return _answer(wire.submit_answer(codes.FAILED, codes.SUBMIT_MSG[codes.FAILED], "0", fmt, id_key))


def _header(scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def answer(
    platform: Platform,
    *,
    query_string: bytes,
    content_type: str,
    body: bytes | None,
    client_ip: str,
    international: bool,
) -> Answer:
    """The answer to one request on an ihuyi endpoint, whatever went wrong (code 0 in the requested format).

    ``body`` is the request body of a POST (None when it was larger than MAX_BODY), b"" for a GET. Shared by
    the ASGI handler below and the HTTP protocol's direct path (``server.ihuyi_cycle``).
    """
    fmt = ""
    try:
        query = parse_params(query_string, "", b"")
        fmt = query.get("format", "")  # known even when the body is refused
        if body is None:
            raise BodyTooLarge("request body too large")
        params = parse_params(b"", content_type, body, query) if body else query
        fmt = params.get("format", fmt)
        return await _dispatch(platform, params, client_ip, international)
    except Exception as exc:
        if not isinstance(exc, BodyTooLarge):
            log.exception("unexpected error on the %s endpoint", "isms" if international else "sms")
        id_key = "ismsid" if international else "smsid"
        return _answer(wire.submit_answer(codes.FAILED, codes.SUBMIT_MSG[codes.FAILED], "0", fmt, id_key))


def media_type_bytes(answer: Answer) -> bytes:
    return _MEDIA_TYPES.get(answer.media_type) or answer.media_type.encode()


async def handle(scope, receive, send, *, international: bool) -> None:
    """The ihuyi endpoint as a bare ASGI handler: always HTTP 200 with the answer bytes."""
    body: bytes | None = b""
    if scope["method"] == "POST":
        try:
            body = await _read_body(receive)
        except BodyTooLarge:
            body = None
    client = scope.get("client")
    result = await answer(
        scope["app"].state.platform,
        query_string=scope.get("query_string", b""),
        content_type=_header(scope, b"content-type"),
        body=body,
        client_ip=client[0] if client else "",
        international=international,
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", media_type_bytes(result)), (b"content-length", b"%d" % len(result.body))],
        }
    )
    await send({"type": "http.response.body", "body": result.body})
