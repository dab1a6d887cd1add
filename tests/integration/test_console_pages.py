"""The customer's console pages against the real app: debug tool (real Submit), onboarding checklist, signatures
and templates, credentials (reveal, rotate, IP allow-list, push URLs, test push), packages and ledger, records
and CSV, certification."""

from __future__ import annotations

import html
import json
import re

import pytest

from hongyan.domain.certification import uscc_check_char
from hongyan.domain.states import ReviewState
from hongyan.services import billing, certification, pushes, review
from hongyan.services.debug_tool import build_fields, parse_answer
from hongyan.store import accounts as account_store
from tests.integration.console_helpers import Visitor

DEFAULT = "您的验证码是：1234。请不要把验证码泄露给其他人。"


@pytest.fixture
def database_url(database_url, migrated_sqlite):
    return migrated_sqlite(database_url)


async def _account(platform, name: str):
    async with platform.engines.read.connect() as conn:
        return await account_store.find_by_name(conn, name)


def _steps(page: str) -> dict[str, bool]:
    return {
        m.group(2): "done" in m.group(1) for m in re.finditer(r'<li class="step ([a-z ]*)" data-step="(\w+)"', page)
    }


def test_debug_fields_and_answers() -> None:
    f = build_fields("C1", "key", "13800138000", "hi", dynamic=True, fmt="json", now=1_700_000_000)
    assert f["time"] == "1700000000" and len(f["password"]) == 32 and f["format"] == "json"
    assert build_fields("C1", "key", "1", "x", dynamic=False, fmt="xml")["password"] == "key"
    assert parse_answer('{"code":2,"msg":"提交成功","smsid":"123"}') == (2, "123")
    assert parse_answer("<SubmitResult><code>406</code><msg>x</msg><smsid>0</smsid></SubmitResult>") == (406, "0")
    assert parse_answer("garbage") == (None, "")


async def test_debug_tool_sends_for_real_and_explains_the_code(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("delta")
        assert _steps((await v.get("/console/")).text)["debug"] is False
        for mode in ("plain", "dynamic"):
            r = await v.post(
                "/console/debug", {"mobile": "13800138000", "content": DEFAULT, "mode": mode, "fmt": "xml"}
            )
            page = html.unescape(r.text)
            assert r.status_code == 200
            assert 'id="debug-code">code 2<' in page, mode
            assert "POST /webservice/sms.php?method=Submit HTTP/1.1" in page
            assert "<code>2</code>" in page and "<msg>提交成功</msg>" in page
        assert "time=" in page  # the dynamic password's time was sent
        r = await v.post(
            "/console/debug",
            {"mobile": "12345", "content": DEFAULT, "mode": "plain", "fmt": "json"},
            headers={"HX-Request": "true"},
        )
        page = html.unescape(r.text)
        assert "<html" not in page  # an htmx fragment
        assert "code 406" in page and "手机号格式不正确" in page and '"code":406' in page
        assert _steps((await v.get("/console/")).text)["debug"] is True
        assert (await _account(platform, "delta")).balance == 48
        records = await v.get("/console/records")
        assert records.text.count("data-smsid=") == 2


async def test_signatures_and_templates_apply_and_show_the_review(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("echo")
        await v.get("/console/content")
        r = await v.post("/console/content/signatures", {"text": "【回声科技】", "category": "notice"})
        assert r.status_code == 303
        r = await v.get(r.headers["location"])
        assert "签名已提交" in r.text
        assert 'data-signature="回声科技"' in r.text and "审核中" in r.text
        r = await v.post("/console/content/signatures", {"text": "回声科技", "category": "notice"})
        assert r.status_code == 400 and "已申请过" in r.text
        r = await v.post("/console/content/templates", {"text": "您的验证码是：【变量】。", "category": "verification"})
        assert r.status_code == 303
        assert "模板已提交" in (await v.get(r.headers["location"])).text
        r = await v.post("/console/content/templates", {"text": "你好😀", "category": "notice"})
        assert r.status_code == 400 and "emoji" in r.text

        account = await _account(platform, "echo")
        async with platform.engines.read.connect() as conn:
            (sig,) = await account_store.list_signatures(conn, account.id)
        await review.review_signature(platform, sig["id"], ReviewState.REJECTED, "签名与企业名称不符")
        page = (await v.get("/console/content")).text
        assert "未通过" in page and "签名与企业名称不符" in page
        await v.post("/console/content/signatures", {"text": "回声科技", "category": "notice"})  # apply again
        await review.review_signature(platform, sig["id"], ReviewState.APPROVED)
        page = (await v.get("/console/content")).text
        assert "已通过" in page
        assert _steps((await v.get("/console/")).text)["content"] is True


async def test_credentials_reveal_rotate_ips_and_push_urls(platform, client, receiver) -> None:
    async with Visitor(platform) as v:
        await v.register("foxtrot")
        account = await _account(platform, "foxtrot")
        key = platform.keybox.decrypt(account.apikey_enc)
        page = await v.get("/console/credentials")
        assert account.api_id in page.text and key not in page.text  # masked until asked
        r = await v.http.post("/console/credentials/key", headers={"X-CSRF-Token": v.token, "HX-Request": "1"})
        assert key in r.text

        # Rotating is POST → redirect → GET: the new key is shown once, a reload neither rotates nor shows it.
        r = await v.post("/console/credentials/rotate")
        assert r.status_code == 303 and r.headers["location"] == "/console/credentials?new=apikey"
        assert r.text == ""
        new_key = platform.keybox.decrypt((await _account(platform, "foxtrot")).apikey_enc)
        assert new_key != key
        shown = await v.get(r.headers["location"])
        assert shown.status_code == 200 and new_key in shown.text and "已生成新的 APIKEY" in shown.text
        again = await v.get(r.headers["location"])  # the reload
        assert new_key not in again.text and "已经显示过了" in again.text
        assert platform.keybox.decrypt((await _account(platform, "foxtrot")).apikey_enc) == new_key
        async with Visitor(platform) as other:  # the flash lives in this session only
            await other.register("foxtrot_other")
            assert new_key not in (await other.get("/console/credentials?new=apikey")).text
        form = {"account": account.api_id, "mobile": "13800138000", "content": DEFAULT, "format": "json"}
        assert (await client.post("/webservice/sms.php?method=Submit", data={**form, "password": key})).json()[
            "code"
        ] == 405
        assert (await client.post("/webservice/sms.php?method=Submit", data={**form, "password": new_key})).json()[
            "code"
        ] == 2

        r = await v.post("/console/credentials/ips", {"ips": "not-an-ip"})
        assert r.status_code == 400 and "不是有效的 IP" in r.text
        r = await v.post("/console/credentials/ips", {"ips": "203.0.113.10, 198.51.100.0/24"})
        assert r.status_code == 200
        assert (await _account(platform, "foxtrot")).allowed_ips == "198.51.100.0/24,203.0.113.10"
        await v.post("/console/credentials/ips", {"ips": ""})

        r = await v.post("/console/credentials/urls", {"receipt_url": "ftp://x"})
        assert r.status_code == 400
        r = await v.post(
            "/console/credentials/urls", {"receipt_url": receiver.url, "reply_url": "", "template_url": ""}
        )
        assert r.status_code == 200 and (await _account(platform, "foxtrot")).receipt_url == receiver.url
        r = await v.post("/console/credentials/test-push", {"kind": "receipt"}, headers={"HX-Request": "1"})
        assert "推送成功" in r.text and receiver.received() == 1
        receiver.script.append((500, b"oops"))
        r = await v.post("/console/credentials/test-push", {"kind": "receipt"}, headers={"HX-Request": "1"})
        assert "HTTP 500" in r.text
        r = await v.post("/console/credentials/test-push", {"kind": "reply"}, headers={"HX-Request": "1"})
        assert "请先保存该推送地址" in r.text


async def test_signed_webhook_set_secret_once_rotate_remove(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("hooker")
        api_id = (await _account(platform, "hooker")).api_id
        page = await v.get("/console/credentials")
        assert 'id="webhook"' in page.text and "启用 Webhook" in page.text

        url = "https://hooks.example.com/sms"
        r = await v.post("/console/credentials/webhook", {"url": url}, csrf=False)  # no CSRF token
        assert r.status_code == 403
        wrong = {"url": url, "csrf_token": "0" * 64}
        r = await v.http.post("/console/credentials/webhook", data=wrong)
        assert r.status_code == 403
        assert (await pushes.get_webhook(platform, api_id))["url"] is None
        r = await v.post("/console/credentials/webhook", {"url": "ftp://hooks.example.com/"})
        assert r.status_code == 400 and "http://" in r.text
        assert (await pushes.get_webhook(platform, api_id))["url"] is None

        # Set: POST → 303 → GET shows the secret once.
        r = await v.post(
            "/console/credentials/webhook", {"url": url, "events": ["message.delivered", "reply.received"]}
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/credentials?new=webhook#webhook"
        hook = await pushes.get_webhook(platform, api_id, reveal=True)
        assert hook["url"] == url and hook["events"] == ["message.delivered", "reply.received"]
        secret = hook["secret"]
        assert secret.startswith("whsec_")
        shown = await v.get(r.headers["location"])
        assert secret in shown.text and "只显示这一次" in shown.text
        again = await v.get(r.headers["location"])
        assert secret not in again.text and url in again.text and "已经显示过了" in again.text
        assert re.search(r'value="message.delivered"\s+checked', again.text)
        assert not re.search(r'value="message.failed"\s+checked', again.text)

        # Change the URL and events: the secret stays (and is not shown).
        r = await v.post("/console/credentials/webhook", {"url": url + "/v2"})
        assert r.status_code == 303 and r.headers["location"] == "/console/credentials?done=webhook#webhook"
        hook = await pushes.get_webhook(platform, api_id, reveal=True)
        assert hook["secret"] == secret and hook["url"] == url + "/v2" and len(hook["events"]) == 4
        assert secret not in (await v.get(r.headers["location"])).text

        # Rotate: a new secret, shown once; the old one keeps signing for a while.
        r = await v.post("/console/credentials/webhook/rotate")
        assert r.status_code == 303
        hook = await pushes.get_webhook(platform, api_id, reveal=True)
        assert hook["secret"] != secret and hook["previous_secret_until"]
        shown = (await v.get(r.headers["location"])).text
        assert hook["secret"] in shown and secret not in shown and "旧密钥同时签名至" in shown

        async with Visitor(platform) as other:  # another customer sees only their own (none)
            await other.register("hooker_other")
            page = (await other.get("/console/credentials?new=webhook")).text
            assert url not in page and hook["secret"] not in page

        # Remove.
        r = await v.post("/console/credentials/webhook/remove")
        assert r.status_code == 303 and "done=webhook-removed" in r.headers["location"]
        assert (await pushes.get_webhook(platform, api_id))["url"] is None
        assert "Webhook 已删除" in (await v.get(r.headers["location"])).text
        r = await v.post("/console/credentials/webhook/rotate")  # nothing to rotate
        assert r.status_code == 400 and "尚未设置" in r.text


async def test_packages_buy_writes_the_ledger(platform) -> None:
    small = await billing.add_package(platform, "入门包", 1_000, 4_500)
    await billing.add_package(platform, "企业包", 100_000, 350_000)
    async with Visitor(platform) as v:
        await v.register("golf")
        page = await v.get("/console/packages")
        assert "入门包" in page.text and "最划算" in page.text and "4.50 分/条" in page.text
        r = await v.post("/console/packages/buy", {"package_id": str(small)})
        assert r.status_code == 303 and "支付成功" in (await v.get(r.headers["location"])).text
        assert (await _account(platform, "golf")).balance == 1_050
        r = await v.post("/console/packages/buy", {"package_id": "99999"})
        assert r.status_code == 404
        ledger = (await v.get("/console/ledger")).text
        assert "¥45.00" in ledger and "+1000" in ledger and "赠送" in ledger
        assert _steps((await v.get("/console/")).text)["buy"] is True


async def test_records_search_and_csv(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("hotel")
        for mobile in ("13800138000", "13900139000"):
            await v.post("/console/debug", {"mobile": mobile, "content": DEFAULT, "mode": "plain", "fmt": "xml"})
        assert (await v.get("/console/records?mobile=13900139000")).text.count("data-smsid=") == 1
        assert (await v.get("/console/records?status=delivered")).text.count("data-smsid=") == 0
        assert (await v.get("/console/records?status=pending")).text.count("data-smsid=") == 2
        r = await v.get("/console/records?start=bad")
        assert "日期格式" in r.text
        csv = await v.get("/console/records.csv?mobile=13800138000")
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].lstrip("\ufeff").startswith("smsid,") and len(lines) == 2 and "13800138000" in lines[1]
        assert (await v.get("/console/replies")).status_code == 200


async def test_certification_then_live(platform) -> None:
    first17 = "91110000MA01ABCD1"
    licence = first17 + uscc_check_char(first17)
    async with Visitor(platform) as v:
        await v.register("india")
        await v.get("/console/certification")
        form = {
            "company_name": "印第安科技有限公司",
            "licence_no": "123",
            "contact_name": "张三",
            "contact_phone": "13800138000",
        }
        r = await v.post("/console/certification", form)
        assert r.status_code == 400 and "18 位" in r.text
        r = await v.post("/console/certification", {**form, "licence_no": licence})
        assert r.status_code == 200 and "审核中" in r.text
        steps = (await v.get("/console/")).text
        assert _steps(steps)["certify"] is False and "审核中" in steps
        (pending,) = await certification.queue(platform)
        await certification.approve(platform, pending["id"])
        page = await v.get("/console/")
        assert _steps(page.text)["certify"] is True and _steps(page.text)["live"] is True
        assert (await _account(platform, "india")).state == "live"


async def test_overview_has_the_chart_data(platform) -> None:
    async with Visitor(platform) as v:
        await v.register("juliet")
        await v.post("/console/debug", {"mobile": "13800138000", "content": DEFAULT, "mode": "plain", "fmt": "xml"})
        page = (await v.get("/console/overview")).text
        data = json.loads(re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', page).group(1))
        assert len(data["days"]) == 7 and data["sent"][-1] == 1
        assert data["carriers"] == ["中国移动"] and data["carrier_counts"] == [1]
        assert "/console/static/vendor/chart.umd.min.js" in page
        assert (await v.get("/console/static/vendor/chart.umd.min.js")).status_code == 200
        assert (await v.get("/console/static/vendor/htmx.min.js")).status_code == 200
