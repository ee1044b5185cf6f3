"""A citizen pays a traffic fine inside the mini-program (JSAPI 支付 through the stand-in WeChat Pay API v3
gateway): what is owed, an order for their own openid in this mini-program, the wx.requestPayment parameters
signed with our merchant key, and the paid payment with its receipt; a double tap makes one payment, and
nobody else can see it."""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.payments.models import PaidReference, Payment
from app.services.cards.backends import traffic_violations_sample
from miniprogram_mock.client import MiniProgramClient
from tests.conftest import WeChatPayGateway
from tests.factories import new_phone, valid_id_number
from tests.payments.conftest import live_server, wait_for  # noqa: F401 (live_server: the gateway's notices reach us)


@pytest.fixture
def settings(settings: Settings, wechatpay_gateway: WeChatPayGateway) -> Settings:
    return wechatpay_gateway.settings(settings)


async def in_mini_program(client: httpx.AsyncClient, platform_api: httpx.AsyncClient) -> MiniProgramClient:
    """A WeChat user opens the mini-program, signs in and binds a phone number (a new citizen, level 1)."""
    mp = MiniProgramClient(client, platform_api)
    await mp.login()
    await mp.bind_phone(new_phone())
    return mp


@pytest.fixture
async def mp_payer(client, platform_api, live_server) -> MiniProgramClient:  # noqa: F811
    """A mini-program user, real-named (实名) in the mini-program, with at least one open traffic fine."""
    for sequence in range(100, 140):
        mp = await in_mini_program(client, platform_api)
        if traffic_violations_sample((await mp.get("/me"))["id"])["count"]:
            await mp.verify_identity("陈美玲", valid_id_number(birth="19880512", sequence=str(sequence)))
            return mp
    raise AssertionError("no sample citizen with a fine in 40 tries")


async def pay_in_mini_program(client, mp: MiniProgramClient, payable: dict, key: str) -> httpx.Response:
    return await client.post("/api/mp/v1/payments", headers={**mp.headers, "Idempotency-Key": key},
                             json={"reference": payable["reference"], "amount_fen": payable["amount_fen"]})


def assert_a_jsapi_order_of_this_mini_program(wechatpay, settings: Settings, payment: dict) -> dict:
    """A JSAPI order of this mini-program at WeChat Pay, under our payment id."""
    order = wechatpay.order(payment["id"])
    assert order["trade_type"] == "JSAPI" and order["appid"] == settings.miniprogram.appid
    assert order["amount"] == {"total": 20_000, "currency": "CNY"} and order["trade_state"] == "NOTPAY"
    return order


def assert_signed_for_this_mini_program(pay: dict, order: dict, settings: Settings,
                                        wechatpay_gateway: WeChatPayGateway) -> None:
    """The mini-program passes request_payment to wx.requestPayment as is; WeChat checks our merchant signature."""
    assert set(pay) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert pay["appId"] == settings.miniprogram.appid and pay["signType"] == "RSA"
    assert pay["package"] == f"prepay_id={order['prepay_id']}"
    merchant = v3.load_private_key(wechatpay_gateway.merchant_key_file.read_bytes()).public_key()
    signed = v3.signing_message(pay["appId"], pay["timeStamp"], pay["nonceStr"], pay["package"])
    assert v3.rsa_verify(signed, pay["paySign"], merchant)
    assert not v3.rsa_verify(signed.replace(pay["appId"].encode(), settings.payments.app_appid.encode()),
                             pay["paySign"], merchant)  # it pays in this mini-program only


async def confirm_in_wechat_and_settle(wechatpay, mp_payer: MiniProgramClient, payment: dict) -> None:
    """The payer confirms in WeChat: the openid charged is theirs in this mini-program; the notice settles it."""
    paid = wechatpay.pay(payment["id"])
    assert paid["payer"] == {"openid": mp_payer.openid}

    async def settled():
        return (await Payment.get(id=payment["id"])).state == "success"

    await wait_for(settled)


async def assert_paid_once_with_its_receipt(client, mp_payer: MiniProgramClient, fine: dict, payment: dict) -> None:
    shown = await mp_payer.get(f"/payments/{payment['id']}")
    assert shown["state"] == "success" and shown["state_text"] == "已支付" and shown["request_payment"] is None
    assert shown["receipt_number"].startswith("GDPR")
    assert (await Payment.get(id=payment["id"])).channel == "jsapi"
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    fine_now = next(p for p in (await mp_payer.get("/payables"))["items"] if p["reference"] == fine["reference"])
    assert fine_now["paid"] is True
    after = await pay_in_mini_program(client, mp_payer, fine, "mp-tap-0001")  # the same tap, long after
    assert after.status_code == 200 and after.json()["state"] == "success"


async def assert_not_found_for_another_citizen(client, platform_api, payment: dict) -> None:
    """Another WeChat user, another citizen: not found, as if it did not exist."""
    other = await in_mini_program(client, platform_api)
    theirs = await client.get(f"/api/mp/v1/payments/{payment['id']}", headers=other.headers)
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "PAYMENT_NOT_FOUND"
    assert (await client.get("/api/mp/v1/payments/PAYNOSUCHPAYMENT000000000", headers=other.headers)).status_code == 404


async def test_a_citizen_pays_a_fine_in_the_mini_program(client, mp_payer, platform_api, wechatpay, wechatpay_gateway,
                                                        settings):
    payables = (await mp_payer.get("/payables"))["items"]
    fine = next(p for p in payables if p["kind"] == "traffic_fine")
    assert fine["amount_fen"] == 20_000 and fine["paid"] is False

    created = await pay_in_mini_program(client, mp_payer, fine, "mp-tap-0001")
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["state"] == "submitted" and payment["state_text"] == "支付中" and payment["amount_fen"] == 20_000
    assert payment["receipt_number"] is None
    order = assert_a_jsapi_order_of_this_mini_program(wechatpay, settings, payment)
    pay = payment["request_payment"]
    assert_signed_for_this_mini_program(pay, order, settings, wechatpay_gateway)

    # A double tap: the same payment, the same order.
    again = await pay_in_mini_program(client, mp_payer, fine, "mp-tap-0001")
    assert again.status_code == 200 and again.json()["id"] == payment["id"]
    assert again.json()["request_payment"]["package"] == pay["package"]
    assert await Payment.filter(reference=fine["reference"]).count() == 1

    await confirm_in_wechat_and_settle(wechatpay, mp_payer, payment)
    await assert_paid_once_with_its_receipt(client, mp_payer, fine, payment)
    await assert_not_found_for_another_citizen(client, platform_api, payment)


async def test_paying_in_the_mini_program_needs_real_name_verification(client, platform_api, live_server):  # noqa: F811
    mp = await in_mini_program(client, platform_api)
    owed = await client.get("/api/mp/v1/payables", headers=mp.headers)
    assert owed.status_code == 403 and owed.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    paying = await client.post("/api/mp/v1/payments", headers={**mp.headers, "Idempotency-Key": "mp-level-0001"},
                               json={"reference": "traffic_fine:TV0000000000", "amount_fen": 20_000})
    assert paying.status_code == 403 and paying.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert await Payment.all().count() == 0


async def test_the_mini_program_is_told_to_try_again_when_wechat_pay_is_down(client, mp_payer, wechatpay):
    fine = next(p for p in (await mp_payer.get("/payables"))["items"] if p["kind"] == "traffic_fine")
    wechatpay.behave("down")
    down = await pay_in_mini_program(client, mp_payer, fine, "mp-down-0001")
    assert down.status_code == 503 and down.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(down.headers["Retry-After"]) > 0
    retried = await pay_in_mini_program(client, mp_payer, fine, "mp-down-0001")
    assert retried.status_code == 200 and retried.json()["id"] == down.json()["error"]["payment_id"]
    assert retried.json()["request_payment"]["package"] == f"prepay_id={wechatpay.order(retried.json()['id'])['prepay_id']}"
