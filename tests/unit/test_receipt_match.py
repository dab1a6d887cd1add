from hypothesis import given
from hypothesis import strategies as st

from hongyan.domain.receipt_match import mobile_key

mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")


@given(mobiles)
def test_every_spelling_of_a_chinese_mobile_has_one_key(m: str) -> None:
    assert {mobile_key(x) for x in (m, "86" + m, "+86" + m, "0086" + m, f" {m} ")} == {m}


@given(st.from_regex(r"\A[1-9][0-9]{4,14}\Z"))
def test_other_numbers_keep_their_digits(n: str) -> None:
    key = mobile_key("+" + n)
    assert key == mobile_key("00" + n)
    assert key == (n[2:] if n.startswith("86") and len(n) == 13 else n)


def test_a_landline_or_short_code_is_not_cut() -> None:
    assert mobile_key("861012345678") == "861012345678"  # 12 digits: not 86 + an 11-digit mobile
    assert mobile_key("10690000") == "10690000"
