"""Our callback believes only the provider: forged, tampered, replayed, unknown or mismatched notices change
nothing and are logged; a genuine duplicate is answered and changes nothing either."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.payments.models import PaidReference, Payment, ProviderNotice
from app.audit import AuditEntry
from app.errors import Unavailable
from tests.payments.conftest import NOTIFY_PATH, first_fine, provider_order_id, start_payment, wait_for


def success_resource(payment: dict, **changes) -> dict:
    return {"merchant_order_id": payment["id"], "provider_order_id": provider_order_id(payment),
            "amount_fen": payment["amount_fen"], "currency": "CNY", "status": "SUCCESS", **changes}


async def a_submitted_payment(client, payer, provider) -> dict:
    await provider.post("/control", json={"drop": True})  # no genuine notice gets in the way
    fine = await first_fine(client, payer)
    return (await start_payment(client, payer, fine)).json()


async def test_a_forged_notice_is_refused_logged_and_changes_nothing(client, payer, provider):
    payment = await a_submitted_payment(client, payer, provider)
    kid = (await provider.get("/v1/keys")).json()["keys"][0]["kid"]
    body = json.dumps({"id": "EV-forged", "event_type": "TRANSACTION.SUCCESS",
                       "resource": success_resource(payment)}).encode()
    forger = ec.generate_private_key(ec.SECP256R1())  # not the provider's key, though it claims its kid
    token = jwt.encode({"iss": "sample-pay", "iat": int(time.time()), "jti": secrets.token_hex(8),
                        "body_sha256": hashlib.sha256(body).hexdigest()}, forger, algorithm="ES256", headers={"kid": kid})
    reply = await client.post(NOTIFY_PATH, content=body, headers={"Authorization": f"Bearer {token}",
                                                                   "Content-Type": "application/json"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "PAYMENT_NOTICE_SIGNATURE_INVALID"
    assert (await Payment.get(id=payment["id"])).state == "submitted"
    assert await PaidReference.all().count() == 0
    logged = await ProviderNotice.filter(outcome="rejected").values_list("reason", flat=True)
    assert logged == ["signature:signature"]

    hmac_forgery = jwt.encode({"iss": "sample-pay", "iat": int(time.time()), "jti": "x",
                               "body_sha256": hashlib.sha256(body).hexdigest()}, "a-guessed-merchant-secret-0123456789", algorithm="HS256")
    reply = await client.post(NOTIFY_PATH, content=body, headers={"Authorization": f"Bearer {hmac_forgery}"})
    assert reply.status_code == 401
    unsigned = await client.post(NOTIFY_PATH, content=body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "AUTH_REQUIRED"
    assert (await Payment.get(id=payment["id"])).state == "submitted"


async def test_a_captured_notice_cannot_be_replayed_or_altered(app, client, payer, provider):
    payment = await a_submitted_payment(client, payer, provider)
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    genuine = (await provider.post("/control/send", json={
        "url": app.ctx.payments.notify_url, "event_type": "TRANSACTION.SUCCESS",
        "resource": success_resource(payment)})).json()
    assert genuine["status"] == 200 and genuine["body"]["outcome"] == "applied"

    headers = {"Authorization": f"Bearer {genuine['sent_token']}", "Content-Type": "application/json"}
    replayed = await client.post(NOTIFY_PATH, content=genuine["sent_body"].encode(), headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "PAYMENT_NOTICE_REPLAYED"

    altered = genuine["sent_body"].replace('"amount_fen":20000', '"amount_fen":1')
    assert altered != genuine["sent_body"]
    tampered = await client.post(NOTIFY_PATH, content=altered.encode(), headers=headers)
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "PAYMENT_NOTICE_SIGNATURE_INVALID"

    reasons = sorted(await ProviderNotice.filter(outcome="rejected").values_list("reason", flat=True))
    assert reasons == ["replayed", "signature:body_digest"]
    assert await PaidReference.all().count() == 1


async def test_a_signed_notice_with_another_amount_or_order_changes_nothing(app, client, payer, provider):
    payment = await a_submitted_payment(client, payer, provider)
    url = app.ctx.payments.notify_url
    for resource, reason in ((success_resource(payment, amount_fen=1), "amount"),
                             (success_resource(payment, currency="USD"), "currency"),
                             (success_resource(payment, provider_order_id="4200000000000000000"), "provider_order_id")):
        sent = (await provider.post("/control/send", json={"url": url, "resource": resource})).json()
        assert sent["status"] == 422 and sent["body"]["error"]["code"] == "PAYMENT_NOTICE_MISMATCH", sent
    unknown = (await provider.post("/control/send", json={
        "url": url, "resource": success_resource(payment, merchant_order_id="PAYNOSUCHORDER")})).json()
    assert unknown["status"] == 404 and unknown["body"]["error"]["code"] == "PAYMENT_NOT_FOUND"

    assert (await Payment.get(id=payment["id"])).state == "submitted"
    reasons = sorted(await ProviderNotice.filter(outcome="rejected").values_list("reason", flat=True))
    assert reasons == ["amount", "currency", "provider_order_id", "unknown_order"]
    assert await AuditEntry.filter(subject_id=payer.id, action="payment_notice_rejected").count() == 3


async def test_a_failure_notice_after_success_is_an_illegal_move_and_ignored(app, client, payer, provider):
    payment = await a_submitted_payment(client, payer, provider)
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    url = app.ctx.payments.notify_url
    await provider.post("/control/send", json={"url": url, "resource": success_resource(payment)})
    late_fail = (await provider.post("/control/send", json={
        "url": url, "event_type": "TRANSACTION.FAIL", "resource": success_resource(payment, status="PAYERROR")})).json()
    assert late_fail["status"] == 200 and late_fail["body"]["outcome"] == "duplicate"
    assert (await Payment.get(id=payment["id"])).state == "success"


async def test_the_provider_retries_until_we_answer(app, client, payer, provider, monkeypatch):
    """A notice we could not take (our database was busy) is sent again, as real providers do, and applied once."""
    await provider.post("/control", json={"duplicates": 1, "notify_delay": 0})
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    service, real, calls = app.ctx.payments, app.ctx.payments.handle_notice, []

    async def busy_once(body: bytes) -> str:
        calls.append(body)
        if len(calls) == 1:
            raise Unavailable()
        return await real(body)

    monkeypatch.setattr(service, "handle_notice", busy_once)
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")

    async def answered():
        sent = (await provider.get("/control/sent")).json()["sent"]
        return sent and sent[0]["answers"] and sent[0]["answers"][-1] == 200 and sent[0]["answers"]

    assert await wait_for(answered) == [503, 200]
    assert (await Payment.get(id=payment["id"])).state == "success"
    assert await PaidReference.all().count() == 1


async def test_a_refund_notice_for_another_amount_or_an_unknown_refund_changes_nothing(app, client, payer, provider,
                                                                                       payments_admin):
    from app.payments.models import Refund

    payment = await a_submitted_payment(client, payer, provider)
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    url = app.ctx.payments.notify_url
    await provider.post("/control/send", json={"url": url, "resource": success_resource(payment)})
    made = (await client.post(f"/api/admin/v1/payments/{payment['id']}/refunds", headers=payments_admin.headers(),
                              json={"amount_fen": 5_000, "reason": "示例"})).json()
    for resource, reason in (({"merchant_refund_id": made["id"], "amount_fen": 20_000}, "amount"),
                             ({"merchant_refund_id": "RFNOSUCH", "amount_fen": 5_000}, "unknown_refund")):
        sent = (await provider.post("/control/send", json={"url": url, "event_type": "REFUND.SUCCESS", "resource": {
            "merchant_order_id": payment["id"], "currency": "CNY", "status": "SUCCESS", **resource}})).json()
        assert sent["status"] == 422, sent
        assert await ProviderNotice.filter(outcome="rejected", reason=reason).exists()
    assert (await Refund.get(id=made["id"])).state == "pending"
    assert (await Payment.get(id=payment["id"])).state == "success"
