"""The console's online debug tool (在线调试): one real Submit request over HTTP with the account's own
credentials, plain or dynamic password, and what its answer means."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from hongyan.domain.code_advice import Advice, advise
from hongyan.domain.passwords import md5_hex

SUBMIT_PATH = "/webservice/sms.php?method=Submit"
_XML_CODE = re.compile(r"<code>\s*(-?\d+)\s*</code>")


@dataclass(frozen=True, slots=True)
class DebugResult:
    request_text: str  # the exact HTTP request as sent
    status: int
    response_text: str
    code: int | None
    smsid: str
    advice: Advice | None


def build_fields(
    api_id: str, apikey: str, mobile: str, content: str, *, dynamic: bool, fmt: str, now: float | None = None
) -> dict[str, str]:
    """The Submit form: with ``dynamic`` the password is md5(APIID + APIKEY + mobile + content + time)."""
    fields = {"account": api_id, "mobile": mobile, "content": content}
    if dynamic:
        stamp = str(int(now if now is not None else time.time()))
        fields["password"] = md5_hex(api_id + apikey + mobile + content + stamp)
        fields["time"] = stamp
    else:
        fields["password"] = apikey
    if fmt == "json":
        fields["format"] = "json"
    return fields


def parse_answer(text: str) -> tuple[int | None, str]:
    """(code, smsid) from an XML or JSON Submit answer; (None, "") when it is neither."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
            return int(data["code"]), str(data.get("smsid", ""))
        except (ValueError, KeyError, TypeError):
            return None, ""
    m = _XML_CODE.search(stripped)
    if m is None:
        return None, ""
    sm = re.search(r"<smsid>\s*(\d+)\s*</smsid>", stripped)
    return int(m.group(1)), sm.group(1) if sm else ""


async def submit(client: httpx.AsyncClient, base_url: str, fields: dict[str, str]) -> DebugResult:
    """POST the form to ``base_url`` + the Submit path with ``client`` (a real HTTP client, or one over the
    same ASGI app in-process) and describe the answer."""
    body = urlencode(fields)
    url = base_url.rstrip("/") + SUBMIT_PATH
    host = httpx.URL(url).netloc.decode()
    request_text = (
        f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}"
    )
    r = await client.post(url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    code, smsid = parse_answer(r.text)
    return DebugResult(request_text, r.status_code, r.text, code, smsid, advise(code) if code is not None else None)
