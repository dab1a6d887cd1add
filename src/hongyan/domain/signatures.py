"""Signature (签名) extraction and format rules (4070): 【text】 at the start or end, 2–30 characters."""

from __future__ import annotations

import re
from dataclasses import dataclass

OPEN, CLOSE = "【", "】"
MIN_LEN, MAX_LEN = 2, 30
_LEADING = re.compile(r"\A【([^【】]*)】")
_TRAILING = re.compile(r"【([^【】]*)】\Z")


@dataclass(frozen=True, slots=True)
class Signed:
    """Message body and signature; ``at_end`` keeps the customer's placement when the text is rebuilt."""

    signature: str | None
    body: str
    at_end: bool = False

    def text(self, fallback: str | None = None) -> str:
        """The full text as sent to the handset: the body with 【signature】 at its place."""
        sig = self.signature or fallback
        if sig is None:
            return self.body
        return f"{self.body}{OPEN}{sig}{CLOSE}" if self.at_end else f"{OPEN}{sig}{CLOSE}{self.body}"


class SignatureFormatError(ValueError):
    """Brackets unbalanced, a signature at both ends, or a length outside 2–30 (answer 4070)."""


def valid_signature_text(sig: str) -> bool:
    return MIN_LEN <= len(sig) <= MAX_LEN and not sig.isspace() and OPEN not in sig and CLOSE not in sig


def split_signature(content: str, sign_param: str = "") -> Signed:
    """Find the signature: the ``sign`` parameter, else 【…】 at the start or end of the content.

    Raises SignatureFormatError for malformed brackets or lengths; returns signature None when there is none.
    """
    if content.count(OPEN) != content.count(CLOSE):
        raise SignatureFormatError("unbalanced brackets")
    lead, trail = _LEADING.match(content), _TRAILING.search(content)
    sign = sign_param.strip().removeprefix(OPEN).removesuffix(CLOSE).strip()
    if sign:
        if not valid_signature_text(sign):
            raise SignatureFormatError("sign parameter length")
        # A client that passes `sign` and also writes the same 【sign】 in the content must not get it twice.
        if lead and lead.group(1) == sign:
            return Signed(sign, content[lead.end() :])
        if trail and trail.group(1) == sign:
            return Signed(sign, content[: trail.start()], at_end=True)
        return Signed(sign, content)
    if lead and trail and lead.end() <= trail.start():
        raise SignatureFormatError("signature at both ends")
    found = lead or trail
    if found is None:
        return Signed(None, content)
    if not valid_signature_text(found.group(1)):
        raise SignatureFormatError("signature length")
    if found is lead:
        return Signed(found.group(1), content[found.end() :])
    return Signed(found.group(1), content[: found.start()], at_end=True)
