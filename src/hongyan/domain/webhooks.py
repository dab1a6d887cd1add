"""Signed JSON webhooks, as the Standard Webhooks 1.0 spec defines them (the spec behind Svix and others).

Each push carries ``webhook-id`` (stable across retries: receivers deduplicate on it), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
under the secret's bytes, one entry per valid secret separated by spaces (two during a rotation). Secrets
look like ``whsec_<base64 of 32 random bytes>``. Receivers reject timestamps more than 5 minutes off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300

MESSAGE_DELIVERED = "message.delivered"
MESSAGE_FAILED = "message.failed"
REPLY_RECEIVED = "reply.received"
TEMPLATE_REVIEWED = "template.reviewed"
EVENT_TYPES = (MESSAGE_DELIVERED, MESSAGE_FAILED, REPLY_RECEIVED, TEMPLATE_REVIEWED)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_webhook_id() -> str:
    return "msg_" + secrets.token_hex(12)


def secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """One ``v1,<base64>`` signature of ``id.timestamp.body``."""
    mac = hmac.new(secret_bytes(secret), f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def headers(secrets_: Iterable[str], webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, signed with every secret given."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in secrets_),
    }


class InvalidSignature(Exception):
    """A webhook whose signature, timestamp or headers do not check out."""


def verify(secret: str, body: bytes | str, hdrs: dict[str, str], *, now: float, tolerance_s: int = TOLERANCE_S) -> Any:
    """The receiver's side (the recipe in docs/webhooks.md): check headers, timestamp window, signature;
    return the parsed JSON body."""
    body_text = body.decode("utf-8") if isinstance(body, bytes) else body
    h = {k.lower(): v for k, v in hdrs.items()}
    webhook_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (webhook_id and ts and sigs):
        raise InvalidSignature("missing webhook headers")
    try:
        timestamp = int(ts)
    except ValueError as exc:
        raise InvalidSignature("bad webhook-timestamp") from exc
    if abs(now - timestamp) > tolerance_s:
        raise InvalidSignature("timestamp outside the tolerance window")
    expected = sign(secret, webhook_id, timestamp, body_text).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in sigs.split()):
        raise InvalidSignature("no matching signature")
    return json.loads(body_text)


def parse_events(events: str | Iterable[str] | None) -> str:
    """Validate a selection of event types; stored comma-separated, empty meaning all."""
    if events is None:
        return ""
    items = [e.strip() for e in (events.split(",") if isinstance(events, str) else events) if e.strip()]
    unknown = [e for e in items if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return ",".join(dict.fromkeys(items))


def wants(events: str, event_type: str) -> bool:
    return not events or event_type in events.split(",")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(event_type: str, at_ms: int, data: dict[str, Any]) -> str:
    """The JSON body (Standard Webhooks' recommended envelope); fixed once written, so retries sign the same."""
    return json.dumps({"type": event_type, "timestamp": _iso(at_ms), "data": data}, ensure_ascii=False)


def receipt_event(fields: dict[str, str], at_ms: int) -> tuple[str, str]:
    """(type, body) of a receipt, from the same fields as the ihuyi receipt push."""
    delivered = fields["code"] == "2"
    data = {
        "smsid": fields["smsid"],
        "mobile": fields["mobilephone"],
        "status": "delivered" if delivered else "failed",
        "carrier_status": fields["msg"],
        "code": int(fields["code"]),
        "report_time": _iso(at_ms),
    }
    kind = MESSAGE_DELIVERED if delivered else MESSAGE_FAILED
    return kind, body(kind, at_ms, data)


def reply_event(fields: dict[str, str], reply_id: str, at_ms: int) -> tuple[str, str]:
    data = {
        "reply_id": reply_id,
        "mobile": fields["mobilephone"],
        "content": fields["content"],
        "smsid": fields["smsid"] or None,
        "reply_time": _iso(at_ms),
    }
    return REPLY_RECEIVED, body(REPLY_RECEIVED, at_ms, data)


def template_event(fields: dict[str, str], at_ms: int) -> tuple[str, str]:
    approved = fields["code"] == "2"
    data = {
        "template_id": int(fields["templateid"]),
        "state": "approved" if approved else "rejected",
        "reason": fields["msg"],
    }
    return TEMPLATE_REVIEWED, body(TEMPLATE_REVIEWED, at_ms, data)


def event_for(kind: str, ref: str, fields: dict[str, str], at_ms: int) -> tuple[str, str]:
    """(type, body) of the webhook that goes with an ihuyi-style push of ``kind`` (receipt | reply | template)."""
    if kind == "receipt":
        return receipt_event(fields, at_ms)
    if kind == "reply":
        return reply_event(fields, ref, at_ms)
    if kind == "template":
        return template_event(fields, at_ms)
    raise ValueError(f"no webhook event for {kind!r}")
