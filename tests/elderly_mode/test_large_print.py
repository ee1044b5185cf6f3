"""Large print for people without phones: an A6 card whose QR decodes and verifies offline."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from app.audit import AuditEntry
from elderly_mode import print as large_print
from health_code.codec import verify_offline
from tests.elderly_mode.elderly_factory import elder, family_member, linked

CARD = "/api/v1/elderly/print-card"


def decoded(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert results, "no QR found on the card"
    return results[0].text


async def test_the_printed_card_is_a6_at_300_dpi_and_its_qr_verifies_offline(client, sms, clock, settings):
    grandma = await elder(client, sms)
    reply = await client.get(CARD, headers=grandma.headers)
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    card = Image.open(io.BytesIO(reply.content))
    assert card.size == (1240, 1748)  # 105 x 148 mm at 300 dpi
    assert round(card.info["dpi"][0]) == 300
    payload = decoded(reply.content)
    assert payload.startswith("GDHC1:")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = verify_offline(payload, jwks, clock.now())
    assert claims.colour == "green" and claims.subject_masked == "*英"
    assert abs(claims.expires_at - claims.issued_at - settings.health_code.print_card_ttl) <= 1  # half a day, not three minutes
    clock.advance(settings.health_code.print_card_ttl - 60)
    assert verify_offline(payload, jwks, clock.now()).colour == "green"
    printed = await AuditEntry.get(subject_id=grandma.id, action="health_code_printed")
    assert (printed.actor, printed.actor_type) == (grandma.id, "citizen")


def test_the_card_writes_the_colour_in_words_and_the_qr_modules_are_large(tmp_path):
    payload = "GDHC1:" + "6BFOXN*TS0BI$ZD.P9UOL97O4-2HH77HRM3DSPTLRR+%3" * 5
    text = large_print.card_text("红码", "**英", "2026-12-01 21:30", "12345", "zh-Hans")
    assert text.colour_words == "红码" and text.help_line == "帮助热线 12345" and text.name_line == "姓名：**英"
    assert large_print.module_px_for(payload, 1240 - 2 * large_print.MARGIN) >= large_print.MIN_MODULE_PX
    png = large_print.card_png(payload, "red", text)
    assert decoded(png) == payload
    pdf = large_print.card_pdf(payload, "red", text)
    assert pdf.startswith(b"%PDF") and b"/MediaBox" in pdf


async def test_the_card_comes_as_pdf_and_other_formats_are_refused(client, sms):
    grandma = await elder(client, sms)
    pdf = await client.get(CARD, params={"format": "pdf"}, headers=grandma.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    gif = await client.get(CARD, params={"format": "gif"}, headers=grandma.headers)
    assert gif.status_code == 422


async def test_a_son_prints_his_mothers_card(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    reply = await client.get(f"/api/v1/family/{mother.id}/print-card", headers=son.headers)
    assert reply.status_code == 200
    claims = verify_offline(decoded(reply.content), (await client.get("/.well-known/jwks.json")).json(), clock.now())
    assert claims.subject_masked == "*英"
    log = (await client.get("/api/v1/me/access-log", headers=mother.headers)).json()["items"]
    assert log[0]["action"] == "family_health_code_printed" and log[0]["actor"] == "**国（子女）"
    printed = await AuditEntry.get(subject_id=mother.id, action="health_code_printed")
    assert (printed.actor, printed.actor_type) == (son.id, "proxy")  # the son printed it, not the mother


@pytest.mark.parametrize("module_px", [8, 12, 20])
async def test_any_code_renders_with_large_modules(client, sms, module_px):
    grandma = await elder(client, sms)
    text = "GDID1:" + "A" * 120
    reply = await client.post("/api/v1/elderly/large-qr", headers=grandma.headers,
                              json={"text": text, "module_px": module_px})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(reply.content))
    modules = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="Q").to_image(
        scale=1, add_quiet_zones=False).shape[0]
    assert image.size[0] == (modules + 8) * module_px  # every module is module_px wide
    assert decoded(reply.content) == text


async def test_too_small_modules_are_refused(client, sms):
    grandma = await elder(client, sms)
    reply = await client.post("/api/v1/elderly/large-qr", headers=grandma.headers, json={"text": "x", "module_px": 4})
    assert reply.status_code == 422
    with pytest.raises(ValueError):
        large_print.qr_image("x", 4)
    too_long = await client.post("/api/v1/elderly/large-qr", headers=grandma.headers, json={"text": "汉" * 1200})
    assert too_long.status_code == 422 and too_long.json()["error"]["fields"] == [
        {"field": "text", "problem": "too long for one QR code"}]
