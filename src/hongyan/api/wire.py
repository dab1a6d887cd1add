"""Byte-exact answers of the ihuyi API (SPEC.md §2–4): XML with one element a line, or compact JSON.

Clients parse these with regexes, by stripping the exact namespace text or by key order, so every byte
here is contract; golden-byte tests pin them.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
_NS = "http://106.ihuyi.com/"


def wants_json(fmt: str) -> bool:
    return fmt.strip().lower() == "json"


def render(root: str, fields: list[tuple[str, int | str]], fmt: str) -> tuple[bytes, str]:
    """Serialise ordered ``fields`` under ``root`` (e.g. SubmitResult); ints stay ints in JSON."""
    if wants_json(fmt):
        body = json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":"))
        return body.encode("utf-8"), JSON_TYPE
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f'<{root} xmlns="{_NS}">']
    lines += [f"<{k}>{escape(str(v))}</{k}>" for k, v in fields]
    lines.append(f"</{root}>")
    return ("\n".join(lines) + "\n").encode("utf-8"), XML_TYPE


def submit_answer(code: int, msg: str, smsid: str, fmt: str, id_key: str = "smsid") -> tuple[bytes, str]:
    """The Submit answer; the bytes around a digits-only smsid come from a cache of rendered answers."""
    smsid = smsid or "0"
    if not (smsid.isascii() and smsid.isdigit()):
        return _render_submit(code, msg, smsid, fmt, id_key)
    as_json = wants_json(fmt)
    key = (code, msg, as_json, id_key)
    parts = _SUBMIT_PARTS.get(key)
    if parts is None:
        parts = _submit_parts(code, msg, as_json, id_key)
        if parts is None:
            return _render_submit(code, msg, smsid, fmt, id_key)
        if len(_SUBMIT_PARTS) >= _CACHE_MAX:
            _SUBMIT_PARTS.clear()
        _SUBMIT_PARTS[key] = parts
    head, tail, media_type = parts
    return head + smsid.encode() + tail, media_type


def _render_submit(code: int, msg: str, smsid: str, fmt: str, id_key: str) -> tuple[bytes, str]:
    return render("SubmitResult", [("code", code), ("msg", msg), (id_key, smsid)], fmt)


# A digits-only smsid is written as it is in XML and in JSON (inside quotes), so an answer is the same bytes
# around it for one (code, msg, format, id key): rendered once with a placeholder and split there.
_PLACEHOLDER = "\ue000"  # a private-use character: no code text holds it, and neither escape changes it
_CACHE_MAX = 1024
_SUBMIT_PARTS: dict[tuple[int, str, bool, str], tuple[bytes, bytes, str]] = {}


def _submit_parts(code: int, msg: str, as_json: bool, id_key: str) -> tuple[bytes, bytes, str] | None:
    body, media_type = _render_submit(code, msg, _PLACEHOLDER, "json" if as_json else "", id_key)
    pieces = body.split(_PLACEHOLDER.encode())
    if len(pieces) != 2:
        return None
    return pieces[0], pieces[1], media_type


def getnum_answer(code: int, msg: str, num: int, fmt: str) -> tuple[bytes, str]:
    return render("GetNumResult", [("code", code), ("msg", msg), ("num", num)], fmt)


def addtemplate_answer(code: int, msg: str, templateid: int, fmt: str) -> tuple[bytes, str]:
    return render("AddTemplateResult", [("code", code), ("msg", msg), ("templateid", str(templateid))], fmt)
