"""Deleting an account (注销): request, status and cancel; the cooling-off period; the erasure job; and, row by
row over every table of the schema, what remains afterwards."""

from __future__ import annotations

from app.accounts.keys import citizen_key

import asyncio
import logging
from datetime import timedelta
from typing import Any

from api.services import services_of
from app.accounts.deletion import AccountDeletions
from app.accounts.models import AccountDeletion, Citizen
from app.audit import AuditEntry
from app.errors import NotFound
from app.notifications.models import Notification
from app.notifications.service import notify
from app.hotline.models import Ticket
from health_code.models import IssuedHealthCode
from app.jobs import run_exclusively
from app.payments.models import Payment
from app.services.applications.models import Application
from app.services.catalogue.models import ServiceItem
from tests.accounts.deletion_factory import DELETION, ask_deletion, make, step_up
from tests.core.test_audit import run_cli
from tests.factories import last_code, make_department, new_phone, refresh_tokens, sign_in, valid_id_number
from tests.factories import verify_real_name
from tests.elderly_mode.elderly_factory import elder, family_member, linked
from tests.health_code.interop.partners_factory import VERIFICATIONS, make_partner, make_partner_admin

COOLING_OFF = timedelta(days=15)


def deletions_of(app: Any) -> AccountDeletions:
    return services_of(app).deletions


def error_code(reply: Any) -> str:
    return reply.json()["error"]["code"]


async def test_asking_checking_and_cancelling_a_deletion(client, sms, clock):
    citizen = await sign_in(client, sms)
    assert (await client.get(DELETION, headers=citizen.headers)).json()["status"] == "none"

    asked = await ask_deletion(client, sms, citizen)
    assert asked["status"] == "cooling_off"
    assert asked["erase_after"] and asked["requested_at"] and asked["cancelled_at"] is None
    row = await AccountDeletion.get(citizen_id=citizen.id)
    assert row.erase_after - row.requested_at == COOLING_OFF
    assert "账号注销申请已受理" in sms.outbox(citizen.phone)[0].text  # a request the citizen did not make is noticed

    again = await client.post(DELETION, headers=citizen.headers)  # the same request, not a new period
    assert again.status_code == 202 and again.json()["erase_after"] == asked["erase_after"]
    status = await client.get(DELETION, headers=citizen.headers)
    assert status.status_code == 200 and status.json() == asked

    cancelled = await client.delete(DELETION, headers=citizen.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"]
    assert "账号注销已撤销" in sms.outbox(citizen.phone)[0].text
    assert (await client.get(DELETION, headers=citizen.headers)).json()["status"] == "cancelled"


async def test_cancelling_with_nothing_pending_is_404(client, sms):
    citizen = await sign_in(client, sms)
    for _ in range(2):
        reply = await client.delete(DELETION, headers=citizen.headers)
        assert reply.status_code == 404 and error_code(reply) == "DELETION_NOT_REQUESTED"
        await ask_deletion(client, sms, citizen)
        assert (await client.delete(DELETION, headers=citizen.headers)).status_code == 200


async def test_a_deletion_needs_a_fresh_sms_code_on_this_session(client, sms, clock):
    citizen = await sign_in(client, sms)
    refused = await client.post(DELETION, headers=citizen.headers)
    assert refused.status_code == 403 and error_code(refused) == "FRESH_OTP_REQUIRED"
    assert "短信验证码" in refused.json()["error"]["message"]
    english = await client.post(DELETION, headers={**citizen.headers, "Accept-Language": "en"})
    assert english.status_code == 403 and "SMS" in english.json()["error"]["message"]

    await step_up(client, sms, citizen)
    clock.advance(seconds=3600)  # the step-up has lapsed
    citizen = await refresh_tokens(client, citizen)
    lapsed = await client.post(DELETION, headers=citizen.headers)
    assert lapsed.status_code == 403 and error_code(lapsed) == "FRESH_OTP_REQUIRED"
    assert await AccountDeletion.filter(citizen_id=citizen.id).count() == 0


async def test_work_in_progress_blocks_a_request_by_name(client, sms):
    citizen = await sign_in(client, sms)
    item = await ServiceItem.first()
    application = await make(Application, citizen_id=citizen.id, item=item, status="under_review")
    payment = await make(Payment, citizen_id=citizen.id, state="submitted",
                         expires_at=(await Citizen.get(id=citizen.id)).created_at + timedelta(days=1))
    ticket = await make(Ticket, citizen_id=citizen.id, status="accepted")
    await step_up(client, sms, citizen)
    for language, words in (("zh-Hans", "未办结"), ("en", "unfinished")):
        refused = await client.post(DELETION, headers={**citizen.headers, "Accept-Language": language})
        assert refused.status_code == 409 and error_code(refused) == "DELETION_BLOCKED"
        assert words in refused.json()["error"]["message"]
        assert sorted(refused.json()["error"]["blockers"], key=lambda b: b["kind"]) == [
            {"kind": "application", "id": application.id}, {"kind": "payment", "id": payment.id},
            {"kind": "ticket", "id": ticket.id}]

    await Application.filter(id=application.id).update(status="withdrawn")
    await Payment.filter(id=payment.id).update(state="cancelled")
    await Ticket.filter(id=ticket.id).update(status="answered")
    assert (await client.post(DELETION, headers=citizen.headers)).status_code == 202


async def test_nothing_is_erased_before_the_cooling_off_period_ends(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF - timedelta(minutes=1)).total_seconds())
    assert await deletions_of(app).erase_due() == {"erased": 0, "waiting": 0, "failed": 0}
    row = await Citizen.get(id=citizen.id)
    assert row.phone_enc and row.level == 1
    citizen = await refresh_tokens(client, citizen)  # the account still works, and can still cancel
    assert (await client.get("/api/v1/me", headers=citizen.headers)).status_code == 200
    assert (await client.delete(DELETION, headers=citizen.headers)).status_code == 200

    clock.advance(days=30)  # a cancelled request is never carried out
    assert await deletions_of(app).erase_due() == {"erased": 0, "waiting": 0, "failed": 0}
    assert (await Citizen.get(id=citizen.id)).phone_enc


async def test_at_the_end_of_the_period_only_money_in_flight_holds_up_the_erasure(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    application = await make(Application, citizen_id=citizen.id, item=await ServiceItem.first(), status="approved")
    clock.advance((COOLING_OFF + timedelta(minutes=1)).total_seconds())
    payment = await make(Payment, citizen_id=citizen.id, state="submitted", expires_at=clock.now() + timedelta(hours=1))
    assert await deletions_of(app).erase_due() == {"erased": 0, "waiting": 1, "failed": 0}
    citizen = await refresh_tokens(client, citizen)
    status = (await client.get(DELETION, headers=citizen.headers)).json()
    assert status["status"] == "waiting" and status["blockers"] == [{"kind": "payment", "id": payment.id}]

    await Payment.filter(id=payment.id).update(state="paid")  # the application a department holds waits for nobody
    ran = await run_exclusively(services_of(app).platform.cache, "account-erasure", deletions_of(app).erase_due)
    assert ran
    assert (await AccountDeletion.get(citizen_id=citizen.id)).status == "erased"
    assert (await Application.get(id=application.id)).status == "approved"  # kept, the department's record
    gone = await client.get("/api/v1/me", headers=citizen.headers)
    assert gone.status_code == 401


async def test_nobody_acts_for_a_citizen_who_asked_for_deletion(client, sms):
    mother, son = await elder(client, sms), await family_member(client, sms)
    await linked(client, sms, son, mother)
    assert (await client.get(f"/api/v1/family/{mother.id}/applications", headers=son.headers)).status_code == 200
    await ask_deletion(client, sms, mother)
    for language, words in (("zh-Hans", "注销"), ("en", "delet")):
        refused = await client.get(f"/api/v1/family/{mother.id}/applications",
                                   headers={**son.headers, "Accept-Language": language})
        assert refused.status_code == 409 and error_code(refused) == "PRINCIPAL_DELETION_PENDING"
        assert words in refused.json()["error"]["message"]
    assert (await client.delete(DELETION, headers=mother.headers)).status_code == 200
    assert (await client.get(f"/api/v1/family/{mother.id}/applications", headers=son.headers)).status_code == 200


async def test_the_old_phone_signs_in_to_a_new_account_and_erasing_twice_changes_nothing(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    citizen = await refresh_tokens(client, citizen)
    assert (await client.get("/api/v1/me", headers=citizen.headers)).status_code == 200
    cache = services_of(app).platform.cache
    assert await cache.get(citizen_key(citizen.id)) is not None  # the cached snapshot /me read
    assert await deletions_of(app).erase_due() == {"erased": 1, "waiting": 0, "failed": 0}
    assert await cache.get(citizen_key(citizen.id)) is None
    tombstone = await Citizen.filter(id=citizen.id).values()
    await deletions_of(app).erase(citizen.id)
    assert await Citizen.filter(id=citizen.id).values() == tombstone
    assert await deletions_of(app).erase_due() == {"erased": 0, "waiting": 0, "failed": 0}

    again = await sign_in(client, sms, phone=citizen.phone)
    assert again.id != citizen.id
    me = await client.get("/api/v1/me", headers=again.headers)
    assert me.status_code == 200 and me.json()["level"] == 1
    assert (await client.get(DELETION, headers=again.headers)).json()["status"] == "none"


async def test_the_audit_chain_still_verifies_after_an_erasure(app, client, sms, clock, settings, tmp_path):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    await deletions_of(app).erase_due()
    env = {"APP_DATA_DIR": str(tmp_path / "cli"), "APP_DATABASE_URL": settings.database_url}
    verified = await asyncio.to_thread(run_cli, "audit", "verify", **env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


async def test_every_online_check_of_an_erased_citizens_codes_says_revoked(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="王五", id_number=valid_id_number(sequence="741"))
    macau = await make_partner(client, await make_partner_admin(clock), "MO", name="澳门特别行政区卫生局（示例）")
    gate = await make_department(clock, "示例地铁站闸机", ["verifier"])
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    citizen = await refresh_tokens(client, citizen)
    code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    issued = await client.post("/api/v1/border-passes", headers=citizen.headers,
                               json={"partner": "MO", "document_type": "resident_id"})
    assert issued.status_code == 201, issued.text
    assert await deletions_of(app).erase_due() == {"erased": 1, "waiting": 0, "failed": 0}

    for cache_lost in (False, True):  # the code's cache entry says so, and so does its row
        if cache_lost:
            await services_of(app).platform.cache.clear()
        partner = await client.post(VERIFICATIONS, headers=macau.headers(), json={"codes": [code]})
        assert partner.json()["results"][0]["error"] == "REVOKED", partner.text
        at_gate = await client.post("/api/admin/v1/health-code/verifications", headers=gate.headers(),
                                    json={"payload": code, "purpose": "进站查验"})
        assert at_gate.json()["valid"] is False and at_gate.json()["error"] == "REVOKED", at_gate.text
        border = await client.post("/api/partner/v1/border-pass-verifications", headers=macau.headers(),
                                   json={"passes": [issued.json()["payload"]]})
        assert border.json()["results"][0]["valid"] is False
        assert border.json()["results"][0]["error"] == "REVOKED", border.text
    # Nobody's access log gets a check of a code nobody holds any more.
    assert not await AuditEntry.filter(category="access", subject_id=citizen.id,
                                       at__gt=(await AccountDeletion.get(citizen_id=citizen.id)).erased_at).exists()


async def test_a_cancellation_while_the_job_erases_the_account_comes_too_late(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    deletions = deletions_of(app)
    cancels: list[str] = []

    async def cancel_meanwhile(citizen_id: str) -> None:  # the citizen cancels while the job is half-way
        try:
            await deletions.cancel(citizen_id)
        except NotFound as refused:
            cancels.append(refused.code)

    deletions.erasers.insert(0, ("cancel_meanwhile", cancel_meanwhile))
    try:
        assert await deletions.erase_due() == {"erased": 1, "waiting": 0, "failed": 0}
    finally:
        deletions.erasers.pop(0)
    assert cancels == ["DELETION_NOT_REQUESTED"]  # never a cancelled request over an erased account
    row = await AccountDeletion.get(citizen_id=citizen.id)
    assert row.status == "erased" and row.cancelled_at is None
    assert not (await Citizen.get(id=citizen.id)).phone_enc


async def test_a_request_cancelled_before_the_job_claims_it_is_not_erased(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    await AccountDeletion.filter(citizen_id=citizen.id).update(status="cancelled")  # cancelled after the job read it
    await deletions_of(app).erase(citizen.id)  # a claim is needed
    assert (await Citizen.get(id=citizen.id)).phone_enc
    assert (await AccountDeletion.get(citizen_id=citizen.id)).status == "cancelled"


async def test_a_sign_in_during_the_erasure_starts_a_new_account(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    deletions = deletions_of(app)
    meanwhile: list[Any] = []

    async def sign_in_meanwhile(citizen_id: str) -> None:  # the old number signs in while the job is half-way
        meanwhile.append(await sign_in(client, sms, phone=citizen.phone))

    deletions.erasers.insert(1, ("sign_in_meanwhile", sign_in_meanwhile))
    try:
        assert await deletions.erase_due() == {"erased": 1, "waiting": 0, "failed": 0}
    finally:
        deletions.erasers.pop(1)
    assert meanwhile[0].id != citizen.id
    me = await client.get("/api/v1/me", headers=meanwhile[0].headers)
    assert me.status_code == 200 and me.json()["level"] == 1
    assert (await client.get("/api/v1/me", headers=citizen.headers)).status_code == 401


async def test_a_later_status_change_never_takes_back_revoked(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="赵六", id_number=valid_id_number(sequence="742"))
    macau = await make_partner(client, await make_partner_admin(clock), "MO", name="澳门特别行政区卫生局（示例）")
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    citizen = await refresh_tokens(client, citizen)
    code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    await deletions_of(app).erase_due()
    health = services_of(app).health
    await health._refuse(await IssuedHealthCode.filter(citizen_id=citizen.id), "red")  # an evaluation in flight
    await health._refuse_codes_behind(citizen.id, "yellow")
    assert set(await IssuedHealthCode.filter(citizen_id=citizen.id).values_list("status_changed_to", flat=True)) == {
        "revoked"}
    partner = await client.post(VERIFICATIONS, headers=macau.headers(), json={"codes": [code]})
    assert partner.json()["results"][0]["error"] == "REVOKED", partner.text


async def test_an_erasure_that_fails_is_logged_the_others_go_on_and_a_later_run_finishes_it(app, client, sms, clock):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    await ask_deletion(client, sms, first)
    await ask_deletion(client, sms, second)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    deletions = deletions_of(app)

    async def failing_for_first(citizen_id: str) -> None:
        if citizen_id == first.id:
            raise RuntimeError("a domain's store is down")

    deletions.erasers.append(("failing", failing_for_first))
    try:
        assert await deletions.erase_due() == {"erased": 1, "waiting": 0, "failed": 1}
        assert (await AccountDeletion.get(citizen_id=second.id)).status == "erased"
        assert (await AccountDeletion.get(citizen_id=first.id)).status == "erasing"  # claimed: no longer cancellable
        assert (await client.delete(DELETION, headers=first.headers)).status_code in (401, 404)
        assert await deletions.erase_due() == {"erased": 0, "waiting": 0, "failed": 0}  # the claim is fresh
    finally:
        deletions.erasers.pop()
    clock.advance(hours=1)  # the claim has gone stale: the next run takes it up again
    assert await deletions.erase_due() == {"erased": 1, "waiting": 0, "failed": 0}
    assert (await AccountDeletion.get(citizen_id=first.id)).status == "erased"


async def test_one_run_erases_at_most_its_cap(app, client, sms, clock, monkeypatch):
    for _ in range(3):
        await ask_deletion(client, sms, await sign_in(client, sms))
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    platform = deletions_of(app).platform
    monkeypatch.setattr(platform, "settings", platform.settings.with_(account_deletion_erase_per_run=2))
    assert await deletions_of(app).erase_due() == {"erased": 2, "waiting": 0, "failed": 0}
    assert await deletions_of(app).erase_due() == {"erased": 1, "waiting": 0, "failed": 0}


async def test_no_message_reaches_the_inbox_of_an_erased_account(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    await deletions_of(app).erase_due()
    sent_before = len(sms.outbox(citizen.phone))
    await notify(services_of(app).platform, citizen.id, "account_deletion_cancelled")  # e.g. a late refund's note
    assert not await Notification.filter(citizen_id=citizen.id).exists()
    assert len(sms.outbox(citizen.phone)) == sent_before


async def test_no_message_reaches_the_inbox_of_an_account_being_erased(app, client, sms, clock):
    """A message sent while the erasure runs, after the inbox was emptied (a domain erased after it, or a job
    on another worker), is dropped, even though the account is still signed in and its snapshot was cached."""
    citizen = await sign_in(client, sms)
    await ask_deletion(client, sms, citizen)
    assert (await client.get("/api/v1/me", headers=citizen.headers)).status_code == 200  # the snapshot is cached
    clock.advance((COOLING_OFF + timedelta(seconds=1)).total_seconds())
    deletions, platform = deletions_of(app), services_of(app).platform
    while_erasing: list[str] = []

    async def late_message(citizen_id: str) -> None:
        while_erasing.append((await AccountDeletion.get(citizen_id=citizen_id)).status)
        await notify(platform, citizen_id, "account_deletion_cancelled")

    deletions.erasers.append(("late message", late_message))  # after the inbox's own eraser
    try:
        assert await deletions.erase_due() == {"erased": 1, "waiting": 0, "failed": 0}
    finally:
        deletions.erasers.pop()
    assert while_erasing == ["erasing"]
    assert not await Notification.filter(citizen_id=citizen.id).exists()


async def test_a_sign_ins_message_asks_the_database_nothing_about_the_account(client, sms, caplog):
    """The new-device message of a sign-in is stored without a query about the account's deletion: whether it is
    closed is read from the citizen snapshot the sign-in caches (and the device's first requests read)."""
    phone = new_phone()
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": last_code(sms, phone)})
        assert reply.status_code == 200, reply.text
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {reply.json()['access_token']}"})
        assert me.status_code == 200
    queries = [record.getMessage() for record in caplog.records if record.name == "tortoise.db_client"]
    stored = next(i for i, q in enumerate(queries) if q.startswith('INSERT INTO "notifications"'))
    assert not [q for q in queries if "account_deletion" in q]
    citizen_reads = [q for q in queries[:stored] if q.startswith("SELECT") and 'FROM "citizens"' in q]
    assert len(citizen_reads) == 1 and '"phone_hash"=' in citizen_reads[0], citizen_reads  # the sign-in's own lookup
    assert await Notification.filter(citizen_id=me.json()["id"], kind="login_new_device").count() == 1
