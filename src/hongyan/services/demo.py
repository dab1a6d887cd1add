"""The demo account of ``make run``: live, approved signature, 10,000 segments; reused across runs."""

from __future__ import annotations

from hongyan.services import accounts as svc
from hongyan.services.platform import Platform
from hongyan.store import accounts as store

DEMO_NAME = "demo"
DEMO_SIGNATURE = "鸿雁"
DEMO_BALANCE = 10_000


async def ensure_demo(platform: Platform) -> svc.Credentials:
    async with platform.engines.read.connect() as conn:
        row = await store.find_by_name(conn, DEMO_NAME)
    if row is not None:
        return svc.Credentials(row.api_id, platform.keybox.decrypt(row.apikey_enc))
    creds = await svc.create_account(platform, DEMO_NAME, balance=DEMO_BALANCE, live=True)
    await svc.add_signature(platform, creds.account, DEMO_SIGNATURE, approve=True)
    return creds


def curl_line(base_url: str, creds: svc.Credentials) -> str:
    return (
        f"curl -s '{base_url}/webservice/sms.php?method=Submit' "
        f"--data-urlencode account={creds.account} --data-urlencode password={creds.apikey} "
        "--data-urlencode mobile=13800138000 "
        f"--data-urlencode 'content=【{DEMO_SIGNATURE}】您的验证码是：1234。请不要把验证码泄露给其他人。'"
    )
