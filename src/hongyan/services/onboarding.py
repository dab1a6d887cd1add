"""The onboarding checklist of the console's home page: 注册 → 接口调试 → 企业认证 → 购买套餐 → 签名/模板 → 上线."""

from __future__ import annotations

from dataclasses import dataclass

from hongyan.domain.states import AccountState
from hongyan.services.platform import Platform
from hongyan.store import account_pages


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    name: str
    what: str
    done: bool
    action: str  # the next action's label
    href: str
    status: str = ""  # e.g. 审核中


async def checklist(platform: Platform, account_id: int) -> list[Step]:
    async with platform.engines.read.connect() as conn:
        f = await account_pages.onboarding_facts(conn, account_id)
    cert = f["certification"]
    live = f["state"] == AccountState.LIVE.value
    return [
        Step("register", "注册", "获得 50 条免费测试短信", True, "已完成", "/console/credentials"),
        Step("debug", "接口调试", "用在线调试工具发出第一条短信", f["sent"], "去调试", "/console/debug"),
        Step(
            "certify",
            "企业认证",
            "提交营业执照信息，审核后可上线",
            cert == "approved",
            "去认证",
            "/console/certification",
            {"pending": "审核中", "rejected": "未通过"}.get(cert or "", ""),
        ),
        Step("buy", "购买套餐", "按需选择，量大更优惠", f["bought"], "去购买", "/console/packages"),
        Step(
            "content",
            "签名/模板",
            "申请您的短信签名与模板",
            f["approved_signature"],
            "去申请",
            "/console/content",
            "审核中" if f["pending_signature"] and not f["approved_signature"] else "",
        ),
        Step("live", "上线", "正式发送，接收回执与上行", live, "查看概览", "/console/overview"),
    ]


def next_step(steps: list[Step]) -> Step | None:
    return next((s for s in steps if not s.done), None)
