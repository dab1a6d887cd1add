"""REST v2: bearer/basic auth, the shared pipeline, status codes, OpenAPI."""

from __future__ import annotations

import base64

from tests.conftest import MOBILE, SIGNATURE


def _bearer(c) -> dict[str, str]:
    return {"authorization": f"Bearer {c.account}:{c.apikey}"}


async def test_send_and_balance(client, live) -> None:
    r = await client.post(
        "/v2/messages", json={"mobile": MOBILE, "content": f"【{SIGNATURE}】您的订单已发货"}, headers=_bearer(live)
    )
    assert r.status_code == 201
    body = r.json()
    assert body["code"] == 2 and body["msg"] == "提交成功" and len(body["smsid"]) == 20 and body["segments"] == 1
    r = await client.get("/v2/balance", headers=_bearer(live))
    assert r.json() == {"code": 2, "msg": "查询成功", "num": 999}


async def test_basic_auth_and_sign_param(client, live) -> None:
    token = base64.b64encode(f"{live.account}:{live.apikey}".encode()).decode()
    r = await client.post(
        "/v2/messages",
        json={"mobile": MOBILE, "content": "您的订单已发货", "sign": SIGNATURE},
        headers={"authorization": f"Basic {token}"},
    )
    assert r.status_code == 201 and r.json()["code"] == 2


async def test_auth_failures(client, live) -> None:
    msg = {"mobile": MOBILE, "content": f"【{SIGNATURE}】hi"}
    r = await client.post("/v2/messages", json=msg)
    assert r.status_code == 401 and r.json()["code"] == 401
    r = await client.post("/v2/messages", json=msg, headers={"authorization": f"Bearer {live.account}:wrong"})
    assert r.status_code == 401 and r.json() == {
        "code": 405,
        "msg": "API ID 或 API KEY 不正确",
        "smsid": "0",
        "segments": 0,
    }
    r = await client.post("/v2/messages", json=msg, headers={"authorization": "Basic !!!"})
    assert r.status_code == 401


async def test_pipeline_codes_map_to_statuses(client, live, platform) -> None:
    r = await client.post(
        "/v2/messages", json={"mobile": "123", "content": f"【{SIGNATURE}】hi"}, headers=_bearer(live)
    )
    assert r.status_code == 422 and r.json()["code"] == 406 and r.json()["msg"] == "手机格式不正确"
    r = await client.post("/v2/messages", json={"mobile": MOBILE, "content": "【别人】hi"}, headers=_bearer(live))
    assert r.status_code == 422 and r.json()["code"] == 4075
    from hongyan.services.accounts import create_account

    poor = await create_account(platform, "poor", balance=0, live=True)
    from hongyan.services.accounts import add_signature

    await add_signature(platform, poor.account, SIGNATURE, approve=True)
    r = await client.post(
        "/v2/messages", json={"mobile": MOBILE, "content": f"【{SIGNATURE}】hi"}, headers=_bearer(poor)
    )
    assert r.status_code == 402 and r.json()["code"] == 4051


async def test_bad_json_is_422_not_500(client, live) -> None:
    r = await client.post(
        "/v2/messages", content=b"{not json", headers={**_bearer(live), "content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["code"] == 0
    r = await client.post("/v2/messages", json={"content": "x"}, headers=_bearer(live))
    assert r.status_code == 422


async def test_openapi_documents_v2(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v2/messages" in spec["paths"] and "/v2/balance" in spec["paths"]
    assert "/webservice/sms.php" not in spec["paths"]


async def test_health_ready_metrics(client, live) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"
    await client.post("/webservice/sms.php?method=Submit", data={"account": live.account, "password": "x"})
    text = (await client.get("/metrics")).text
    assert 'hongyan_submits_total{code="403"}' in text or 'hongyan_submits_total{code="405"}' in text
