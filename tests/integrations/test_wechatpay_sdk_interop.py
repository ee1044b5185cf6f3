"""A WeChat Pay client written by others, `wechatpayv3`'s async client, pointed at our stand-in gateway: it
downloads and decrypts the platform certificate, places an APP order, queries and closes it, and verifies
every reply's signature itself. So the stand-in speaks the protocol as third parties read it, not only as
our adapter does. (The client's gateway is a private attribute fixed to api.mch.weixin.qq.com, set here for
the test; that and its unsigned-error handling are why the adapter does not use it.)"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from wechatpayv3.async_.type import WeChatPayType
from wechatpayv3.async_ import AsyncWeChatPay

from app.clock import CHINA_TZ
from app.config import Settings
from standins.wechatpay.control import WeChatPayStandIn
from tests.conftest import WeChatPayGateway


def sdk_client(gateway: WeChatPayGateway, serial: str | None = None) -> AsyncWeChatPay:
    defaults = Settings()
    client = AsyncWeChatPay(WeChatPayType.APP, defaults.payments.merchant_id, gateway.merchant_key_file.read_text(),
                            serial or gateway.merchant_serial, defaults.payments.app_appid, defaults.payments.api_v3_key,
                            notify_url="http://127.0.0.1:9/notify", timeout=(5, 10))
    client._core._gate_way = gateway.url  # the client has no setting for its gateway
    return client


async def test_the_wechatpayv3_client_pays_through_the_stand_in(wechatpay_gateway, wechatpay: WeChatPayStandIn):
    expire = (datetime.now(timezone.utc) + timedelta(minutes=15)).astimezone(CHINA_TZ)
    async with sdk_client(wechatpay_gateway) as client:
        assert client._core._certificates, "the platform certificate was downloaded and decrypted"
        code, text = await client.pay(description="交通违法罚款（示例）", out_trade_no="SDKINTEROP0000000001",
                                      amount={"total": 20_000, "currency": "CNY"},
                                      time_expire=expire.isoformat(timespec="seconds"), pay_type=WeChatPayType.APP)
        assert code == 200 and json.loads(text)["prepay_id"].startswith("wx")
        code, text = await client.query(out_trade_no="SDKINTEROP0000000001")
        assert code == 200 and json.loads(text)["trade_state"] == "NOTPAY"
        code, _ = await client.close(out_trade_no="SDKINTEROP0000000001")
        assert code == 204
        code, text = await client.query(out_trade_no="SDKINTEROP0000000001")
        assert json.loads(text)["trade_state"] == "CLOSED"
    assert wechatpay.order("SDKINTEROP0000000001")["trade_type"] == "APP"


async def test_the_stand_in_refuses_a_client_naming_another_merchant_certificate(wechatpay_gateway, wechatpay):
    client = sdk_client(wechatpay_gateway, serial="0123456789ABCDEF0123456789ABCDEF01234567")
    with pytest.raises(Exception, match="No wechatpay platform certificate"):
        async with client:  # its certificate download is refused (401 SIGN_ERROR), so it cannot start
            pass
    await client._core._client.aclose()
