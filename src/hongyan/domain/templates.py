"""Templates (模板) with 【变量】 slots: parsing, rendering from ``|``-joined values, and matching free text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SLOT = re.compile(r"【变量\d*】")
VALUE_SEPARATOR = "|"

# Built into every account and always approved (SPEC.md §2). Its slot takes a 4–6 digit code, and the
# colon may be full-width (as every vendor demo sends it) or ASCII (as the product page prints it).
DEFAULT_TEMPLATE_ID = 1
DEFAULT_TEMPLATE_TEXT = "您的验证码是：【变量】。请不要把验证码泄露给其他人。"
_DEFAULT_PATTERN = re.compile(r"您的验证码是[：:]([0-9]{4,6})。请不要把验证码泄露给其他人。")
_DEFAULT_VALUE = re.compile(r"[0-9]{4,6}")


class TemplateMismatch(ValueError):
    """The values or text do not fit the template (4072)."""


class VariableTooLong(ValueError):
    """A value exceeds its slot's limit (40722); ``limit`` goes into the answer text."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"variable longer than {limit}")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template as the pipeline sees it."""

    id: int
    text: str
    var_max_lengths: tuple[int, ...]
    is_verification: bool = False
    category: str = "notice"  # notice | verification | marketing
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.id == DEFAULT_TEMPLATE_ID:
            object.__setattr__(self, "pattern", _DEFAULT_PATTERN)
            return
        parts = SLOT.split(self.text)
        regex = "(.+?)".join(re.escape(p) for p in parts)
        object.__setattr__(self, "pattern", re.compile(regex, re.DOTALL))

    @property
    def slot_count(self) -> int:
        return len(self.var_max_lengths)

    def render(self, joined_values: str) -> str:
        """The text for ``content`` holding the values joined by ``|`` (the templateid form)."""
        values = joined_values.split(VALUE_SEPARATOR) if self.slot_count else []
        if len(values) != self.slot_count and not (self.slot_count == 0 and joined_values == ""):
            raise TemplateMismatch(f"{len(values)} values for {self.slot_count} slots")
        self._check_values(values)
        if self.id == DEFAULT_TEMPLATE_ID:
            return DEFAULT_TEMPLATE_TEXT.replace("【变量】", values[0])
        pieces = SLOT.split(self.text)
        out = [pieces[0]]
        for value, piece in zip(values, pieces[1:], strict=True):
            out += [value, piece]
        return "".join(out)

    def match(self, text: str) -> bool:
        """Whether free text is an instance of this template; raises VariableTooLong on an over-long value."""
        m = self.pattern.fullmatch(text)
        if m is None:
            return False
        self._check_values(list(m.groups()))
        return True

    def _check_values(self, values: list[str]) -> None:
        for value, limit in zip(values, self.var_max_lengths, strict=True):
            if not value.strip():
                raise TemplateMismatch("empty value")
            if len(value) > limit:
                raise VariableTooLong(limit)
            if self.id == DEFAULT_TEMPLATE_ID and not _DEFAULT_VALUE.fullmatch(value):
                raise TemplateMismatch("the default template takes a 4-6 digit code")


def slot_count(text: str) -> int:
    return len(SLOT.findall(text))


def default_template() -> Template:
    return Template(DEFAULT_TEMPLATE_ID, DEFAULT_TEMPLATE_TEXT, (6,), is_verification=True, category="verification")
