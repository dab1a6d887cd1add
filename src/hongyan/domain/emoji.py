"""Emoji detection (4074) by Unicode properties, so new emoji are caught without a hand-kept list.

An emoji is: a character with Emoji_Presentation; any Extended_Pictographic character outside the Basic
Multilingual Plane (carriers' UCS-2 cannot carry them); a regional indicator (flags); a keycap mark, an
emoji modifier (skin tone), a tag character or a zero-width joiner (parts of ZWJ/tag sequences); or a
text-default pictograph (©, ❤, ☎ …) made emoji by the variation selector U+FE0F. Ordinary CJK
punctuation and symbols (【】。：★ ○ ※ → √) pass.
"""

from __future__ import annotations

import re

import regex

_EMOJI = regex.compile(
    r"[\p{Emoji_Presentation}\p{Regional_Indicator}\u20E3\u200D\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
    r"|(?=[\U00010000-\U0010FFFF])\p{Extended_Pictographic}"
    r"|\p{Extended_Pictographic}\uFE0F"
)


# Every match of _EMOJI contains at least one of these characters: a BMP Emoji_Presentation character, U+20E3,
# U+200D, U+FE0F, or anything outside the BMP (regional indicators, modifiers, tags, astral pictographs). The
# stdlib scan for them is several times faster than the property regex, and most messages have none.
_BMP_PRESENTATION = regex.findall(r"\p{Emoji_Presentation}", "".join(map(chr, range(0x10000))))
_CANDIDATE = re.compile(
    "[" + "".join(re.escape(c) for c in [*_BMP_PRESENTATION, "\u20e3", "\u200d", "\ufe0f"]) + "\U00010000-\U0010ffff]"
)


def has_emoji(text: str) -> bool:
    """True when the text contains any emoji, emoji sequence part or emoji-presentation selector."""
    return _CANDIDATE.search(text) is not None and _EMOJI.search(text) is not None
