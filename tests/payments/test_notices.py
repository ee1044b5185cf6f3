"""Our callback believes only WeChat Pay: a notice must carry the platform's signature (Wechatpay-Serial,
-Signature, -Timestamp, -Nonce over the very bytes posted), fresh, used once, with a resource that decrypts
with our APIv3 key and agrees with our order. Anything else changes nothing and is logged: 401 when WeChat Pay
did not sign it, 400 when it did but we cannot read it, 422 (and a reconciliation case) when it is about an
order we do not have or another amount. A genuine duplicate is answered 200 and changes nothing either.

The stand-in gateway of the run signs with a platform key tests do not have, as WeChat Pay's own: with it a
test can only capture and replay genuine deliveries, or forge. The notices WeChat Pay signs but we must still
refuse are made with a second stand-in started with a platform key this module holds, our app pinning its
public key (APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE/_ID, WeChat Pay's 微信支付公钥 mode)."""

from __future__ import annotations

import json
import time
from typing import Callable, Iterator

import pytest

from app.audit import AuditEntry
from app.config import Settings
from app.errors import Unavailable
from app.integrations.payment_providers import NoticeRejected
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import WeChatPay, WeChatPayAccount
from app.payments.models import DiscrepancyCase, PaidReference, Payment, ProviderNotice, Receipt, Refund
from standins.wechatpay.control import WeChatPayStandIn
from tests.payments.conftest import NOTIFY_PATH, first_fine, start_payment, wait_for
from tests.payments import wechatpay_notices
from tests.payments.wechatpay_notices import (API_V3_KEY, DEFAULTS, HeldPlatform, Signer, new_key, notice_json, notice_of,
                                              pinned, refund, transaction)

held_platform = wechatpay_notices.held_platform  # the fixture: a gateway signing with a platform key we hold

async def a_submitted_payment(client, payer) -> dict:
    return (await start_payment(client, payer, await first_fine(client, payer))).json()


async def post_notice(client, body: bytes, headers: dict[str, str]):
    return await client.post(NOTIFY_PATH, content=body, headers=headers)


async def rejected_reasons() -> list[str]:
    return sorted(await ProviderNotice.filter(outcome="rejected").values_list("reason", flat=True))


def refused_as_unsigned(reply) -> bool:
    return (reply.status_code == 401 and reply.json()["error"]["code"] == "PAYMENT_NOTICE_SIGNATURE_INVALID"
            and reply.headers["WWW-Authenticate"].startswith("WECHATPAY2-SHA256-RSA2048"))


# -- the adapter alone: what it believes, and what it answers otherwise -------------------------------------------

PLATFORM = Signer(new_key(), "PUB_KEY_ID_0114232134912410000000000000")  # a pinned WeChat Pay public key's id
FORGER = Signer(new_key(), PLATFORM.serial)
PAYMENT_ID = "PAY0123456789ABCDEF01234567"

NOTICES: dict[str, tuple[Callable[[], tuple[dict[str, str], bytes]], int, str]] = {
    "no signature headers": (lambda: ({}, notice_of(transaction(PAYMENT_ID))), 401, "signature:missing_header"),
    "signed by another key": (lambda: (FORGER.headers(body := notice_of(transaction(PAYMENT_ID))), body), 401,
                              "signature:bad_signature"),
    "an unknown serial": (lambda: (Signer(PLATFORM.key, "PUB_KEY_ID_OTHER").headers(
        body := notice_of(transaction(PAYMENT_ID))), body), 401, "signature:unknown_serial"),
    "signed 6 minutes ago": (lambda: (PLATFORM.headers(body := notice_of(transaction(PAYMENT_ID)), at=time.time() - 360),
                                      body), 401, "signature:stale"),
    "WeChat Pay's signature probe": (lambda: ({**PLATFORM.headers(body := notice_of(transaction(PAYMENT_ID))),
                                               v3.HEADER_SIGNATURE: "WECHATPAY/SIGNTEST/" + "A" * 40}, body), 401,
                                     "signature:probe"),
    "a body that is not JSON": (lambda: (PLATFORM.headers(b"<xml>SUCCESS</xml>"), b"<xml>SUCCESS</xml>"), 400,
                                "malformed"),
    "encrypted with another APIv3 key": (lambda: (PLATFORM.headers(body := notice_of(
        transaction(PAYMENT_ID), api_v3_key=b"k" * 32)), body), 400, "decrypt:bad_tag"),
    "a resource that is not base64": (lambda: (PLATFORM.headers(body := notice_json(
        {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "%%%", "nonce": "abcdefabcdef", "associated_data": ""})),
        body), 400, "decrypt:malformed"),
    "another algorithm": (lambda: (PLATFORM.headers(body := notice_json(
        {**json.loads(notice_of(transaction(PAYMENT_ID)))["resource"], "algorithm": "AEAD_SM4_GCM"})), body), 400,
        "decrypt:unsupported_algorithm"),
    "a plaintext that is not JSON": (lambda: (PLATFORM.headers(body := notice_of(b"SUCCESS")), body), 400,
                                     "decrypt:not_json"),
    "another merchant's transaction": (lambda: (PLATFORM.headers(body := notice_of(
        transaction(PAYMENT_ID, mchid="1230000109"))), body), 400, "other_merchant"),
    "an event we do not know": (lambda: (PLATFORM.headers(body := notice_of(
        transaction(PAYMENT_ID), event_type="MCHTRANSFER.BILL.FINISHED")), body), 400, "event_type"),
    "a transaction without its amount": (lambda: (PLATFORM.headers(body := notice_of(
        {k: v for k, v in transaction(PAYMENT_ID).items() if k != "amount"})), body), 400, "transaction_unreadable"),
}


@pytest.fixture
async def pinned_adapter() -> Iterator[WeChatPay]:
    account = WeChatPayAccount(DEFAULTS.payments.merchant_id, new_key(), "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                               API_V3_KEY, {"jsapi": DEFAULTS.miniprogram.appid, "app": DEFAULTS.payments.app_appid})
    adapter = WeChatPay("https://api.mch.weixin.qq.com", account, platform_keys={PLATFORM.serial: PLATFORM.key.public_key()})
    yield adapter
    await adapter.aclose()


async def test_the_adapter_reads_a_notice_the_platform_signed_for_our_merchant(pinned_adapter):
    body = notice_of(transaction(PAYMENT_ID))
    notice = await pinned_adapter.read_notice(PLATFORM.headers(body, nonce="N0NCE0000000000000000000000000001"), body)
    assert notice.event_type == "TRANSACTION.SUCCESS" and notice.notice_id == json.loads(body)["id"]
    assert (notice.order.merchant_order_id, notice.order.amount_fen, notice.order.currency, notice.order.status) == \
        (PAYMENT_ID, 20_000, "CNY", "paid")
    assert notice.replay_key.startswith(PLATFORM.serial) and notice.replay_key.endswith("N0NCE0000000000000000000000000001")


@pytest.mark.parametrize("what", NOTICES)
async def test_the_adapter_refuses_what_the_platform_did_not_sign_401_and_what_it_cannot_read_400(pinned_adapter, what):
    build, status, reason = NOTICES[what]
    headers, body = build()
    with pytest.raises(NoticeRejected) as refused:
        await pinned_adapter.read_notice(headers, body)
    assert (refused.value.status, refused.value.code) == (status, reason)


# -- the run's stand-in gateway, whose platform key we do not have ------------------------------------------------

def platform_serial(wechatpay: WeChatPayStandIn) -> str:
    return v3.certificate_serial(v3.load_certificate(wechatpay.platform_certificate_pem()))


async def test_a_genuine_notice_settles_once_and_a_captured_copy_is_neither_replayed_nor_altered(
        app, client, payer, wechatpay, monkeypatch):
    service, delivered = app.ctx.services.payments, []
    real = service.authenticate_notice

    async def capturing(headers, body: bytes):  # what an eavesdropper on our callback would see
        delivered.append(({k: v for k, v in headers.items() if k.lower().startswith("wechatpay-")}, body))
        return await real(headers, body)

    monkeypatch.setattr(service, "authenticate_notice", capturing)
    payment = await a_submitted_payment(client, payer)
    wechatpay.pay(payment["id"])

    async def answered():
        return any(n["delivered"] for n in wechatpay.notices(payment["id"]))

    await wait_for(answered)
    assert (await Payment.get(id=payment["id"])).state == "success"
    (headers, body), = delivered
    replayed = await post_notice(client, body, headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "PAYMENT_NOTICE_REPLAYED"

    altered = body.replace(b'"summary":"', b'"summary":"x', 1)
    assert altered != body
    tampered = await post_notice(client, altered, {**headers, v3.HEADER_NONCE: v3.new_nonce()})
    assert refused_as_unsigned(tampered)

    assert await rejected_reasons() == ["replayed", "signature:bad_signature"]
    assert await ProviderNotice.filter(payment_id=payment["id"]).values_list("outcome", flat=True) == ["applied"]
    assert await PaidReference.all().count() == 1 and await Receipt.all().count() == 1


async def test_notices_wechat_pay_did_not_sign_are_refused_logged_and_change_nothing(client, payer, wechatpay):
    """The forger knows the paid transaction and even our APIv3 key; only WeChat Pay's platform key is missing."""
    payment = await a_submitted_payment(client, payer)
    paid = wechatpay.pay(payment["id"], notice="never")  # the payer paid; the notice is ours to forge
    body = notice_of(paid)
    forger = Signer(new_key(), platform_serial(wechatpay))
    attempts = {
        "signature:missing_header": {"Content-Type": "application/json"},
        "signature:bad_signature": forger.headers(body),
        "signature:unknown_serial": Signer(forger.key, "7D3E2B0C5A8F416E9B1D4C7A2E5F8B3D6A9C1E4F").headers(body),
        "signature:stale": forger.headers(body, at=time.time() - 600),
        "signature:probe": {**forger.headers(body), v3.HEADER_SIGNATURE: "WECHATPAY/SIGNTEST/" + "B" * 40},
    }
    for reason, headers in attempts.items():
        reply = await post_notice(client, body, headers)
        assert refused_as_unsigned(reply), (reason, reply.text)

    assert await rejected_reasons() == sorted(attempts)
    assert (await Payment.get(id=payment["id"])).state == "submitted"
    assert await PaidReference.all().count() == 0 and await DiscrepancyCase.all().count() == 0
    assert not await AuditEntry.filter(action="payment_notice_rejected").exists()
    # The refusals spoil nothing: back from WeChat, the citizen's app asks, and the payment is settled.
    back = await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)
    assert back.json()["state"] == "success"


async def test_wechat_pay_sends_a_notice_again_until_we_take_it(app, client, payer, wechatpay, monkeypatch):
    """A notice we could not take (our database was busy) is sent again, as WeChat Pay does, signed afresh, and
    applied once."""
    service, real, calls = app.ctx.services.payments, app.ctx.services.payments.handle_notice, []

    async def busy_once(notice, body: bytes):
        calls.append(body)
        if len(calls) == 1:
            raise Unavailable()
        return await real(notice, body)

    monkeypatch.setattr(service, "handle_notice", busy_once)
    payment = await a_submitted_payment(client, payer)
    wechatpay.pay(payment["id"])

    async def delivered():
        return next((n for n in wechatpay.notices(payment["id"]) if n["delivered"]), None)

    notice = await wait_for(delivered)
    assert [a["status"] for a in notice["attempts"]] == [503, 200]
    assert json.loads(notice["attempts"][-1]["answer"]) == {"code": "SUCCESS", "outcome": "applied"}
    assert calls[0] == calls[1]  # the same notice, not a new one
    assert (await Payment.get(id=payment["id"])).state == "success"
    assert await PaidReference.all().count() == 1


# -- a WeChat Pay whose platform key this module holds ---------------------------------------------------------------

class TestNoticesWeChatPaySignedButWeRefuse:
    """Our app pays through the held-key gateway and believes only its pinned public key."""

    @pytest.fixture
    def settings(self, settings: Settings, held_platform: HeldPlatform) -> Settings:
        return pinned(settings, held_platform)

    @pytest.fixture
    def gateway(self, held_platform: HeldPlatform) -> Iterator[WeChatPayStandIn]:
        with WeChatPayStandIn(held_platform.url) as control:
            control.reset()
            yield control

    async def test_the_pinned_key_pays_end_to_end(self, client, payer, gateway):
        payment = await a_submitted_payment(client, payer)
        assert gateway.order(payment["id"])["trade_state"] == "NOTPAY"  # its reply verified with the pinned key
        gateway.pay(payment["id"])

        async def settled():
            return (await Payment.get(id=payment["id"])).state == "success"

        await wait_for(settled)

    async def test_a_signed_notice_we_cannot_decrypt_or_read_is_400_and_changes_nothing(
            self, client, payer, gateway, held_platform):
        payment = await a_submitted_payment(client, payer)
        paid = gateway.pay(payment["id"], notice="never")
        platform = held_platform.signer
        unreadable = {
            "decrypt:bad_tag": notice_of(paid, api_v3_key=b"not-our-apiv3-key-not-our-apiv3k"),
            "decrypt:malformed": notice_json({**json.loads(notice_of(paid))["resource"], "ciphertext": "not base64!"}),
            "decrypt:not_json": notice_of(b"trade_state=SUCCESS"),
            "malformed": b'{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS"}',
            "other_merchant": notice_of({**paid, "mchid": "1230000109"}),
            "amount_not_fen": notice_of({**paid, "amount": {"total": "200.00", "currency": "CNY"}}),
        }
        for reason, body in unreadable.items():
            reply = await post_notice(client, body, platform.headers(body))
            assert reply.status_code == 400, (reason, reply.text)
            assert reply.json()["error"]["code"] == "PAYMENT_NOTICE_UNREADABLE"

        assert await rejected_reasons() == sorted(unreadable)
        assert (await Payment.get(id=payment["id"])).state == "submitted"
        assert await PaidReference.all().count() == 0 and await DiscrepancyCase.all().count() == 0
        # The notice as WeChat Pay really sends it is read and applied.
        body = notice_of(paid)
        genuine = await post_notice(client, body, platform.headers(body))
        assert genuine.status_code == 200 and genuine.json() == {"code": "SUCCESS", "outcome": "applied"}
        assert (await Payment.get(id=payment["id"])).provider_order_id == paid["transaction_id"]

    async def test_a_stale_or_probing_signature_is_refused_even_by_the_platform_key(
            self, client, payer, gateway, held_platform):
        payment = await a_submitted_payment(client, payer)
        body = notice_of(gateway.pay(payment["id"], notice="never"))
        platform = held_platform.signer
        # 330 s either side of now, past the 300 s allowed with room for a slow machine between signing and posting.
        for headers in (platform.headers(body, at=time.time() - 330), platform.headers(body, at=time.time() + 330),
                        {**platform.headers(body), v3.HEADER_SIGNATURE: "WECHATPAY/SIGNTEST/" + "C" * 40}):
            assert refused_as_unsigned(await post_notice(client, body, headers))
        assert await rejected_reasons() == ["signature:probe", "signature:stale", "signature:stale"]
        assert (await Payment.get(id=payment["id"])).state == "submitted"
        assert (await post_notice(client, body, platform.headers(body, at=time.time() - 240))).status_code == 200

    async def test_a_signed_notice_that_does_not_match_our_order_is_422_and_opens_a_case(
            self, client, payer, gateway, held_platform):
        payment = await a_submitted_payment(client, payer)
        paid = gateway.pay(payment["id"], notice="never")
        platform = held_platform.signer
        unknown = "PAYNOSUCHORDER0000000000000"
        mismatched = {
            "amount": {**paid, "amount": {**paid["amount"], "total": 1, "payer_total": 1}},
            "currency": {**paid, "amount": {**paid["amount"], "currency": "USD"}},
            "unknown_order": {**paid, "out_trade_no": unknown},
        }
        for what, plain in [*mismatched.items(), ("amount", mismatched["amount"])]:  # WeChat Pay tries again
            body = notice_of(plain)
            reply = await post_notice(client, body, platform.headers(body))
            assert reply.status_code == 422 and reply.json()["error"]["code"] == "PAYMENT_NOTICE_MISMATCH", reply.text
            assert what in reply.json()["error"]["message"]

        assert (await Payment.get(id=payment["id"])).state == "submitted"
        assert await PaidReference.all().count() == 0 and await Receipt.all().count() == 0
        assert await rejected_reasons() == ["amount", "amount", "currency", "unknown_order"]
        cases = {(c.kind, c.reference, c.status) for c in await DiscrepancyCase.all()}
        assert cases == {("notice_amount", payment["id"], "open"), ("notice_currency", payment["id"], "open"),
                         ("notice_unknown_order", unknown, "open")}  # one case each, however often it comes
        about = await AuditEntry.filter(action="payment_notice_rejected").values_list("subject_id", "attributes")
        assert sorted((subject or "-", attributes["payment_id"], attributes["reason"]) for subject, attributes in about) == \
            sorted([(payer.id, payment["id"], "amount"), (payer.id, payment["id"], "amount"),
                    (payer.id, payment["id"], "currency"), ("-", unknown, "unknown_order")])

        # Once paid, a notice naming another WeChat Pay transaction for it is not believed either.
        body = notice_of(paid)
        assert (await post_notice(client, body, platform.headers(body))).json()["outcome"] == "applied"
        body = notice_of({**paid, "transaction_id": "4200000000000000000000000001"})
        other = await post_notice(client, body, platform.headers(body))
        assert other.status_code == 422 and "provider_order_id" in other.json()["error"]["message"]
        assert await DiscrepancyCase.filter(kind="notice_provider_order_id", reference=payment["id"]).exists()
        assert (await Payment.get(id=payment["id"])).provider_order_id == paid["transaction_id"]

    async def test_a_failure_notice_after_success_is_an_illegal_move_and_ignored(
            self, client, payer, gateway, held_platform):
        payment = await a_submitted_payment(client, payer)
        paid = gateway.pay(payment["id"], notice="never")
        platform = held_platform.signer
        for plain, outcome in ((paid, "applied"), ({**paid, "trade_state": "PAYERROR"}, "duplicate")):
            body = notice_of(plain)
            reply = await post_notice(client, body, platform.headers(body))
            assert reply.status_code == 200 and reply.json()["outcome"] == outcome
        assert (await Payment.get(id=payment["id"])).state == "success"

    async def test_a_refund_notice_for_another_amount_or_an_unknown_refund_changes_nothing(
            self, client, payer, gateway, held_platform, payments_admin):
        payment = await a_submitted_payment(client, payer)
        paid = gateway.pay(payment["id"], notice="never")
        platform = held_platform.signer
        body = notice_of(paid)
        assert (await post_notice(client, body, platform.headers(body))).json()["outcome"] == "applied"
        gateway.behave("down")  # the refund application does not get through: the refund waits, pending
        made = (await client.post(f"/api/admin/v1/payments/{payment['id']}/refunds", headers=payments_admin.headers(),
                                  json={"amount_fen": 5_000, "reason": "处罚决定撤销（示例）"})).json()
        assert made["state"] == "pending"

        for plain, reason in ((refund(paid, made["id"], 20_000), "amount"),
                              (refund(paid, "RFNOSUCHREFUND", 5_000), "unknown_refund")):
            body = notice_of(plain, event_type="REFUND.SUCCESS")
            reply = await post_notice(client, body, platform.headers(body))
            assert reply.status_code == 422 and reply.json()["error"]["code"] == "PAYMENT_NOTICE_MISMATCH", reply.text
            assert await ProviderNotice.filter(outcome="rejected", reason=reason).exists()
        assert sorted(c.kind for c in await DiscrepancyCase.all()) == ["notice_amount", "notice_unknown_refund"]
        assert (await Refund.get(id=made["id"])).state == "pending"
        assert (await Payment.get(id=payment["id"])).state == "success"
        assert (await Payment.get(id=payment["id"])).refunded_fen == 5_000  # reserved, not refunded twice over
