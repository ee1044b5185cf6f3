"""What the handlers reach: one typed container of the services the composition root builds.

`app/server.py` builds a `Services` once per app and keeps it as `app.ctx.services`; a handler asks
for it with `services(request)`, so each attribute it uses has its real type (per-request state stays
on `request.ctx`). It lives in the HTTP layer because the handlers are what use it, and the HTTP layer
may import every domain; the core cannot.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from sanic import Request, Sanic

from app.access_log import AccessLog
from app.accounts.devices import DeviceTokens
from app.accounts.service import AccountDeletions, AccountService
from app.config import Settings
from app.departments.service import DepartmentServices
from app.exports.service import ExportService
from app.hotline.service import HotlineService
from app.integrations.exchange.client import ExchangeClient
from app.integrations.face import FaceProvider
from app.integrations.identity import IdentityAuthority
from app.integrations.push.jpush import JPush
from app.integrations.sms import SmsGateway
from app.integrations.sms.standin_outbox import StandInOutbox
from app.miniprogram.platform import MiniProgramPlatform
from app.miniprogram.service import MiniProgramService
from app.oidc.service import OidcService
from app.payments.service import PaymentService
from app.platform import Platform
from app.services.applications.joint import JointApplicationService
from app.services.applications.service import ApplicationService
from app.uploads.service import UploadService
from app.services.appointments.service import AppointmentService
from app.services.cards.service import DepartmentBackend, HomeCards
from app.services.catalogue.service import CatalogueService
from app.services.ratings.service import RatingService
from app.vouchers.licences import LicenceService
from app.vouchers.service import VoucherService
from elderly_mode.print import LargePrint
from elderly_mode.service import FamilyService
from elderly_mode.undo import UndoService
from health_code.appeals import AppealService
from health_code.interop.key_feed import PartnerKeyFeeds
from health_code.interop.registry import PartnerRegistry
from health_code.interop.service import InteropService
from health_code.interop.trust import PartnerTrustList
from health_code.risk_areas import RiskAreaService
from health_code.service import HealthCodeService
from health_code.venues import VenueService


class ShapedReplies:
    """Reply bodies shaped once and reused, by key; beyond `size` the oldest are dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._bodies: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def keep(self, key: tuple[str, str], body: dict[str, Any]) -> None:
        self._bodies[key] = body
        if len(self._bodies) > self.size:
            self._bodies.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    platform: Platform
    # Outside parties, over their published protocols (stand-ins on loopback outside production).
    sms: SmsGateway
    identity: IdentityAuthority
    face: FaceProvider
    sms_outbox: StandInOutbox | None  # the stand-in's outbox, behind the dev endpoints only
    push: JPush
    mini_program: MiniProgramPlatform
    exchange: ExchangeClient | None  # none without APP_EXCHANGE_REGISTRY
    # The domains.
    accounts: AccountService
    deletions: AccountDeletions  # 注销: request, cancel, the erasure job
    devices: DeviceTokens
    health: HealthCodeService
    venues: VenueService
    appeals: AppealService
    risk_areas: RiskAreaService
    trust: PartnerTrustList
    partners: PartnerRegistry
    partner_key_feeds: PartnerKeyFeeds
    interop: InteropService
    vouchers: VoucherService
    licences: LicenceService
    catalogue: CatalogueService
    ratings: RatingService
    mini_programs: MiniProgramService
    appointments: AppointmentService
    departments: DepartmentServices
    applications: ApplicationService
    uploads: UploadService
    joint_applications: JointApplicationService  # 一件事联办, parts through `applications`
    card_backends: dict[str, DepartmentBackend]  # by card name; the same backends behind payments
    cards: HomeCards
    undo: UndoService
    family: FamilyService
    large_print: LargePrint
    payments: PaymentService
    hotline: HotlineService  # 12345 tickets (工单)
    exports: ExportService  # 个人信息副本: a citizen's copy of their own data
    oidc: OidcService  # sign in with this account elsewhere (OpenID Connect provider)
    readiness: Callable[[], Awaitable[dict[str, str]]]  # each dependency's state, for /readyz
    access_log: AccessLog | None  # none when APP_ACCESS_LOG is off
    # The hottest route's reply (an issued health code), shaped once per code and language and reused
    # until the code is replaced; only seconds_left is filled in per request.
    health_code_replies: ShapedReplies = field(default_factory=lambda: ShapedReplies(4096))


def services(request: Request) -> Services:
    """The services of the app serving `request`."""
    return services_of(request.app)


def services_of(app: Sanic[Any, Any]) -> Services:
    found: Services = app.ctx.services
    return found
