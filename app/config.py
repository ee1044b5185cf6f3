"""One `Settings` object: nested groups per domain, read from `APP_*` environment variables, validated at start.

Every setting has one name, its environment variable without `APP_`: `APP_PAYMENT_TTL=900`,
`Settings(payment_ttl=900)` and `settings.with_(payment_ttl=900)` all set the same field, which code
reads by its group, `settings.payments.ttl`. Ranges are declared on the fields; the rules that tie
settings together, and what production refuses, are in `Settings.check_together`.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.working_days import parse_dates, weekdays_among


class ConfigError(ValueError):
    """The configuration cannot be used; the message says what to fix."""


ENVIRONMENTS = ("dev", "test", "production")
DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg"}
REDIS_SCHEMES = {"redis", "rediss", "redis+cluster", "rediss+cluster"}  # +cluster: a Redis Cluster
REPLICA_PROBE_SECONDS = 1.0  # how long a worker trusts its last look at the read replica's lag (app/db.py)


def _url_problem(url: str, schemes: set[str]) -> str | None:
    """What is wrong with a URL for these schemes, in words to follow its setting's name; None if nothing."""
    parsed = urlparse(url)
    if parsed.scheme not in schemes:
        return f"must start with one of {sorted(schemes)}://, got {url.split(':')[0]!r}"
    if parsed.scheme != "sqlite" and not parsed.hostname:
        return f"has no host: {parsed.scheme}://<host>:<port>/..."
    return None


def _check_url(name: str, url: str, schemes: set[str]) -> None:
    problem = _url_problem(url, schemes)
    if problem:
        raise ConfigError(f"{name} {problem}")


def _web_address(url: str) -> str:
    problem = _url_problem(url, {"http", "https"}) if url else None
    if problem:
        raise ConfigError(problem)
    return url


def _existing_file(path: str) -> str:
    if path and not Path(path).is_file():
        raise ConfigError(f"no such file {path}")
    return path


def _required_web_address(url: str) -> str:
    if not url:
        raise ConfigError("must be set: the provider's http(s) address")
    return _web_address(url)


WebAddress = Annotated[str, AfterValidator(_web_address)]
"""An http(s) URL with a host, or empty for "not set"."""
ProviderAddress = Annotated[str, AfterValidator(_required_web_address)]
"""An outside party's http(s) URL with a host: the service cannot work without it."""
ExistingFile = Annotated[str, AfterValidator(_existing_file)]
"""A path to a file that exists, or empty for "not set"."""
Timeout = Annotated[float, Field(ge=0.1, le=30)]


class Group(BaseModel):
    """A group of settings; a field's variable is `env_prefix` + its name upper-cased, or as `env_names` says."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    env_prefix: ClassVar[str] = "APP_"
    env_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def variable(cls, field_name: str) -> str:
        return cls.env_names.get(field_name) or cls.env_prefix + field_name.upper()


class SecuritySettings(Group):
    """Keys, the PII cipher and the token issuer."""

    keys_dir: Path | None = None  # default: data_dir / "keys"
    pii_key: str = Field("", repr=False)  # base64 of 32 bytes; generated under keys_dir outside production
    issuer: str = "https://gov-app.example.cn"
    signing_key_rotation_days: int = Field(90, ge=1, le=3660)
    # A printed proof (e.g. 社保个人权益记录) verifies by its QR this many days, also when the key that signed it
    # was replaced meanwhile (the proof is checked against its stored record; the key is not trusted for tokens).
    printed_proof_days: int = Field(90, ge=1, le=366)

    @model_validator(mode="after")
    def _pii_key_is_a_key(self) -> "SecuritySettings":
        if self.pii_key:
            decode_key(self.pii_key, "APP_PII_KEY")
        return self


class AccountSettings(Group):
    """Sign-in (登录): sessions, one-time codes and their limits."""

    citizen_audience: str = "citizen-app"
    access_token_ttl: int = Field(15 * 60, gt=0)
    refresh_token_ttl: int = Field(30 * 24 * 3600, gt=0)
    otp_ttl: int = Field(5 * 60, gt=0)
    otp_resend_interval: int = Field(60, gt=0)
    otp_daily_limit: int = Field(10, ge=1)
    otp_max_tries: int = Field(5, ge=1)
    otp_ip_hourly_limit: int = Field(30, ge=1)
    login_ip_hourly_limit: int = Field(120, ge=1)
    # How long a session stays confirmed (确认本人操作) after a fresh SMS code, for sensitive operations.
    step_up_ttl: int = Field(300, ge=30, le=3600)
    # Phone-change codes (更换手机号) a day, per citizen and per new number.
    phone_change_daily_limit: int = Field(5, ge=1)


class AccountDeletionSettings(Group):
    """Account deletion (注销): the cooling-off period before an account is erased, and how often the erasure job runs."""

    env_prefix = "APP_ACCOUNT_DELETION_"
    cooling_off_days: int = Field(15, ge=0, le=90)
    erase_interval: int = Field(3600, ge=10, le=86400)  # seconds between runs of the erasure job
    erase_per_run: int = Field(50, ge=1, le=10000)  # accounts one run of the erasure job erases at most


# Outside parties over their published protocols (README "Outside parties"). A URL on loopback is one of
# our stand-ins (standins/, started by `make run` and the tests); production refuses them.
class TencentCloudSettings(Group):
    """Tencent Cloud API 3.0 (TC3-HMAC-SHA256): SMS SendSms, voice SendCodeVoice, IdCardVerification, DetectAuth."""

    env_prefix = "APP_TENCENT_"
    secret_id: str = "AKIDstandin0000000000000000000000"  # the stand-ins'; production must set its own
    secret_key: str = Field("standin-secret-key-not-for-production", repr=False)
    region: str = "ap-guangzhou"


class SmsSettings(Group):
    """短信: Tencent Cloud SMS."""

    env_prefix = "APP_SMS_"
    url: ProviderAddress = "http://127.0.0.1:8300"  # real: https://sms.tencentcloudapi.com
    sdk_app_id: str = "1400000001"
    sign_name: str = "粤省事示例"
    template_ids: str = ""  # JSON {our template name: provider template id}; unset: the stand-in's ids
    timeout: float = Field(5.0, gt=0, le=30)

    @model_validator(mode="after")
    def _template_ids_are_a_map(self) -> "SmsSettings":
        if self.template_ids:
            try:
                ids = json.loads(self.template_ids)
            except ValueError:
                ids = None
            if not isinstance(ids, dict) or not all(isinstance(v, str) and v for v in ids.values()):
                raise ConfigError('APP_SMS_TEMPLATE_IDS must be a JSON object {"login_code": "<template id>", ...}')
        return self


class VoiceSettings(Group):
    """语音验证码: Tencent Cloud VMS, for those who cannot read an SMS."""

    env_prefix = "APP_VOICE_"
    url: ProviderAddress = "http://127.0.0.1:8300"  # real: https://vms.tencentcloudapi.com
    sdk_app_id: str = "1400000002"


IDENTITY_DOCUMENT_TYPES = ("resident_id", "residence_permit", "hk_macao_permit", "taiwan_permit",
                           "permanent_residence", "passport")


class IdentitySettings(Group):
    """实名核验 by the identity authority (IdCardVerification)."""

    env_prefix = "APP_IDENTITY_"
    url: ProviderAddress = "http://127.0.0.1:8300"  # real: https://faceid.tencentcloudapi.com
    timeout: Timeout = 5.0
    mismatch_daily_limit: int = Field(5, ge=1, le=100)  # name + ID pairs the authority refused, per account and day
    # The document types the authority confirms (二要素 over 18-character GB 11643 numbers), comma-separated; any
    # other is recorded as declared, below 实名 (README "Identity documents").
    document_types: str = "resident_id,residence_permit,permanent_residence"

    @model_validator(mode="after")
    def _known_document_types(self) -> "IdentitySettings":
        unknown = set(self.document_type_list) - set(IDENTITY_DOCUMENT_TYPES)
        if unknown:
            raise ConfigError(f"APP_IDENTITY_DOCUMENT_TYPES must list some of {', '.join(IDENTITY_DOCUMENT_TYPES)}")
        return self

    @property
    def document_type_list(self) -> list[str]:
        return [kind.strip() for kind in self.document_types.split(",") if kind.strip()]


class FaceSettings(Group):
    """人脸核身 (DetectAuth)."""

    env_prefix = "APP_FACE_"
    url: ProviderAddress = "http://127.0.0.1:8300"  # real: https://faceid.tencentcloudapi.com
    rule_id: str = "1"  # the DetectAuth RuleId configured at the provider
    redirect_url: str = ""  # where the provider's page sends the phone back; default: APP_ISSUER
    timeout: float = Field(5.0, gt=0, le=30)
    daily_attempts: int = Field(5, ge=1)
    pass_score: float = Field(0.8, gt=0, le=1)  # the provider's similarity to the authority's photo (0-100) / 100
    session_ttl: int = Field(600, ge=60, le=7200)  # a face session must be finished within this


class PushSettings(Group):
    """App push: JPush REST API v3 (one call reaches APNs and the Android vendor channels)."""

    env_prefix = "APP_PUSH_"
    url: ProviderAddress = "http://127.0.0.1:8310"  # real: https://api.jpush.cn
    app_key: str = "standinappkey0000000000"  # the stand-in's; production must set its own
    master_secret: str = Field("standin-master-secret-not-for-production", repr=False)
    timeout: Timeout = 3.0
    apns_production: bool = False  # JPush options.apns_production: the APNs environment


class HealthCodeSettings(Group):
    """健康码: issuance, QR images, printed cards and border passes."""

    env_prefix = "APP_HEALTH_CODE_"
    env_names = {"print_card_ttl": "APP_PRINT_CARD_TTL", "border_pass_ttl": "APP_BORDER_PASS_TTL"}
    ttl: int = Field(180, ge=30, le=180)
    reuse_margin: int = Field(30, ge=0)  # a new code is issued when fewer seconds than this are left
    issuer: str = "CN-GD"
    # QR images are drawn in this many separate processes, so that drawing never holds the
    # event loop's interpreter lock; 0 draws in a thread of the serving process instead.
    render_processes: int = Field(1, ge=0)
    image_cache: int = Field(2048, ge=0)  # rendered QR images kept per process (0: render every time)
    print_card_ttl: int = Field(12 * 3600, ge=600, le=3 * 86400)  # a printed card (no phone) verifies this long at most
    border_pass_ttl: int = Field(12 * 3600, ge=60, le=7 * 24 * 3600)  # a border pass (通关凭证) for one partner

    @model_validator(mode="after")
    def _margin_below_lifetime(self) -> "HealthCodeSettings":
        if self.reuse_margin >= self.ttl:
            raise ConfigError("APP_HEALTH_CODE_REUSE_MARGIN must be below APP_HEALTH_CODE_TTL")
        return self


class VoucherSettings(Group):
    """居民身份电子凭证 and the e-licence wallet."""

    env_prefix = "APP_VOUCHER_"
    env_names = {"licence_share_max_minutes": "APP_LICENCE_SHARE_MAX_MINUTES",
                 "licence_status_pull_interval": "APP_LICENCE_STATUS_PULL_INTERVAL"}
    token_ttl: int = Field(180, ge=30, le=180)  # a presentation of the ID voucher is redeemable this long
    presentations_per_minute: int = Field(20, ge=1)  # a person shows their ID a few times a minute at most
    invalid_tokens_per_minute: int = Field(120, ge=1, le=10_000)  # a relying party sending more is guessing: 429
    redemptions_per_minute: int = Field(3000, ge=1, le=1_000_000)  # per relying party: a hotel chain's desks together
    # An offline ID QR (no network at the desk) lives this long, within the grace that old keys stay published.
    offline_ttl: int = Field(600, ge=60, le=24 * 3600)
    licence_share_max_minutes: int = Field(24 * 60, ge=1, le=30 * 24 * 60)  # the longest an e-licence is shared
    # The wallet's 驾驶证 take their status from 交管 (证照状态同步) when opened, and by a job for a licence not
    # asked within this many seconds.
    licence_status_pull_interval: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)


class RatingSettings(Group):
    """好差评."""

    env_prefix = "APP_RATING_"
    follow_up_days: int = Field(7, ge=1, le=30)  # a bad rating (差评) must be answered within this many days


# The sample 12345 routing table (app/hotline), which production does not take.
SAMPLE_ROUTING = Path(__file__).resolve().parent / "hotline" / "sample_routing.json"


def _date_list(text: str) -> str:
    parse_dates(text)  # ValueError naming the date that is not one
    return text


class HotlineSettings(Group):
    """12345 政务服务便民热线 tickets (工单): time limits in working days, routing table, escalation job."""

    env_prefix = "APP_HOTLINE_"
    accept_days: int = Field(1, ge=1, le=10)  # working days a department has to accept (签收) a new ticket
    answer_days: int = Field(5, ge=1, le=30)  # working days to answer (答复), from filing or from a reopening
    holidays: Annotated[str, AfterValidator(_date_list)] = ""  # public holidays (法定节假日), YYYY-MM-DD,YYYY-MM-DD
    workdays: Annotated[str, AfterValidator(_date_list)] = ""  # make-up working days (调休), Saturdays or Sundays
    routing: ExistingFile = ""  # the routing table (JSON); empty: the sample table in app/hotline
    escalation_interval: int = Field(600, ge=60, le=86400)  # seconds between runs of the escalation job

    @model_validator(mode="after")
    def _acceptance_within_answer(self) -> "HotlineSettings":
        if self.accept_days > self.answer_days:
            raise ConfigError("APP_HOTLINE_ACCEPT_DAYS must be at most APP_HOTLINE_ANSWER_DAYS: both count from "
                              "filing, and a department answers what it has accepted")
        return self

    @model_validator(mode="after")
    def _workdays_are_weekend_days(self) -> "HotlineSettings":
        workdays = parse_dates(self.workdays)
        weekdays = weekdays_among(workdays)
        if weekdays:
            raise ConfigError(f"APP_HOTLINE_WORKDAYS must be Saturdays or Sundays (调休 make-up working days): "
                              f"{weekdays[0].isoformat()} is a weekday")
        both = sorted(workdays & parse_dates(self.holidays))
        if both:
            raise ConfigError(f"APP_HOTLINE_WORKDAYS must not repeat a date of APP_HOTLINE_HOLIDAYS: "
                              f"{both[0].isoformat()} is in both")
        return self


class CardSettings(Group):
    """Home-screen service cards (服务卡片) and their backends.

    Each card's backend call is bounded by `timeout`; a backend failing `breaker_failures` times in a
    row is left alone for `breaker_cooldown`. Past its freshness, a card is shown stale at once for
    `stale_grace` seconds while one worker refreshes it in the background; after that the request
    waits for the backend again (0: always wait).
    """

    env_prefix = "APP_CARD_"
    timeout: float = Field(0.3, ge=0.01, le=10)
    breaker_failures: int = Field(5, ge=1, le=100_000)
    breaker_cooldown: int = Field(30, ge=1, le=3600)
    max_ttl: int = Field(3600, ge=0)  # caps every card type's freshness; 0 asks the backends on every home request
    stale_grace: int = Field(600, ge=0, le=7 * 24 * 3600)  # a week at most, as long as a last good value is kept
    # Stand-in department backends: latency, and for demos, tests and benchmarks outside production a random
    # failure rate and a comma-separated list that hangs.
    backend_latency: float = Field(0.02, ge=0, le=60)
    backend_failure_rate: float = Field(0.0, ge=0, le=1)
    backend_hang: str = ""


class NotificationSettings(Group):
    """Notification channels (SMS, push, mini-program).

    Each send is bounded by `channel_timeout`; a failed one is retried after `first_backoff` seconds,
    four times longer each time, `max_attempts` in all.
    """

    env_prefix = "APP_NOTIFY_"
    channel_timeout: float = Field(3.0, ge=0.01, le=30)
    first_backoff: int = Field(30, ge=1, le=3600)
    max_attempts: int = Field(4, ge=1, le=10)


def _help_line(number: str) -> str:
    if not number.isdigit() or not 3 <= len(number) <= 12:
        raise ConfigError("APP_HELP_LINE must be 3-12 digits, e.g. 12345")
    return number


class ElderlySettings(Group):
    """Elderly mode (适老化) and family proxies (亲友代办).

    How long a link lives before it must be renewed, how long a consent code is good for, how much
    longer one call makes a code live, and the undo window.
    """

    env_prefix = "APP_ELDERLY_"
    env_names = {"family_link_days": "APP_FAMILY_LINK_DAYS", "family_consent_ttl": "APP_FAMILY_CONSENT_TTL",
                 "help_line": "APP_HELP_LINE"}
    family_link_days: int = Field(365, ge=1, le=3 * 366)
    family_consent_ttl: int = Field(600, ge=60, le=3600)
    extend_factor: int = Field(2, ge=2, le=4)  # at least twice the normal lifetime
    undo_minutes: int = Field(10, ge=10, le=60)
    help_line: Annotated[str, AfterValidator(_help_line)] = "12345"


def _merchant_id(value: str) -> str:
    if not (value.isascii() and value.isdigit()):
        raise ConfigError("APP_PAYMENT_MERCHANT_ID must be the digits of the mchid (商户号)")
    return value


class PaymentSettings(Group):
    """缴费 through WeChat Pay API v3 (app/integrations/payment_providers/wechatpay.py).

    Without a provider URL, paying answers 503 PAYMENT_PROVIDER_UNAVAILABLE and nothing else changes.
    The real gateway is https://api.mch.weixin.qq.com; `make run` starts the stand-in
    (`python -m standins.wechatpay`).
    """

    env_prefix = "APP_PAYMENT_"
    env_names = {"receipt_verify_base": "APP_RECEIPT_VERIFY_BASE"}
    provider: Literal["wechatpay_v3"] = "wechatpay_v3"
    provider_url: WebAddress = ""
    merchant_id: Annotated[str, AfterValidator(_merchant_id)] = "1900000001"  # mchid (商户号); WeChat Pay's sample
    merchant_serial: str = ""  # serial_no of the merchant API certificate; derived from the key outside production
    merchant_key_file: ExistingFile = ""  # apiclient_key.pem (PKCS#8); outside production generated under keys_dir
    # The 32-byte APIv3 key set in the merchant platform (notices, certificates).
    api_v3_key: str = Field("standin-apiv3-key-not-for-prod00", repr=False)
    platform_public_key_file: ExistingFile = ""  # 微信支付公钥 PEM; unset: platform certificates downloaded
    platform_public_key_id: str = ""  # its id (PUB_KEY_ID_…), the Wechatpay-Serial it signs with
    app_appid: str = "wx8c3f1a2b9d4e6f70"  # sample open-platform appid of the phone app (APP orders)
    notify_url: WebAddress = ""  # where the provider posts notifications; default: our own host and port
    ttl: int = Field(15 * 60, ge=60, le=24 * 3600)  # an unpaid payment expires (its order closed) after this
    settle_after: int = Field(60, ge=5, le=3600)  # a payment not notified this long is settled by asking
    provider_timeout: Timeout = 5.0
    receipt_verify_base: str = ""  # public base URL in receipt QR codes; default: APP_ISSUER

    @model_validator(mode="after")
    def _keys_fit(self) -> "PaymentSettings":
        if len(self.api_v3_key.encode("utf-8")) != 32:
            raise ConfigError("APP_PAYMENT_API_V3_KEY must be 32 bytes (the APIv3 key set in the merchant platform)")
        if bool(self.platform_public_key_file) != bool(self.platform_public_key_id):
            raise ConfigError("APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE and APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID go together")
        return self


class MiniProgramSettings(Group):
    """The mini-program platform (小程序平台): its server APIs, our appid and secret there.

    `token_refresh_margin` is how early (seconds before expiry) its access token is renewed.
    """

    env_prefix = "APP_MINIPROGRAM_"
    api_url: str = "http://127.0.0.1:8200"  # the stand-in (`python -m miniprogram_mock`) by default
    appid: str = Field("wx5a3e9c2b7d1f0a46", min_length=1)  # sample appid
    secret: str = Field("sample-secret-0123456789abcdef", min_length=1, repr=False)  # the stand-in's
    timeout: Timeout = 3.0
    token_refresh_margin: int = Field(300, ge=0, le=3600)
    bind_ttl: int = Field(300, ge=60, le=1800)  # a login that still needs its phone verified must finish within this
    audience: str = "mini-program"

    @model_validator(mode="after")
    def _reachable(self) -> "MiniProgramSettings":
        _check_url("APP_MINIPROGRAM_API_URL", self.api_url, {"http", "https"})
        if not self.appid.strip() or not self.secret.strip():
            raise ConfigError("APP_MINIPROGRAM_APPID and APP_MINIPROGRAM_SECRET must not be empty")
        return self


class ExchangeSettings(Group):
    """The department data exchange (docs/exchange.md).

    Our subsystem, and the registry of the department services we call (a JSON file; `make run` writes
    the stand-in departments'). Unset: no department is registered, and the in-process samples answer
    the home cards.
    """

    env_prefix = "APP_EXCHANGE_"
    client: str = "CN-GD/GOV/11440000MB2C93140X/yss-app"  # sample 统一社会信用代码
    registry: ExistingFile = ""

    @model_validator(mode="after")
    def _client_is_a_member(self) -> "ExchangeSettings":
        from app.integrations.exchange.protocol import ExchangeRefused, MemberId

        try:
            MemberId.parse(self.client)
        except ExchangeRefused:
            raise ConfigError("APP_EXCHANGE_CLIENT must be INSTANCE/CLASS/MEMBER_CODE/SUBSYSTEM") from None
        return self


class UploadSettings(Group):
    """材料上传: citizens' uploaded materials, their limits, where they are kept and for how long.

    `storage` is `local` (files under `dir`, by default the data folder's uploads/) or `s3` (an S3-compatible
    object store). Files are encrypted before they are stored, with a key derived from APP_PII_KEY.
    """

    env_prefix = "APP_UPLOAD_"
    env_names = {"s3_endpoint": "APP_S3_ENDPOINT", "s3_bucket": "APP_S3_BUCKET", "s3_region": "APP_S3_REGION",
                 "s3_access_key": "APP_S3_ACCESS_KEY", "s3_secret_key": "APP_S3_SECRET_KEY",
                 "s3_prefix": "APP_S3_PREFIX", "s3_timeout": "APP_S3_TIMEOUT"}
    storage: Literal["local", "s3"] = "local"
    dir: Path | None = None  # default: data_dir / "uploads"
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # Sniffed from the bytes: jpeg, png, pdf.
    allowed_types: str = "jpeg,png,pdf"
    retention: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)  # an upload not used by then is deleted
    per_hour: int = Field(60, ge=1, le=10_000)  # uploads per citizen per hour
    max_pixels: int = Field(24_000_000, ge=1_000_000, le=89_000_000)  # larger: refused (bombs; Pillow stops at 89 MP)
    s3_endpoint: WebAddress = ""  # e.g. https://oss-cn-guangzhou.aliyuncs.com; empty: AWS's own
    s3_bucket: str = "gov-app-uploads"
    s3_region: str = "cn-south-1"
    s3_access_key: str = ""
    s3_secret_key: str = Field("", repr=False)
    s3_prefix: str = "uploads"
    s3_timeout: Timeout = 10.0

    @model_validator(mode="after")
    def _known_types(self) -> "UploadSettings":
        unknown = set(self.allowed_type_list) - {"jpeg", "png", "pdf"}
        if unknown or not self.allowed_type_list:
            raise ConfigError("APP_UPLOAD_ALLOWED_TYPES must list some of jpeg, png, pdf, comma-separated")
        if self.storage == "s3" and not (self.s3_bucket and self.s3_access_key and self.s3_secret_key):
            raise ConfigError("APP_UPLOAD_STORAGE=s3 needs APP_S3_BUCKET, APP_S3_ACCESS_KEY and APP_S3_SECRET_KEY")
        return self

    @property
    def allowed_type_list(self) -> list[str]:
        return [kind.strip().lower() for kind in self.allowed_types.split(",") if kind.strip()]


class ExportSettings(Group):
    """个人信息副本: a citizen's copy of their own data, kept (encrypted, in the uploads' storage) for a short while."""

    env_prefix = "APP_EXPORT_"
    link_ttl: int = Field(600, ge=60, le=24 * 3600)  # the download link lives this long; the sweep then removes the file
    max_downloads: int = Field(3, ge=1, le=10)  # downloads of one copy (a phone may lose one mid-way)
    daily_limit: int = Field(5, ge=1, le=100)  # copies a citizen may ask for a day
    # Uploaded files in one copy add up to at most this many bytes (0: none); the rest are listed, not included.
    max_file_bytes: int = Field(200 * 2 ** 20, ge=0, le=2 ** 31)


class RetentionSettings(Group):
    """How long the append-only tables keep their rows, in days, and the monthly partitions kept ready for them.

    A month is archived to object storage and dropped once all of it is older than its table's period
    (PostgreSQL only; docs/operations.md). The floors are the legal minimums: 网络安全法 art. 21 keeps network
    logs at least six months; the audit log (who read whose data) and the exchange log (what was provided to
    which department) three years, as records of processing and providing personal information (PIPL arts. 55-56).
    """

    env_prefix = "APP_RETENTION_"
    env_names = {"months_ahead": "APP_PARTITION_MONTHS_AHEAD", "interval": "APP_PARTITION_JOB_INTERVAL"}
    audit_entries_days: int = Field(3 * 365 + 1, ge=3 * 365 + 1, le=100 * 366)  # 3 years at least
    health_evidence_days: int = Field(365, ge=183, le=100 * 366)  # 健康码 evidence, by when it was recorded
    issued_health_codes_days: int = Field(183, ge=183, le=100 * 366)  # which code was issued to whom: a log
    # The exchange log records personal information provided to departments: PIPL arts. 55-56, 3 years.
    exchange_messages_days: int = Field(3 * 365 + 1, ge=3 * 365 + 1, le=100 * 366)
    months_ahead: int = Field(3, ge=1, le=24)  # month partitions made ahead of the current one
    interval: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600)  # seconds between runs of the two jobs


class OidcSettings(Group):
    """Sign in with this account elsewhere (OpenID Connect provider): codes, tokens, pairwise subjects."""

    env_prefix = "APP_OIDC_"
    # The issuer sites see in id_tokens and discovery; empty: the address the request came to (outside production).
    issuer: WebAddress = ""
    code_ttl: int = Field(60, ge=10, le=600)  # an authorization code is exchanged within this (RFC 6749: ≤ 10 min)
    access_token_ttl: int = Field(600, ge=60, le=3600)
    id_token_ttl: int = Field(600, ge=60, le=3600)
    # base64 of 32 bytes: the key of the pairwise subjects (a site's `sub` for a citizen); generated under the
    # keys folder outside production. Changing it changes every site's `sub` for every citizen.
    pairwise_secret: str = Field("", repr=False)


class Settings(BaseSettings):
    """Every setting of the service: the server's own, then one group per domain. Time limits are seconds."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    env: Literal["dev", "test", "production"] = "dev"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    data_dir: Path = Path("data")
    database_url: str = Field("", repr=False)  # default: SQLite file under data_dir; may hold a password
    # A streaming replica of APP_DATABASE_URL (PostgreSQL only) for the reads that tolerate lag (app/db.py
    # `lag_tolerant`); unset: every read goes to the primary. May hold a password.
    database_replica_url: str = Field("", repr=False)
    # After a signed-in citizen's write (any request but GET/HEAD/OPTIONS) or a message to their inbox, their
    # lag-tolerant reads go to the primary for this long, so they see what they just did (0: never). Unless 0,
    # at least the lag allowed plus the probe's interval: a replica read from later has the write.
    database_replica_sticky_seconds: float = Field(10.0, ge=0, le=3600)
    # A replica further behind than this (seconds of WAL received but not yet replayed) is not read from.
    database_replica_max_lag: float = Field(5.0, ge=0.1, le=3600)
    redis_url: str = Field("", repr=False)  # default: in-memory cache (one process only); may hold a password
    cache_namespace: str = "gov"
    redis_max_connections: int = Field(64, ge=4, le=10_000)  # per worker; a request waits up to 2 s for one
    cache_near_ttl: float = Field(10.0, ge=0, le=300)  # with Redis: seconds a worker may mirror a hot key (0: off)
    # With Redis: how many replicas must hold a one-time marker (a used code, nonce, ticket or jti) before the claim
    # counts (WAIT after the SET NX), so that a primary lost before replicating it cannot let the token be used a
    # second time on its promoted replica; none acknowledging in time refuses the claim (503). Unset: 1 on a Redis
    # Cluster (every primary has a replica there), 0 on one Redis (no WAIT).
    cache_one_time_replicas: int | None = Field(None, ge=0, le=5)
    cache_one_time_wait_ms: int = Field(500, ge=1, le=10_000)  # how long a claim waits for those replicas
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    request_timeout: float = Field(15.0, ge=1, le=120)  # a request (headers and body) must arrive within this; else 408
    unavailable_retry_after: int = Field(5, ge=1, le=300)  # Retry-After of a 503 while the database or cache is down
    scheduler_enabled: bool = True
    access_log: bool = True  # one line per request (path, status, time, request id); off behind a logging proxy
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, with the request id
    # Prometheus metrics on a port of their own (never the public one); unset: no metrics are kept or served.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # The OpenAPI document and its viewers under /docs: unset, served outside production and not in it
    # (a map of every route is for integrators, not for everyone on the internet).
    docs: bool | None = None
    # The audit log's chains: an entry goes to the chain its subject hashes to, and writers of different chains
    # share no lock. Fixed in the database at first use (entries are placed by it); a different number later is
    # refused at start.
    audit_chains: int = Field(64, ge=1, le=4096)

    security: SecuritySettings = Field(default_factory=SecuritySettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    account_deletion: AccountDeletionSettings = Field(default_factory=AccountDeletionSettings)
    tencent: TencentCloudSettings = Field(default_factory=TencentCloudSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    face: FaceSettings = Field(default_factory=FaceSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    health_code: HealthCodeSettings = Field(default_factory=HealthCodeSettings)
    vouchers: VoucherSettings = Field(default_factory=VoucherSettings)
    ratings: RatingSettings = Field(default_factory=RatingSettings)
    hotline: HotlineSettings = Field(default_factory=HotlineSettings)
    cards: CardSettings = Field(default_factory=CardSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    elderly: ElderlySettings = Field(default_factory=ElderlySettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    miniprogram: MiniProgramSettings = Field(default_factory=MiniProgramSettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    exports: ExportSettings = Field(default_factory=ExportSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    def __init__(self, **values: Any) -> None:
        """Build from settings' names (`payment_ttl=900`, as `APP_PAYMENT_TTL`) or groups; ConfigError if unusable."""
        try:
            super().__init__(**_nest(values))
        except ValidationError as error:
            raise ConfigError(_describe(error)) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """`Settings(...)` is the defaults and the values given; the environment is read by `from_env` only."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read `APP_<NAME>` variables (e.g. `APP_DATABASE_URL`, `APP_PAYMENT_TTL`) and validate them."""
        return cls(**EnvironmentSource(cls, os.environ if environ is None else environ)())

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some settings changed, named as in `Settings(...)`, validated again."""
        return type(self)(**_merge(self.model_dump(), _nest(changes)))

    def setting(self, name: str) -> Any:
        """One setting by its name (`payment_ttl`, as `APP_PAYMENT_TTL`)."""
        value: Any = self
        for part in NAMES[name]:
            value = getattr(value, part)
        return value

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
        return self.payments.notify_url or f"http://{self.host}:{self.port}/api/provider/v1/payment-notifications"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite://{self.data_dir / 'app.sqlite3'}"

    @property
    def resolved_keys_dir(self) -> Path:
        return self.security.keys_dir or self.data_dir / "keys"

    @model_validator(mode="after")
    def check_together(self) -> "Settings":
        """The rules between settings, then what production refuses."""
        _check_url("APP_DATABASE_URL", self.resolved_database_url, DB_SCHEMES)
        if self.database_replica_url:
            _check_replica(self)
        if self.redis_url:
            _check_url("APP_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        if self.workers > 1 and not self.redis_url:
            # One-time codes, rate limits and locks must be shared by all workers.
            raise ConfigError("APP_WORKERS > 1 needs APP_REDIS_URL: the in-memory cache lives in one process, "
                              "so one-time codes and rate limits would be per worker")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ConfigError(f"APP_METRICS_PORT must differ from APP_PORT ({self.port}): metrics are not for the public")
        if self.production:
            _refuse_in_production(self)
        return self


def _check_replica(settings: Settings) -> None:
    """A read replica is a PostgreSQL standby of a PostgreSQL primary: SQLite has none. A citizen's
    read-your-writes window must outlast the lag a replica may have and still be read from, plus the time a
    worker trusts its last look at that lag: else a replica that much behind answers within the window's end
    without the citizen's write."""
    _check_url("APP_DATABASE_REPLICA_URL", settings.database_replica_url, DB_SCHEMES - {"sqlite"})
    if sqlite_path(settings.resolved_database_url) is not None or settings.resolved_database_url.startswith("sqlite"):
        raise ConfigError("APP_DATABASE_REPLICA_URL needs APP_DATABASE_URL pointing at PostgreSQL: the embedded "
                          "SQLite default has no replicas")
    sticky, lag = settings.database_replica_sticky_seconds, settings.database_replica_max_lag
    if 0 < sticky < lag + REPLICA_PROBE_SECONDS:
        raise ConfigError(
            f"APP_DATABASE_REPLICA_STICKY_SECONDS ({sticky:g}) must be at least APP_DATABASE_REPLICA_MAX_LAG "
            f"({lag:g}) + {REPLICA_PROBE_SECONDS:g} s (how long a worker trusts its last look at the replica), or 0: "
            "a shorter read-your-writes window lets a citizen read, from a replica that far behind, a page "
            "without what they just did. Raise the window or lower the lag allowed.")


def _refuse_in_production(settings: Settings) -> None:
    """Production keeps its data in PostgreSQL and Redis and talks to real providers with its own credentials."""
    if settings.cards.backend_hang or settings.cards.backend_failure_rate:
        raise ConfigError("APP_CARD_BACKEND_HANG and APP_CARD_BACKEND_FAILURE_RATE are for tests and demos, "
                          "not production")
    if not settings.security.pii_key:
        raise ConfigError("APP_PII_KEY is required in production (base64 of 32 random bytes)")
    if settings.database_url == "" or settings.database_url.startswith("sqlite"):
        raise ConfigError("production needs APP_DATABASE_URL pointing at PostgreSQL")
    if not settings.redis_url:
        raise ConfigError("production needs APP_REDIS_URL")
    if settings.security.keys_dir is None:
        raise ConfigError("production needs APP_KEYS_DIR holding the signing keys")
    mini = settings.miniprogram
    if mini.secret == MiniProgramSettings().secret or not mini.api_url.startswith("https://"):
        raise ConfigError("production needs APP_MINIPROGRAM_SECRET (not the stand-in's) and an https "
                          "APP_MINIPROGRAM_API_URL")
    _refuse_stand_ins(settings)
    if settings.payments.provider_url:
        _refuse_sample_merchant(settings.payments)
    uploads = settings.uploads
    if uploads.storage != "s3":
        raise ConfigError("production keeps uploads in S3-compatible object storage (APP_UPLOAD_STORAGE=s3): "
                          "one worker's disk is not the others'")
    if uploads.s3_endpoint and not uploads.s3_endpoint.startswith("https://"):
        raise ConfigError("APP_S3_ENDPOINT must be https in production: uploads are citizens' documents")
    _refuse_sample_routing(settings.hotline)
    if not settings.oidc.pairwise_secret or not settings.oidc.issuer.startswith("https://"):
        raise ConfigError("production needs APP_OIDC_PAIRWISE_SECRET (base64 of 32 random bytes) and an https "
                          "APP_OIDC_ISSUER: the sites signing citizens in rely on both")


def _refuse_sample_routing(hotline: HotlineSettings) -> None:
    """The sample routing table sends 12345 tickets to sample departments: production names its own."""
    if not hotline.routing or Path(hotline.routing).resolve() == SAMPLE_ROUTING:
        raise ConfigError("APP_HOTLINE_ROUTING must be set in production: the routing table of the departments "
                          "that answer 12345 tickets, not the sample one")


def _refuse_stand_ins(settings: Settings) -> None:
    """Each setting still at a stand-in's address or credential is named."""
    from app.integrations import is_stand_in

    addresses = {"APP_SMS_URL": settings.sms.url, "APP_VOICE_URL": settings.voice.url,
                 "APP_IDENTITY_URL": settings.identity.url, "APP_FACE_URL": settings.face.url,
                 "APP_PUSH_URL": settings.push.url, "APP_PAYMENT_PROVIDER_URL": settings.payments.provider_url}
    for name, url in addresses.items():
        if url and (is_stand_in(url) or not url.startswith("https://")):
            raise ConfigError(f"{name} is a stand-in ({url}): production needs the real provider's https URL")
    for group, field_name in ((settings.tencent, "secret_id"), (settings.tencent, "secret_key"),
                              (settings.push, "app_key"), (settings.push, "master_secret"),
                              (settings.sms, "sdk_app_id"), (settings.voice, "sdk_app_id"),
                              (settings.sms, "sign_name"), (settings.face, "rule_id")):
        if _at_default(group, field_name):
            raise ConfigError(f"{group.variable(field_name)} is missing: production needs the provider's own "
                              "credential, not the stand-in's")
    if not settings.sms.template_ids:
        raise ConfigError("APP_SMS_TEMPLATE_IDS is missing: production needs the provider's approved template ids")
    if not settings.push.apns_production:
        raise ConfigError("APP_PUSH_APNS_PRODUCTION must be true in production: the app store build receives "
                          "pushes from the APNs production environment only")


def _refuse_sample_merchant(payments: PaymentSettings) -> None:
    for field_name in ("merchant_key_file", "merchant_serial"):
        if not getattr(payments, field_name):
            raise ConfigError(f"{payments.variable(field_name)} is required in production: the merchant's own API key")
    for field_name in ("merchant_id", "api_v3_key", "app_appid"):
        if _at_default(payments, field_name):
            raise ConfigError(f"{payments.variable(field_name)} must be set in production (the default is public)")
    from app.integrations import is_stand_in

    if not payments.notify_url.startswith("https://") or is_stand_in(payments.notify_url):
        raise ConfigError("APP_PAYMENT_NOTIFY_URL must be our public https address in production: WeChat Pay "
                          "posts payment and refund notices there")


def _at_default(group: Group, field_name: str) -> bool:
    return bool(getattr(group, field_name) == type(group).model_fields[field_name].default)


def default_of(name: str) -> Any:
    """A setting's default by its name (`sms_url`, as `APP_SMS_URL`), read from its declaration."""
    place = NAMES[name]
    model: type[BaseModel] = Settings if len(place) == 1 else GROUPS[place[0]]
    return model.model_fields[place[-1]].default


GROUPS: dict[str, type[Group]] = {
    name: info.annotation for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Group)
}
"""Each group's field on `Settings`, and its class."""


def _names() -> dict[str, tuple[str, ...]]:
    """Every setting's name (its variable without `APP_`, lower-case) and where it sits."""
    names: dict[str, tuple[str, ...]] = {}
    for name in Settings.model_fields:
        if name not in GROUPS:
            names[name] = (name,)
    for group_name, group in GROUPS.items():
        for field_name in group.model_fields:
            names[group.variable(field_name).removeprefix("APP_").lower()] = (group_name, field_name)
    return names


NAMES = _names()


def variable_of(location: tuple[str | int, ...]) -> str:
    """The environment variable of a field, by its place in `Settings` (`("payments", "ttl")`: APP_PAYMENT_TTL)."""
    if len(location) >= 2 and location[0] in GROUPS and isinstance(location[1], str) \
            and location[1] in GROUPS[str(location[0])].model_fields:
        return GROUPS[str(location[0])].variable(location[1])
    return f"APP_{str(location[0]).upper()}" if location else "the settings"


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Settings' names to their groups: {"payment_ttl": 900} -> {"payments": {"ttl": 900}}."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        place = NAMES.get(name)
        if place is None or len(place) == 1:
            nested[name] = value  # a server setting or a whole group; an unknown name is refused by the model
            continue
        group = nested.setdefault(place[0], {})
        if not isinstance(group, dict):
            group = nested[place[0]] = dict(group.model_dump() if isinstance(group, Group) else group)
        group[place[1]] = value
    return nested


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def _describe(error: ValidationError) -> str:
    """The first problem in words, naming its environment variable."""
    problem = error.errors()[0]
    cause = problem.get("ctx", {}).get("error")
    name = variable_of(problem["loc"])
    if isinstance(cause, ConfigError):
        message = str(cause)
        if message.startswith("APP_"):
            return message
        return f"{name} {message}" if message.startswith(("must ", "has ")) else f"{name}: {message}"
    if problem["type"] == "extra_forbidden":
        return f"unknown setting {'.'.join(map(str, problem['loc']))}"
    given, info = problem.get("input"), _field(problem["loc"])
    secret = info is not None and info.repr is False
    shown = "" if isinstance(given, dict) or secret else f" (got {given!r})"
    return f"{name} must be {_expected(problem)}{shown}"


def _expected(problem: ErrorDetails) -> str:
    """What a field takes, from the pydantic error about it."""
    kind, ctx = problem["type"], problem.get("ctx", {})
    bounds = _bounds(problem["loc"])
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and bounds:
        return bounds
    words = {"int_parsing": "a whole number", "int_from_float": "a whole number", "float_parsing": "a number",
             "bool_parsing": "true or false", "literal_error": str(ctx.get("expected", "")).replace("'", ""),
             "string_too_short": "set (not empty)", "path_type": "a path", "string_type": "a text"}
    return words.get(kind, str(problem["msg"]).lower())


def _field(location: tuple[str | int, ...]) -> FieldInfo | None:
    """The declaration of the field at a place in `Settings`, if it is one."""
    model: Any = Settings
    info = None
    for part in location:
        info = model.model_fields.get(part) if isinstance(part, str) and model is not None else None
        if info is None:
            return None
        model = info.annotation if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel) else None
    return info


def _bounds(location: tuple[str | int, ...]) -> str:
    """A numeric field's range in words ("60-86400", "at least 1"), from its declared constraints."""
    info = _field(location)
    if info is None:
        return ""
    bound = {key: getattr(m, key) for m in info.metadata for key in ("ge", "gt", "le", "lt")
             if getattr(m, key, None) is not None}
    low = f"at least {bound['ge']}" if "ge" in bound else f"above {bound['gt']}" if "gt" in bound else ""
    high = f"at most {bound['le']}" if "le" in bound else f"below {bound['lt']}" if "lt" in bound else ""
    if "ge" in bound and "le" in bound:
        return f"{bound['ge']}-{bound['le']}"
    return " and ".join(part for part in (low, high) if part)


class EnvironmentSource(PydanticBaseSettingsSource):
    """Reads each setting from its `APP_*` variable; unset and empty both mean "the default"."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Not used: `__call__` reads every setting by its variable (pydantic-settings asks this of a source)."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in NAMES:
            raw = self.environ.get(f"APP_{name.upper()}")
            if raw is not None and raw.strip() != "":
                values[name] = raw
        return values


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
