"""What a Submit answer code means to a person, and what to do about it (the console's debug tool)."""

from __future__ import annotations

from dataclasses import dataclass

from hongyan.domain import codes


@dataclass(frozen=True, slots=True)
class Advice:
    code: int
    meaning: str
    advice: str
    ok: bool


_ADVICE: dict[int, tuple[str, str]] = {
    codes.OK: ("提交成功，短信已进入发送队列", "在「发送记录」中查看运营商回执；回执也会推送到您配置的回执地址"),
    codes.FAILED: (
        "提交失败（如营销短信规则、未知方法）",
        "查看 msg 中的具体原因；营销短信须以「拒收请回复R」结尾且在 8–21 点发送",
    ),
    codes.ILLEGAL_IP: ("请求来源 IP 不在白名单内", "在「API 接口」页把服务器出口 IP 加入白名单，或清空白名单"),
    codes.NO_ACCOUNT: ("account 参数为空", "account 填写 APIID（C 开头）"),
    codes.NO_PASSWORD: ("password 参数为空", "password 填写 APIKEY 或动态密码"),
    codes.NO_MOBILE: ("mobile 参数为空", "填写接收短信的手机号"),
    codes.BLACKLISTED: (
        "号码在黑名单中（退订、频率超限或平台黑名单）",
        "该号码暂不能接收；频率超限拉黑的可联系客服解除",
    ),
    codes.NO_CONTENT: ("content 参数为空", "填写短信内容"),
    codes.BAD_CREDENTIALS: ("APIID 或 APIKEY 不正确", "到「API 接口」页核对 APIID / APIKEY，注意不要带空格"),
    codes.FROZEN: ("账号已被冻结", "联系客服了解原因"),
    codes.DYNAMIC_EXPIRED: ("动态密码的 time 与服务器时间相差过大", "time 用当前 10 位 Unix 时间戳，并校准服务器时钟"),
    codes.DYNAMIC_MISMATCH: (
        "动态密码校验失败",
        "password = md5(APIID + APIKEY + mobile + content + time)，全部按 UTF-8 计算",
    ),
    codes.INSUFFICIENT_BALANCE: ("剩余条数不足", "到「购买套餐」充值"),
    codes.IP_NOT_REGISTERED: ("访问 IP 与备案 IP 不符", "联系客服更新备案 IP"),
    codes.BAD_MOBILE: ("手机号格式不正确", "填写 11 位中国大陆手机号；国际号码请用国际短信接口"),
    codes.SENSITIVE: ("内容含有敏感词", "修改短信内容后重试"),
    codes.BAD_SIGNATURE: ("签名格式不正确", "签名放在【】内，2–30 个字符"),
    codes.NO_TEMPLATE: ("没有审核通过的模板", "到「签名与模板」申请模板，审核通过后使用；测试期间用系统默认模板"),
    codes.TEMPLATE_MISMATCH: (
        "内容与审核通过的模板不匹配",
        "测试期间只能发送默认模板：您的验证码是：1234。请不要把验证码泄露给其他人。",
    ),
    codes.VARIABLE_TOO_LONG: ("模板变量内容过长", "缩短变量内容，或申请变量更长的模板"),
    codes.CONTENT_TOO_LONG: ("内容超过 300 字（含签名）", "缩短内容"),
    codes.EMOJI: ("内容包含 emoji", "去掉表情符号"),
    codes.SIGNATURE_NOT_APPROVED: ("签名未通过审核", "到「签名与模板」申请签名并等待审核；测试期间使用默认签名"),
    codes.DAILY_CEILING_BLACKLISTED: ("同一号码当天发送次数超限，已被自动拉黑", "检查是否有脚本重复发送；联系客服解除"),
    codes.PER_SECOND: ("同一号码 1 秒内只能发送 1 条", "稍等再发"),
    codes.DAILY_LIMIT: ("同一号码当天发送条数超限", "明天再发，或联系客服调整限额"),
    codes.CODE_LIMIT: ("同一号码当天验证码条数超限", "明天再发，或提醒用户使用已收到的验证码"),
}


def advise(code: int) -> Advice:
    meaning, advice = _ADVICE.get(code, ("未知返回码", "请查阅接口文档或联系客服"))
    return Advice(code, meaning, advice, code == codes.OK)
