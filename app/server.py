"""`create_app(settings)`: the composition root that wires platform, domains and blueprints.

This is the one module allowed to import every layer: it builds the platform core, the
domain services with their adapters, and registers the `api` blueprints.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import time
import traceback
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis import exceptions as redis_exceptions
from sanic import Request, Sanic
from sanic.exceptions import RequestTimeout, SanicException
from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol
from sanic.response import HTTPResponse
from sanic_ext import Extend
from tortoise.exceptions import OperationalError
from tortoise.exceptions import ValidationError as StoredValueInvalid

from api.http import dumps, reply
from api.services import Services, services_of
from app.integrations.face import FaceProvider
from app.integrations.face.tencent import TencentFace
from app.integrations.identity import IdentityAuthority
from app.integrations.identity.tencent import TencentIdentity
from app.integrations.sms import SmsGateway
from app.integrations.sms.standin_outbox import StandInOutbox
from app.integrations.sms.tencent import TencentSms
from app.notifications.sms_templates import template_ids as sms_template_ids
from app.access_log import AccessLog
from app import audit, logs, metrics
from app.accounts.jobs import add_account_jobs
from app.accounts.service import AccountDeletions, AccountService
from app.cache import CacheUnavailable
from app.clock import Clock
from app.config import ConfigError, Settings
from app.vouchers.licences import LicenceService
from app.services.catalogue.service import CatalogueService
from app.services.applications.joint import JointApplicationService
from app.services.applications.service import ApplicationService
from app.storage import storage_from_settings
from app.uploads.jobs import add_upload_jobs
from app.uploads.service import UploadService
from app.exports.jobs import add_export_jobs
from app.exports.service import ExportService
from app.services.ratings.service import RatingService
from app.hotline.jobs import add_hotline_jobs
from app.hotline.routing import RoutingTable
from app.hotline.service import HotlineService
from app.vouchers.service import VoucherService
from app.oidc.service import OidcService
from app.db import DATABASE_OUTAGES, Replica, close_db, init_db, ping_db, remember_write
from app.errors import AppError, ValidationFailed, envelope
from app.i18n import negotiate
from app.jobs import add_core_jobs, start_scheduler
from app.retention import add_partition_jobs
from app.oidc.jobs import add_oidc_jobs
from app.platform import Platform, build_platform
from app.services.cards.backends import DepartmentBackend
from app.services.cards.service import HomeCards, StandInBackend, exchange_backends, internal_sources, stand_in_backends
from app.departments.service import DepartmentServices, search_features
from app.integrations.exchange.replies import department_error, exchange_error_of
from app.integrations.exchange.client import ExchangeClient
from app.integrations.exchange.registry import load_registry
from app.notifications.channels import Channels, PushChannel, SmsChannel
from app.accounts.devices import DeviceTokens
from app.integrations.push.jpush import JPush
from app.services.appointments.service import AppointmentService
from app.notifications.jobs import add_notification_jobs
from app.notifications.service import erase_citizen as erase_notifications
from app.services.appointments.jobs import add_appointment_jobs
from app.payments.jobs import add_payment_jobs
from app.payments.payables import Payables, seed_fees, settled_numbers
from app.integrations.payment_providers import wechatpay
from app.payments.receipts import Receipts
from app.payments.service import PaymentService
from health_code.appeals import AppealService
from health_code.interop.key_feed import PartnerKeyFeeds
from health_code.interop.registry import PartnerRegistry
from health_code.interop.service import InteropService
from health_code.interop.trust import PartnerTrustList
from health_code.jobs import add_health_code_jobs, add_partner_key_jobs
from health_code.risk_areas import RiskAreaService
from health_code.rules import load_ruleset
from health_code.service import HealthCodeService
from health_code.venues import VenueService
from elderly_mode import guidance as elderly_guidance, presets as elderly_presets, tts as elderly_tts
from elderly_mode.print import LargePrint
from elderly_mode.service import FamilyService
from elderly_mode.undo import UndoService
from app.miniprogram.channel import MiniProgramChannel
from app.miniprogram.platform import MiniProgramPlatform
from app.miniprogram.service import MiniProgramService
from app.accounts import errors as accounts_errors
from app.departments import errors as departments_errors
from app.hotline import errors as hotline_errors
from app.miniprogram import errors as miniprogram_errors
from app.payments import errors as payments_errors
from app.services.applications import errors as applications_errors
from app.services.appointments import errors as appointments_errors
from app.services.cards import errors as cards_errors
from app.services.catalogue import errors as catalogue_errors
from app.services.ratings import errors as ratings_errors
from app.uploads import errors as uploads_errors
from app.exports import errors as exports_errors
from app.oidc import errors as oidc_errors
from app.integrations.exchange import replies as exchange_replies
from app.vouchers import errors as vouchers_errors
from elderly_mode import errors as elderly_mode_errors
from health_code import errors as health_code_errors
from health_code.interop import errors as interop_errors

# Each domain's error codes get their words when its `errors` module is imported (the core's come
# with app.errors): all of them are imported here, so no code raised at run time is unknown.
ERROR_REGISTRIES = (accounts_errors, departments_errors, hotline_errors, miniprogram_errors, payments_errors, applications_errors,
                    appointments_errors, cards_errors, catalogue_errors, ratings_errors, exchange_replies,
                    vouchers_errors, elderly_mode_errors, health_code_errors, interop_errors, uploads_errors,
                    exports_errors, oidc_errors)

log = logging.getLogger("app")
# What a database or cache outage raises: the database's (app/db.py), redis-py's errors (a Redis Cluster's
# too: a slot without a primary, still so after the client's retries, during a failover).
OUTAGES: tuple[type[BaseException], ...] = DATABASE_OUTAGES + (
    CacheUnavailable, redis_exceptions.ConnectionError, redis_exceptions.TimeoutError,
    redis_exceptions.ClusterDownError, redis_exceptions.TryAgainError, redis_exceptions.SlotNotCoveredError,
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SANIC_ERRORS = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 503: "SERVICE_UNAVAILABLE"}


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    platform: Platform | None = None,
    sms: SmsGateway | None = None,
    identity: IdentityAuthority | None = None,
    face: FaceProvider | None = None,
    name: str = "gov_app",
) -> Sanic:
    try:
        template_ids = sms_template_ids(settings.sms.template_ids, settings.production)
    except ValueError as missing:
        raise ConfigError(str(missing)) from None
    platform = platform or build_platform(settings, clock)
    # As JSON, Sanic's own lines go through the one root handler (app/logs.py) instead of its text handlers.
    app = Sanic(name, dumps=dumps, configure_logging=settings.log_format != "json")
    if settings.metrics_port is not None:
        metrics.enable()  # served by the main process (app/metrics_server.py), never on this port
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    # A client sending its request slower than this (slowloris) is cut off with 408: one slow
    # phone must not hold a connection slot for minutes.
    app.config.REQUEST_TIMEOUT = settings.request_timeout  # type: ignore[assignment]  # typed int; Sanic takes float seconds
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.OAS = settings.serve_docs  # off: sanic-ext registers no /docs routes at all (404)
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.OAS_UI_DEFAULT = "swagger"
    app.config.CORS = False
    # sanic-ext would add HEAD/OPTIONS twins of every route at start-up, after blueprint
    # guards were attached, so they would skip authentication. No client needs them.
    app.config.HTTP_AUTO_HEAD = False
    app.config.HTTP_AUTO_OPTIONS = False
    Extend(app)
    app.ext.openapi.describe(
        "粤省事式政务服务平台 API（示例）",
        version="1.0.0",
        description="Citizen, mini-program, relying-party, partner and admin APIs. Paths and reply shapes of "
        "../shared/API.md are fixed; errors always use the envelope {error: {code, message, request_id}}.",
    )

    app.ctx.services = services = _services(settings, platform, template_ids, sms, identity, face)
    _register_blueprints(app, settings)
    _register_request_context(app)
    if settings.database_replica_url:
        _register_read_your_writes(app)
    _register_error_handler(app)
    scheduler: AsyncIOScheduler | None = None
    closing: asyncio.Future[None] | None = None

    @app.before_server_start
    async def start(app: Sanic) -> None:
        nonlocal closing
        closing = None
        logs.configure(settings.log_format)  # a worker process starts with no logging set up
        await init_db(settings.resolved_database_url, migrate=not settings.production,
                      replica_url=settings.database_replica_url, replica=Replica.of(settings, platform.cache))
        audit.configure(settings.audit_chains)
        await audit.layout()  # a changed APP_AUDIT_CHAINS stops the start, before any entry is misplaced
        await seed(services, settings)
        await _check_routing(services.hotline.routing)  # after seeding: the sample departments are there

    @app.after_server_start
    async def freeze_long_lived_objects(app: Sanic) -> None:
        if settings.env != "test":  # tests build an app per test: frozen, their garbage would never go
            # The many objects that live as long as the worker (modules, routes, models), moved out of
            # the collector's view: a full collection no longer stalls every request in flight
            # (docs/capacity.md).
            gc.freeze()

    @app.after_server_start
    async def start_jobs(app: Sanic) -> None:
        nonlocal scheduler
        if settings.scheduler_enabled:
            scheduler = start_scheduler()
            add_health_code_jobs(scheduler, services.health)
            add_partner_key_jobs(scheduler, platform.cache, services.partner_key_feeds)
            add_core_jobs(scheduler, platform.cache, platform.clock)
            add_partition_jobs(scheduler, platform.cache, platform.clock, settings.retention, services.uploads.storage,
                               platform.pii)
            add_notification_jobs(scheduler, platform)
            add_appointment_jobs(scheduler, platform.cache, services.appointments)
            add_payment_jobs(scheduler, platform.cache, services.payments)
            add_hotline_jobs(scheduler, platform.cache, services.hotline, settings.hotline.escalation_interval)
            add_upload_jobs(scheduler, platform.cache, services.uploads)
            add_export_jobs(scheduler, platform.cache, services.exports)
            add_account_jobs(scheduler, platform.cache, services.deletions, settings.account_deletion.erase_interval)
            add_oidc_jobs(scheduler, platform.cache, services.oidc)
            from app.departments.traffic import add_licence_status_jobs  # the wallet's 驾驶证 kept in step with 交管

            add_licence_status_jobs(scheduler, platform.cache, services.departments.traffic)

    @app.before_server_stop
    async def stop_jobs(app: Sanic) -> None:
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        # A second SIGTERM while stopping (a supervisor and a terminal both asking) stops the loop under
        # this listener, and Sanic then runs it again from the top. Every run waits for the one closing:
        # closed twice, the embedded database's connection would never answer and the process never exit.
        nonlocal closing
        if closing is None:  # the app's services, as a test may have swapped them (another access log)
            closing = asyncio.ensure_future(_close_services(services_of(app), platform))
        await asyncio.shield(closing)

    return app


async def _close_services(running: Services, platform: Platform) -> None:
    """Flush the logs and metrics, end the background work, then close the outside parties, the cache and
    the database, in that order."""
    if running.access_log is not None:
        running.access_log.flush()
    metrics.flush()
    await running.cards.close()  # background card refreshes end before the cache and backends close
    await running.family.close()
    running.health.close()
    await running.mini_program.close()
    await running.push.close()
    await running.payments.close()
    await running.uploads.close()
    if running.exchange is not None:
        await running.exchange.aclose()
    for adapter in (running.sms, running.identity, running.face, running.sms_outbox):
        close = getattr(adapter, "close", None)
        if close is not None:
            await close()
    await platform.cache.close()
    await close_db()


def _services(settings: Settings, platform: Platform, template_ids: dict[str, str], sms: SmsGateway | None,
              identity: IdentityAuthority | None, face: FaceProvider | None) -> Services:
    """Every service the handlers reach, each built once with what it depends on."""
    # Outside parties over their published protocols (stand-ins on loopback outside production).
    sms = sms or TencentSms.from_settings(settings, template_ids)
    identity = identity or TencentIdentity.from_settings(settings)
    face = face or TencentFace.from_settings(settings)
    accounts = AccountService(platform, sms, identity, face)
    health = HealthCodeService(platform, load_ruleset())
    trust = PartnerTrustList(platform.cache)
    partners = PartnerRegistry(platform, trust)
    vouchers = VoucherService(platform, accounts.citizen)
    accounts.on_identity_released.append(vouchers.revoke_released_identity)
    licences = LicenceService(platform)
    accounts.on_identity_moved.append(licences.move_to_owner)
    accounts.on_identity_moved.append(health.move_to_owner)
    # Mini-programs: the platform adapter (HTTP), sign-in and bindings, the subscription-message channel.
    mini_program = MiniProgramPlatform(
        settings.miniprogram.api_url, settings.miniprogram.appid, settings.miniprogram.secret, platform.cache,
        platform.clock, timeout=settings.miniprogram.timeout, refresh_margin=settings.miniprogram.token_refresh_margin)
    mini_program_channel = MiniProgramChannel(mini_program, platform.pii, platform.clock)
    mini_programs = MiniProgramService(platform, accounts, mini_program)
    accounts.on_phone_changed.append(mini_programs.end_bindings)
    # App push (JPush) to the citizen's signed-in devices; by SMS to a citizen without one.
    devices = DeviceTokens(platform)
    push = JPush.from_settings(settings)
    sms_channel = SmsChannel(sms, accounts)
    platform.channels = Channels({"sms": sms_channel, "mini_program": mini_program_channel,
                                  "push": PushChannel(push, devices, sms_channel)},
                                 timeout=settings.notifications.channel_timeout,
                                 first_backoff=settings.notifications.first_backoff,
                                 max_attempts=settings.notifications.max_attempts)
    appointments = AppointmentService(platform)
    exchange = _exchange(settings, platform)
    departments = DepartmentServices(platform, exchange, licences, settled=settled_numbers)
    storage = storage_from_settings(settings)  # closed by the uploads service
    uploads = UploadService(platform, storage)  # 材料上传, encrypted in object storage
    applications = ApplicationService(platform, departments, uploads)
    ratings = RatingService(platform)
    card_backends: dict[str, DepartmentBackend] = {
        **_department_backends(settings), **exchange_backends(exchange), **internal_sources(health, vouchers)}
    # What a citizen pays is read because they asked (citizen_request), not for their card: the same
    # backends otherwise, one mapping (a backend swapped for the cards is swapped for payments too).
    payable_backends = card_backends if exchange is None else \
        {**card_backends, **exchange_backends(exchange, purpose="citizen_request")}
    family = FamilyService(platform, accounts, health, appointments, applications)
    payments = _payments(settings, platform, payable_backends, licences)
    cards = HomeCards(platform, card_backends, settled=settled_numbers)
    mini_programs = MiniProgramService(platform, accounts, mini_program)
    hotline = _hotline(settings, platform, ratings, uploads)
    exports = ExportService(platform, storage, accounts, uploads, exchange)  # 个人信息副本, kept beside the uploads
    oidc = OidcService(platform, accounts.citizen, accounts.profile, vouchers.attribute_values, accounts.sign_in_of)
    deletions = _deletions(platform, accounts, family, vouchers, licences, health, appointments, cards, mini_programs,
                           uploads, departments, payments, applications, hotline, ratings, exports, oidc)
    return Services(
        settings=settings, platform=platform, sms=sms, identity=identity, face=face,
        sms_outbox=StandInOutbox(settings.sms.url) if settings.dev_endpoints else None,
        push=push, mini_program=mini_program, exchange=exchange,
        accounts=accounts, deletions=deletions, devices=devices, health=health, venues=VenueService(health),
        appeals=AppealService(health), risk_areas=RiskAreaService(health), trust=trust, partners=partners,
        partner_key_feeds=PartnerKeyFeeds(platform, partners, trust), interop=InteropService(health, trust, partners),
        vouchers=vouchers, licences=licences,
        catalogue=CatalogueService(platform, features=[elderly_presets.search_feature(), *search_features()],
                                   form_checks=[applications.rules_fit_form]),
        ratings=ratings, mini_programs=mini_programs,
        appointments=appointments, departments=departments, applications=applications, uploads=uploads,
        joint_applications=JointApplicationService(applications),
        card_backends=card_backends, cards=cards,
        # Elderly mode (适老化): undo windows hooked into submissions, family proxies, large print.
        undo=UndoService(platform, applications),
        family=family,
        large_print=LargePrint(platform, health),
        payments=payments,
        hotline=hotline,
        exports=exports,
        oidc=oidc,
        readiness=lambda: readiness(platform),
        access_log=AccessLog(json_lines=settings.log_format == "json") if settings.access_log else None,
    )


def _deletions(platform: Platform, accounts: AccountService, family: FamilyService, vouchers: VoucherService,
               licences: LicenceService, health: HealthCodeService, appointments: AppointmentService, cards: HomeCards,
               mini_programs: MiniProgramService, uploads: UploadService, departments: DepartmentServices,
               payments: PaymentService, applications: ApplicationService, hotline: HotlineService,
               ratings: RatingService, exports: ExportService, oidc: OidcService) -> AccountDeletions:
    """Account deletion (注销): what refuses a request, and each domain's part of the erasure, in order: family
    links first (the other side is told by name), payments before the wallet (no refund restates a receipt's
    wallet copy once the wallet is emptied), the inbox last. Applications, 12345 tickets, ratings and the
    exchange log are kept whole: departments hold them (an open follow-up case is closed). Once the erasure has
    unlinked the account's phone number (its first step), no inbox message is stored for it: the check reads the
    citizen snapshot the accounts domain caches, so a message costs no database query while it is cached."""
    deletions = AccountDeletions(platform, accounts)
    platform.account_closed = accounts.account_closed
    deletions.blocker_checks += [payments.deletion_blockers, applications.deletion_blockers, hotline.deletion_blockers]
    deletions.erasure_blocker_checks += [payments.deletion_blockers]  # only money in flight holds up the erasure
    deletions.erasers += [
        ("family", family.erase_citizen), ("vouchers", vouchers.erase_citizen), ("payments", payments.erase_citizen),
        ("wallet", licences.erase_citizen), ("health_code", health.erase_citizen),
        ("appointments", appointments.erase_citizen), ("cards", cards.erase_citizen),
        ("mini_program", mini_programs.erase_citizen), ("uploads", uploads.erase_citizen),
        ("departments", departments.erase_citizen), ("ratings", ratings.erase_citizen),
        ("exports", exports.remove_all_of), ("oidc", oidc.erase_citizen),
        ("notifications", erase_notifications),
    ]
    return deletions


def _department_backends(settings: Settings) -> dict[str, StandInBackend]:
    """In-process stand-ins behind the home cards whose department is not on the exchange (see backends.py)."""
    hang = [name.strip() for name in settings.cards.backend_hang.split(",") if name.strip()]
    try:
        return stand_in_backends(settings.cards.backend_latency, settings.cards.backend_failure_rate, hang)
    except ValueError as exc:
        raise ConfigError(f"APP_CARD_BACKEND_HANG: {exc}") from None


def _exchange(settings: Settings, platform: Platform) -> ExchangeClient | None:
    """The department data exchange, when APP_EXCHANGE_REGISTRY names the registered department services."""
    if not settings.exchange.registry:
        return None
    registry = load_registry(settings.exchange.registry, client=settings.exchange.client,
                             production=settings.production)
    return ExchangeClient(platform, registry.services)


def _hotline(settings: Settings, platform: Platform, ratings: RatingService, uploads: UploadService) -> HotlineService:
    """12345 tickets, routed by APP_HOTLINE_ROUTING (the sample table when unset)."""
    try:
        routing = RoutingTable.load(settings.hotline.routing, include_sample=not settings.production)
    except (ValueError, KeyError) as bad:
        raise ConfigError(f"APP_HOTLINE_ROUTING: {bad}") from None
    return HotlineService(platform, routing, ratings, uploads)


async def _check_routing(routing: RoutingTable) -> None:
    """Every department the 12345 routing table names is in the catalogue's departments table, or the start
    stops: a ticket routed to no department would wait for nobody."""
    unknown = await routing.unknown_departments()
    if unknown:
        raise ConfigError(f"APP_HOTLINE_ROUTING names departments the catalogue does not have: {', '.join(unknown)}")


def _payments(settings: Settings, platform: Platform, backends: Any, wallet: LicenceService) -> PaymentService:
    """Payments through WeChat Pay at APP_PAYMENT_PROVIDER_URL (none set: paying answers 503)."""
    adapters = {"wechatpay_v3": wechatpay.from_settings}  # APP_PAYMENT_PROVIDER names one
    provider = adapters[settings.payments.provider](settings) if settings.payments.provider_url else None
    return PaymentService(platform, provider, Payables(backends), Receipts(platform), wallet)


async def seed(services: Services, settings: Settings) -> None:
    """Licence types, and outside production the sample data, at every start.

    Every worker of a start runs this at once: each seed inserts what it finds missing and lets a
    row another worker inserted first stand (two workers on a new database once both found a fee
    missing, the second insert stopped its worker and Sanic the service). No lock: a worker starts
    even while Redis is away, and fails closed on what needs it."""
    await services.licences.seed_licence_types()
    if not settings.production:
        await services.catalogue.seed_sample()  # sample data: a new user sees a working catalogue
        await seed_fees()
    if settings.env == "dev":  # sample slots for the mini-program demo (python -m miniprogram_mock.client --demo)
        await services.appointments.seed_sample_slots("gd-gat-001", "天河区政务服务中心（示例）")


def _register_blueprints(app: Sanic, settings: Settings) -> None:
    from api.admin import health_code as admin_health_code
    from api.admin import partners as admin_partners
    from api.admin import vouchers as admin_vouchers
    from api.citizen import vouchers as citizen_vouchers
    from api.rp import vouchers as rp_vouchers
    from api.admin import licence_issuers
    from api.citizen import licences as citizen_licences
    from api.citizen import applications as citizen_applications
    from api.admin import applications as admin_applications
    from api.rp import licences as rp_licences
    from api.citizen import auth, health_code, interop, me, notifications, venues
    from api.citizen import home as citizen_home
    from api.partner import routes as partner
    from api.citizen import appointments as citizen_appointments
    from api.admin import appointments as admin_appointments
    from api.admin import catalogue as admin_catalogue
    from api.citizen import services as citizen_services
    from api.public import routes as public
    from api.miniprogram import routes as miniprogram
    from api.public import h5
    from api.citizen import deletion

    app.blueprint(public.bp)
    if settings.dev_endpoints:
        app.blueprint(public.dev_bp)
    app.blueprint([auth.public, auth.guarded, me.bp, notifications.bp, health_code.bp, venues.bp, interop.bp])
    from api.citizen import account

    app.blueprint(account.bp)
    app.blueprint(deletion.bp)
    app.blueprint([admin_health_code.bp, admin_partners.bp, admin_vouchers.bp])
    app.blueprint([citizen_vouchers.bp, rp_vouchers.bp])
    app.blueprint([citizen_licences.bp, licence_issuers.bp, rp_licences.bp])
    app.blueprint([citizen_applications.bp, citizen_applications.public_bp, admin_applications.bp])
    from api.citizen import uploads as citizen_uploads

    app.blueprint(citizen_uploads.bp)
    from api.citizen import joint_applications

    app.blueprint([joint_applications.public_bp, joint_applications.bp])
    app.blueprint(partner.bp)
    app.blueprint([citizen_services.bp, admin_catalogue.bp])
    app.blueprint(citizen_home.bp)
    app.blueprint([citizen_appointments.bp, admin_appointments.bp])
    from api.admin import family as admin_family
    from api.citizen import elderly, family

    app.blueprint([elderly.bp, family.bp, admin_family.bp])
    from api.admin import payments as admin_payments
    from api.citizen import payments as citizen_payments
    from api.provider import payments as provider_payments
    from api.public import receipts as public_receipts
    app.blueprint([citizen_payments.bp, admin_payments.bp, provider_payments.bp, public_receipts.bp])
    from api.admin import hotline as admin_hotline
    from api.citizen import hotline as citizen_hotline

    app.blueprint([citizen_hotline.bp, admin_hotline.bp])
    from api.citizen import exports as citizen_exports

    app.blueprint(citizen_exports.bp)
    from api.admin import oidc_clients
    from api.citizen import oidc as citizen_oidc
    from api.public import oidc as public_oidc

    app.blueprint([public_oidc.bp, citizen_oidc.bp, oidc_clients.bp])
    app.blueprint([miniprogram.public, miniprogram.bp, h5.bp])
    from api.citizen import provident_fund, social_insurance, social_security_card, traffic
    from api.public import social_insurance_proofs
    from api.rp import social_security_card as rp_social_security_card
    app.blueprint([social_insurance.bp, social_insurance_proofs.bp, social_security_card.bp, rp_social_security_card.bp,
                   provident_fund.bp, traffic.bp])


async def readiness(platform: Platform) -> dict[str, str]:
    checks: dict[str, str] = {}
    for name, probe in (("database", ping_db), ("cache", platform.cache.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the kind is enough
            checks[name] = f"unavailable: {type(exc).__name__}"
    return checks


def _register_request_context(app: Sanic) -> None:
    @app.middleware("request", priority=100)  # as on_request(priority=100), whose declared type omits this form
    async def request_context(request: Request) -> None:
        _ensure_context(request)
        request.ctx.started = time.perf_counter()

    @app.on_response(priority=100)
    async def response_headers(request: Request, response: HTTPResponse) -> None:
        _ensure_context(request)
        response.headers["X-Request-ID"] = request.ctx.request_id
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Path only: query strings may carry phone numbers (the dev outbox) and never reach logs.
        requests_log = services_of(request.app).access_log
        if requests_log is not None or metrics.enabled():
            elapsed = time.perf_counter() - getattr(request.ctx, "started", time.perf_counter())
            if requests_log is not None:
                requests_log.record(request.method, request.path, response.status, elapsed * 1000, request.ctx.request_id)
            metrics.http_request(route_of(request), request.method, response.status, elapsed)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _register_read_your_writes(app: Sanic) -> None:
    """With a read replica: any other request by a signed-in citizen may have written, so their next lag-tolerant
    reads go to the primary for the sticky window (app/db.py). Set before the reply leaves, so the citizen's next
    request already finds it."""

    @app.on_response(priority=90)
    async def remember_citizen_writes(request: Request, response: HTTPResponse) -> None:
        citizen_id = getattr(request.ctx, "citizen_id", None)
        if citizen_id and request.method not in SAFE_METHODS:
            try:
                await remember_write(citizen_id)
            except OUTAGES as outage:  # the write is done; the reply says so even if the cache is down
                log.warning("read-your-writes marker not set: %s", type(outage).__name__)


def route_of(request: Request) -> str:
    """The pattern of the route that answered (`/api/v1/applications/<application_id:str>`), never the path
    with its ids; `unmatched` when none did."""
    route = request.route
    return "/" + route.path if route is not None else "unmatched"


def _ensure_context(request: Request) -> None:
    if getattr(request.ctx, "request_id", None):
        return
    given = request.headers.get("x-request-id", "")
    request.ctx.request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()  # as uuid4().hex, for less CPU
    logs.REQUEST_ID.set(request.ctx.request_id)  # every log line written while it is handled carries it
    request.ctx.language = negotiate(request.headers.get("accept-language"))


def _register_error_handler(app: Sanic) -> None:
    async def handle(request: Request, exception: Exception) -> HTTPResponse:
        _ensure_context(request)
        error = to_app_error(exception, request)
        body = envelope(error, request.ctx.language, request.ctx.request_id)
        await _words_for_everyone(request, error, body["error"])
        response = reply(body, status=error.status, headers=error.headers)
        response.headers["X-Request-ID"] = request.ctx.request_id
        return response

    app.error_handler.add(Exception, handle)


async def _words_for_everyone(request: Request, error: AppError, body: dict) -> None:
    """Every error carries `tts_text` (a screen-reader user may never have switched elderly mode on, and
    it costs microseconds); in elderly mode the message also says what to do next."""
    language = request.ctx.language
    if await _in_elderly_mode(request):
        body["message"] = elderly_guidance.with_next_step(body["message"], error.code, language)
        body["next_step"] = elderly_guidance.next_step(error.code, language)
    body["tts_text"] = elderly_tts.spoken(body["message"], language)


async def _in_elderly_mode(request: Request) -> bool:
    citizen = getattr(request.ctx, "citizen", None)
    if citizen is None and getattr(request.ctx, "citizen_id", None):
        try:
            citizen = await services_of(request.app).accounts.citizen(request.ctx.citizen_id)
        except Exception:  # the error being answered may be the database or cache itself
            return False
    return bool(getattr(citizen, "elderly_mode", False))
def is_outage(exception: BaseException) -> bool:
    """A lost or refused connection to PostgreSQL, SQLite or Redis (not a bug, not bad input)."""
    return isinstance(exception, OUTAGES) or (
        isinstance(exception, OperationalError) and isinstance(exception.__cause__, OUTAGES))


def to_app_error(exception: Exception, request: Request) -> AppError:
    if isinstance(exception, AppError):
        return exception
    if isinstance(exception, SanicException) and exception.status_code < 500:
        status = exception.status_code
        code = SANIC_ERRORS.get(status, "BAD_REQUEST")
        if status == 400 and "json" in str(exception).lower():
            code = "MALFORMED_JSON"
        return AppError(code, status=status)
    if isinstance(exception, SanicException) and exception.status_code == 503:
        return AppError("SERVICE_UNAVAILABLE", status=503)
    exchanged = exchange_error_of(exception)
    if exchanged is not None:
        # A department call that gave no data, not answered where it was made: the department's error, never a 500.
        return department_error(exchanged)
    if isinstance(exception, StoredValueInvalid):
        # A value no stored row can hold (an id longer than any id, text over a column's length):
        # bad input, found by the ORM's own field check. The field's name only: the message has the value.
        field = str(exception).split(":", 1)[0]
        return ValidationFailed([{"field": field if re.fullmatch(r"[a-z_]{1,40}", field) else "input",
                                  "problem": "too long or malformed"}])
    if isinstance(exception, OperationalError) and isinstance(exception.__cause__, asyncpg.exceptions.DataError):
        # PostgreSQL refused a value as data (a NUL character in text, a number out of range): bad input.
        return ValidationFailed([{"field": "input", "problem": "a value the database cannot store"}])
    if is_outage(exception):
        # The database or the cache is unreachable: nothing was half-done that the client should
        # not retry (writes are transactions, one-time tokens fail closed), so say when to retry.
        log.warning("backend unavailable (%s) on %s %s rid=%s", type(exception).__name__, request.method,
                    request.path, request.ctx.request_id)
        retry_after = str(services_of(request.app).settings.unavailable_retry_after)
        return AppError("SERVICE_UNAVAILABLE", status=503, headers={"Retry-After": retry_after})
    # Where it failed, not what it said: exception messages may carry personal data.
    frames = "".join(traceback.format_tb(exception.__traceback__))
    log.error("unhandled %s on %s %s rid=%s\n%s", type(exception).__name__, request.method, request.path,
              request.ctx.request_id, frames)
    return AppError("INTERNAL_ERROR", status=500)


class BoundedHttpProtocol(HttpProtocol):
    """Sanic's REQUEST_TIMEOUT restarts with every byte received, so a request trickled a byte at a
    time (slowloris) would hold its connection for ever. Here the whole request, headers and body,
    must have arrived within REQUEST_TIMEOUT of its first byte; else 408 and the connection closes."""

    __slots__ = ("_request_started",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_started: float | None = None

    def data_received(self, data: bytes) -> None:
        # Each request has its own clock, from its first byte: bytes of one still arriving (a
        # trickled head, a body) keep it; the first bytes of the next request on a kept-alive
        # connection start it again, or a phone's connection would be cut after REQUEST_TIMEOUT.
        if self._request_started is None or not self._still_receiving():
            self._request_started = time.monotonic()
        super().data_received(data)

    def _still_receiving(self) -> bool:
        http = self._http
        return http is not None and (http.stage is Stage.REQUEST or (http.stage is Stage.HANDLER and bool(http.request_body)))

    def check_timeouts(self) -> None:
        if self._task and self._request_started is not None:
            if not self._still_receiving() and self._http is not None and self._http.stage is not Stage.IDLE:
                self._request_started = None  # received whole: the handler's time is RESPONSE_TIMEOUT's
            elif self._still_receiving() and time.monotonic() - self._request_started > self.request_timeout:
                log.info("request not received within %ss: connection closed", self.request_timeout)
                self._http.exception = RequestTimeout("Request Timeout")
                self._task.cancel("request timeout")
                return
        super().check_timeouts()


__all__ = ["BoundedHttpProtocol", "create_app"]
