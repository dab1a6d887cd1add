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
    return render("SubmitResult", [("code", code), ("msg", msg), (id_key, smsid or "0")], fmt)


def getnum_answer(code: int, msg: str, num: int, fmt: str) -> tuple[bytes, str]:
    return render("GetNumResult", [("code", code), ("msg", msg), ("num", num)], fmt)


def addtemplate_answer(code: int, msg: str, templateid: int, fmt: str) -> tuple[bytes, str]:
    return render("AddTemplateResult", [("code", code), ("msg", msg), ("templateid", str(templateid))], fmt)
