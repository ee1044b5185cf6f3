"""E-receipts (电子票据): an image and a PDF with a verification QR that anyone can check online, and the
receipt in the citizen's e-licence wallet."""

from __future__ import annotations

import io
from urllib.parse import quote, urlparse

import pytest
import zxingcpp
from PIL import Image

from app.notifications.models import Notification
from tests.factories import Department, make_department
from tests.payments.conftest import first_fine, pay_a_fine, start_payment, wait_for
from tests.payments.test_refunds import refund, refunded
from tests.vouchers.licence_factory import share, verify


def local(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


async def test_the_receipt_verifies_online_from_its_qr(client, payer, wechatpay):
    payment = await pay_a_fine(client, payer, wechatpay)
    receipt = await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)
    assert receipt.status_code == 200
    body = receipt.json()
    assert body["number"].startswith("GDPR") and body["amount_fen"] == 20_000 and body["payer_name_masked"] == "**玲"

    png = await client.get(body["image_url"], headers=payer.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [d.text for d in decoded] == [body["verify_url"]]
    pdf = await client.get(body["pdf_url"], headers=payer.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"

    # Anyone can check it, without signing in.
    check = await client.get(local(decoded[0].text))
    assert check.status_code == 200
    assert check.json() | {"paid_at": None} == {
        "valid": True, "number": body["number"], "amount_fen": 20_000, "currency": "CNY",
        "payee": "广东省政务服务数据管理局（示例收款单位）", "description": payment["description"],
        "payer_name_masked": "**玲", "paid_at": None, "status": "paid", "refunded_fen": 0, "remaining_fen": 20_000}
    assert check.json()["paid_at"].endswith("Z")


async def test_a_wrong_code_or_number_does_not_verify_and_refunds_show(client, payer, wechatpay, payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    body = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    path = local(body["verify_url"])
    wrong = await client.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert wrong.json() == {"valid": False, "number": body["number"], "amount_fen": None, "currency": None, "payee": None,
                            "description": None, "payer_name_masked": None, "paid_at": None, "status": None,
                            "refunded_fen": None, "remaining_fen": None}
    assert (await client.get("/api/v1/e-receipts/GDPR000?c=x")).json()["valid"] is False

    await refund(client, payments_admin, payment["id"], 5_000)

    async def partly():
        return (await client.get(path)).json()["status"] == "partially_refunded"

    await wait_for(partly)
    assert (await client.get(path)).json()["refunded_fen"] == 5_000


async def test_checking_receipts_is_rate_limited(client):
    replies = [await client.get("/api/v1/e-receipts/GDPR2026120100000000?c=guess") for _ in range(31)]
    assert [r.status_code for r in replies].count(429) == 1
    assert replies[-1].json()["error"]["code"] == "RATE_LIMITED" and "Retry-After" in replies[-1].headers


async def test_the_receipt_is_in_the_wallet_and_can_be_shared(client, payer, wechatpay):
    payment = await pay_a_fine(client, payer, wechatpay)

    async def told():  # the message saying the receipt is in the wallet comes once it is there
        return await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").exists()

    await wait_for(told)
    body = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    wallet = (await client.get("/api/v1/licences", headers=payer.headers)).json()["items"]
    receipts = [item for item in wallet if item["licence_type"] == "payment_receipt"]
    assert len(receipts) == 1 and receipts[0]["id"] == body["licence_id"]
    opened = await client.get(f"/api/v1/licences/{body['licence_id']}", headers=payer.headers)
    assert opened.status_code == 200 and opened.json()["validity"] == "valid"
    assert opened.json()["issuer"] == "粤省事平台（示例）"
    shown = {f["name"]: f["value"] for f in opened.json()["fields"]}
    assert shown["amount"] == "¥200.00" and shown["payment_id"] == payment["id"]
    shared = await client.post(f"/api/v1/licences/{body['licence_id']}/shares", headers=payer.headers,
                               json={"purpose": "报销凭证", "valid_minutes": 30})
    assert shared.status_code == 201, shared.text


async def test_no_receipt_before_payment(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    reply = await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "RECEIPT_NOT_FOUND"
    assert (await client.get(f"/api/v1/payments/{payment['id']}/receipt.png", headers=payer.headers)).status_code == 404


async def test_no_department_can_be_made_issuer_of_e_receipts(client, clock, app):
    from tests.factories import make_department

    admin = await make_department(clock, "证照管理（示例）", ["licence_admin"])
    department = await make_department(clock, "某部门（示例）", ["licence_issuer"])
    reply = await client.put("/api/admin/v1/licence-types/payment_receipt/issuer", headers=admin.headers(),
                             json={"client_id": department.id})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "LICENCE_TYPE_PLATFORM_ISSUED"


async def test_any_check_code_gets_the_same_not_valid_reply_for_a_known_or_an_unknown_receipt(client, payer, wechatpay):
    """Someone types a check code by hand, in any script: a real receipt with a wrong code and a made-up
    number answer alike, not valid and never an error, so the replies do not tell which receipts exist."""
    payment = await pay_a_fine(client, payer, wechatpay)
    known = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()["number"]
    unknown = known[:-1] + ("0" if known[-1] != "0" else "1")
    for code in ("票据查验码", "é" * 24, "\U0001F9FE", "%ED%A0%80", "", "a" * 24):
        for number in (known, unknown):
            reply = await client.get(f"/api/v1/e-receipts/{number}?c={quote(code, safe='%')}")
            assert reply.status_code == 200, (code, reply.text)
            assert reply.json() == {"valid": False, "number": number, "amount_fen": None, "currency": None,
                                    "payee": None, "description": None, "payer_name_masked": None, "paid_at": None,
                                    "status": None, "refunded_fen": None, "remaining_fen": None}


@pytest.fixture
async def hotel(app, clock) -> Department:
    """A relying party that takes e-receipts as proof of payment (e.g. for an expense claim)."""
    return await make_department(clock, "示例酒店管理有限公司", [], audience="relying_party")


async def receipt_in_wallet(client, payer, payment: dict) -> dict:
    """The receipt of a paid payment, once it is in the wallet."""
    async def in_wallet():
        body = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
        return body if body["licence_id"] else None

    return await wait_for(in_wallet)


async def wallet_licence(client, payer, licence_id: str) -> dict:
    opened = await client.get(f"/api/v1/licences/{licence_id}", headers=payer.headers)
    assert opened.status_code == 200, opened.text
    return opened.json()


async def test_a_refunded_receipt_is_refunded_for_every_verifier(client, payer, wechatpay, payments_admin, hotel):
    payment = await pay_a_fine(client, payer, wechatpay)
    receipt = await receipt_in_wallet(client, payer, payment)
    token = (await share(client, payer, receipt["licence_id"], purpose="差旅报销"))["verification_token"]
    assert (await verify(client, hotel, token))["valid"] is True

    await refunded(client, payments_admin, payer, payment)

    public = (await client.get(local(receipt["verify_url"]))).json()
    assert (public["valid"], public["status"], public["refunded_fen"], public["remaining_fen"]) == (True, "refunded", 20_000, 0)
    mine = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    assert (mine["status"], mine["refunded_fen"], mine["remaining_fen"]) == ("refunded", 20_000, 0)
    held = await wallet_licence(client, payer, receipt["licence_id"])
    assert (held["validity"], held["validity_text"]) == ("refunded", "已退款")
    assert {f["name"]: f["value"] for f in held["fields"]}["refunded"] == "¥200.00"
    listed = (await client.get("/api/v1/licences", headers=payer.headers)).json()["items"]
    assert [item["validity"] for item in listed if item["id"] == receipt["licence_id"]] == ["refunded"]
    checked = await verify(client, hotel, token)
    assert (checked["valid"], checked["error"], checked["status"]) == (False, "LICENCE_NOT_VALID", "refunded")
    assert "退款" in checked["message"]


async def test_a_partial_refund_shows_on_the_receipt_wherever_it_is_read(client, payer, wechatpay, payments_admin, hotel):
    payment = await pay_a_fine(client, payer, wechatpay)
    receipt = await receipt_in_wallet(client, payer, payment)

    await refunded(client, payments_admin, payer, payment, 5_000)

    public = (await client.get(local(receipt["verify_url"]))).json()
    assert (public["valid"], public["status"], public["refunded_fen"], public["remaining_fen"]) == (
        True, "partially_refunded", 5_000, 15_000)
    mine = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    assert (mine["status"], mine["refunded_fen"], mine["remaining_fen"]) == ("partially_refunded", 5_000, 15_000)
    held = await wallet_licence(client, payer, receipt["licence_id"])
    shown = {f["name"]: f["value"] for f in held["fields"]}
    assert held["validity"] == "valid" and (shown["amount"], shown["refunded"], shown["net_amount"]) == (
        "¥200.00", "¥50.00", "¥150.00")
    token = (await share(client, payer, receipt["licence_id"], purpose="差旅报销"))["verification_token"]
    assert (await verify(client, hotel, token))["valid"] is True
    png = await client.get(receipt["image_url"], headers=payer.headers)
    assert [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))] == [receipt["verify_url"]]
    fine = next(p for p in (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
                if p["reference"] == payment["reference"])
    assert fine["paid"] is True  # only a full refund reopens it


async def test_a_refund_the_settle_job_finished_reaches_the_receipt_in_the_wallet(
        app, client, payer, wechatpay, payments_admin, hotel, clock):
    """WeChat Pay refunded the money but its REFUND.SUCCESS never came: until the settle job asks, the receipt
    still says paid everywhere; from then on it says refunded everywhere."""
    payment = await pay_a_fine(client, payer, wechatpay)
    receipt = await receipt_in_wallet(client, payer, payment)
    token = (await share(client, payer, receipt["licence_id"], purpose="差旅报销"))["verification_token"]
    wechatpay.next_refunds(notice="never")
    made = await refund(client, payments_admin, payment["id"], 20_000)
    assert made.status_code == 201, made.text

    async def refunded_at_wechatpay():
        return wechatpay.refund(made.json()["id"])["status"] == "SUCCESS"

    await wait_for(refunded_at_wechatpay)
    assert (await client.get(local(receipt["verify_url"]))).json()["status"] == "paid"
    assert (await wallet_licence(client, payer, receipt["licence_id"]))["validity"] == "valid"

    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    public = (await client.get(local(receipt["verify_url"]))).json()
    assert (public["status"], public["refunded_fen"], public["remaining_fen"]) == ("refunded", 20_000, 0)
    held = await wallet_licence(client, payer, receipt["licence_id"])
    assert (held["validity"], held["validity_text"]) == ("refunded", "已退款")
    checked = await verify(client, hotel, token)
    assert (checked["valid"], checked["status"]) == (False, "refunded")
    assert await Notification.filter(citizen_id=payer.id, kind="payment_refunded").count() == 1
