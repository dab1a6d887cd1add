"""Chinese names of message states and carriers, for reports, exports and the console."""

from __future__ import annotations

from hongyan.domain.states import MessageState
from hongyan.domain.transitions import FAILED_FINAL, FINAL

STATE_LABELS: dict[str, str] = {
    MessageState.ACCEPTED: "已接收",
    MessageState.QUEUED: "排队中",
    MessageState.SUBMITTED: "已提交运营商",
    MessageState.DELIVERED: "发送成功",
    MessageState.UNDELIVERED: "发送失败",
    MessageState.EXPIRED: "超时未达",
    MessageState.REJECTED: "被拒绝",
    MessageState.FAILED: "提交失败",
}

CARRIER_LABELS: dict[str, str] = {
    "mobile": "中国移动",
    "unicom": "中国联通",
    "telecom": "中国电信",
    "broadnet": "中国广电",
    "virtual": "虚拟运营商",
    "": "未知",
}

# Status filters of the send-record search: one state, or a group of them.
PENDING_STATES: frozenset[str] = frozenset({MessageState.ACCEPTED, MessageState.QUEUED, MessageState.SUBMITTED})
FAILED_STATES: frozenset[str] = frozenset(s.value for s in FAILED_FINAL)
FINAL_STATES: frozenset[str] = frozenset(s.value for s in FINAL)
STATUS_GROUPS: dict[str, frozenset[str]] = {"pending": PENDING_STATES, "failed": FAILED_STATES}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def carrier_label(carrier: str) -> str:
    return CARRIER_LABELS.get(carrier, carrier)


def states_for(status: str) -> frozenset[str]:
    """The states a status filter selects: a state name, ``pending`` or ``failed``; ValueError otherwise."""
    if status in STATUS_GROUPS:
        return STATUS_GROUPS[status]
    if status in STATE_LABELS:
        return frozenset({status})
    raise ValueError(f"unknown status {status!r}")
