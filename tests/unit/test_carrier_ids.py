"""Carrier id canonicalisation: every spelling an SMSC may use for one id finds it, and the relation is symmetric."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hongyan.domain.carrier_ids import canonical_id, id_aliases, lookup_order


def _spellings(n: int, zeros: int, upper: bool) -> tuple[str, str]:
    """(hex, decimal) spellings of ``n`` with ``zeros`` leading zeros, hex in upper or lower case."""
    hex_ = "0" * zeros + format(n, "X" if upper else "x")
    return hex_, "0" * zeros + str(n)


def test_examples() -> None:
    assert canonical_id("  00A1b2 ") == "a1b2"
    assert canonical_id("0000") == "0"
    assert canonical_id("") == ""
    assert id_aliases("1a") == ("26",)
    assert id_aliases("26") == ("1a", "38")  # 26 read as decimal, and read as hex
    assert id_aliases("msg-7") == ()
    assert lookup_order("0026") == ("26", "1a", "38")


@given(st.integers(min_value=0, max_value=2**128), st.integers(0, 4), st.booleans(), st.integers(0, 4))
def test_receipt_in_other_base_finds_the_submit(n: int, zeros: int, upper: bool, zeros2: int) -> None:
    hex_id, dec_id = _spellings(n, zeros, upper)
    _, dec_other = _spellings(n, zeros2, upper)
    # submit_sm_resp said hex, the receipt says decimal (with any padding), and the other way round
    assert canonical_id(hex_id) in lookup_order(dec_other)
    assert canonical_id(dec_id) in lookup_order(hex_id.lower())
    # same base, other padding or case: the canonical ids are equal
    assert canonical_id(hex_id) == canonical_id(hex_id.swapcase().lstrip("0") or "0")
    assert canonical_id(dec_id) == canonical_id(dec_other)


@given(st.text(alphabet="0123456789abcdefABCDEF xyz-", max_size=24), st.text(alphabet="0123456789abcdef", max_size=24))
def test_alias_relation_is_symmetric(a: str, b: str) -> None:
    ca, cb = canonical_id(a), canonical_id(b)
    assert (cb in id_aliases(ca)) == (ca in id_aliases(cb))
    assert ca not in id_aliases(ca)


@given(st.text(max_size=40))
def test_canonical_is_idempotent_and_aliases_are_canonical(s: str) -> None:
    c = canonical_id(s)
    assert canonical_id(c) == c
    assert all(canonical_id(a) == a for a in id_aliases(s))
    assert lookup_order(s)[0] == c
