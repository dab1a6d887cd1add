"""The console in Debian's Chromium (Playwright, never a downloaded browser), against a real `hongyan serve` with
an SMSC simulator as its channel: register → debug-tool send (code 2) → apply for a signature → an operator
approves it in another browser context → the send record shows delivered. Every main page is screenshotted
into tests/artifacts/console/; any browser console error or page error fails the test."""

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
