"""Content checks in contract order: 4070 signature format, 4071/4072/40722 template, 4073 length,
4074 emoji, 4075 signature approved. Test-mode accounts may only send the default template under the
default signature."""

from __future__ import annotations

from hongyan.domain import codes
from hongyan.domain.codes import Rejected
from hongyan.domain.emoji import has_emoji
from hongyan.domain.segments import count_chars, count_segments
from hongyan.domain.signatures import SignatureFormatError, Signed, split_signature, valid_signature_text
from hongyan.domain.states import AccountState
from hongyan.domain.templates import DEFAULT_TEMPLATE_ID, TemplateMismatch, VariableTooLong
from hongyan.pipeline.context import SubmitContext


def _test_mode(ctx: SubmitContext) -> bool:
    return ctx.account is not None and ctx.account.state is AccountState.TEST


def signature_format(ctx: SubmitContext) -> Rejected | None:
    """4070: find the signature (sign parameter, 【…】 at either end, else the account's default)."""
    r, account = ctx.req, ctx.account
    assert account is not None
    try:
        if r.templateid.strip():
            # With templateid, content holds only the variable values; brackets there are not a signature.
            sign = r.sign.strip().removeprefix("【").removesuffix("】").strip()
            if sign and not valid_signature_text(sign):
                raise SignatureFormatError("sign parameter length")
            signed = Signed(sign or None, r.content)
        else:
            signed = split_signature(r.content, r.sign)
    except SignatureFormatError:
        return Rejected.of(codes.BAD_SIGNATURE)
    if signed.signature is None:
        fallback = ctx.config.default_signature if _test_mode(ctx) else account.default_signature
        if fallback is None:
            return Rejected.of(codes.BAD_SIGNATURE)
        signed = Signed(fallback, signed.body, signed.at_end)
    ctx.signed = signed
    return None


def template_rules(ctx: SubmitContext) -> Rejected | None:
    """Resolve the body: render ``templateid`` with its ``|`` values, or match free text when required."""
    r, account, signed = ctx.req, ctx.account, ctx.signed
    assert account is not None and signed is not None
    test_mode = _test_mode(ctx)
    body = signed.body
    try:
        if r.templateid.strip():
            tid = r.templateid.strip()
            template = account.templates.get(int(tid)) if tid.isascii() and tid.isdigit() else None
            if template is None:
                return Rejected.of(codes.NO_TEMPLATE)
            if test_mode and template.id != DEFAULT_TEMPLATE_ID:
                return Rejected.of(codes.TEMPLATE_MISMATCH)
            body = template.render(body)
            ctx.template = template
        elif test_mode:
            template = account.templates.get(DEFAULT_TEMPLATE_ID)
            if template is None or not template.match(body):
                return Rejected.of(codes.TEMPLATE_MISMATCH)
            ctx.template = template
        else:
            # Free text: the first approved template it fits within its limits; a text that only fits with
            # an over-long value matters (40722) when templates are required, otherwise it is free text.
            matched, too_long = None, None
            for template in account.templates.values():
                try:
                    if template.match(body):
                        matched = template
                        break
                except (VariableTooLong, TemplateMismatch) as exc:
                    if isinstance(exc, VariableTooLong) and too_long is None:
                        too_long = exc
            if matched is None and account.require_template:
                if too_long is not None:
                    raise too_long
                return Rejected.of(codes.NO_TEMPLATE)
            ctx.template = matched
    except VariableTooLong as exc:
        return Rejected.of(codes.VARIABLE_TOO_LONG, n=exc.limit)
    except TemplateMismatch:
        return Rejected.of(codes.TEMPLATE_MISMATCH)
    ctx.signed = Signed(signed.signature, body, signed.at_end)
    ctx.text = ctx.signed.text()
    return None


def length_limit(ctx: SubmitContext) -> Rejected | None:
    """4073: over the character limit, signature and brackets included; else count segments."""
    n = count_chars(ctx.text)
    if n > ctx.config.max_content_chars:
        return Rejected.of(codes.CONTENT_TOO_LONG)
    ctx.segments = count_segments(ctx.text)
    return None


def no_emoji(ctx: SubmitContext) -> Rejected | None:
    return Rejected.of(codes.EMOJI) if has_emoji(ctx.text) else None


def signature_approved(ctx: SubmitContext) -> Rejected | None:
    """4075: live accounts need an approved signature; test mode only the default signature."""
    account, signed = ctx.account, ctx.signed
    assert account is not None and signed is not None and signed.signature is not None
    if _test_mode(ctx):
        ok = signed.signature == ctx.config.default_signature
    else:
        ok = signed.signature in account.approved_signatures
    return None if ok else Rejected.of(codes.SIGNATURE_NOT_APPROVED)
