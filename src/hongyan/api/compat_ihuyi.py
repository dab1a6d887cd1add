"""The ihuyi endpoints: /webservice/sms.php and /webservice/isms.php, methods Submit, GetNum, AddTemplate.

Always HTTP 200; the outcome is in ``code``. Any unexpected error still answers code 0 (提交失败) in the
requested format, never a 500 or a traceback.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from hongyan.api import wire
from hongyan.api.params import MAX_BODY, parse_params
from hongyan.domain import codes
from hongyan.metrics import SUBMITS
from hongyan.pipeline.context import SubmitRequest
from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from hongyan.services.submit import submit

log = logging.getLogger(__name__)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ValueError("request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(payload: tuple[bytes, str]) -> Response:
    body, media_type = payload
    return Response(body, status_code=200, headers={"content-type": media_type})


async def _dispatch(platform: Platform, p: dict[str, str], client_ip: str, international: bool) -> Response:
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
        SUBMITS.labels(str(outcome.code)).inc()
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


def _endpoint(international: bool):
    async def endpoint(request: Request) -> Response:
        fmt = ""
        try:
            platform: Platform = request.app.state.platform
            body = await _read_body(request) if request.method == "POST" else b""
            params = parse_params(request.scope.get("query_string", b""), request.headers.get("content-type", ""), body)
            fmt = params.get("format", "")
            client_ip = request.client.host if request.client else ""
            return await _dispatch(platform, params, client_ip, international)
        except Exception:
            log.exception("unexpected error in %s", request.url.path)
            id_key = "ismsid" if international else "smsid"
            return _answer(wire.submit_answer(codes.FAILED, codes.SUBMIT_MSG[codes.FAILED], "0", fmt, id_key))

    return endpoint


sms_php = _endpoint(international=False)
isms_php = _endpoint(international=True)
