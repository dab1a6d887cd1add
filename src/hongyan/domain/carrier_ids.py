"""Carrier message ids: one canonical spelling, and the other spellings a receipt may use for the same id.

SMSCs answer submit_sm with an id and quote it again in the delivery receipt, but not always the same way:
hex in one and decimal in the other (either direction), with or without leading zeros, upper or lower case.
``canonical_id`` removes case, spaces and leading zeros; ``id_aliases`` gives the spellings of the same
number in the other base. The relation is symmetric: ``b in id_aliases(a)`` exactly when ``a in id_aliases(b)``
(both canonical), so a receipt finds its submit and a submit finds its early receipt the same way.
"""

from __future__ import annotations

from functools import lru_cache

_HEX = frozenset("0123456789abcdef")
_DEC = frozenset("0123456789")
MAX_NUMERIC_LEN = 40  # longer ids are not numbers an SMSC would re-base; compared as written


def canonical_id(message_id: str) -> str:
    """Lower case, no surrounding spaces, no leading zeros (an id of only zeros is ``"0"``)."""
    s = message_id.strip().lower()
    if len(s) > 1 and s[0] == "0":
        s = s.lstrip("0") or "0"
    return s


# Pure functions of a string, called for the same id when its submit is recorded and again (twice) when its receipt
# comes: remembered for the last 64k ids.
@lru_cache(maxsize=65_536)
def id_aliases(message_id: str) -> tuple[str, ...]:
    """Canonical spellings of the same id in the other base (not the id itself): the hex spelling when it reads
    as decimal, the decimal spelling when it reads as hex. Empty for ids that are not numbers."""
    s = canonical_id(message_id)
    if not s or len(s) > MAX_NUMERIC_LEN or not set(s) <= _HEX:
        return ()
    out: list[str] = []
    if set(s) <= _DEC:
        out.append(format(int(s), "x"))
    out.append(str(int(s, 16)))
    return tuple(dict.fromkeys(a for a in out if a != s))


@lru_cache(maxsize=65_536)
def lookup_order(message_id: str) -> tuple[str, ...]:
    """The keys to try for a receipt's id, best first: the canonical id, then its aliases."""
    s = canonical_id(message_id)
    return (s, *id_aliases(s))
