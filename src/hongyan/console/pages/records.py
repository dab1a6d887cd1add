"""Send records (search, carrier status meaning, CSV export) and replies (MO), the user's own only."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from hongyan.console.auth import UserRow, platform_of, require_account_user
from hongyan.console.web import render
from hongyan.domain.days import DAY_MS, parse_day
from hongyan.domain.labels import STATE_LABELS
from hongyan.services import reports
from hongyan.services.reports import RecordFilter

router = APIRouter()
STATUS_CHOICES = {"": "全部状态", "pending": "发送中", "failed": "全部失败"} | {
    getattr(state, "value", state): label for state, label in STATE_LABELS.items()
}


def _filter(request: Request) -> tuple[RecordFilter, dict[str, str], str]:
    q = request.query_params
    form = {k: q.get(k, "").strip() for k in ("mobile", "smsid", "start", "end", "status")}
    error = ""
    start_ms = end_ms = None
    try:
        if form["start"]:
            start_ms = parse_day(form["start"])
        if form["end"]:
            end_ms = parse_day(form["end"]) + DAY_MS
    except ValueError:
        error = "日期格式应为 YYYY-MM-DD"
    status = form["status"] if form["status"] in STATUS_CHOICES else ""
    f = RecordFilter(
        mobile=form["mobile"] or None,
        smsid=form["smsid"] or None,
        start_ms=start_ms,
        end_ms=end_ms,
        status=status or None,
    )
    return f, form, error


def _page_no(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


@router.get("/records")
async def records(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    f, form, error = _filter(request)
    result = await reports.records(platform_of(request), user.account_id, f, page=_page_no(request))
    query = urlencode({k: v for k, v in form.items() if v})
    return render(
        request,
        "records.html",
        active="records",
        result=result,
        form=form,
        query=query,
        statuses=STATUS_CHOICES,
        flash=error or None,
        flash_kind="error",
    )


@router.get("/records.csv")
async def records_csv(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    f, _form, _error = _filter(request)
    lines = reports.export_csv(platform_of(request), user.account_id, f)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="send-records.csv"'},
    )


@router.get("/replies")
async def replies(request: Request, user: UserRow = Depends(require_account_user)) -> Response:
    mobile = request.query_params.get("mobile", "").strip()
    result = await reports.replies(platform_of(request), user.account_id, mobile=mobile or None, page=_page_no(request))
    return render(request, "replies.html", active="replies", result=result, mobile=mobile)
