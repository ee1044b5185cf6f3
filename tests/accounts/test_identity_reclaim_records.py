"""What departments attached to an identity follows the identity when its owner takes it back with a
face check: the e-licences and the lab's test result move to the owner's account, the other account's
shares and health codes stop verifying, and what that account declared about itself stays with it."""

from __future__ import annotations

from typing import Any

import httpx

from app.audit import AuditEntry
from health_code.models import HealthEvidence
from tests.factories import Department, SignedInCitizen, make_department, sign_in, valid_id_number
from tests.vouchers.licence_factory import (
    LICENCES, POLICE, SHARES, assign, driving_fields, issue, share, verify,
)

EN = {"Accept-Language": "en"}
IDENTITY = "/api/v1/me/identity"
FACE_SESSIONS = "/api/v1/me/identity/face/sessions"
FACE = "/api/v1/me/identity/face"
CODE = "/api/v1/health-code"
DECLARE = "/api/v1/health-code/declarations"
TEST_RESULTS = "/api/admin/v1/test-results"
GATE_CHECK = "/api/admin/v1/health-code/verifications"
NAME = "周建华"


async def take_identity(client: httpx.AsyncClient, citizen: SignedInCitizen, number: str) -> httpx.Response:
    return await client.post(IDENTITY, headers={**citizen.headers, **EN}, json={"name": NAME, "id_number": number})


async def reclaim(client: httpx.AsyncClient, tencent, owner: SignedInCitizen, number: str) -> dict[str, Any]:
    """The owner's face session for the pair, completed at the provider, then finished here."""
    started = await client.post(FACE_SESSIONS, headers={**owner.headers, **EN},
                                json={"purpose": "reclaim", "name": NAME, "id_number": number})
    assert started.status_code == 201, started.text
    tencent.complete_face(started.json()["biz_token"], outcome="pass")
    done = await client.post(FACE, headers={**owner.headers, **EN}, json={"session_id": started.json()["session_id"]})
    assert done.status_code == 200, done.text
    return done.json()


async def report_positive(client: httpx.AsyncClient, lab: Department, clock, number: str) -> str:
    posted = await client.post(TEST_RESULTS, headers=lab.headers(), json={
        "id_number": number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-77"})
    assert posted.status_code == 201, posted.text
    return posted.json()["color"]


async def traffic_police(client: httpx.AsyncClient, clock) -> Department:
    """The assigned issuer of driving licences (as the wallet stories' `police` fixture)."""
    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    issuer = await make_department(clock, POLICE, ["licence_issuer"])
    assert (await assign(client, admin, "driving_licence", issuer.id)).status_code == 200
    return issuer


async def gate_check(client: httpx.AsyncClient, gate: Department, payload: str) -> dict[str, Any]:
    checked = await client.post(GATE_CHECK, headers=gate.headers(), json={"payload": payload})
    assert checked.status_code == 200, checked.text
    return checked.json()


async def someone_else_takes_the_pair(client: httpx.AsyncClient, sms, clock, number: str, lab: Department,
                                     police: Department, landlord_agency: Department
                                     ) -> tuple[SignedInCitizen, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Someone else's account takes the pair; it declares about itself, then departments record the identity: a
    driving licence (which it shares) and a positive test (its code turns red). Returns that account, the licence,
    the share and its health code."""
    squatter = await sign_in(client, sms, device="别人的手机")
    assert (await take_identity(client, squatter, number)).json() == {"level": 2, "document_type": "resident_id", "confirmed": True}
    declared = await client.post(DECLARE, headers=squatter.headers, json={
        "symptoms": False, "confirmed_case": False, "travel_regions": [], "truthful": True})
    assert declared.status_code == 200, declared.text
    licence = await issue(client, police, holder_id_number=number, number=number, fields=driving_fields(name=NAME))
    assert await report_positive(client, lab, clock, number) == "red"
    squatter_code = (await client.get(CODE, headers=squatter.headers)).json()
    assert squatter_code["color"] == "red"
    assert [item["id"] for item in (await client.get(LICENCES, headers=squatter.headers)).json()["items"]] == \
        [licence["id"]]
    shared = await share(client, squatter, licence["id"])
    assert (await verify(client, landlord_agency, shared["verification_token"]))["valid"] is True
    return squatter, licence, shared, squatter_code


async def assert_the_owner_holds_the_licence_and_the_result(client: httpx.AsyncClient, owner: SignedInCitizen,
                                                            licence: dict[str, Any]) -> None:
    """The owner's wallet holds the licence, and the owner's code shows the lab result."""
    wallet = (await client.get(LICENCES, headers=owner.headers)).json()["items"]
    assert [item["id"] for item in wallet] == [licence["id"]]
    assert (await client.get(f"{LICENCES}/{licence['id']}", headers=owner.headers)).status_code == 200
    assert (await client.get(CODE, headers=owner.headers)).json()["color"] == "red"


async def assert_the_other_account_sees_neither(client: httpx.AsyncClient, squatter: SignedInCitizen,
                                                licence: dict[str, Any]) -> None:
    assert (await client.get("/api/v1/me", headers=squatter.headers)).json()["level"] == 1
    for path in (LICENCES, f"{LICENCES}/{licence['id']}", CODE):
        refused = await client.get(path, headers=squatter.headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED", path


async def assert_its_share_and_code_stop_verifying(client: httpx.AsyncClient, squatter: SignedInCitizen,
                                                   landlord_agency: Department, gate: Department,
                                                   shared: dict[str, Any], squatter_code: dict[str, Any]) -> None:
    after = await verify(client, landlord_agency, shared["verification_token"])
    assert (after["valid"], after["error"]) == (False, "SHARE_WITHDRAWN")
    mine = (await client.get(SHARES, headers=squatter.headers)).json()["items"]
    assert [(item["id"], item["state"]) for item in mine] == [(shared["id"], "withdrawn")]
    checked = await gate_check(client, gate, squatter_code["payload"])
    assert (checked["valid"], checked["error"]) == (False, "STATUS_CHANGED")


async def assert_evidence_follows_its_source_and_the_moves_are_audited(
        owner: SignedInCitizen, squatter: SignedInCitizen, lab: Department) -> None:
    """What the other account declared about itself stayed with it; the lab's result went to the owner."""
    kept = await HealthEvidence.filter(citizen_id=squatter.id).values_list("kind", "source")
    assert kept == [("declaration", "self")]
    moved = await HealthEvidence.filter(citizen_id=owner.id).values_list("kind", "source")
    assert moved == [("test_result", f"department:{lab.id}")]

    entries = {entry.action: entry for entry in await AuditEntry.filter(action__in=["licences_moved",
                                                                                    "health_evidence_moved"])}
    assert entries["licences_moved"].attributes == {"from": squatter.id, "licences": 1, "shares_ended": 1}
    assert entries["health_evidence_moved"].attributes == {"from": squatter.id, "evidence": 1, "codes_refused": 1}
    assert {entry.subject_id for entry in entries.values()} == {owner.id}
    assert {entry.actor for entry in entries.values()} == {"system"}


async def test_the_owner_gets_the_licences_and_lab_results_of_an_identity_taken_back(
        client, sms, tencent, clock):
    number = valid_id_number(region="440103", birth="19780214", sequence="737")
    tencent.add_person(NAME, number)
    lab = await make_department(clock, "示例检验所", ["lab"])
    gate = await make_department(clock, "示例地铁站闸机", ["verifier"])
    police = await traffic_police(client, clock)
    landlord_agency = await make_department(clock, "示例房屋租赁服务有限公司", [], audience="relying_party")
    squatter, licence, shared, squatter_code = await someone_else_takes_the_pair(
        client, sms, clock, number, lab, police, landlord_agency)

    # The owner finds the pair taken and takes it back with a face check.
    owner = await sign_in(client, sms, device="本人手机")
    taken = await take_identity(client, owner, number)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "ID_NUMBER_TAKEN"
    assert await reclaim(client, tencent, owner, number) == {"level": 3}
    await assert_the_owner_holds_the_licence_and_the_result(client, owner, licence)

    # The other account, signed in again at level 1, sees neither; its share and its code stop verifying.
    squatter = await sign_in(client, sms, phone=squatter.phone, device="别人的手机")
    await assert_the_other_account_sees_neither(client, squatter, licence)
    await assert_its_share_and_code_stop_verifying(client, squatter, landlord_agency, gate, shared, squatter_code)
    await assert_evidence_follows_its_source_and_the_moves_are_audited(owner, squatter, lab)
