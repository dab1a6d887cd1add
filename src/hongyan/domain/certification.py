"""Enterprise certification (企业认证) form checks: company, unified social credit code, contact."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hongyan.domain.numbers import parse_mainland

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last is a check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


def uscc_check_char(first17: str) -> str:
    """The check character of a code's first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a unified social credit code, or None when it is one."""
    if len(code) != 18:
        return "统一社会信用代码应为 18 位"
    if not _USCC_SHAPE.fullmatch(code):
        return "统一社会信用代码格式不正确（数字与大写字母，不含 I、O、S、V、Z，第 3–8 位为行政区划码）"
    if uscc_check_char(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确，请核对营业执照"
    return None


@dataclass(frozen=True, slots=True)
class CertificationForm:
    company_name: str
    licence_no: str
    contact_name: str
    contact_phone: str


def clean(company_name: str, licence_no: str, contact_name: str, contact_phone: str) -> CertificationForm:
    """Trimmed values; the code upper-cased, spaces and the phone's separators removed."""
    return CertificationForm(
        company_name=company_name.strip(),
        licence_no=re.sub(r"\s+", "", licence_no).upper(),
        contact_name=contact_name.strip(),
        contact_phone=re.sub(r"[\s()（）]", "", contact_phone),
    )


def problems(form: CertificationForm) -> dict[str, str]:
    """Field name → message (Chinese, for the form); empty when the form is valid."""
    out: dict[str, str] = {}
    if not 2 <= len(form.company_name) <= 100:
        out["company_name"] = "请填写营业执照上的企业名称（2–100 个字）"
    if (why := uscc_problem(form.licence_no)) is not None:
        out["licence_no"] = why
    if not 2 <= len(form.contact_name) <= 50:
        out["contact_name"] = "请填写联系人姓名（2–50 个字）"
    if parse_mainland(form.contact_phone) is None and not _LANDLINE.fullmatch(form.contact_phone):
        out["contact_phone"] = "请填写有效的手机号或座机号（如 13800138000、010-12345678）"
    return out
