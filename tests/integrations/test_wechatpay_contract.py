"""The payment provider contract (payment_provider_contract.py) run against the WeChat Pay API v3 adapter and the
stand-in gateway, its own process.

The stand-in is started here rather than taken from the session's `wechatpay_gateway`: it is given a platform
key this module holds, so the driver can sign what the gateway never sends (a stale notice, one whose resource
does not decrypt) with the gateway's own key. The adapter downloads the platform certificate, as in production
without a pinned WeChat Pay public key."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.integrations.payment_providers import PaymentProvider
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import WeChatPay, WeChatPayAccount
from standins.wechatpay.control import WeChatPayStandIn
from tests.health_code.interop.partner_process import end_now, launch
from tests.integrations.payment_provider_contract import Notice, PaymentProviderContract, RefundOutcome
from tests.integrations.notice_receiver import Receiver

MCHID = "1900000001"
APPID = "wx5a3e9c2b7d1f0a46"  # the mini-program's (JSAPI orders)
APP_APPID = "wx8c0f2e4a6b1d3597"  # the phone app's open-platform appid (APP orders)
API_V3_KEY = "contracttestsapiv3key00000000000"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PAYER_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
REFUND_OUTCOMES = {"succeeded": "success", "failed": "closed", "abnormal": "abnormal", "processing": "processing"}


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class StandIn:
    """The running stand-in: its URL, the merchant key it checks our requests against, the platform key it
    signs with and that key's certificate serial."""

    def __init__(self, url: str, merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey) -> None:
        self.url, self.merchant_key, self.platform_key = url, merchant_key, platform_key
        with WeChatPayStandIn(url) as control:
            self.platform_serial = v3.certificate_serial(v3.load_certificate(control.platform_certificate_pem()))


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    folder: Path = tmp_path_factory.mktemp("wechatpay-contract")
    merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "merchant_public.pem").write_bytes(_pem_public(merchant_key))
    (folder / "platform_key.pem").write_bytes(_pem_private(platform_key))
    command = [sys.executable, "-m", "standins.wechatpay", "--port", "0", "--mchid", MCHID, "--appid", APPID,
               "--appid", APP_APPID, "--api-v3-key", API_V3_KEY,
               "--merchant-public-key", str(folder / "merchant_public.pem"), "--merchant-serial", MERCHANT_SERIAL,
               "--platform-key", str(folder / "platform_key.pem"), "--retry-intervals", "0.3,0.3"]
    url, process = launch(command, folder / "standin.log", "/_standin/health", what="stand-in WeChat Pay")
    yield StandIn(url, merchant_key, platform_key)
    end_now(process)


class WeChatPayDriver:
    """The contract's GatewayDriver over the stand-in's controls and a notice receiver."""

    payer = PAYER_OPENID

    def __init__(self, standin: StandIn, control: WeChatPayStandIn, receiver: Receiver) -> None:
        self.standin, self.control, self.receiver = standin, control, receiver
        self.notify_url = receiver.url
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pay(self, merchant_order_id: str) -> None:
        self.control.pay(merchant_order_id, notice="now")

    def fail(self, merchant_order_id: str) -> None:
        self.control.pay(merchant_order_id, outcome="payerror")

    def next_notice(self, timeout: float = 10.0) -> Notice:
        return self.receiver.next(timeout)

    def go_down(self, count: int = 1) -> None:
        self.control.behave("down", count)

    def throttle(self, count: int = 1) -> None:
        self.control.behave("frequency_limited", count)

    def sign_badly(self, count: int = 1) -> None:
        self.control.behave("bad_signature", count)

    def insufficient_funds(self, count: int = 1) -> None:
        self.control.behave("not_enough", count)

    def refund_outcome(self, outcome: RefundOutcome) -> None:
        self.control.next_refunds(outcome=REFUND_OUTCOMES[outcome])

    def change_bill(self, alter: Mapping[str, int] | None = None, hide: Sequence[str] = ()) -> None:
        self.control.change_bill(alter=dict(alter or {}), hide=list(hide))

    def _signed(self, body: bytes, *, key: rsa.RSAPrivateKey | None = None, age: float = 0.0) -> Notice:
        headers = v3.signed_headers(body, serial=self.standin.platform_serial, private_key=key or self.standin.platform_key,
                                    timestamp=int(time.time() - age), nonce=v3.new_nonce())
        return {**headers, "Content-Type": "application/json"}, body

    def stale(self, notice: Notice, age: float = 600.0) -> Notice:
        return self._signed(notice[1], age=age)

    def signed_by_stranger(self, notice: Notice) -> Notice:
        return self._signed(notice[1], key=self.stranger)

    def unreadable(self, notice: Notice) -> Notice:
        """The notice with its resource encrypted under another APIv3 key, signed by the platform."""
        parsed = json.loads(notice[1])
        resource = parsed["resource"]
        other = v3.encrypt_resource(b"another-merchants-apiv3-key-0000", b'{"out_trade_no":"X"}',
                                    associated_data=resource.get("associated_data", ""), nonce=resource["nonce"])
        parsed["resource"] = {**resource, "ciphertext": other["ciphertext"]}
        return self._signed(json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode())


class TestWeChatPayV3(PaymentProviderContract):
    @pytest.fixture
    async def provider(self, standin: StandIn) -> AsyncIterator[PaymentProvider]:
        account = WeChatPayAccount(MCHID, standin.merchant_key, MERCHANT_SERIAL, API_V3_KEY.encode(),
                                   {"jsapi": APPID, "app": APP_APPID})
        adapter = WeChatPay(standin.url, account)
        yield adapter
        await adapter.aclose()

    @pytest.fixture
    def driver(self, standin: StandIn, receiver: Receiver) -> Iterator[WeChatPayDriver]:
        control = WeChatPayStandIn(standin.url)
        control.reset()
        receiver.drain()
        receiver.answers.clear()
        yield WeChatPayDriver(standin, control, receiver)
        control.reset()
        control.close()
