"""The fast %-decoder agrees with ``urllib.parse.unquote_to_bytes`` on every input."""

from urllib.parse import quote_from_bytes, unquote_to_bytes

from hypothesis import given
from hypothesis import strategies as st

from hongyan.api.params import unquote

# Bytes rich in the characters that matter: %, hex digits, backslashes, x, newlines.
tricky = st.lists(
    st.sampled_from([b"%", b"\\", b"x", b"\n", b"4", b"1", b"a", b"F", b"g", b"%4", b"%E3", b"\\x41", b"\xe4"])
    | st.binary(max_size=3),
    max_size=30,
).map(b"".join)


@given(st.binary(max_size=200))
def test_matches_the_stdlib_on_any_bytes(raw: bytes) -> None:
    assert unquote(raw) == unquote_to_bytes(raw)


@given(tricky)
def test_matches_the_stdlib_on_escape_like_input(raw: bytes) -> None:
    assert unquote(raw) == unquote_to_bytes(raw)


@given(st.binary(max_size=200))
def test_round_trips_quoted_bytes(raw: bytes) -> None:
    assert unquote(quote_from_bytes(raw, safe="").encode()) == raw


def test_examples() -> None:
    assert unquote(b"%E9%B8%BF%E9%9B%81") == "鸿雁".encode()
    assert unquote(b"50%") == b"50%"
    assert unquote(b"a%zzb") == b"a%zzb"
    assert unquote(b"a\\x41%41") == b"a\\x41A"
    assert unquote(b"plain") == b"plain"
