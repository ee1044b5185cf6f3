"""Notices as WeChat Pay posts them, made by a test: a transaction or refund encrypted with our APIv3 key, signed
by whoever holds a key (`Signer`); and `held_platform`, a stand-in gateway of its own signing with a platform
key the test holds, for the notices WeChat Pay signs that we must still refuse (our app pins its public key,
WeChat Pay's 微信支付公钥 mode: `pinned(settings, held)`)."""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Settings
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import MERCHANT_PUBLIC_KEY_FILE, rfc3339_beijing
from tests.conftest import WeChatPayGateway
from tests.health_code.interop.partner_process import end_now, launch

DEFAULTS = Settings()
API_V3_KEY = DEFAULTS.payments.api_v3_key.encode()


@dataclass(frozen=True)
class Signer:
    """Whoever signs a notice: WeChat Pay's platform key under its serial, or a forger's."""

    key: rsa.RSAPrivateKey
    serial: str

    def headers(self, body: bytes, *, at: float | None = None, nonce: str | None = None) -> dict[str, str]:
        signed = v3.signed_headers(body, serial=self.serial, private_key=self.key,
                                   timestamp=int(time.time() if at is None else at), nonce=nonce or v3.new_nonce())
        return {**signed, "Content-Type": "application/json"}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def now() -> datetime:
    return datetime.now(timezone.utc)


def notice_json(resource: Any, event_type: str = "TRANSACTION.SUCCESS", notice_id: str | None = None) -> bytes:
    notice = {"id": notice_id or f"EV-{secrets.token_hex(10)}", "create_time": rfc3339_beijing(now()),
              "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功", "resource": resource}
    return json.dumps(notice, ensure_ascii=False, separators=(",", ":")).encode()


def notice_of(plain: dict | bytes, event_type: str = "TRANSACTION.SUCCESS", api_v3_key: bytes = API_V3_KEY,
              notice_id: str | None = None) -> bytes:
    """A notice as WeChat Pay posts it: `plain` (a transaction or a refund) encrypted with the APIv3 key."""
    original = "refund" if event_type.startswith("REFUND.") else "transaction"
    data = plain if isinstance(plain, bytes) else json.dumps(plain, ensure_ascii=False).encode()
    return notice_json(v3.encrypt_resource(api_v3_key, data, associated_data=original, original_type=original),
                       event_type, notice_id)


def transaction(out_trade_no: str, total: int = 20_000, **changes: Any) -> dict[str, Any]:
    """A paid APP transaction as a TRANSACTION.SUCCESS notice carries it."""
    paid = {"appid": DEFAULTS.payments.app_appid, "mchid": DEFAULTS.payments.merchant_id, "out_trade_no": out_trade_no,
            "transaction_id": f"4200{secrets.randbelow(10**24):024d}", "trade_type": "APP", "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "", "success_time": rfc3339_beijing(now()),
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}}
    return {**paid, **changes}


def refund(paid: dict[str, Any], out_refund_no: str, amount: int, **changes: Any) -> dict[str, Any]:
    """A finished refund of the transaction `paid` as a REFUND.SUCCESS notice carries it."""
    total = paid["amount"]["total"]
    done = {"mchid": paid["mchid"], "out_trade_no": paid["out_trade_no"], "transaction_id": paid["transaction_id"],
            "out_refund_no": out_refund_no, "refund_id": f"5030{secrets.randbelow(10**25):025d}",
            "refund_status": "SUCCESS", "success_time": rfc3339_beijing(now()), "user_received_account": "支付用户零钱",
            "amount": {"total": total, "refund": amount, "payer_total": total, "payer_refund": amount}}
    return {**done, **changes}


@dataclass(frozen=True)
class HeldPlatform:
    url: str
    signer: Signer
    public_key_file: Path


@pytest.fixture(scope="module")
def held_platform(wechatpay_gateway: WeChatPayGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldPlatform]:
    """A stand-in gateway of the module's own, signing with a platform key made here (the merchant, APIv3 key
    and appids those of the run's gateway)."""
    folder = tmp_path_factory.mktemp("held-platform")
    key = new_key()
    (folder / "platform_key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public = folder / "platform_public_key.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    merchant_public = wechatpay_gateway.merchant_key_file.with_name(MERCHANT_PUBLIC_KEY_FILE)
    command = [sys.executable, "-m", "standins.wechatpay", "--port", "0", "--mchid", DEFAULTS.payments.merchant_id,
               "--appid", DEFAULTS.miniprogram.appid, "--appid", DEFAULTS.payments.app_appid,
               "--api-v3-key", DEFAULTS.payments.api_v3_key, "--merchant-public-key", str(merchant_public),
               "--merchant-serial", wechatpay_gateway.merchant_serial, "--retry-intervals", "0.5,1,2",
               "--platform-key", str(folder / "platform_key.pem")]
    url, process = launch(command, folder / "standin.log", "/_standin/health", what="stand-in WeChat Pay (held key)")
    serial = httpx.get(f"{url}/_standin/health").json()["platform_serial"]
    yield HeldPlatform(url, Signer(key, serial), public)
    end_now(process)


def pinned(settings: Settings, held: HeldPlatform) -> Settings:
    """`settings` paying through the held-key gateway, believing only its platform key (pinned by setting)."""
    return settings.with_(payment_provider_url=held.url, payment_platform_public_key_file=str(held.public_key_file),
                          payment_platform_public_key_id=held.signer.serial)
