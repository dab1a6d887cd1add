"""Operator services: signature/template review (reason stored, review push in the decision's transaction),
enterprise certification (validation, pending → approved/rejected, go-live), account actions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hongyan.domain.certification import USCC_ALPHABET, clean, problems, uscc_check_char, uscc_problem
from hongyan.domain.states import ReviewState
from hongyan.services import account_admin, certification, review
from hongyan.services import accounts as svc
from hongyan.store.accounts import NotFound
from hongyan.store.tables import accounts, ledger, outbox, signatures, templates


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    return migrated_sqlite(database_url)


async def _id(platform, api_id: str) -> int:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(accounts.c.id).where(accounts.c.api_id == api_id))).scalar_one()


async def _template(platform, api_id: str, text: str = "您的订单【变量】已发货") -> int:
    from hongyan.store import accounts as store

    async with platform.engines.write.begin() as conn:
        return await store.add_template(conn, await _id(platform, api_id), text, [8])


# --- review ------------------------------------------------------------------------------------------


async def test_template_reject_stores_reason_and_queues_push(platform, trial) -> None:
    await svc.set_fields(platform, trial.account, template_url="http://hooks.example/tpl")
    tid = await _template(platform, trial.account)
    assert [t["id"] for t in await review.template_queue(platform)] == [tid]
    await review.review_template(platform, tid, ReviewState.REJECTED, "  变量过长  ")
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(templates.c.state, templates.c.reason).where(templates.c.id == tid))).one()
        pushes = list(await conn.execute(select(outbox).where(outbox.c.kind == "template")))
    assert (row.state, row.reason) == ("rejected", "变量过长")
    assert len(pushes) == 1 and pushes[0].ref == str(tid) and pushes[0].url == "http://hooks.example/tpl"
    assert json.loads(pushes[0].payload) == {"code": "0", "msg": "变量过长", "templateid": str(tid)}
    assert await review.template_queue(platform) == []


async def test_template_push_is_in_the_decision_transaction(platform, trial, monkeypatch) -> None:
    """If writing the push fails, the decision is rolled back too: no decision without its push."""
    await svc.set_fields(platform, trial.account, template_url="http://hooks.example/tpl")
    tid = await _template(platform, trial.account)

    async def broken(conn, events):
        raise RuntimeError("outbox down")

    monkeypatch.setattr("hongyan.services.review.outbox.enqueue_events", broken)
    with pytest.raises(RuntimeError):
        await review.review_template(platform, tid, ReviewState.APPROVED)
    async with platform.engines.read.connect() as conn:
        state = (await conn.execute(select(templates.c.state).where(templates.c.id == tid))).scalar_one()
    assert state == "pending"


async def test_template_approve_without_url_writes_no_push(platform, trial) -> None:
    tid = await _template(platform, trial.account)
    await review.review_template(platform, tid, ReviewState.APPROVED)
    async with platform.engines.read.connect() as conn:
        assert list(await conn.execute(select(outbox))) == []
        assert (await conn.execute(select(templates.c.state).where(templates.c.id == tid))).scalar_one() == "approved"


async def test_rejection_needs_a_reason(platform, trial) -> None:
    tid = await _template(platform, trial.account)
    sid = await svc.add_signature(platform, trial.account, "鸿雁科技")
    with pytest.raises(ValueError, match="原因"):
        await review.review_template(platform, tid, ReviewState.REJECTED, "   ")
    with pytest.raises(ValueError, match="原因"):
        await review.review_signature(platform, sid, ReviewState.REJECTED)
    with pytest.raises(NotFound):
        await review.review_template(platform, 1, ReviewState.APPROVED)  # the built-in template
    with pytest.raises(NotFound):
        await review.review_signature(platform, 424242, ReviewState.APPROVED)


async def test_signature_review_and_default_signature(platform, trial) -> None:
    first = await svc.add_signature(platform, trial.account, "鸿雁科技")
    second = await svc.add_signature(platform, trial.account, "鸿雁商城")
    queue = await review.signature_queue(platform)
    assert [(s["id"], s["api_id"]) for s in queue] == [(first, trial.account), (second, trial.account)]
    await review.review_signature(platform, first, ReviewState.APPROVED)
    await review.review_signature(platform, second, ReviewState.APPROVED)
    assert (await svc.show(platform, trial.account))["default_signature"] == "鸿雁科技"
    # Rejecting the default (e.g. its qualification lapsed) hands the default to the next approved one.
    await review.review_signature(platform, first, ReviewState.REJECTED, "资质过期")
    info = await svc.show(platform, trial.account)
    assert info["default_signature"] == "鸿雁商城"
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(signatures.c.reason).where(signatures.c.id == first))).scalar_one()
    assert row == "资质过期"
    await review.review_signature(platform, second, ReviewState.REJECTED, "不符合规范")
    assert (await svc.show(platform, trial.account))["default_signature"] is None
    # Re-applying puts it back in the queue, reason cleared.
    await review.review_signature(platform, first, ReviewState.PENDING)
    assert [s["id"] for s in await review.signature_queue(platform)] == [first]
    assert (await review.signature_queue(platform))[0]["reason"] is None


async def test_cli_and_service_accounts_share_the_review(platform) -> None:
    assert svc.review_template is review.review_template and svc.review_signature is review.review_signature


# --- certification -----------------------------------------------------------------------------------

GOOD = "91110108551385082Q"  # a real code (check character verified)


def test_uscc_check() -> None:
    assert uscc_problem(GOOD) is None
    assert uscc_problem("91440300708461136T") is None
    assert "18" in uscc_problem("9111010855138508")
    assert "校验位" in uscc_problem(GOOD[:17] + ("0" if GOOD[17] != "0" else "1"))
    assert "格式" in uscc_problem("91110108551385O82Q")  # letter O is not in the alphabet
    assert "格式" in uscc_problem("9111A108551385082Q")  # region code must be digits
    for body in ("91350100M000100Y4", "12100000400000624"):
        code = body + uscc_check_char(body)
        assert uscc_problem(code) is None and code[17] in USCC_ALPHABET


def test_certification_form_messages() -> None:
    form = clean(" 某 ", "91110108551385082q ", "王", "12345")
    assert form.licence_no == GOOD
    errors = problems(form)
    assert set(errors) == {"company_name", "contact_name", "contact_phone"}
    assert problems(clean("小米科技有限责任公司", GOOD, "王五", "010-12345678")) == {}
    assert problems(clean("小米科技有限责任公司", GOOD, "王五", "138 0013 8000")) == {}


async def _submit(platform, account_id: int, **kw) -> int:
    values = {
        "company_name": "小米科技有限责任公司",
        "licence_no": GOOD,
        "contact_name": "王五",
        "contact_phone": "13800138000",
    }
    return await certification.submit(platform, account_id, **(values | kw))


async def test_certification_flow_approve_goes_live(platform, trial) -> None:
    account_id = await _id(platform, trial.account)
    with pytest.raises(certification.InvalidCertification) as bad:
        await _submit(platform, account_id, licence_no="123")
    assert set(bad.value.errors) == {"licence_no"}
    assert await certification.status(platform, account_id) is None

    cid = await _submit(platform, account_id)
    assert (await certification.status(platform, account_id))["state"] == "pending"
    with pytest.raises(ValueError, match="审核中"):
        await _submit(platform, account_id)
    assert [c["id"] for c in await certification.queue(platform)] == [cid]
    assert (await certification.queue(platform))[0]["api_id"] == trial.account

    await certification.approve(platform, cid)
    assert (await svc.show(platform, trial.account))["state"] == "live"
    assert (await certification.status(platform, account_id))["state"] == "approved"
    assert await certification.queue(platform) == []
    with pytest.raises(ValueError, match="已审核"):
        await certification.approve(platform, cid)
    with pytest.raises(ValueError, match="已通过"):
        await _submit(platform, account_id)
    view = await platform.accounts(trial.account)
    assert view is not None and view.state.value == "live"  # the cache was invalidated


async def test_certification_reject_then_resubmit(platform, trial) -> None:
    account_id = await _id(platform, trial.account)
    cid = await _submit(platform, account_id)
    with pytest.raises(ValueError, match="原因"):
        await certification.reject(platform, cid, "")
    await certification.reject(platform, cid, "营业执照与企业名称不一致")
    status = await certification.status(platform, account_id)
    assert (status["state"], status["reason"]) == ("rejected", "营业执照与企业名称不一致")
    assert (await svc.show(platform, trial.account))["state"] == "test"
    again = await _submit(platform, account_id, company_name="北京小米科技有限责任公司")
    assert again != cid and (await certification.status(platform, account_id))["state"] == "pending"
    with pytest.raises(NotFound):
        await certification.approve(platform, 999_999)


async def test_approval_leaves_a_frozen_account_frozen(platform, trial) -> None:
    account_id = await _id(platform, trial.account)
    cid = await _submit(platform, account_id)
    await account_admin.freeze(platform, trial.account)
    await certification.approve(platform, cid)
    assert (await svc.show(platform, trial.account))["state"] == "frozen"


# --- account actions ---------------------------------------------------------------------------------


async def test_account_actions(platform, trial, live) -> None:
    page = await account_admin.search(platform)
    assert page.total == 2 and [r["api_id"] for r in page.rows] == [live.account, trial.account]
    assert [r["api_id"] for r in (await account_admin.search(platform, q="trial")).rows] == [trial.account]
    assert [r["api_id"] for r in (await account_admin.search(platform, q=live.account.lower())).rows] == [live.account]
    assert [r["api_id"] for r in (await account_admin.search(platform, state="test")).rows] == [trial.account]
    with pytest.raises(ValueError):
        await account_admin.search(platform, state="bogus")

    assert await account_admin.topup(platform, trial.account, 500, "") == 550
    async with platform.engines.read.connect() as conn:
        notes = [r.note for r in await conn.execute(select(ledger.c.note).where(ledger.c.kind == "topup"))]
    assert "运营充值" in notes
    for bad in (0, -5, 10**9):
        with pytest.raises(ValueError):
            await account_admin.topup(platform, trial.account, bad, None)

    with pytest.raises(ValueError, match="未冻结"):
        await account_admin.unfreeze(platform, live.account)
    await account_admin.freeze(platform, live.account)
    assert (await svc.show(platform, live.account))["state"] == "frozen"
    await account_admin.unfreeze(platform, live.account)
    assert (await svc.show(platform, live.account))["state"] == "live"

    await account_admin.set_limits(platform, live.account, daily="30", daily_codes="", ceiling="")
    d = await account_admin.detail(platform, live.account)
    assert d["limits"]["daily"] == 30 and d["limits"]["own"] == {"daily": 30}
    with pytest.raises(ValueError):
        await account_admin.set_limits(platform, live.account, daily="x", daily_codes="", ceiling="")
    with pytest.raises(ValueError, match="ceiling"):
        await account_admin.set_limits(platform, live.account, daily="30", daily_codes="", ceiling="10")
    await account_admin.set_limits(platform, live.account, daily="", daily_codes="", ceiling="")
    assert (await account_admin.detail(platform, live.account))["limits"]["own"] == {}
    assert d["certification"] is None and d["ledger_balance"] == d["balance"]
