"""社保 through the data exchange, against the stand-in 人社 (standins/departments/hrss.py): insured status,
contributions by year and the rights record as the department gives them, with our words beside its words in
the caller's language; the printed proof (PNG, PDF) whose QR anyone verifies without signing in; and every way
it goes wrong: no 实名 (nothing sent), the department down, a bad year, another citizen's proof, a QR altered,
unknown, expired or withdrawn."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from typing import Any, Iterator

import base45
import pytest
import segno
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.audit import AuditEntry
from app.base45_decoder import b45decode
from app.clock import CHINA_TZ
from app.departments.exchange_services import HRSS_CONTRIBUTIONS, HRSS_INSURED_STATUS, HRSS_RIGHTS_RECORD
from app.departments.models import SocialInsuranceProof
from app.departments.social_insurance_token import PREFIX, ProofClaims, record_digest, sign
from app.ids import new_id
from app.integrations.exchange.models import ExchangeMessage
from app.qr import qr_version
from app.security.keys import SigningKey, b64url, kid_bytes_for
from standins.departments import hrss
from standins.departments.server import beijing_today
from tests.factories import sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

BASE = "/api/v1/social-insurance"
VERIFY = "/api/v1/social-insurance-proofs/verifications"
NAME = "李小龙"


def _employees() -> Iterator[str]:
    """ID numbers of employees at the stand-in 人社 with contributions this year (every figure a department's)."""
    today = beijing_today()
    for sequence in range(100, 1000):
        number = valid_id_number(birth="19880512", sequence=f"{sequence:03d}")
        if hrss.insured_status(number, today, {})["person_kind"] == "employee" and \
                hrss.contributions(number, today, {})["months"]:
            yield number


_employee = _employees()


async def verified(client, sms) -> tuple[Any, str]:
    citizen = await sign_in(client, sms)
    id_number = next(_employee)
    await verify_real_name(client, citizen, name=NAME, id_number=id_number)
    return citizen, id_number


def theirs(value: Any) -> Any:
    """A reply without our words (the `*_text` fields): what the department said."""
    if isinstance(value, dict):
        return {k: theirs(v) for k, v in value.items() if not k.endswith("_text")}
    if isinstance(value, list):
        return [theirs(v) for v in value]
    return value


async def issued(client, citizen) -> dict[str, Any]:
    reply = await client.post(f"{BASE}/proofs", headers=citizen.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def qr_of(client, citizen, proof: dict[str, Any]) -> str:
    reply = await client.get(proof["png_url"], headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(reply.content)))
    return code.text


async def test_the_insured_status_is_the_departments_with_our_words_beside(client, sms, departments_live,
                                                                          departments):
    citizen, id_number = await verified(client, sms)

    reply = await client.get(BASE, headers=citizen.headers)

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert theirs(body) == hrss.insured_status(id_number, beijing_today(), {})
    assert body["sample"] is True and body["person_kind_text"] == "在职职工"
    pension = next(s for s in body["schemes"] if s["code"] == "110")
    assert (pension["name"], pension["name_text"]) == ("企业职工基本养老保险", "企业职工基本养老保险")
    [row] = await ExchangeMessage.all()
    [logged] = departments.messages(row.message_id)
    assert (row.service, row.purpose, row.status, row.fault) == (HRSS_INSURED_STATUS, "citizen_request", 200, None)
    assert (logged["service"], logged["purpose"], logged["request_hash"]) == \
        (row.service, row.purpose, row.request_hash)
    # The citizen read their own data: nothing in their access log.
    assert not await AuditEntry.filter(category="access", subject_id=citizen.id).exists()


async def test_our_words_follow_accept_language_and_the_departments_stay_as_it_wrote_them(client, sms,
                                                                                         departments_live):
    citizen, id_number = await verified(client, sms)

    english = (await client.get(BASE, headers={**citizen.headers, "Accept-Language": "en"})).json()
    traditional = (await client.get(BASE, headers={**citizen.headers, "Accept-Language": "zh-TW"})).json()

    schemes = {s["code"]: s for s in english["schemes"]}
    assert (schemes["110"]["name"], schemes["110"]["name_text"]) == \
        ("企业职工基本养老保险", "Basic pension insurance (enterprise employees)")
    assert schemes["410"]["name_text"] == "Work injury insurance"
    assert english["person_kind_text"] == "Employee"
    assert schemes["110"]["status_text"] in ("Contributing", "Contributions suspended")
    assert traditional["person_kind_text"] == "在職職工"
    assert {s["code"]: s["name_text"] for s in traditional["schemes"]}["310"] == "職工基本醫療保險"
    assert theirs(english) == theirs(traditional) == hrss.insured_status(id_number, beijing_today(), {})


async def test_contributions_of_this_year_and_of_a_year_asked_for(client, sms, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    today = beijing_today()

    this_year = await client.get(f"{BASE}/contributions", headers=citizen.headers)
    last_year = await client.get(f"{BASE}/contributions", params={"year": str(today.year - 1)},
                                 headers={**citizen.headers, "Accept-Language": "en"})

    assert this_year.status_code == 200, this_year.text
    assert theirs(this_year.json()) == hrss.contributions(id_number, today, {})
    assert this_year.json()["year"] == today.year and this_year.json()["months"]
    month = this_year.json()["months"][0]
    assert sum(i["employer_fen"] for i in month["items"]) == month["employer_total_fen"]
    assert theirs(last_year.json()) == hrss.contributions(id_number, today, {"year": today.year - 1})
    assert {i["code"]: i["name_text"] for m in last_year.json()["months"] for i in m["items"]}.get("210") in \
        (None, "Unemployment insurance")
    rows = await ExchangeMessage.filter(service=HRSS_CONTRIBUTIONS).count()
    assert rows == 2 and len(departments.messages()) == 2


@pytest.mark.parametrize("year", ["abc", "2024.5", "-2020", "1989", "next", "２０２０"])
async def test_a_bad_year_is_422_naming_the_field_before_any_department_call(client, sms, departments_live,
                                                                            departments, year):
    citizen, _ = await verified(client, sms)
    year = str(beijing_today().year + 1) if year == "next" else year

    reply = await client.get(f"{BASE}/contributions", params={"year": year}, headers=citizen.headers)

    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert [f["field"] for f in error["fields"]] == ["year"]
    assert "year" in error["message"]
    assert await ExchangeMessage.all().count() == 0 and departments.messages() == []


async def test_the_rights_record_is_the_departments(client, sms, departments_live):
    citizen, id_number = await verified(client, sms)

    reply = await client.get(f"{BASE}/rights-record", headers={**citizen.headers, "Accept-Language": "zh-Hant"})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert theirs(body) == hrss.rights_record(id_number, beijing_today(), {})
    assert body["title"] == "广东省社会保险个人权益记录（示例）"
    assert body["title_text"] == "廣東省社會保險個人權益記錄（示例）"
    assert [row.service for row in await ExchangeMessage.all()] == [HRSS_RIGHTS_RECORD]


async def test_a_citizen_without_real_name_gets_403_and_nothing_reaches_the_department(client, sms,
                                                                                      departments_live, departments):
    citizen = await sign_in(client, sms)
    asks = [client.get(BASE, headers=citizen.headers),
            client.get(f"{BASE}/contributions", params={"year": "2020"}, headers=citizen.headers),
            client.get(f"{BASE}/rights-record", headers=citizen.headers),
            client.post(f"{BASE}/proofs", headers=citizen.headers),
            client.get(f"{BASE}/proofs/{new_id('sip')}.png", headers=citizen.headers)]

    for ask in asks:
        reply = await ask
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert await ExchangeMessage.all().count() == 0
    assert departments.messages() == []
    assert await SocialInsuranceProof.all().count() == 0


async def test_the_department_down_is_503_with_retry_after_and_no_proof_is_kept(client, sms, departments_live,
                                                                              departments):
    citizen, _ = await verified(client, sms)
    departments.behave("fail", department="hrss", count=0)

    for method, path in [("GET", BASE), ("GET", f"{BASE}/contributions"), ("GET", f"{BASE}/rights-record"),
                         ("POST", f"{BASE}/proofs")]:
        reply = await client.request(method, path, headers={**citizen.headers, "Accept-Language": "en"})
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert error["code"] == "DEPARTMENT_UNAVAILABLE"
        assert int(reply.headers["Retry-After"]) >= 1
        assert error["message"].startswith("The department's system cannot be reached now")
    assert await SocialInsuranceProof.all().count() == 0
    assert {row.fault for row in await ExchangeMessage.all()} != {None}


async def assert_issued_from_the_record(client, citizen, proof: dict, record: dict) -> None:
    today = datetime.now(timezone.utc).astimezone(CHINA_TZ).date()
    assert proof["record_no"] == record["record_no"] and proof["issued_on"] == record["issued_on"]
    assert date.fromisoformat(proof["valid_until"]) == date.fromordinal(today.toordinal() + 90)
    assert proof["png_url"] == f"{BASE}/proofs/{proof['id']}.png"
    assert proof["pdf_url"] == f"{BASE}/proofs/{proof['id']}.pdf"
    assert (proof["state"], proof["status_text"]) == ("valid", "有效")
    listed = await client.get(f"{BASE}/proofs", headers={**citizen.headers, "Accept-Language": "en"})
    assert [(p["id"], p["status_text"]) for p in listed.json()["items"]] == [(proof["id"], "Valid")]


async def printed_qr(client, citizen, proof: dict) -> str:
    """The proof as an A4 page (PNG and PDF); returns the text of the QR printed on it."""
    png = await client.get(proof["png_url"], headers=citizen.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png.content)).size == (1240, 1754)  # A4 at 150 dpi
    pdf = await client.get(proof["pdf_url"], headers=citizen.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert code.text.startswith(PREFIX)
    assert segno.make_qr(code.text, error="q", boost_error=False).version <= 10
    assert qr_version(code.text) <= 10  # as drawn on the page (zxing-cpp's encoder, level Q)
    return code.text


async def assert_stored_masked_and_the_check_audited(citizen, id_number: str, proof: dict, record: dict) -> None:
    row = await SocialInsuranceProof.get(id=proof["id"])
    assert (row.citizen_id, row.record_digest) == (citizen.id, record_digest(record))
    assert NAME[-1] not in row.holder_enc and id_number[-4:] not in row.holder_enc + row.record_enc
    [seen] = await AuditEntry.filter(category="access", subject_id=citizen.id)
    assert (seen.action, seen.purpose) == ("social_insurance_proof_verified", "proof_verification")
    assert "holder_name_masked" in seen.attributes


async def test_a_printed_proof_is_a_page_whose_qr_verifies_with_the_departments_figures(client, sms, app,
                                                                                       departments_live):
    citizen, id_number = await verified(client, sms)
    record = hrss.rights_record(id_number, beijing_today(), {})

    proof = await issued(client, citizen)

    await assert_issued_from_the_record(client, citizen, proof, record)
    qr = await printed_qr(client, citizen, proof)

    check = await client.post(VERIFY, json={"qr": qr})  # nobody signed in

    assert check.status_code == 200, check.text
    assert check.json() == {
        "valid": True, "reason": None, "status_text": "有效：请核对纸质文件上的信息与此一致",
        "record_no": record["record_no"], "holder_name_masked": "**龙", "id_number_masked":
        f"{id_number[:4]}**********{id_number[-4:]}", "issued_on": record["issued_on"],
        "valid_until": proof["valid_until"], "pension_months": record["pension"]["months_total"],
        "personal_account_fen": record["pension"]["personal_account_fen"], "issuer": "广东省人力资源和社会保障厅",
        "sample": True}
    await assert_stored_masked_and_the_check_audited(citizen, id_number, proof, record)


async def test_another_citizens_proof_is_not_found(client, sms, departments_live):
    holder, _ = await verified(client, sms)
    other, _ = await verified(client, sms)
    proof = await issued(client, holder)

    for ask in [client.get(proof["png_url"], headers=other.headers),
                client.get(proof["pdf_url"], headers=other.headers),
                client.delete(f"{BASE}/proofs/{proof['id']}", headers=other.headers),
                client.get(f"{BASE}/proofs/{proof['id']}", headers=other.headers),
                client.get(f"{BASE}/proofs/{new_id('sip')}.pdf", headers=holder.headers)]:
        reply = await ask
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"]["code"] == "PROOF_NOT_FOUND"
    assert (await SocialInsuranceProof.get(id=proof["id"])).revoked_at is None
    assert (await client.get(f"{BASE}/proofs", headers=other.headers)).json() == {"items": []}


def _altered(token: str) -> str:
    """The token with one byte of its signature changed: still well formed."""
    raw = bytearray(b45decode(token[len(PREFIX):]))
    raw[20] ^= 0x01
    return PREFIX + base45.b45encode(bytes(raw)).decode("ascii")


async def test_a_qr_not_ours_or_altered_is_422(client, sms, app, departments_live):
    citizen, _ = await verified(client, sms)
    proof = await issued(client, citizen)
    token = await qr_of(client, citizen, proof)
    row = await SocialInsuranceProof.get(id=proof["id"])
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = SigningKey(b64url(kid_bytes_for(stranger_key.public_key())), kid_bytes_for(stranger_key.public_key()),
                          stranger_key, datetime.now(timezone.utc))
    claims = ProofClaims(row.id, row.record_digest, row.issued_on, row.valid_until)
    other_digest = ProofClaims(row.id, "0" * 64, row.issued_on, row.valid_until)
    platform = app.ctx.services.platform

    for qr in [_altered(token), sign(claims, stranger), sign(other_digest, platform.keys.current), "hello",
               PREFIX + "!!!", PREFIX + token[len(PREFIX):len(PREFIX) + 30], citizen.headers["Authorization"][7:]]:
        reply = await client.post(VERIFY, json={"qr": qr}, headers={"Accept-Language": "en"})
        assert reply.status_code == 422, (qr, reply.text)
        assert reply.json()["error"]["code"] == "PROOF_INVALID"
        assert reply.json()["error"]["message"].startswith("This QR code is not a valid social insurance record")
    empty = await client.post(VERIFY, json={})
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["field"] == "qr"
    assert not await AuditEntry.filter(category="access", subject_id=citizen.id).exists()


async def test_a_qr_signed_before_a_key_rotation_still_verifies_and_a_new_page_names_the_new_key(client, sms, app,
                                                                                              departments_live, clock):
    citizen, _ = await verified(client, sms)
    proof = await issued(client, citizen)
    before = await qr_of(client, citizen, proof)
    keys = app.ctx.services.platform.keys
    old_kid = keys.current.kid

    keys.rotate()
    after = await qr_of(client, citizen, proof)

    for qr in (before, after):
        reply = await client.post(VERIFY, json={"qr": qr})
        assert reply.status_code == 200 and reply.json()["valid"] is True, reply.text
    kids = [b64url(b45decode(qr[len(PREFIX):])[:8]) for qr in (before, after)]
    assert kids == [old_kid, keys.current.kid] and old_kid != keys.current.kid

    clock.advance(89 * 24 * 3600)  # the proof's last day: the page signed by the replaced key still verifies
    reply = await client.post(VERIFY, json={"qr": before})
    assert reply.status_code == 200 and reply.json()["valid"] is True, reply.text


async def test_a_signed_qr_of_a_proof_never_issued_is_404(client, app):
    platform = app.ctx.services.platform
    claims = ProofClaims(new_id("sip"), "ab" * 32, date(2026, 1, 5), date(2026, 4, 5))

    reply = await client.post(VERIFY, json={"qr": sign(claims, platform.keys.current)})

    assert reply.status_code == 404, reply.text
    assert reply.json()["error"]["code"] == "PROOF_NOT_FOUND"


async def test_an_expired_proof_is_not_valid_and_tells_nothing_of_the_holder(client, sms, clock, departments_live):
    citizen, id_number = await verified(client, sms)
    proof = await issued(client, citizen)
    token = await qr_of(client, citizen, proof)

    # The last minute of its last day (Beijing time), then past it.
    clock.set(datetime.combine(date.fromisoformat(proof["valid_until"]), datetime.min.time(), CHINA_TZ)
              .replace(hour=23, minute=59))
    last_day = await client.post(VERIFY, json={"qr": token})
    clock.advance(minutes=2)
    expired = await client.post(VERIFY, json={"qr": token}, headers={"Accept-Language": "zh-Hant"})

    assert last_day.status_code == 200 and last_day.json()["valid"] is True
    assert expired.status_code == 200, expired.text
    body = expired.json()
    assert (body["valid"], body["reason"], body["status_text"]) == (False, "expired", "已過有效期，請聯絡持有人重新列印")
    assert body["record_no"] == proof["record_no"] and body["valid_until"] == proof["valid_until"]
    assert body["holder_name_masked"] is body["id_number_masked"] is body["pension_months"] is None
    assert body["personal_account_fen"] is None


async def test_a_withdrawn_proof_is_not_valid(client, sms, departments_live):
    citizen, _ = await verified(client, sms)
    proof = await issued(client, citizen)
    token = await qr_of(client, citizen, proof)

    withdrawn = await client.delete(f"{BASE}/proofs/{proof['id']}", headers=citizen.headers)
    again = await client.delete(f"{BASE}/proofs/{proof['id']}", headers=citizen.headers)
    check = await client.post(VERIFY, json={"qr": token}, headers={"Accept-Language": "en"})

    assert (withdrawn.status_code, again.status_code) == (204, 204)
    mine = await client.get(f"{BASE}/proofs/{proof['id']}", headers=citizen.headers)
    assert (mine.json()["state"], mine.json()["status_text"]) == ("revoked", "已作废")
    assert check.status_code == 200, check.text
    assert (check.json()["valid"], check.json()["reason"], check.json()["status_text"]) == \
        (False, "revoked", "Withdrawn by the holder")
    assert await AuditEntry.filter(action="social_insurance_proof_revoked", subject_id=citizen.id).count() == 1


async def test_a_citizen_prints_at_most_five_proofs_in_ten_minutes(client, sms, clock, departments_live,
                                                                  departments):
    citizen, _ = await verified(client, sms)
    for _ in range(5):
        await issued(client, citizen)

    refused = await client.post(f"{BASE}/proofs", headers=citizen.headers)

    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
    assert len(departments.messages()) == 5  # the refused one asked nobody
    assert await SocialInsuranceProof.filter(citizen_id=citizen.id).count() == 5
    clock.advance(601)
    await issued(client, citizen)


async def test_verifications_are_rate_limited_per_address(client):
    for _ in range(30):
        assert (await client.post(VERIFY, json={"qr": "GDSIP1:AAAA"})).status_code == 422

    reply = await client.post(VERIFY, json={"qr": "GDSIP1:AAAA"})

    assert reply.status_code == 429 and reply.json()["error"]["code"] == "RATE_LIMITED"
    assert "Retry-After" in reply.headers


async def test_a_department_reply_of_another_shape_is_the_department_unavailable(client, sms, app, departments_live,
                                                                                  monkeypatch):
    citizen, _ = await verified(client, sms)

    async def odd(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"insured": "maybe"}

    monkeypatch.setattr(app.ctx.services.departments.social_insurance.asker, "ask", odd)
    reply = await client.get(BASE, headers=citizen.headers)

    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE" and int(reply.headers["Retry-After"]) > 0
