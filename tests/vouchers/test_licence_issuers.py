"""Issuing licences: only the issuer a licence type is registered to may issue it, only with a document
it signed with its own registered key that says what it posts, and only fields the type allows."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from app.audit import AuditEntry
from app.vouchers.licences import sample_types
from app.vouchers.models import LicenceType
from tests.factories import make_department, valid_id_number
from tests.vouchers import licence_factory as lf
from tests.vouchers.licence_factory import ISSUE, LI_SI_ID, assign, error_code, issue, licence_body



async def post(client, issuer, body):
    return await client.post(ISSUE, headers=issuer.headers(), json=body)


async def test_issuer_x_cannot_issue_a_type_registered_to_issuer_y(client, police, civil_affairs, zhang_san):
    refused = await post(client, civil_affairs, licence_body(civil_affairs))
    assert refused.status_code == 403 and error_code(refused) == "ISSUER_NOT_ALLOWED"
    assert "driving_licence" in refused.json()["error"]["message"]
    unassigned = await post(client, police, licence_body(police, licence_type="marriage_certificate"))
    assert unassigned.status_code == 403 and error_code(unassigned) == "ISSUER_NOT_ALLOWED"  # nobody assigned yet
    unknown = await post(client, police, licence_body(police, licence_type="fishing_permit"))
    assert unknown.status_code == 404 and error_code(unknown) == "LICENCE_TYPE_NOT_FOUND"
    assert not await AuditEntry.filter(action="licence_issued").exists()


async def test_reassigning_a_type_moves_the_right_to_issue_it(client, licence_admin, police, civil_affairs, zhang_san):
    moved = await assign(client, licence_admin, "driving_licence", civil_affairs.id)
    assert moved.status_code == 200 and moved.json()["issuer_client_id"] == civil_affairs.id
    assert (await post(client, police, licence_body(police))).status_code == 403
    assert (await post(client, civil_affairs, licence_body(civil_affairs))).status_code == 201
    entry = await AuditEntry.filter(action="licence_issuer_assigned").order_by("-seq").first()
    assert entry.attributes == {"licence_type": "driving_licence", "issuer": civil_affairs.id, "previous": police.id}


async def test_only_a_licence_admin_assigns_issuers_and_only_to_issuer_clients(client, clock, licence_admin, police):
    by_issuer = await assign(client, police, "marriage_certificate", police.id)
    assert by_issuer.status_code == 403 and error_code(by_issuer) == "CLIENT_ROLE_REQUIRED"
    verifier = await make_department(clock, "示例核验机构", ["verifier"])
    rp = await make_department(clock, "示例银行", ["licence_issuer"], audience="relying_party")
    for client_id in ("cl_nobody", verifier.id, rp.id):
        refused = await assign(client, licence_admin, "marriage_certificate", client_id)
        assert refused.status_code == 422 and error_code(refused) == "ISSUER_CLIENT_INVALID", client_id
    missing = await assign(client, licence_admin, "fishing_permit", police.id)
    assert missing.status_code == 404 and error_code(missing) == "LICENCE_TYPE_NOT_FOUND"
    cleared = await assign(client, licence_admin, "driving_licence", None)
    assert cleared.status_code == 200 and cleared.json()["issuer_client_id"] is None


async def test_a_client_without_the_issuer_role_cannot_issue(client, clock, zhang_san, police):
    lab = await make_department(clock, "示例检验所", ["lab"])
    reply = await post(client, lab, licence_body(lab))
    assert reply.status_code == 403 and error_code(reply) == "CLIENT_ROLE_REQUIRED"


async def test_a_document_signed_with_another_key_is_refused(client, police, civil_affairs, zhang_san):
    stranger = ec.generate_private_key(ec.SECP256R1())
    cases = {
        "a key nobody registered": licence_body(police, key=stranger),
        "another department's registered key": licence_body(police, key=civil_affairs.key),
        "a kid the issuer does not have": licence_body(police, kid="2"),
        "no typ": licence_body(police, typ="JWT"),
    }
    for case, body in cases.items():
        reply = await post(client, police, body)
        assert reply.status_code == 422 and error_code(reply) == "DOCUMENT_SIGNATURE_INVALID", case
        assert reply.json()["error"]["reason"], case
    garbage = {**licence_body(police), "document": "not.a.jws"}
    assert error_code(await post(client, police, garbage)) == "DOCUMENT_SIGNATURE_INVALID"
    # Every part of the signed document counts: a signature over an edited copy does not verify.
    header, payload, signature = licence_body(police)["document"].split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert error_code(await post(client, police, {**licence_body(police), "document": f"{header}.{payload}.{flipped}"})) \
        == "DOCUMENT_SIGNATURE_INVALID"


async def test_a_document_that_says_something_else_than_the_request_is_refused(client, police, zhang_san):
    other_holder = hashlib.sha256(LI_SI_ID.encode()).hexdigest()
    cases = {
        "number": {"number": "440106199001010000"},
        "holder": {"holder": other_holder},
        "fields": {"fields": lf.driving_fields(vehicle_class="A1")},
        "licence_type": {"licence_type": "vehicle_licence"},
        "iss": {"iss": "cl_someone_else"},
        "valid_until": {"valid_until": None},
    }
    for claim, changes in cases.items():
        reply = await post(client, police, licence_body(police, claims=changes))
        assert reply.status_code == 422 and error_code(reply) == "DOCUMENT_MISMATCH", claim
        assert reply.json()["error"]["claim"] == claim
    missing = await post(client, police, licence_body(police) | {
        "document": lf.jwt.encode({"iss": police.id}, police.key, algorithm="ES256",
                                  headers={"kid": "1", "typ": "licence+jwt"})})
    assert missing.status_code == 422 and error_code(missing) == "DOCUMENT_MISMATCH"


async def test_fields_outside_the_type_schema_are_refused(client, police, zhang_san):
    bad = lf.driving_fields(name=None, sex="X", birth_date="1990-02-30", vehicle_class="Z9", colour="红")
    reply = await post(client, police, licence_body(police, fields=bad))
    assert reply.status_code == 422 and error_code(reply) == "LICENCE_FIELDS_INVALID"
    problems = {p["field"]: p["problem"] for p in reply.json()["error"]["fields"]}
    assert set(problems) == {"fields.name", "fields.sex", "fields.birth_date", "fields.vehicle_class", "fields.colour"}
    assert problems["fields.name"] == "required"
    wrong_type = await post(client, police, licence_body(police, fields=lf.driving_fields(nationality=86)))
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["fields"][0]["problem"] == "must be a string"
    bad_number = await post(client, police, licence_body(police, number="abc"))
    assert bad_number.status_code == 422 and error_code(bad_number) == "LICENCE_FIELDS_INVALID"
    assert bad_number.json()["error"]["fields"] == [{"field": "number", "problem": "format"}]
    now = police.clock.now()
    backwards = await post(client, police, licence_body(police, valid_from=now, valid_until=now - timedelta(days=1)))
    assert backwards.status_code == 422 and backwards.json()["error"]["fields"][0]["field"] == "valid_until"
    english = await client.post(ISSUE, headers={**police.headers(), "Accept-Language": "en"},
                                json=licence_body(police, fields=bad))
    assert english.json()["error"]["message"].startswith("The licence data does not fit its type")


async def test_the_holder_must_be_a_verified_citizen_and_a_number_is_issued_once(client, police, zhang_san, licence):
    bad_id = await post(client, police, licence_body(police, holder_id_number="440106199003071234"))
    assert bad_id.status_code == 422 and error_code(bad_id) == "INVALID_ID_NUMBER"
    nobody = valid_id_number(birth="20000101", sequence="555")
    unknown = await post(client, police, licence_body(police, holder_id_number=nobody, number="GD000000000001"))
    assert unknown.status_code == 404 and error_code(unknown) == "CITIZEN_NOT_FOUND"
    again = await post(client, police, licence_body(police))
    assert again.status_code == 409 and error_code(again) == "LICENCE_EXISTS"


async def test_the_sample_types_are_seeded_with_schemas_and_seeding_keeps_the_issuer(app, client, police, licence_admin):
    listed = await client.get("/api/admin/v1/licence-types", headers=police.headers())
    assert listed.status_code == 200
    items = {t["code"]: t for t in listed.json()["items"]}
    assert set(items) == {"resident_id_card", "driving_licence", "vehicle_licence", "household_register",
                          "marriage_certificate", "social_security_card", "business_licence",
                          "payment_receipt"}  # e-receipts of payments, issued by the platform itself
    assert all(t["sample"] and set(t["name"]) == {"zh-Hans", "zh-Hant", "en"} for t in items.values())
    assert items["marriage_certificate"]["name"]["zh-Hans"] == "结婚证"
    assert items["driving_licence"]["issuer_client_id"] == police.id
    assert items["business_licence"]["schema"]["x-number"]["label"]["zh-Hans"] == "统一社会信用代码"

    await LicenceType.filter(code="driving_licence").update(name={"zh-Hans": "旧名称"})
    assert await app.ctx.services.licences.seed_licence_types() == 8
    row = await LicenceType.get(code="driving_licence")
    assert row.name == sample_types()["driving_licence"]["name"] and row.issuer_client_id == police.id


async def test_each_sample_type_accepts_its_sample_and_is_issued_by_its_own_issuer(client, clock, licence_admin,
                                                                                    zhang_san):
    samples = {
        "resident_id_card": (lf.ZHANG_SAN_ID, {"name": "张三", "sex": "男", "ethnicity": "汉", "birth_date": "1990-03-07",
                                               "address": "广东省广州市天河区示例路 1 号", "issuing_authority": "广州市公安局天河分局（示例）"}),
        "vehicle_licence": ("440100123456", {"plate_number": "粤A12345", "vehicle_type": "小型轿车", "owner": "张三",
                                             "use_character": "非营运", "model": "示例牌 SL7000", "vin": "LSVAB4187E2123456",
                                             "register_date": "2020-05-01", "issuing_authority": lf.POLICE}),
        "household_register": ("440106001", {"householder_name": "张大山", "household_type": "家庭户", "name": "张三",
                                             "relationship": "子", "sex": "男", "birth_date": "1990-03-07",
                                             "address": "广东省广州市天河区示例路 1 号", "issuing_authority": "示例派出所"}),
        "marriage_certificate": ("J440106-2020-000123", {
            "holder_name": "张三", "registration_date": "2020-05-20", "name": "张三", "id_number": lf.ZHANG_SAN_ID,
            "spouse_name": "王五", "spouse_id_number": valid_id_number(birth="19920101", sequence="422"),
            "issuing_authority": "广州市天河区民政局（示例）"}),
        "social_security_card": ("A12345678", {"name": "张三", "social_security_number": lf.ZHANG_SAN_ID,
                                               "issuing_region": "广州市", "issue_date": "2019-01-01"}),
        "business_licence": ("91440101MA5CXXXX3X", {
            "company_name": "示例科技有限公司", "company_type": "有限责任公司", "legal_representative": "张三",
            "established_on": "2018-08-08", "address": "广州市天河区示例大道 100 号", "issuing_authority": "广州市市场监督管理局（示例）"}),
    }
    for code, (number, fields) in samples.items():
        issuer = await make_department(clock, f"{code} 签发机构（示例）", ["licence_issuer"])
        assert (await assign(client, licence_admin, code, issuer.id)).status_code == 200
        issued = await issue(client, issuer, licence_type=code, number=number, fields=fields)
        assert issued["holder_name_masked"] == "*三", code
    mine = (await client.get(lf.LICENCES, headers=zhang_san.headers)).json()["items"]
    assert {i["licence_type"] for i in mine} == set(samples)
