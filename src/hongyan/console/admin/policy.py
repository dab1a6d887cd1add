"""Blacklists (global and per account) and sensitive words: list, add, remove, import a word file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from hongyan.console.admin._common import EXPECTED_ERRORS, back, flash, page_no
from hongyan.console.auth import platform_of
from hongyan.console.web import render
from hongyan.services import policy

router = APIRouter()

PER_PAGE = 50
WORDS_SHOWN = 300
WORD_FILE_MAX = 2_000_000
KIND_LABELS = {"global": "全局", "account": "账户", "auto408": "408 自动", "unsubscribe": "退订"}


@router.get("/blacklist")
async def blacklist_page(request: Request, mobile: str = "", account: str = "") -> Response:
    p = platform_of(request)
    try:
        rows = await policy.blacklist_list(p, account.strip().upper() or None)
    except EXPECTED_ERRORS as exc:
        rows, flash_ctx = [], {"flash": str(exc), "flash_kind": "error"}
    else:
        flash_ctx = flash(request)
    if mobile.strip():
        rows = [r for r in rows if mobile.strip() in r["mobile"]]
    page = page_no(request)
    return render(
        request,
        "admin/blacklist.html",
        active="admin",
        section="blacklist",
        rows=rows[(page - 1) * PER_PAGE : page * PER_PAGE],
        total=len(rows),
        page=page,
        pages=max(1, -(-len(rows) // PER_PAGE)),
        mobile=mobile,
        account=account,
        kinds=KIND_LABELS,
        **flash_ctx,
    )


@router.post("/blacklist/add")
async def blacklist_add(
    request: Request,
    mobile: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        added = await policy.blacklist_add(
            platform_of(request), mobile, account.strip().upper() or None, reason.strip() or None
        )
    except EXPECTED_ERRORS as exc:
        return back("/console/admin/blacklist", err=str(exc))
    return back("/console/admin/blacklist", ok=f"{mobile.strip()} 已加入黑名单" if added else "该号码已在名单中")


@router.post("/blacklist/remove")
async def blacklist_remove(
    request: Request,
    mobile: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
) -> Response:
    try:
        removed = await policy.blacklist_remove(
            platform_of(request), mobile, account.strip().upper() or None, kind.strip() or None
        )
    except EXPECTED_ERRORS as exc:
        return back("/console/admin/blacklist", err=str(exc))
    return back("/console/admin/blacklist", ok=f"已移除 {removed} 条" if removed else "名单中没有该号码")


@router.get("/words")
async def words_page(request: Request, q: str = "") -> Response:
    words = await policy.words_list(platform_of(request))
    shown = [w for w in words if q.strip() in w] if q.strip() else words
    return render(
        request,
        "admin/words.html",
        active="admin",
        section="words",
        words=shown[:WORDS_SHOWN],
        matched=len(shown),
        total=len(words),
        q=q,
        **flash(request),
    )


@router.post("/words/add")
async def words_add(request: Request, words: Annotated[str, Form()] = "") -> Response:
    items = policy.parse_words(words)
    if not items:
        return back("/console/admin/words", err="请输入敏感词，每行一个")
    added = await policy.words_add(platform_of(request), items)
    return back("/console/admin/words", ok=f"新增 {added} 个（共提交 {len(items)} 个，重复的已跳过）")


@router.post("/words/remove")
async def words_remove(request: Request, word: Annotated[str, Form()] = "") -> Response:
    try:
        await policy.words_remove(platform_of(request), word)
    except EXPECTED_ERRORS as exc:
        return back("/console/admin/words", err=str(exc))
    return back("/console/admin/words", ok=f"已删除「{word}」")


@router.post("/words/import")
async def words_import(request: Request, file: Annotated[UploadFile | None, File()] = None) -> Response:
    if file is None:
        return back("/console/admin/words", err="请选择词库文件（UTF-8，每行一个词）")
    data = await file.read(WORD_FILE_MAX + 1)
    if len(data) > WORD_FILE_MAX:
        return back("/console/admin/words", err="文件过大（上限 2 MB）")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return back("/console/admin/words", err="文件须为 UTF-8 编码")
    items = policy.parse_words(text)
    added = await policy.words_add(platform_of(request), items) if items else 0
    return back("/console/admin/words", ok=f"导入完成：读取 {len(items)} 个，新增 {added} 个")
