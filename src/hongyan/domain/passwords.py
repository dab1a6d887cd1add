"""The three password forms of the ihuyi API: the key in clear, its MD5, or a dynamic MD5 with a time."""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum


class PasswordCheck(Enum):
    OK = "ok"
    WRONG = "wrong"  # 405
    EXPIRED = "expired"  # 40501
    MISMATCH = "mismatch"  # 40502


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def check_password(
    password: str,
    apikey: str,
    *,
    dynamic_parts: tuple[str, ...],
    time_param: str,
    now: float,
    window_s: int,
    allow_dynamic: bool = True,
) -> PasswordCheck:
    """Accept the API key in clear, its MD5 (any case), or, when ``time`` is given, the dynamic password.

    The dynamic password is md5 of ``dynamic_parts`` joined (for Submit: account, apikey, mobile, content,
    time; for GetNum: account, apikey, time), compared in constant time.
    """
    if hmac.compare_digest(password.encode("utf-8"), apikey.encode("utf-8")):
        return PasswordCheck.OK
    lowered = password.lower()
    if len(lowered) == 32 and hmac.compare_digest(lowered.encode("ascii", "replace"), md5_hex(apikey).encode()):
        return PasswordCheck.OK
    if not allow_dynamic or not time_param:
        return PasswordCheck.WRONG
    if not (time_param.isascii() and time_param.isdigit()) or abs(now - int(time_param)) > window_s:
        return PasswordCheck.EXPIRED
    expected = md5_hex("".join(dynamic_parts))
    if hmac.compare_digest(lowered.encode("ascii", "replace"), expected.encode()):
        return PasswordCheck.OK
    return PasswordCheck.MISMATCH
