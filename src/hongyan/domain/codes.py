"""The ihuyi answer codes and their exact ``msg`` texts (SPEC.md §2–4); the texts are part of the contract."""

from __future__ import annotations

from dataclasses import dataclass

FAILED = 0
OK = 2
ILLEGAL_IP = 400
NO_ACCOUNT = 401
NO_PASSWORD = 402
NO_MOBILE = 403
BLACKLISTED = 4030
NO_CONTENT = 404
BAD_CREDENTIALS = 405
FROZEN = 4050
DYNAMIC_EXPIRED = 40501
DYNAMIC_MISMATCH = 40502
INSUFFICIENT_BALANCE = 4051
IP_NOT_REGISTERED = 4052
BAD_MOBILE = 406
SENSITIVE = 407
BAD_SIGNATURE = 4070
NO_TEMPLATE = 4071
TEMPLATE_MISMATCH = 4072
VARIABLE_TOO_LONG = 40722
CONTENT_TOO_LONG = 4073
EMOJI = 4074
SIGNATURE_NOT_APPROVED = 4075
DAILY_CEILING_BLACKLISTED = 408
PER_SECOND = 4080
DAILY_LIMIT = 4082
CODE_LIMIT = 4085

SUBMIT_MSG: dict[int, str] = {
    FAILED: "提交失败",
    OK: "提交成功",
    ILLEGAL_IP: "非法ip访问",
    NO_ACCOUNT: "帐号不能为空",
    NO_PASSWORD: "密码不能为空",
    NO_MOBILE: "手机号码不能为空",
    BLACKLISTED: "手机号码已被列入黑名单",
    NO_CONTENT: "短信内容不能为空",
    BAD_CREDENTIALS: "API ID 或 API KEY 不正确",
    FROZEN: "账号被冻结",
    DYNAMIC_EXPIRED: "动态密码已过期",
    DYNAMIC_MISMATCH: "动态密码校验失败",
    INSUFFICIENT_BALANCE: "剩余条数不足",
    IP_NOT_REGISTERED: "访问 ip 与备案 ip 不符",
    BAD_MOBILE: "手机格式不正确",
    SENSITIVE: "短信内容含有敏感字符",
    BAD_SIGNATURE: "签名格式不正确",
    NO_TEMPLATE: "没有提交备案模板",
    TEMPLATE_MISMATCH: "提交的短信内容与审核通过的模板内容不匹配",
    VARIABLE_TOO_LONG: "变量内容超过指定的长度【{n}】",
    CONTENT_TOO_LONG: "短信内容超出长度限制",
    EMOJI: "短信内容包含 emoji 符号",
    SIGNATURE_NOT_APPROVED: "签名未通过审核",
    DAILY_CEILING_BLACKLISTED: "发送超限([{n}]条),已加入黑名单,可登入平台解除",
    PER_SECOND: "同一手机号码同一秒钟之内发送频率不能超过 1 条",
    DAILY_LIMIT: "超出同一手机号一天之内【{n}】条短信限制",
    CODE_LIMIT: "同一手机号验证码短信发送超出【{n}】条",
}

GETNUM_OK_MSG = "查询成功"
ADDTEMPLATE_OK_MSG = "添加成功"
ADDTEMPLATE_MSG_OVERRIDES: dict[int, str] = {NO_CONTENT: "模板内容不能为空", SENSITIVE: "模板内容含有敏感字符"}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A check's verdict: the ihuyi code and the exact text to answer with."""

    code: int
    msg: str

    @classmethod
    def of(cls, code: int, n: int | None = None, msg: str | None = None) -> Rejected:
        """Build a rejection with the contract text, filling the configured number where the text has one."""
        if msg is None:
            msg = SUBMIT_MSG[code]
            if n is not None:
                msg = msg.format(n=n)
        return cls(code, msg)
