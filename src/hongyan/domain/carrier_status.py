"""Carrier delivery-report status codes (SPEC.md §9): meaning, advice, and the final state they imply."""

from __future__ import annotations

from dataclasses import dataclass

from hongyan.domain.states import MessageState


@dataclass(frozen=True, slots=True)
class StatusInfo:
    code: str
    meaning: str
    advice: str
    state: MessageState


RECEIPT_TIMEOUT = "HY:TIMEOUT"

_EXACT: dict[str, tuple[str, str, MessageState]] = {
    "DELIVRD": ("已送达手机", "无需处理", MessageState.DELIVERED),
    "UNDELIV": ("无法送达（号码状态异常、停机、空号等）", "核实号码是否正确、是否停机", MessageState.UNDELIVERED),
    "EXPIRED": ("有效期内未能送达（关机、不在服务区）", "稍后重试，或改用语音验证码", MessageState.EXPIRED),
    "REJECTD": ("被运营商拒绝（内容、签名或号码被拦截）", "检查签名、模板与内容是否合规", MessageState.REJECTED),
    "DELETED": ("短信被运营商删除", "稍后重试", MessageState.UNDELIVERED),
    "UNKNOWN": ("状态未知", "稍后查询，或联系客服核实", MessageState.UNDELIVERED),
    "ACCEPTD": ("运营商已接收，尚无终态", "等待最终状态", MessageState.SUBMITTED),
    "ENROUTE": ("正在投递", "等待最终状态", MessageState.SUBMITTED),
    "R:00702": ("手机关机（电信）", "提醒用户开机后重试", MessageState.UNDELIVERED),
    "9018": ("有效时间错误（移动）", "稍后重试；持续出现请联系客服", MessageState.UNDELIVERED),
    "MK:0001": ("空号（移动）", "核实号码", MessageState.UNDELIVERED),
    "MK:0005": ("手机关机或不在服务区（移动）", "稍后重试", MessageState.UNDELIVERED),
    "MK:0012": ("手机存储已满或停机（移动）", "提醒用户清理短信或核实号码", MessageState.UNDELIVERED),
    "MK:0029": ("用户已停机（移动）", "核实号码", MessageState.UNDELIVERED),
    "DB:0141": ("黑名单号码（运营商）", "号码被运营商列入黑名单，勿重试", MessageState.REJECTED),
    "IB:0008": ("网关流控或拥塞", "稍后重试", MessageState.UNDELIVERED),
    # hongyan's own: no receipt within HONGYAN_RECEIPT_TIMEOUT_S of the submit (the receipt sweeper)
    RECEIPT_TIMEOUT: (
        "超时未收到运营商状态报告（状态未知，可能已送达）",
        "已按失败退还计费；如需核实请联系客服",
        MessageState.EXPIRED,
    ),
}

_FAMILIES: dict[str, tuple[str, str]] = {
    "MK:": ("移动网络侧错误（MSC/HLR 返回）", "多为关机、停机、空号；核实号码或稍后重试"),
    "MA:": ("移动网关侧错误", "稍后重试；持续出现请联系客服"),
    "MB:": ("移动短信中心侧错误", "稍后重试；持续出现请联系客服"),
    "MI:": ("移动互通错误（跨网）", "稍后重试"),
    "MN:": ("移动网络错误", "稍后重试"),
    "DB:": ("运营商数据库/黑名单拦截", "号码或内容被拦截，勿频繁重试"),
    "IB:": ("互联网关错误", "稍后重试；持续出现请联系客服"),
    "IC:": ("互联网关拥塞", "稍后重试"),
    "R:": ("电信侧错误", "稍后重试；持续出现请联系客服"),
}


def describe(stat: str) -> StatusInfo:
    """Meaning, advice and implied final state of a raw carrier status (unknown codes are undelivered)."""
    key = stat.strip().upper()
    if key in _EXACT:
        meaning, advice, state = _EXACT[key]
        return StatusInfo(key, meaning, advice, state)
    for prefix, (meaning, advice) in _FAMILIES.items():
        if key.startswith(prefix):
            return StatusInfo(key, meaning, advice, MessageState.UNDELIVERED)
    return StatusInfo(key, "运营商返回的其他失败状态", "稍后重试；持续出现请联系客服", MessageState.UNDELIVERED)


def table() -> list[StatusInfo]:
    """The documented codes, for reports and the console."""
    return [describe(code) for code in _EXACT]
