"""One `Settings` object, read from `APP_*` environment variables and validated at start."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse


class ConfigError(ValueError):
    """The configuration cannot be used; the message says what to fix."""


ENVIRONMENTS = ("dev", "test", "production")
DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg"}
REDIS_SCHEMES = {"redis", "rediss"}


@dataclass(frozen=True)
class Settings:
    """Every setting of the service. Time limits are seconds."""

    env: str = "dev"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path("data")
    database_url: str = ""  # default: SQLite file under data_dir
    redis_url: str = ""  # default: in-memory cache (one process only)
    cache_namespace: str = "gov"
    redis_max_connections: int = 64  # per worker; a request waits up to 2 s for one, then fails as unavailable
    cache_near_ttl: float = 10.0  # with Redis: seconds a worker may mirror a hot key (kept true by pub/sub; 0: off)
    keys_dir: Path | None = None  # default: data_dir / "keys"
    pii_key: str = ""  # base64 of 32 bytes; generated under keys_dir outside production
    issuer: str = "https://gov-app.example.cn"
    citizen_audience: str = "citizen-app"
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    signing_key_rotation_days: int = 90
    # A printed proof (e.g. 社保个人权益记录) verifies by its QR this many days, also when the key that signed it
    # was replaced meanwhile (the proof is checked against its stored record; the key is not trusted for tokens).
    printed_proof_days: int = 90
    otp_ttl: int = 5 * 60
    otp_resend_interval: int = 60
    otp_daily_limit: int = 10
    otp_max_tries: int = 5
    otp_ip_hourly_limit: int = 30
    login_ip_hourly_limit: int = 120
    face_pass_score: float = 0.8  # the provider's similarity to the authority's photo (0-100) divided by 100
    face_session_ttl: int = 600  # a face session (人脸核身) must be finished within this
    identity_mismatch_daily_limit: int = 5  # name + ID pairs the authority refused, per account and day
    # Outside parties over their published protocols (README "Outside parties"). A URL on loopback is one
    # of our stand-ins (standins/, started by `make run` and the tests); production refuses them.
    # Tencent Cloud API 3.0 (TC3-HMAC-SHA256): SMS SendSms, voice SendCodeVoice, IdCardVerification, DetectAuth.
    tencent_secret_id: str = "AKIDstandin0000000000000000000000"  # the stand-ins'; production must set its own
    tencent_secret_key: str = "standin-secret-key-not-for-production"
    tencent_region: str = "ap-guangzhou"
    sms_url: str = "http://127.0.0.1:8300"  # real: https://sms.tencentcloudapi.com
    sms_sdk_app_id: str = "1400000001"
    sms_sign_name: str = "粤省事示例"
    sms_template_ids: str = ""  # JSON {our template name: provider template id}; unset: the stand-in's ids
    voice_url: str = "http://127.0.0.1:8300"  # real: https://vms.tencentcloudapi.com
    voice_sdk_app_id: str = "1400000002"
    identity_url: str = "http://127.0.0.1:8300"  # real: https://faceid.tencentcloudapi.com
    identity_timeout: float = 5.0
    face_url: str = "http://127.0.0.1:8300"  # real: https://faceid.tencentcloudapi.com
    face_rule_id: str = "1"  # the DetectAuth RuleId configured at the provider
    face_redirect_url: str = ""  # where the provider's page sends the phone back; default: APP_ISSUER
    # App push: JPush REST API v3 (one call reaches APNs and the Android vendor channels).
    push_url: str = "http://127.0.0.1:8310"  # real: https://api.jpush.cn
    push_app_key: str = "standinappkey0000000000"  # the stand-in's; production must set its own
    push_master_secret: str = "standin-master-secret-not-for-production"
    push_timeout: float = 3.0
    push_apns_production: bool = False  # JPush options.apns_production: the APNs environment
    face_timeout: float = 5.0
    face_daily_attempts: int = 5
    sms_timeout: float = 5.0
    max_body_bytes: int = 2 * 1024 * 1024
    request_timeout: float = 15.0  # a request (headers and body) must arrive within this; else 408
    unavailable_retry_after: int = 5  # Retry-After of a 503 while the database or the cache is unreachable
    health_code_ttl: int = 180
    health_code_reuse_margin: int = 30  # a new code is issued when fewer seconds than this are left
    health_code_issuer: str = "CN-GD"
    voucher_token_ttl: int = 180  # a presentation of the ID voucher (居民身份电子凭证) is redeemable this long
    voucher_presentations_per_minute: int = 20  # a person shows their ID a few times a minute at most
    voucher_invalid_tokens_per_minute: int = 120  # a relying party sending more invalid QR tokens is guessing: 429
    voucher_offline_ttl: int = 600  # an offline ID QR (no network at the desk) lives this long
    licence_share_max_minutes: int = 24 * 60  # the longest a citizen can share an e-licence for
    border_pass_ttl: int = 12 * 3600  # a border pass (通关凭证) for one partner lives this long at most
    rating_follow_up_days: int = 7  # a bad rating (差评) must be answered by the department within this many days
    # QR images are drawn in this many separate processes, so that drawing never holds the
    # event loop's interpreter lock; 0 draws in a thread of the serving process instead.
    health_code_render_processes: int = 1
    health_code_image_cache: int = 2048  # rendered QR images kept per process (0: render every time)
    # Home-screen service cards (服务卡片): each card's backend call is bounded by card_timeout; a
    # backend failing card_breaker_failures times in a row is left alone for card_breaker_cooldown.
    card_timeout: float = 0.3
    card_breaker_failures: int = 5
    card_breaker_cooldown: int = 30
    card_max_ttl: int = 3600  # caps every card type's freshness; 0 asks the backends on every home request
    # Past its freshness, a card is shown stale at once for this many seconds while one worker refreshes it
    # in the background; after that the request waits for the backend again (0: always wait).
    card_stale_grace: int = 600
    # Stand-in department backends (no real ones in this sample): latency, and for demos, tests and
    # benchmarks outside production a random failure rate and a comma-separated list that hangs.
    card_backend_latency: float = 0.02
    card_backend_failure_rate: float = 0.0
    card_backend_hang: str = ""
    # Notification channels (SMS, mini-program): each send is bounded by notify_channel_timeout; a failed
    # one is retried after notify_first_backoff seconds, four times longer each time, notify_max_attempts in all.
    notify_channel_timeout: float = 3.0
    notify_first_backoff: int = 30
    notify_max_attempts: int = 4
    # Elderly mode (适老化) and family proxies (亲友代办): how long a link lives before it must be renewed,
    # how long a consent code is good for, how much longer one call makes a code live, and the undo window.
    family_link_days: int = 365
    family_consent_ttl: int = 600
    elderly_extend_factor: int = 2
    elderly_undo_minutes: int = 10
    help_line: str = "12345"
    print_card_ttl: int = 12 * 3600  # a printed health-code card (no phone) verifies this long at most
    # Payments (缴费) through WeChat Pay API v3 (app/integrations/payment_providers/wechatpay.py). Without a
    # provider URL, paying answers 503 PAYMENT_PROVIDER_UNAVAILABLE and nothing else changes. The real gateway
    # is https://api.mch.weixin.qq.com; `make run` starts the stand-in (`python -m standins.wechatpay`).
    payment_provider: str = "wechatpay_v3"
    payment_provider_url: str = ""
    payment_merchant_id: str = "1900000001"  # mchid (商户号); the sample one of WeChat Pay's documentation
    payment_merchant_serial: str = ""  # serial_no of the merchant API certificate; derived from the key outside production
    payment_merchant_key_file: str = ""  # apiclient_key.pem (PKCS#8); outside production generated under keys_dir
    payment_api_v3_key: str = "standin-apiv3-key-not-for-prod00"  # the 32-character APIv3 key (notices, certificates)
    payment_platform_public_key_file: str = ""  # 微信支付公钥 PEM; unset: platform certificates downloaded
    payment_platform_public_key_id: str = ""  # its id (PUB_KEY_ID_…), the Wechatpay-Serial it signs with
    payment_app_appid: str = "wx8c3f1a2b9d4e6f70"  # sample open-platform appid of the phone app (APP orders)
    payment_notify_url: str = ""  # where the provider posts notifications; default: our own host and port
    payment_ttl: int = 15 * 60  # an unpaid payment expires (and its order is closed) after this many seconds
    payment_settle_after: int = 60  # a payment not notified this long is settled by asking the provider
    payment_provider_timeout: float = 5.0
    receipt_verify_base: str = ""  # public base URL in receipt QR codes; default: APP_ISSUER
    # The mini-program platform (小程序平台): where its server APIs answer, our appid and secret there,
    # how long one call may take, and how early (seconds before expiry) its access token is renewed.
    miniprogram_api_url: str = "http://127.0.0.1:8200"  # the stand-in (`python -m miniprogram_mock`) by default
    miniprogram_appid: str = "wx5a3e9c2b7d1f0a46"  # sample appid
    miniprogram_secret: str = "sample-secret-0123456789abcdef"  # the stand-in's; production must set its own
    miniprogram_timeout: float = 3.0
    miniprogram_token_refresh_margin: int = 300
    miniprogram_bind_ttl: int = 300  # a login that still needs its phone verified must finish within this
    miniprogram_audience: str = "mini-program"
    # The department data exchange (docs/exchange.md): our subsystem, and the registry of the department
    # services we call (a JSON file; `make run` writes the stand-in departments'). Unset: no department is
    # registered, and the in-process samples answer the home cards.
    exchange_client: str = "CN-GD/GOV/11440000MB2C93140X/yss-app"  # sample 统一社会信用代码
    exchange_registry: str = ""
    # The wallet's 驾驶证 take their status from 交管 (证照状态同步) when opened, and by a job for a licence not
    # asked within this many seconds.
    licence_status_pull_interval: int = 24 * 3600
    scheduler_enabled: bool = True
    access_log: bool = True  # one line per request (path, status, time, request id); off behind a logging proxy
    # The OpenAPI document and its viewers under /docs: unset, served outside production and not in it
    # (a map of every route is for integrators, not for everyone on the internet).
    docs: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def dev_endpoints(self) -> bool:
        """Dev-only routes such as the SMS outbox exist outside production only."""
        return not self.production

    @property
    def serve_docs(self) -> bool:
        """/docs and /docs/openapi.json exist: APP_DOCS, or by default outside production only."""
        return not self.production if self.docs is None else self.docs

    @property
    def resolved_payment_notify_url(self) -> str:
        return self.payment_notify_url or f"http://{self.host}:{self.port}/api/provider/v1/payment-notifications"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite://{self.data_dir / 'app.sqlite3'}"

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes).validated()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read `APP_<FIELD>` variables (e.g. `APP_DATABASE_URL`) and validate them."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = environ.get(f"APP_{f.name.upper()}")
            if raw is None or raw.strip() == "":
                continue  # unset and empty both mean "the default"
            values[f.name] = _convert(f.name, f.type, raw)
        return cls(**values).validated()

    def validated(self) -> "Settings":
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        _check_url("APP_DATABASE_URL", self.resolved_database_url, DB_SCHEMES)
        if self.redis_url:
            _check_url("APP_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"APP_PORT must be 1-65535, not {self.port}")
        if not 0 <= self.cache_near_ttl <= 300:
            raise ConfigError("APP_CACHE_NEAR_TTL must be between 0 and 300 seconds")
        if not 4 <= self.redis_max_connections <= 10000:
            raise ConfigError("APP_REDIS_MAX_CONNECTIONS must be 4-10000")
        if self.workers < 1:
            raise ConfigError("APP_WORKERS must be at least 1")
        if self.workers > 1 and not self.redis_url:
            # One-time codes, rate limits and locks must be shared by all workers.
            raise ConfigError(
                "APP_WORKERS > 1 needs APP_REDIS_URL: the in-memory cache lives in one process, "
                "so one-time codes and rate limits would be per worker"
            )
        if not 1 <= self.printed_proof_days <= 366:
            raise ConfigError("APP_PRINTED_PROOF_DAYS must be 1-366")
        for name in ("access_token_ttl", "refresh_token_ttl", "otp_ttl", "otp_resend_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"APP_{name.upper()} must be positive")
        if not 30 <= self.health_code_ttl <= 180:
            raise ConfigError("APP_HEALTH_CODE_TTL must be 30-180 seconds")
        if not 0 <= self.health_code_reuse_margin < self.health_code_ttl:
            raise ConfigError("APP_HEALTH_CODE_REUSE_MARGIN must be below APP_HEALTH_CODE_TTL")
        if not 30 <= self.voucher_token_ttl <= 180:
            raise ConfigError("APP_VOUCHER_TOKEN_TTL must be 30-180 seconds")
        if self.voucher_presentations_per_minute < 1:
            raise ConfigError("APP_VOUCHER_PRESENTATIONS_PER_MINUTE must be at least 1")
        if not 1 <= self.voucher_invalid_tokens_per_minute <= 10_000:
            raise ConfigError("APP_VOUCHER_INVALID_TOKENS_PER_MINUTE must be 1-10000")
        if not 60 <= self.voucher_offline_ttl <= 24 * 3600:  # within the grace that old keys stay published
            raise ConfigError("APP_VOUCHER_OFFLINE_TTL must be 60 seconds to 24 hours")
        if not 1 <= self.licence_share_max_minutes <= 30 * 24 * 60:
            raise ConfigError("APP_LICENCE_SHARE_MAX_MINUTES must be 1 minute to 30 days")
        if not 60 <= self.border_pass_ttl <= 7 * 24 * 3600:
            raise ConfigError("APP_BORDER_PASS_TTL must be 60 seconds to 7 days")
        if not 1 <= self.rating_follow_up_days <= 30:
            raise ConfigError("APP_RATING_FOLLOW_UP_DAYS must be 1-30 days")
        if not 1 <= self.request_timeout <= 120:
            raise ConfigError("APP_REQUEST_TIMEOUT must be 1-120 seconds")
        if not 1 <= self.unavailable_retry_after <= 300:
            raise ConfigError("APP_UNAVAILABLE_RETRY_AFTER must be 1-300 seconds")
        if self.health_code_render_processes < 0:
            raise ConfigError("APP_HEALTH_CODE_RENDER_PROCESSES must be 0 or more")
        if self.health_code_image_cache < 0:
            raise ConfigError("APP_HEALTH_CODE_IMAGE_CACHE must be 0 or more")
        if not 0.01 <= self.card_timeout <= 10:
            raise ConfigError("APP_CARD_TIMEOUT must be 0.01-10 seconds")
        if not 1 <= self.card_breaker_failures <= 100_000:
            raise ConfigError("APP_CARD_BREAKER_FAILURES must be 1-100000")
        if not 1 <= self.card_breaker_cooldown <= 3600:
            raise ConfigError("APP_CARD_BREAKER_COOLDOWN must be 1-3600 seconds")
        if self.card_max_ttl < 0:
            raise ConfigError("APP_CARD_MAX_TTL must be 0 or more")
        if not 0 <= self.card_stale_grace <= 7 * 24 * 3600:
            raise ConfigError("APP_CARD_STALE_GRACE must be 0-604800 seconds (a week, as long as a last good value is kept)")
        if not 0 <= self.card_backend_latency <= 60:
            raise ConfigError("APP_CARD_BACKEND_LATENCY must be 0-60 seconds")
        if not 0 <= self.card_backend_failure_rate <= 1:
            raise ConfigError("APP_CARD_BACKEND_FAILURE_RATE must be 0-1")
        if self.production and (self.card_backend_hang or self.card_backend_failure_rate):
            raise ConfigError("APP_CARD_BACKEND_HANG and APP_CARD_BACKEND_FAILURE_RATE are for tests and demos, not production")
        if not 0.01 <= self.notify_channel_timeout <= 30:
            raise ConfigError("APP_NOTIFY_CHANNEL_TIMEOUT must be 0.01-30 seconds")
        if not 1 <= self.notify_first_backoff <= 3600:
            raise ConfigError("APP_NOTIFY_FIRST_BACKOFF must be 1-3600 seconds")
        if not 1 <= self.notify_max_attempts <= 10:
            raise ConfigError("APP_NOTIFY_MAX_ATTEMPTS must be 1-10")
        if not 1 <= self.family_link_days <= 3 * 366:
            raise ConfigError("APP_FAMILY_LINK_DAYS must be 1-1098 days")
        if not 60 <= self.family_consent_ttl <= 3600:
            raise ConfigError("APP_FAMILY_CONSENT_TTL must be 60-3600 seconds")
        if not 2 <= self.elderly_extend_factor <= 4:
            raise ConfigError("APP_ELDERLY_EXTEND_FACTOR must be 2-4 (at least twice the normal lifetime)")
        if not 10 <= self.elderly_undo_minutes <= 60:
            raise ConfigError("APP_ELDERLY_UNDO_MINUTES must be 10-60 minutes")
        if not 600 <= self.print_card_ttl <= 3 * 86400:
            raise ConfigError("APP_PRINT_CARD_TTL must be 600 seconds to 3 days")
        if not self.help_line.isdigit() or not 3 <= len(self.help_line) <= 12:
            raise ConfigError("APP_HELP_LINE must be 3-12 digits, e.g. 12345")
        self._validate_payments()
        self._validate_exchange()
        self._validate_outside_parties()
        _check_url("APP_MINIPROGRAM_API_URL", self.miniprogram_api_url, {"http", "https"})
        if not 0.1 <= self.miniprogram_timeout <= 30:
            raise ConfigError("APP_MINIPROGRAM_TIMEOUT must be 0.1-30 seconds")
        if not 0 <= self.miniprogram_token_refresh_margin <= 3600:
            raise ConfigError("APP_MINIPROGRAM_TOKEN_REFRESH_MARGIN must be 0-3600 seconds")
        if not 60 <= self.miniprogram_bind_ttl <= 1800:
            raise ConfigError("APP_MINIPROGRAM_BIND_TTL must be 60-1800 seconds")
        if not self.miniprogram_appid.strip() or not self.miniprogram_secret.strip():
            raise ConfigError("APP_MINIPROGRAM_APPID and APP_MINIPROGRAM_SECRET must not be empty")
        if self.pii_key:
            decode_key(self.pii_key, "APP_PII_KEY")
        if self.production:
            if not self.pii_key:
                raise ConfigError("APP_PII_KEY is required in production (base64 of 32 random bytes)")
            if self.database_url == "" or self.database_url.startswith("sqlite"):
                raise ConfigError("production needs APP_DATABASE_URL pointing at PostgreSQL")
            if not self.redis_url:
                raise ConfigError("production needs APP_REDIS_URL")
            if self.keys_dir is None:
                raise ConfigError("production needs APP_KEYS_DIR holding the signing keys")
            if self.miniprogram_secret == Settings.miniprogram_secret or not self.miniprogram_api_url.startswith("https://"):
                raise ConfigError("production needs APP_MINIPROGRAM_SECRET (not the stand-in's) and an https "
                                  "APP_MINIPROGRAM_API_URL")
            self._refuse_stand_ins()
        return self


    def _validate_outside_parties(self) -> None:
        for name in ("sms_url", "voice_url", "identity_url", "face_url", "push_url"):
            _check_url(f"APP_{name.upper()}", getattr(self, name), {"http", "https"})
        if self.sms_template_ids:
            try:
                ids = json.loads(self.sms_template_ids)
            except ValueError:
                ids = None
            if not isinstance(ids, dict) or not all(isinstance(v, str) and v for v in ids.values()):
                raise ConfigError('APP_SMS_TEMPLATE_IDS must be a JSON object {"login_code": "<template id>", ...}')
        if not 0 < self.face_pass_score <= 1:
            raise ConfigError("APP_FACE_PASS_SCORE must be above 0 and at most 1")
        if not 60 <= self.face_session_ttl <= 7200:
            raise ConfigError("APP_FACE_SESSION_TTL must be 60-7200 seconds")
        if not 1 <= self.identity_mismatch_daily_limit <= 100:
            raise ConfigError("APP_IDENTITY_MISMATCH_DAILY_LIMIT must be 1-100")
        for name in ("identity_timeout", "push_timeout"):
            if not 0.1 <= getattr(self, name) <= 30:
                raise ConfigError(f"APP_{name.upper()} must be 0.1-30 seconds")

    def _refuse_stand_ins(self) -> None:
        """Production talks to real providers only: each setting still at a stand-in is named."""
        from app.integrations import is_stand_in

        for name in ("sms_url", "voice_url", "identity_url", "face_url", "push_url", "payment_provider_url"):
            url = getattr(self, name)
            if url and (is_stand_in(url) or not url.startswith("https://")):
                raise ConfigError(f"APP_{name.upper()} is a stand-in ({url}): production needs the real provider's "
                                  "https URL")
        for name in ("tencent_secret_id", "tencent_secret_key", "push_app_key", "push_master_secret", "sms_sdk_app_id",
                     "voice_sdk_app_id", "sms_sign_name", "face_rule_id"):
            if getattr(self, name) == getattr(Settings, name):
                raise ConfigError(f"APP_{name.upper()} is missing: production needs the provider's own credential, "
                                  "not the stand-in's")
        if not self.sms_template_ids:
            raise ConfigError("APP_SMS_TEMPLATE_IDS is missing: production needs the provider's approved template ids")
        if not self.push_apns_production:
            raise ConfigError("APP_PUSH_APNS_PRODUCTION must be true in production: the app store build receives "
                              "pushes from the APNs production environment only")

    def _validate_exchange(self) -> None:
        from app.integrations.exchange.protocol import ExchangeRefused, MemberId

        try:
            MemberId.parse(self.exchange_client)
        except ExchangeRefused:
            raise ConfigError("APP_EXCHANGE_CLIENT must be INSTANCE/CLASS/MEMBER_CODE/SUBSYSTEM") from None
        if self.exchange_registry and not Path(self.exchange_registry).is_file():
            raise ConfigError(f"APP_EXCHANGE_REGISTRY: no such file {self.exchange_registry}")
        if not 60 <= self.licence_status_pull_interval <= 30 * 24 * 3600:
            raise ConfigError("APP_LICENCE_STATUS_PULL_INTERVAL must be 60-2592000 seconds")

    def _validate_payments(self) -> None:
        if self.payment_provider != "wechatpay_v3":
            raise ConfigError("APP_PAYMENT_PROVIDER must be wechatpay_v3 (the one adapter this build has)")
        if self.payment_provider_url:
            _check_url("APP_PAYMENT_PROVIDER_URL", self.payment_provider_url, {"http", "https"})
        if self.payment_notify_url:
            _check_url("APP_PAYMENT_NOTIFY_URL", self.payment_notify_url, {"http", "https"})
        if len(self.payment_api_v3_key.encode("utf-8")) != 32:
            raise ConfigError("APP_PAYMENT_API_V3_KEY must be 32 bytes (the APIv3 key set in the merchant platform)")
        if not (self.payment_merchant_id.isascii() and self.payment_merchant_id.isdigit()):
            raise ConfigError("APP_PAYMENT_MERCHANT_ID must be the digits of the mchid (商户号)")
        if bool(self.payment_platform_public_key_file) != bool(self.payment_platform_public_key_id):
            raise ConfigError("APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE and APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID go together")
        for name in ("payment_merchant_key_file", "payment_platform_public_key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ConfigError(f"APP_{name.upper()}: no such file {path}")
        if not 60 <= self.payment_ttl <= 24 * 3600:
            raise ConfigError("APP_PAYMENT_TTL must be 60 seconds to 24 hours")
        if not 5 <= self.payment_settle_after <= 3600:
            raise ConfigError("APP_PAYMENT_SETTLE_AFTER must be 5-3600 seconds")
        if not 0.1 <= self.payment_provider_timeout <= 30:
            raise ConfigError("APP_PAYMENT_PROVIDER_TIMEOUT must be 0.1-30 seconds")
        if self.production and self.payment_provider_url:
            for name in ("payment_merchant_key_file", "payment_merchant_serial"):
                if not getattr(self, name):
                    raise ConfigError(f"APP_{name.upper()} is required in production: the merchant's own API key")
            for name in ("payment_merchant_id", "payment_api_v3_key", "payment_app_appid"):
                if getattr(self, name) == getattr(Settings, name):
                    raise ConfigError(f"APP_{name.upper()} must be set in production (the default is public)")
            notify = self.payment_notify_url or ""
            if not notify.startswith("https://") or _on_loopback(notify):
                raise ConfigError("APP_PAYMENT_NOTIFY_URL must be our public https address in production: WeChat Pay "
                                  "posts payment and refund notices there")


def _on_loopback(url: str) -> bool:
    from app.integrations import is_stand_in

    return is_stand_in(url)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL (sqlite://data/app.sqlite3?...), None for another database or :memory:."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url[len("sqlite://"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def decode_key(value: str, name: str) -> bytes:
    """Decode a base64 32-byte key, refusing weak or malformed ones with a clear message."""
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise ConfigError(f"{name} is not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"{name} must decode to 32 bytes, not {len(key)}")
    if len(set(key)) < 8:
        raise ConfigError(f"{name} looks like a placeholder, not a random key")
    return key


def _check_url(name: str, url: str, schemes: set[str]) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in schemes:
        raise ConfigError(f"{name} must start with one of {sorted(schemes)}://, got {url.split(':')[0]!r}")
    if parsed.scheme != "sqlite" and not parsed.hostname:
        raise ConfigError(f"{name} has no host: {parsed.scheme}://<host>:<port>/...")


def _convert(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind in ("bool", "bool | None"):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "Path" in kind:
            return Path(raw) if raw else None
    except ValueError:
        raise ConfigError(f"APP_{name.upper()} has an invalid value {raw!r} (expected {kind})") from None
    return raw
