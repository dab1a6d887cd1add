"""The stdlib prefilter in ``has_emoji`` never hides a match of the full Unicode-property pattern."""

from hypothesis import given
from hypothesis import strategies as st

from hongyan.domain.emoji import _EMOJI, has_emoji

# Characters around every emoji-related range, plus plain CJK and ASCII.
pieces = st.sampled_from(
    [
        "鸿",
        "雁",
        "【",
        "】",
        "。",
        "a",
        "1",
        "#",
        "©",
        "®",
        "❤",
        "☎",
        "★",
        "→",
        "\ufe0f",
        "\u200d",
        "\u20e3",
        "⌚",
        "☔",
        "⚡",
        "✅",
        "❌",
        "➕",
        "〰",
        "〽",
        "㊗",
        "😀",
        "👍",
        "🏻",
        "🇨",
        "🇳",
        "\U000e0067",
        "𠀀",
        "🀄",
    ]
)
texts = st.lists(pieces | st.characters(), max_size=12).map("".join)


@given(texts)
def test_prefilter_agrees_with_the_full_pattern(text: str) -> None:
    assert has_emoji(text) == (_EMOJI.search(text) is not None)


def test_every_bmp_character_alone_and_with_fe0f() -> None:
    for c in map(chr, range(0x10000)):
        for text in (c, c + "\ufe0f"):
            assert has_emoji(text) == (_EMOJI.search(text) is not None), hex(ord(c))
