"""A citizen with something held in every area of the copy of their data (个人信息副本).

What the API makes easily is made through it (sign-in, 实名, a licence, an application with an uploaded photo,
a 12345 ticket, a family link); the rest is written straight into each domain's tables (sample data, 示例):
a health-code history, a paid fee with its receipt and a refund, an ID-voucher showing, an appointment, ratings,
a pinned card, a mini-program binding, a printed social-insurance proof and a face check.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any

import httpx

from app import audit
from app.accounts.models import AccountDeletion, FaceSession
from app.integrations.exchange.client import ExchangeClient
from app.integrations.exchange.models import ExchangeMessage
from app.integrations.exchange.protocol import ServiceId
from app.departments.models import LicenceStatusPull, SocialInsuranceProof
from app.miniprogram.models import MiniProgramBinding, MiniProgramSubscription
from app.notifications.models import Notification, NotificationDelivery
from app.oidc.models import OidcAccessToken, OidcAuthorizationCode, OidcConsent
from app.payments.models import PaidReference, Payment, PaymentEvent, Receipt, Refund
from app.platform import Platform
from app.services.applications.models import Application, JointApplication, JointPart
from app.services.appointments.models import Appointment, AppointmentSlot
from app.services.cards.models import CardPin
from app.services.ratings.models import FollowUpCase, Rating, TicketRating
from app.vouchers.models import IdVoucher, Licence, LicenceShare, Presentation
from elderly_mode.models import UndoWindow
from health_code.models import Appeal, HealthEvidence, HealthStatus, IssuedHealthCode, StatusEvaluation, Venue, \
    VenueCheckIn
from standins.tencent_cloud.control import TencentStandIn
from tests.factories import SignedInCitizen

EXPORTS = "/api/v1/me/exports"
ACCESS_LOG = "/api/v1/me/access-log"


async def fresh_step_up(client: httpx.AsyncClient, sms: TencentStandIn, citizen: SignedInCitizen) -> None:
    """The citizen proves they hold their phone now: a step-up code by SMS, entered in the app."""
    sent = await client.post("/api/v1/me/step-up/code", headers=citizen.headers)
    assert sent.status_code == 202, sent.text
    found = (re.search(r"确认本人操作，验证码为 (\d{6})", message.text) for message in sms.outbox(citizen.phone))
    code = next(match.group(1) for match in found if match)  # the newest step-up code
    reply = await client.post("/api/v1/me/step-up", headers=citizen.headers, json={"code": code})
    assert reply.status_code == 200, reply.text


def _id() -> str:
    return secrets.token_hex(8)


async def hold_something_everywhere(platform: Platform, citizen_id: str, application_id: str, licence_id: str,
                                    ticket_id: str, item_id: str) -> None:
    """Rows in every area the API calls of the test did not fill (sample data, 示例)."""
    await _health_code(platform, citizen_id)
    await _payments(platform, citizen_id, licence_id)
    await _wallet(platform, citizen_id, licence_id)
    await _services(platform, citizen_id, application_id, ticket_id, item_id)
    await _account_extras(platform, citizen_id, licence_id)


RETIRED_SERVICE = "CN-GD/GOV/11440000MB2C00001X/old-hpf/hpf_balance/v1"
"""A department service that was asked about the citizen, then no longer registered (示例)."""


async def a_department_was_asked(exchange: ExchangeClient, citizen_id: str) -> None:
    """The message log's lines of requests about the citizen (sample): one to a registered department service,
    one to a department no longer registered; and one about someone else."""
    registered = next(iter(exchange.registrations.values())).service
    retired = ServiceId.parse(RETIRED_SERVICE)
    for service, user in ((registered, exchange.pseudonym(registered.provider.member_code, citizen_id)),
                          (retired, exchange.pseudonym(retired.provider.member_code, citizen_id)),
                          (registered, exchange.pseudonym(registered.provider.member_code, "someone-else"))):
        await ExchangeMessage.create(
            message_id=_id(), at=exchange.platform.clock.now(), client=str(exchange.client_id), service=str(service),
            purpose="home_card", user=user, request_hash="A" * 43, response_hash="B" * 43, status=200, duration_ms=21)


async def _health_code(platform: Platform, citizen_id: str) -> None:
    now = platform.clock.now()
    await HealthEvidence.create(id=_id(), citizen_id=citizen_id, kind="test", source="广州市第一人民医院（示例）",
                                observed_at=now - timedelta(hours=30), recorded_at=now, data={"result": "negative"})
    await HealthStatus.create(citizen_id=citizen_id, colour="green", reasons=[1], rule_version="sample-1",
                              evaluated_at=now)
    await StatusEvaluation.create(citizen_id=citizen_id, colour="green", reasons=[1], rule_version="sample-1",
                                  evaluated_at=now, trigger="evidence", changed=False)
    venue = await Venue.create(id=_id(), name="天河城购物中心（示例）", address="广州市天河区天河路 208 号（示例）",
                               region_code="440106", organisation_id="org-sample", created_at=now)
    await VenueCheckIn.create(id=_id(), citizen_id=citizen_id, venue=venue, at=now)
    await Appeal.create(id=_id(), citizen_id=citizen_id, colour="yellow", reason="已完成核酸检测，结果阴性（示例）",
                        created_at=now)
    await IssuedHealthCode.create(code_id=_id(), citizen_id=citizen_id, issued_at=now, expires_at=now + timedelta(minutes=3),
                                  colour="green")


async def _payments(platform: Platform, citizen_id: str, licence_id: str) -> None:
    now = platform.clock.now()
    payment = await Payment.create(
        id=f"PAY{_id()}", citizen_id=citizen_id, reference="utility_bill:UBEL2600648025", reference_kind="utility_bill",
        amount_fen=16025, description="广州供电局电费（示例）", idempotency_key=_id(), request_hash=_id(),
        state="refunded_partly", created_at=now, updated_at=now, expires_at=now + timedelta(minutes=15), settled_at=now)
    await PaymentEvent.create(payment=payment, from_state="created", to_state="paid", actor="wechatpay",
                              actor_type="system", at=now)
    await Refund.create(id=f"RF{_id()}", payment=payment, amount_fen=1000, reason="多缴退费（示例）",
                        requested_by="clerk-sample", created_at=now)
    await Receipt.create(number=f"R{_id()}", payment=payment, citizen_id=citizen_id, check_hash="0" * 64,
                         payer_name_masked="**英", licence_id=licence_id, issued_at=now)
    await PaidReference.create(reference=payment.reference, payment_id=payment.id, citizen_id=citizen_id, paid_at=now)


async def _wallet(platform: Platform, citizen_id: str, licence_id: str) -> None:
    now = platform.clock.now()
    voucher = await IdVoucher.create(id=_id(), citizen_id=citizen_id, device_id="device-sample",
                                     device_key={"kty": "EC", "crv": "P-256", "x": "sample", "y": "sample"},
                                     issued_at=now, status_changed_at=now)
    await Presentation.create(id=_id(), voucher=voucher, citizen_id=citizen_id, consented=["age_over_18"],
                              created_at=now, expires_at=now + timedelta(minutes=3), redeemed_at=now,
                              redeemed_by="hotel-sample")
    await audit.record_access(platform.clock, citizen_id=citizen_id, actor="广州天河示例酒店", actor_type="relying_party",
                              action="voucher_redeemed", attributes=["age_over_18"], purpose="入住登记（示例）")
    licence = await Licence.get(id=licence_id)
    await LicenceShare.create(id=_id(), licence=licence, citizen_id=citizen_id, purpose="租房（示例）", created_at=now,
                              expires_at=now + timedelta(days=1))


async def _services(platform: Platform, citizen_id: str, application_id: str, ticket_id: str, item_id: str) -> None:
    now = platform.clock.now()
    application = await Application.get(id=application_id)
    joint = await JointApplication.create(id=_id(), citizen_id=citizen_id, bundle_code="newborn-sample",
                                          idempotency_key=_id(), request_hash=_id(), created_at=now)
    await JointPart.create(joint=joint, item_id=item_id, position=1, application=application, created_at=now)
    await UndoWindow.create(application_id=application_id, citizen_id=citizen_id, submitted_at=now,
                            undo_until=now + timedelta(minutes=10))
    slot = await AppointmentSlot.create(id=_id(), office="天河区政务服务中心（示例）", item_id=item_id,
                                        starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=1),
                                        capacity=5, booked=1)
    await Appointment.create(id=_id(), slot=slot, citizen_id=citizen_id, item_id=item_id, day=(now + timedelta(days=2)).date(),
                             created_at=now)
    rating = await Rating.create(id=_id(), application=application, citizen_id=citizen_id, item_id=item_id,
                                 department_id="gz-civil-affairs-sample", score=2, tags=["等待时间长"],
                                 text="排队太久（示例）", created_at=now)
    await FollowUpCase.create(id=_id(), rating=rating, department_id="gz-civil-affairs-sample",
                              deadline=now + timedelta(days=5), created_at=now)
    await TicketRating.create(id=_id(), ticket_id=ticket_id, answer_round=1, citizen_id=citizen_id,
                              department_id="gz-scjgj", score=5, created_at=now)
    await CardPin.create(citizen_id=citizen_id, card_type="health_code", position=0)


async def _account_extras(platform: Platform, citizen_id: str, licence_id: str) -> None:
    now, pii = platform.clock.now(), platform.pii
    await AccountDeletion.create(citizen_id=citizen_id, status="cancelled", requested_at=now - timedelta(days=3),
                                 erase_after=now + timedelta(days=12), cancelled_at=now - timedelta(days=2))
    site, code_hash = "oidc-gz-housing-sample", _id()
    await OidcConsent.create(citizen_id=citizen_id, client_id=site, scopes=["openid", "profile"], granted_at=now)
    await OidcAuthorizationCode.create(code_hash=code_hash, client_id=site, citizen_id=citizen_id,
                                       redirect_uri="https://zfj.gz.gov.cn.example/callback", scope="openid profile",
                                       code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                       code_challenge_method="S256", level=2, auth_time=int(now.timestamp()),
                                       created_at=now, expires_at=now + timedelta(minutes=1), used_at=now)
    await OidcAccessToken.create(token_hash=_id(), code_hash=code_hash, client_id=site, citizen_id=citizen_id,
                                 scope="openid profile", created_at=now, expires_at=now + timedelta(minutes=10))
    await FaceSession.create(id=_id(), citizen_id=citizen_id, purpose="level3", provider="tencent-faceid",
                             biz_token=_id(), name_enc=pii.encrypt("王秀英", "name"),
                             id_number_enc=pii.encrypt("440104195006122843", "id_number"), id_number_hash=_id(),
                             created_at=now, expires_at=now + timedelta(minutes=10))
    await MiniProgramBinding.create(id=_id(), appid="wx-sample", openid_hash=_id(),
                                    openid_enc=pii.encrypt("o-sample-openid", "mp_openid"), citizen_id=citizen_id,
                                    verified_by="sms", created_at=now, last_login_at=now)
    await MiniProgramSubscription.create(citizen_id=citizen_id, topic="application_result", remaining=1, updated_at=now)
    proof_id = _id()
    await SocialInsuranceProof.create(
        id=proof_id, citizen_id=citizen_id, record_no="GDSI-sample", record_digest="0" * 64,
        record_enc=pii.encrypt(json.dumps({"record_no": "GDSI-sample", "sample": True}), f"si-proof-record:{proof_id}"),
        holder_enc=pii.encrypt(json.dumps({"name": "**英"}, ensure_ascii=False), f"si-proof-holder:{proof_id}"),
        issuer="广东省社会保险基金管理局（示例）", issued_on=now.date(), pension_months=420, personal_account_fen=5231608,
        issued_at=now, valid_until=now.date() + timedelta(days=90))
    await LicenceStatusPull.create(licence_id=licence_id, citizen_id=citizen_id, tried_at=now, outcome="unchanged")
    notification = await Notification.filter(citizen_id=citizen_id).first()
    if notification is None or not await NotificationDelivery.filter(notification=notification).exists():
        notification = notification or await Notification.create(id=_id(), citizen_id=citizen_id, kind="identity_verified",
                                                                 params={}, created_at=now)
        await NotificationDelivery.create(notification=notification, channel="sms", created_at=now, updated_at=now)


def areas_of(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    areas: dict[str, list[dict[str, Any]]] = data["areas"]
    return areas
