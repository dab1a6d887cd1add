"""Matching a receipt to a message by the handset it reports on, for submits whose carrier id was never learnt.

A dispatcher that dies between writing a submit_sm and committing its submit_sm_resp leaves a message whose
carrier id nobody knows (docs/decisions/0002-submit-crash-window.md). Its receipt still names the handset: the
deliver_sm ``source_addr`` is the number the message was sent to. SMSCs write it with or without the country code,
so both sides are compared under ``mobile_key``.
"""

from __future__ import annotations

CHINA = "86"
CHINA_MOBILE_LEN = 11


def mobile_key(addr: str) -> str:
    """The number without ``+``/``00`` and without China's country code before an 11-digit mobile, so
    ``13800138000``, ``8613800138000``, ``+8613800138000`` and ``008613800138000`` share one key."""
    d = addr.strip()
    if d.startswith("+"):
        d = d[1:]
    elif d.startswith("00"):
        d = d[2:]
    if d.startswith(CHINA) and len(d) == len(CHINA) + CHINA_MOBILE_LEN:
        d = d[len(CHINA) :]
    return d[:32]
