"""REST v2: JSON API with bearer credentials, sharing the Submit pipeline with the ihuyi endpoints.

Authenticate with ``Authorization: Bearer <APIID>:<APIKEY>`` (or HTTP Basic with the same pair).
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hongyan.domain import codes
from hongyan.domain.account import AccountView
from hongyan.domain.codes import Rejected
from hongyan.pipeline.context import SubmitRequest
from hongyan.services.accounts import authenticate_simple
from hongyan.services.platform import Platform
from hongyan.services.submit import submit

router = APIRouter(prefix="/v2", tags=["v2"])

_AUTH_CODES = {
    codes.NO_ACCOUNT,
    codes.NO_PASSWORD,
    codes.BAD_CREDENTIALS,
    codes.DYNAMIC_EXPIRED,
    codes.DYNAMIC_MISMATCH,
}
_FORBIDDEN = {codes.FROZEN, codes.ILLEGAL_IP, codes.IP_NOT_REGISTERED}


class MessageIn(BaseModel):
    mobile: str = Field(description="11-digit mainland mobile, or '<cc> <number>' with international=true")
    content: str = Field(description="Text, or the |-joined variable values when templateid is given")
    templateid: int | None = Field(default=None, description="An approved template's id")
    sign: str | None = Field(default=None, description="Signature text without brackets")
    international: bool = False


class Answer(BaseModel):
    code: int = Field(description="ihuyi code: 2 accepted, otherwise the rejection")
    msg: str
    smsid: str = "0"
    segments: int = 0


class BalanceOut(BaseModel):
    code: int
    msg: str
    num: int


def _status(code: int) -> int:
    if code == codes.OK:
        return 201
    if code in _AUTH_CODES:
        return 401
    if code in _FORBIDDEN:
        return 403
    if code == codes.INSUFFICIENT_BALANCE:
        return 402
    if code == codes.FAILED:
        return 503
    return 422


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "", ""
    elif scheme.lower() != "bearer":
        return "", ""
    account, _, key = value.partition(":")
    return account, key


class AuthFailed(Exception):
    def __init__(self, rejected: Rejected) -> None:
        self.rejected = rejected


async def current_account(request: Request) -> AccountView:
    platform: Platform = request.app.state.platform
    account, key = _credentials(request)
    client_ip = request.client.host if request.client else ""
    view = await authenticate_simple(platform, account, key, "", client_ip, allow_dynamic=False)
    if isinstance(view, Rejected):
        raise AuthFailed(view)
    return view


def auth_failed_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthFailed)
    r = exc.rejected
    return JSONResponse(
        {"code": r.code, "msg": r.msg, "smsid": "0", "segments": 0},
        status_code=_status(r.code),
        headers={"www-authenticate": "Bearer"},
    )


@router.post(
    "/messages",
    response_model=Answer,
    status_code=201,
    responses={401: {"model": Answer}, 402: {"model": Answer}, 403: {"model": Answer}, 422: {"model": Answer}},
)
async def send_message(body: MessageIn, request: Request, account: AccountView = Depends(current_account)):
    """Send one message; the answer carries the same codes and texts as the ihuyi Submit."""
    platform: Platform = request.app.state.platform
    outcome = await submit(
        platform,
        SubmitRequest(
            account=account.api_id,
            password="",
            mobile=body.mobile,
            content=body.content,
            templateid=str(body.templateid) if body.templateid is not None else "",
            sign=body.sign or "",
            client_ip=request.client.host if request.client else "",
            international=body.international,
            preauthenticated=account,
        ),
    )
    payload = Answer(code=outcome.code, msg=outcome.msg, smsid=outcome.smsid, segments=outcome.segments)
    return JSONResponse(payload.model_dump(), status_code=_status(outcome.code))


@router.get("/balance", response_model=BalanceOut)
async def balance(request: Request, account: AccountView = Depends(current_account)) -> BalanceOut:
    """Remaining segments."""
    from hongyan.services.accounts import show

    platform: Platform = request.app.state.platform
    info = await show(platform, account.api_id)
    return BalanceOut(code=codes.OK, msg=codes.GETNUM_OK_MSG, num=info["balance"])


class MessageOut(BaseModel):
    smsid: str
    mobile: str
    segments: int
    state: str = Field(description="accepted, queued, submitted, delivered, undelivered, expired, rejected, failed")
    code: int = Field(description="As in the receipt push: 2 delivered, 0 failed, 1 not final yet")
    carrier_status: str | None = Field(description="Raw carrier status, e.g. DELIVRD, UNDELIV, R:00702")
    meaning: str | None = None
    created_at: int
    done_at: int | None = None


class ReportsOut(BaseModel):
    reports: list[MessageOut]
    next_since: int = Field(description="Pass back as since= with next_after= to continue")
    next_after: str


def _out(row: dict) -> MessageOut:
    from hongyan.domain.carrier_status import describe
    from hongyan.domain.transitions import FINAL

    final = row["state"] in {s.value for s in FINAL}
    stat = row["carrier_status"]
    return MessageOut(
        smsid=row["smsid"],
        mobile=row["mobile"],
        segments=row["segments"],
        state=row["state"],
        code=(2 if row["state"] == "delivered" else 0) if final else 1,
        carrier_status=stat,
        meaning=describe(stat).meaning if stat else None,
        created_at=row["created_at"],
        done_at=row["done_at"],
    )


@router.get("/messages/{smsid}", response_model=MessageOut, responses={404: {"description": "No such message"}})
async def get_message(smsid: str, request: Request, account: AccountView = Depends(current_account)):
    """One message and its state, for a customer who missed its receipt push."""
    from hongyan.store.reports import get_message as load

    platform: Platform = request.app.state.platform
    async with platform.engines.read.connect() as conn:
        row = await load(conn, account.id, smsid)
    if row is None:
        return JSONResponse({"detail": "no such message"}, status_code=404)
    return _out(row)


@router.get("/reports", response_model=ReportsOut)
async def reports(
    request: Request,
    since: int = 0,
    after: str = "",
    limit: int = 500,
    account: AccountView = Depends(current_account),
) -> ReportsOut:
    """Final states reached since ``since`` (Unix ms), oldest first, at most ``limit`` (≤ 1000) a page."""
    from hongyan.store.reports import final_since

    platform: Platform = request.app.state.platform
    async with platform.engines.read.connect() as conn:
        rows = await final_since(conn, account.id, since, after, max(1, min(limit, 1000)))
    last = rows[-1] if rows else None
    return ReportsOut(
        reports=[_out(r) for r in rows],
        next_since=last["done_at"] if last else since,
        next_after=last["smsid"] if last else after,
    )
