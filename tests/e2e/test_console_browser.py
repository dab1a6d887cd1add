"""The console in Debian's Chromium (Playwright, never a downloaded browser), against a real `hongyan serve` with
an SMSC simulator as its channel: register → debug-tool send (code 2) → apply for a signature → an operator
approves it in another browser context → the send record shows delivered; and an operator session through every
admin page (accounts, top-up, freeze/unfreeze, review with a rejection reason, certification, channels, status
codes, blacklist, words, system chart). Every page is screenshotted into tests/artifacts/console/; any browser
console error, page error or HTTP error answer fails the test."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port

CHROMIUM = Path("/usr/bin/chromium")
BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"

if os.environ.get("CI") == "true":  # in CI a missing browser or Playwright fails instead of skipping
    from playwright import sync_api
else:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed (/usr/bin/chromium; .ci/run installs it)", allow_module_level=True
        )
    sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow


def _wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert proc.poll() is None, f"{what} exited"
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.05)


@pytest.fixture
def served(tmp_path, database_url):
    """A simulator that delivers everything, `hongyan serve` using it as its channel, and an operator login."""
    port, smpp, control = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": database_url,
        "HONGYAN_VAR_DIR": str(tmp_path),
        "HONGYAN_SECRET_KEY": "e2e",
        "HONGYAN_PORT": str(port),
        "HONGYAN_LOG_LEVEL": "warning",
        "HONGYAN_CONSOLE_PASSWORD": "operator-password",
    }
    sim = subprocess.Popen(
        [
            *(sys.executable, "-m", "hongyan.simulator", "--port", str(smpp), "--control-port", str(control)),
            *("--system-id", "hongyan", "--password", "hongyan", "--status-mix", "DELIVRD:1"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    procs = [sim]
    try:
        _wait_port(smpp, sim, "simulator")
        for args in (
            ["channel", "add", "sim", "--smpp", f"127.0.0.1:{smpp}", "--system-id", "hongyan", "--password", "hongyan"],
            ["console", "user", "add", "ops", "--operator"],
        ):
            done = subprocess.run([BIN / "hongyan", *args], env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        server = subprocess.Popen(
            [BIN / "hongyan", "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        procs.append(server)
        _wait_port(port, server, "hongyan serve")
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


class Watched:
    """A page whose console errors and page errors are collected; ``shot`` saves a full-page screenshot."""

    def __init__(self, context, name: str) -> None:
        self.page = context.new_page()
        self.name = name
        self.errors: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 400 else None,
        )

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{label}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # scrolled (an #anchor), the sticky top bar lands mid-shot
        self.page.screenshot(path=str(path), full_page=True)
        return path


def test_register_debug_sign_approve_delivered(served) -> None:
    base = served
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            customer = Watched(browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN"), "customer")
            operator = Watched(browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN"), "operator")
            page = customer.page

            # Register: a test-mode account with 50 free segments.
            page.goto(base + "/")
            expect(page).to_have_url(base + "/console/login?next=%2Fconsole%2F")
            customer.shot("01-login")
            page.click("text=免费注册")
            page.fill("#username", "browser_co")
            page.fill("#phone", "13800138000")
            page.fill("#password", "browser-password")
            page.fill("#password2", "browser-password")
            customer.shot("02-register")
            page.click("button[type=submit]")
            expect(page.locator(".flash.ok")).to_contain_text("50 条测试短信")
            expect(page.locator('[data-step="register"]')).to_have_class("step done")
            customer.shot("03-home")

            # The debug tool sends for real (htmx) and explains the answer.
            page.click(".sidenav >> text=在线调试")
            page.check("input[name=mode][value=dynamic]")
            page.click("#debug-send")
            expect(page.locator("#debug-code")).to_have_text("code 2")
            expect(page.locator("#debug-response")).to_contain_text("<code>2</code>")
            expect(page.locator("#debug-request")).to_contain_text("time=")
            customer.shot("04-debug")

            # Credentials: the key is shown on click.
            page.click(".sidenav >> text=API 接口")
            page.click("#reveal-key")
            expect(page.locator("#apikey-value")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
            customer.shot("05-credentials")

            # Apply for a signature.
            page.click(".sidenav >> text=签名与模板")
            page.fill("#sig-text", "浏览器科技")
            page.click("#apply-signature")
            row = page.locator('tr[data-signature="浏览器科技"]')
            expect(row).to_contain_text("审核中")
            customer.shot("06-content-pending")

            # The operator approves it in another browser context.
            op = operator.page
            op.goto(base + "/console/login")
            op.fill("#username", "ops")
            op.fill("#password", "operator-password")
            op.click("button[type=submit]")
            expect(op).to_have_url(base + "/console/admin/")
            operator.shot("07-admin-home")
            op.goto(base + "/console/admin/review")
            sig_row = op.locator("#signature-queue tr", has_text="浏览器科技")
            operator.shot("08-admin-review")
            sig_row.locator("[data-approve]").click()
            expect(op.locator("#signature-queue")).not_to_contain_text("浏览器科技")

            page.reload()  # the page came from a redirect after the POST: a reload does not post again
            expect(row).to_contain_text("已通过")
            customer.shot("09-content-approved")

            # The send record shows delivered (the simulator delivers everything), with the carrier status.
            page.click(".sidenav >> text=发送记录")
            badge = page.locator("#records .badge.state").first
            deadline = time.monotonic() + 30
            while badge.get_attribute("data-state") != "delivered":
                assert time.monotonic() < deadline, f"still {badge.get_attribute('data-state')}"
                page.wait_for_timeout(300)
                page.reload()
            expect(page.locator("#records")).to_contain_text("DELIVRD")
            customer.shot("10-records")

            for label, link in (
                ("11-overview", "产品概览"),
                ("12-replies", "上行回复"),
                ("13-packages", "购买套餐"),
                ("14-ledger", "账单明细"),
                ("15-certification", "企业认证"),
                ("16-home-after", "首页"),
            ):
                page.click(f".sidenav >> text={link}")
                page.wait_for_load_state("networkidle")
                customer.shot(label)
            expect(page.locator('[data-step="debug"]')).to_have_class("step done")
            expect(page.locator('[data-step="content"]')).to_have_class("step done")
            print(f"screenshots in {ARTIFACTS}")
            assert customer.errors == [] and operator.errors == [], customer.errors + operator.errors
        finally:
            browser.close()


def _login_operator(watched: Watched, base: str) -> None:
    page = watched.page
    page.goto(base + "/console/login")
    page.fill("#username", "ops")
    page.fill("#password", "operator-password")
    page.click("button[type=submit]")
    sync_api.expect(page).to_have_url(base + "/console/admin/")


def test_operator_pages(served) -> None:
    base = served
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            customer = Watched(browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN"), "customer")
            operator = Watched(browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN"), "operator")

            # A customer with work for the operator: two signatures, a template, a certification, one sent message.
            page = customer.page
            page.goto(base + "/console/register")
            page.fill("#username", "queue_co")
            page.fill("#phone", "13900139000")
            page.fill("#password", "queue-password")
            page.fill("#password2", "queue-password")
            page.click("button[type=submit]")
            expect(page.locator(".flash.ok")).to_be_visible()
            api_id = page.locator(".topnav code").inner_text()
            page.goto(base + "/console/debug")
            page.click("#debug-send")
            expect(page.locator("#debug-code")).to_have_text("code 2")
            page.goto(base + "/console/content")
            for text in ("队列科技", "另一家公司"):
                page.fill("#sig-text", text)
                page.click("#apply-signature")
                expect(page.locator(f'tr[data-signature="{text}"]')).to_contain_text("审核中")
            page.fill("#tpl-text", "您的验证码是：【变量】，5 分钟内有效。如非本人操作请忽略本短信。")
            page.click("#apply-template")
            expect(page.locator("#templates")).to_contain_text("审核中")
            page.goto(base + "/console/certification")
            page.fill("#company_name", "北京队列科技有限公司")
            page.fill("#licence_no", "91110108551385082Q")
            page.fill("#contact_name", "张三")
            page.fill("#contact_phone", "13900139000")
            page.click("form[action='/console/certification'] button[type=submit]")
            expect(page.locator(".badge.warn")).to_contain_text("审核中")

            # Credentials: rotating the APIKEY shows the new key once (a reload does not post again); a signed
            # webhook's secret likewise.
            page.goto(base + "/console/credentials")
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("text=重置 APIKEY")
            expect(page.locator("#apikey-value")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
            page.fill("#webhook-url", "https://hooks.example.com/sms")
            page.check("input[name=events][value='message.delivered']")
            page.check("input[name=events][value='message.failed']")
            page.click("#webhook-save")
            expect(page.locator("#webhook-secret")).to_have_text(re.compile(r"^whsec_"))
            customer.shot("18-credentials-webhook-secret")
            page.reload()
            expect(page.locator("#webhook-secret")).to_have_count(0)
            expect(page.locator("#apikey-value")).to_have_count(0)
            expect(page.locator("#webhook-rotate")).to_be_visible()
            customer.shot("19-credentials-webhook")

            op = operator.page
            _login_operator(operator, base)
            expect(op.locator("#pending-reviews")).to_contain_text("3")
            expect(op.locator("#system-chart")).to_be_visible()
            op.wait_for_function(
                "() => { const c = Chart.getChart('system-chart'); "
                "return c && c.data.datasets.some(d => d.data.some(v => v > 0)); }"
            )
            operator.shot("20-admin-home")

            # Accounts: the list, then the account page with a top-up and freeze / unfreeze.
            op.click(".sidenav >> text=账户管理")
            row = op.locator(f'#accounts tr[data-api-id="{api_id}"]')
            expect(row).to_contain_text("queue_co")
            operator.shot("21-admin-accounts")
            row.locator("a").first.click()
            op.fill("#amount", "1000")
            op.fill("#note", "浏览器测试充值")
            op.click(f"form[action='/console/admin/accounts/{api_id}/topup'] button[type=submit]")
            expect(op.locator(".flash.ok")).to_be_visible()
            expect(op.locator("dl.kv")).to_contain_text("1049 条")
            op.click("#freeze")
            expect(op.locator("#account-state")).to_have_text("已冻结")
            operator.shot("22-admin-account-frozen")
            op.click("#unfreeze")
            expect(op.locator("#account-state")).not_to_have_text("已冻结")
            operator.shot("23-admin-account")

            # Review: approve one signature, reject the other and the template with a reason.
            op.click(".sidenav >> text=签名与模板")
            operator.shot("24-admin-review")
            op.locator("#signature-queue tr", has_text="队列科技").locator("[data-approve]").click()
            expect(op.locator("#signature-queue")).not_to_contain_text("队列科技")
            other = op.locator("#signature-queue tr", has_text="另一家公司")
            other.locator("input[name=reason]").fill("签名与企业名称不符")
            other.locator("[data-reject]").click()
            expect(op.locator("#signature-queue")).not_to_contain_text("另一家公司")
            tpl = op.locator("#template-queue tbody tr").first
            tpl.locator("input[name=reason]").fill("请说明验证码的用途")
            tpl.locator("[data-reject]").click()
            expect(op.locator("#template-queue")).to_contain_text("没有")
            op.goto(base + "/console/admin/review?state=rejected")
            expect(op.locator("#signature-queue")).to_contain_text("签名与企业名称不符")
            expect(op.locator("#template-queue")).to_contain_text("请说明验证码的用途")
            operator.shot("25-admin-review-rejected")

            # Certification: approve, which moves the test account live.
            op.click(".sidenav >> text=企业认证")
            expect(op.locator("#certification-queue")).to_contain_text("北京队列科技有限公司")
            operator.shot("26-admin-certifications")
            op.locator("#certification-queue tr", has_text="北京队列科技有限公司").locator("[data-approve]").click()
            expect(op.locator("#certification-queue")).not_to_contain_text("北京队列科技有限公司")

            op.click(".sidenav >> text=通道状态")
            expect(op.locator('#channels tr[data-channel="sim"]')).to_be_visible()
            operator.shot("27-admin-channels")

            op.click(".sidenav >> text=运营商状态码")
            expect(op.locator("#status-codes")).to_contain_text("DELIVRD")
            operator.shot("28-admin-status-codes")

            op.click(".sidenav >> text=黑名单")
            op.fill("#add-mobile", "13700137000")
            op.fill("#add-account", api_id)
            op.fill("#add-reason", "客户投诉")
            op.click("form[action='/console/admin/blacklist/add'] button[type=submit]")
            expect(op.locator("#blacklist")).to_contain_text("13700137000")
            operator.shot("29-admin-blacklist")

            op.click(".sidenav >> text=敏感词")
            op.fill("#words", "测试敏感词\n另一个词")
            op.click("form[action='/console/admin/words/add'] button[type=submit]")
            expect(op.locator("#word-list")).to_contain_text("测试敏感词")
            operator.shot("30-admin-words")

            # The customer sees the outcome: live, the reasons of the rejections.
            page.goto(base + "/console/content")
            expect(page.locator('tr[data-signature="另一家公司"]')).to_contain_text("签名与企业名称不符")
            customer.shot("31-content-after-review")
            assert customer.errors == [] and operator.errors == [], customer.errors + operator.errors
        finally:
            browser.close()
