"""Health codes and border passes for a citizen whose document is not a resident ID: a lab names them by their
港澳台居民居住证 number, and a border pass carries the type of the document bound to the account."""

from __future__ import annotations

import pytest

from app.accounts import documents
from tests.factories import sign_in
from tests.health_code.interop.partners_factory import CHINESE_WORDS, make_partner, make_partner_admin

HEAD = "820000" + "19791203" + "046"  # 示例: a Macau resident's 居住证
RESIDENCE_PERMIT = HEAD + documents.gb11643_check_char(HEAD)
BORDER_PASS_CHECK = "/api/partner/v1/border-pass-verifications"


@pytest.fixture
async def macau(app, client, clock):
    return await make_partner(client, await make_partner_admin(clock), "MO", name="澳门特别行政区卫生局（示例）",
                              status_mapping=CHINESE_WORDS)


async def permit_holder(client, sms):
    citizen = await sign_in(client, sms)
    bound = await client.post("/api/v1/me/identity", headers=citizen.headers, json={
        "name": "何美娟", "id_number": RESIDENCE_PERMIT, "document_type": "residence_permit"})
    assert bound.status_code == 200 and bound.json()["level"] == 2, bound.text
    return citizen


async def test_a_lab_names_a_residence_permit_holder_by_its_number(client, sms, clock, lab):
    citizen = await permit_holder(client, sms)
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": RESIDENCE_PERMIT, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-820"})
    assert posted.status_code == 201 and posted.json()["color"] == "red", posted.text
    assert (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["color"] == "red"


async def test_a_border_pass_carries_the_type_of_the_bound_document(client, sms, macau):
    citizen = await permit_holder(client, sms)
    for asked in ("resident_id", "residence_permit"):  # what older clients send means the document bound
        issued = await client.post("/api/v1/border-passes", headers=citizen.headers,
                                   json={"partner": "MO", "document_type": asked})
        assert issued.status_code == 201, issued.text
        assert (issued.json()["document_type"], issued.json()["document_last4"]) == ("residence_permit",
                                                                                      RESIDENCE_PERMIT[-4:])
        checked = await client.post(BORDER_PASS_CHECK, headers=macau.headers(),
                                    json={"passes": [issued.json()["payload"]]})
        [result] = checked.json()["results"]
        assert result["valid"] is True and result["document_type"] == "residence_permit"
    other = await client.post("/api/v1/border-passes", headers=citizen.headers,
                              json={"partner": "MO", "document_type": "passport"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "VALIDATION_FAILED"
