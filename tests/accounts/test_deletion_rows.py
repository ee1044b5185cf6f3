"""What remains of an erased account (注销), row by row, over every table of the schema.

A citizen with data in every table the schema has for citizens (through the API where a story makes it, by
factories elsewhere) and a bystander with data of their own are snapshotted; the citizen's account is erased by
the job once the cooling-off period has passed; then every row of every table is checked: the citizen's rows are
gone, kept as they were, or kept changed as the README says (the tombstone, revoked codes and vouchers,
receipts out of the wallet); everyone else's rows are as they were. A table this test does not know fails it.
Afterwards the audit chain verifies, a partner checking the citizen's live code is told it is revoked, a
relying party redeeming their QR is told the voucher is revoked, and the old phone number signs in to a new
account."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any, Callable

from api.services import services_of
from app.jobs import run_exclusively
from app.accounts.models import Citizen
from app.vouchers.models import IdVoucher, LicenceType
from app.services.catalogue.models import ServiceItem
from tests.accounts.deletion_factory import ask_deletion, every_model, make, snapshot
from tests.core.test_audit import run_cli
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.partners_factory import VERIFICATIONS, make_partner, make_partner_admin
from tests.vouchers.voucher_factory import redeem, relying_party, shown_token, voucher_holder

Rows = dict[Any, dict[str, Any]]
Tables = dict[str, Rows]

# The erased citizen's rows: gone, or kept exactly as they were.
GONE = {"LoginSession", "RefreshToken", "FaceSession", "Notification", "NotificationDelivery", "HealthEvidence",
        "HealthStatus", "StatusEvaluation", "VenueCheckIn", "Appeal", "Licence", "LicenceShare", "Appointment",
        "CardPin", "FamilyLink", "UndoWindow", "MiniProgramBinding", "MiniProgramSubscription", "LicenceStatusPull",
        "SocialInsuranceProof", "DataExport", "OidcConsent", "OidcAuthorizationCode", "OidcAccessToken"}
KEPT = {"Application", "ApplicationEvent", "JointApplication", "JointPart", "Rating", "Ticket",
        "TicketEvent", "TicketRating", "Payment", "PaymentEvent", "PaidReference", "Refund", "Presentation"}
# Kept changed (checked by their own function below).
CHANGED = {"Citizen", "AccountDeletion", "IdVoucher", "Receipt", "IssuedHealthCode", "Upload", "FollowUpCase"}
# Rows of nobody in particular (catalogue, partners, clients, venues, reconciliation, the exchange log under
# per-department pseudonyms, the record of archived months): untouched. The audit chain only grows;
# appointment slots free a seat.
NOBODYS = {"ApiClient", "ApiClientKey", "Partner", "PartnerKey", "PartnerKeyFeed", "PartnerHolderKey",
           "RevokedPartnerCode", "Venue", "VenueExposure", "RiskArea", "StandingRequest", "LicenceType", "Department",
           "LifeEvent", "ServiceItem", "ItemFee", "ProviderNotice", "ReconciliationRun", "DiscrepancyCase",
           "ExchangeMessage", "OidcClient", "ArchivedPartition"}
GROWING = {"AuditEntry", "AuditHead", "AuditLayout", "AuditRoot", "AuditRootHead", "PendingAudit", "AppointmentSlot"}
# Tables whose rows reach a citizen through a parent row: (parent table, the column naming it).
PARENTS = {"RefreshToken": ("LoginSession", "session_id"), "NotificationDelivery": ("Notification", "notification_id"),
           "ApplicationEvent": ("Application", "application_id"), "JointPart": ("JointApplication", "joint_id"),
           "PaymentEvent": ("Payment", "payment_id"), "Refund": ("Payment", "payment_id"),
           "FollowUpCase": ("Rating", "rating_id"), "TicketEvent": ("Ticket", "ticket_id")}


def owners(table: str, row: dict[str, Any] | None, tables: Tables) -> set[str]:
    """The citizens a row belongs to."""
    if row is None:
        return set()
    if table == "Citizen":
        return {row["id"]}
    if table == "FamilyLink":
        return {row["principal_id"], row["proxy_id"]}
    if table in PARENTS:
        parent, column = PARENTS[table]
        return owners(parent, tables[parent].get(row[column]), tables)
    return {row["citizen_id"]} if row.get("citizen_id") else set()


async def give_rows(citizen_id: str, now: datetime, licence_type: LicenceType, item: ServiceItem,
                    slot: Any, venue: Any, models: dict[str, Any]) -> None:
    """A row in every citizen table the API story did not fill (sample values, 示例)."""
    m = models
    await make(m["HealthEvidence"], citizen_id=citizen_id, kind="declaration", source="self")
    await make(m["Appeal"], citizen_id=citizen_id, colour="yellow")
    await make(m["VenueCheckIn"], citizen_id=citizen_id, venue=venue)
    await make(m["IssuedHealthCode"], code_id=secrets.token_hex(6), citizen_id=citizen_id,
               issued_at=now - timedelta(days=2), expires_at=now - timedelta(days=1))  # an expired code
    licence = await make(m["Licence"], citizen_id=citizen_id, type=licence_type)
    await make(m["LicenceShare"], licence=licence, citizen_id=citizen_id, expires_at=now + timedelta(days=60))
    application = await make(m["Application"], citizen_id=citizen_id, item=item, status="completed")
    await make(m["ApplicationEvent"], application=application, to_status="completed")
    joint = await make(m["JointApplication"], citizen_id=citizen_id)
    await make(m["JointPart"], joint=joint, application=application, item_id=item.id, position=1)
    await make(m["Appointment"], slot=slot, citizen_id=citizen_id, item_id=item.id, day=slot.starts_at.date())
    rating = await make(m["Rating"], application=application, citizen_id=citizen_id, item_id=item.id)
    await make(m["FollowUpCase"], rating=rating)
    ticket = await make(m["Ticket"], citizen_id=citizen_id, status="closed")
    await make(m["TicketEvent"], ticket=ticket)
    await make(m["TicketRating"], ticket_id=ticket.id, citizen_id=citizen_id)
    await make(m["CardPin"], citizen_id=citizen_id, card_type="health_code", position=0)
    await make(m["UndoWindow"], application_id=application.id, citizen_id=citizen_id)
    payment = await make(m["Payment"], citizen_id=citizen_id, state="success", expires_at=now)
    await make(m["PaymentEvent"], payment=payment, to_state="success")
    await make(m["PaidReference"], payment_id=payment.id, citizen_id=citizen_id)
    await make(m["Refund"], payment=payment, state="succeeded")
    await make(m["Receipt"], payment=payment, citizen_id=citizen_id, payer_name_masked="**三", licence_id=licence.id)
    await make(m["MiniProgramBinding"], citizen_id=citizen_id)
    await make(m["MiniProgramSubscription"], citizen_id=citizen_id, topic="health_code")
    await make(m["Upload"], citizen_id=citizen_id, storage_key=f"uploads/kept{citizen_id[-8:]}", owner_kind="application",
               owner_id=application.id, attached_at=now)
    await make(m["Upload"], citizen_id=citizen_id, storage_key=f"uploads/unused{citizen_id[-8:]}",
               expires_at=now + timedelta(days=60))
    await make(m["LicenceStatusPull"], licence_id=licence.id, citizen_id=citizen_id)
    await make(m["SocialInsuranceProof"], citizen_id=citizen_id)
    await make(m["OidcConsent"], citizen_id=citizen_id, client_id="oidc-sample-site", scopes=["openid"])
    code_hash = secrets.token_hex(32)
    await make(m["OidcAuthorizationCode"], code_hash=code_hash, citizen_id=citizen_id, client_id="oidc-sample-site",
               expires_at=now + timedelta(minutes=1))
    await make(m["OidcAccessToken"], token_hash=secrets.token_hex(32), code_hash=code_hash, citizen_id=citizen_id,
               client_id="oidc-sample-site", expires_at=now + timedelta(minutes=10))
    await make(m["DataExport"], citizen_id=citizen_id, storage_key=f"exports/copy{citizen_id[-8:]}",
               expires_at=now + timedelta(minutes=10))


def same(before: dict[str, Any], after: dict[str, Any] | None, **changed: Any) -> None:
    assert after is not None, f"kept row gone: {before}"
    assert after == {**before, **changed}


def check_changed(table: str, before: dict[str, Any], after: dict[str, Any] | None, citizen_id: str,
                  at: datetime) -> None:
    """The citizen's rows that are kept but changed."""
    checks: dict[str, Callable[[], None]] = {
        "Citizen": lambda: same(before, after, phone_enc="", phone_hash=f"erased:{citizen_id}", name_enc=None,
                                id_number_enc=None, id_number_hash=None, level=0, elderly_mode=False,
                                identity_verified_at=None, face_verified_at=None, document_type="resident_id",
                                nationality=None, birth_date_enc=None),
        "AccountDeletion": lambda: same(before, after, status="erased", erased_at=(after or {}).get("erased_at"),
                                          claimed_at=(after or {}).get("claimed_at")),
        "IdVoucher": lambda: same(before, after, status="revoked", status_reason="account_erased",
                                  status_changed_at=(after or {}).get("status_changed_at"), device_id="", device_key={}),
        "Receipt": lambda: same(before, after, licence_id="erased", wallet_outdated=False),
        "IssuedHealthCode": lambda: _gone(after) if before["expires_at"] <= at else same(before, after, status_changed_to="revoked"),
        "Upload": lambda: same(before, after) if before["owner_id"] else _gone(after),
        "FollowUpCase": lambda: same(before, after) if before["status"] != "open" else same(
            before, after, status="closed", closed_at=(after or {}).get("closed_at")),
    }
    checks[table]()
    if table == "AccountDeletion":
        assert after and after["erased_at"] is not None


def _gone(after: dict[str, Any] | None) -> None:
    assert after is None, f"row still there: {after}"


def check_every_row(before: Tables, after: Tables, citizen_id: str, at: datetime) -> None:
    for table, rows in before.items():
        for key, row in rows.items():
            mine = citizen_id in owners(table, row, before)
            kept = after[table].get(key)
            if table in GROWING:
                if table == "AuditEntry":
                    same(row, kept)  # never rewritten
                continue
            if not mine:
                same(row, kept)  # nobody else's rows change
            elif table in GONE:
                _gone(kept)
            elif table in KEPT:
                same(row, kept)
            else:
                check_changed(table, row, kept, citizen_id, at)
        for key, row in after[table].items():
            if key not in rows:  # a new row: never the erased citizen's
                assert citizen_id not in owners(table, row, after), f"new {table} row of the erased citizen: {row}"


async def test_what_remains_of_an_erased_account_row_by_row(app, client, second_party, sms, clock, settings, tmp_path):
    models = every_model()
    assert set(models) == GONE | KEPT | CHANGED | NOBODYS | GROWING, "a table this test does not know"

    # The citizen: level 3 with the ID voucher (API), and a bystander, real-name, acting for them.
    zhang = await voucher_holder(client, sms, name="张三", sequence="731")
    li = await sign_in(client, sms)
    await verify_real_name(client, li, name="李四", id_number=valid_id_number(sequence="732"))
    assert (await client.get("/api/v1/health-code", headers=zhang.headers)).status_code == 200
    now = clock.now()
    item, licence_type = await ServiceItem.first(), await LicenceType.get(code="driving_licence")
    assert item is not None
    slot = await make(models["AppointmentSlot"], item=item, starts_at=now + timedelta(days=30),
                      ends_at=now + timedelta(days=30, hours=1), capacity=5, booked=2)
    venue = await make(models["Venue"])
    for citizen_id in (zhang.citizen.id, li.id):
        await give_rows(citizen_id, now, licence_type, item, slot, venue, models)
    await make(models["FamilyLink"], principal_id=zhang.citizen.id, proxy_id=li.id, relation="child", basis="sms",
               status="active", confirmed_at=now, expires_at=now + timedelta(days=365))
    await make(models["ExchangeMessage"])
    partner = await make_partner(client, await make_partner_admin(clock))
    hotel = await relying_party(clock, "示例大酒店前台", ["is_holder"])

    await ask_deletion(client, sms, zhang.citizen)
    # The last day of the cooling-off period: the citizen still shows their code and their voucher QR.
    clock.advance(days=15, seconds=-30)
    await refresh_tokens(client, zhang.citizen)
    code = (await client.get("/api/v1/health-code", headers=zhang.headers)).json()["payload"]
    qr = (await shown_token(client, zhang, clock))["token"]
    clock.advance(seconds=31)

    before, at = await snapshot(), clock.now()
    for table in GONE | KEPT | CHANGED:
        assert any(zhang.citizen.id in owners(table, row, before) for row in before[table].values()), \
            f"the citizen has no {table} row to erase"
    ran = await run_exclusively(services_of(app).platform.cache, "account-erasure", services_of(app).deletions.erase_due)
    assert ran
    after = await snapshot()
    check_every_row(before, after, zhang.citizen.id, at)
    assert after["AppointmentSlot"][slot.id]["booked"] == 1  # the citizen's seat is free again
    assert [n["kind"] for n in after["Notification"].values() if n["citizen_id"] == li.id][-1] == "family_link_ended"

    # The audit chain verifies, by the auditor's own command.
    env = {"APP_DATA_DIR": str(tmp_path / "cli"), "APP_DATABASE_URL": settings.database_url}
    verified = await asyncio.to_thread(run_cli, "audit", "verify", **env)
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr

    # A partner region checking the citizen's code is told it is revoked; a hotel redeeming their QR, that the
    # voucher is; their old session is signed out.
    checked = await second_party.post(VERIFICATIONS, headers=partner.headers(), json={"codes": [code]})
    assert checked.status_code == 200, checked.text
    assert checked.json()["results"][0]["valid"] is False and checked.json()["results"][0]["error"] == "REVOKED"
    redeemed = await redeem(second_party, hotel, qr, ["is_holder"])
    assert redeemed.status_code == 409 and redeemed.json()["error"]["code"] == "VOUCHER_REVOKED"
    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "revoked"
    assert (await client.get("/api/v1/me", headers=zhang.headers)).status_code == 401

    # The old phone number signs in to a new account; erasing again changes nothing.
    fresh = await sign_in(client, sms, phone=zhang.citizen.phone)
    assert fresh.id != zhang.citizen.id and await Citizen.filter(phone_hash=f"erased:{zhang.citizen.id}").exists()
    settled = await snapshot()
    await services_of(app).deletions.erase(zhang.citizen.id)
    assert await snapshot() == settled
