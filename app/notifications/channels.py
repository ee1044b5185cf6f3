"""Delivery channels (消息通道) for inbox messages: in-app, SMS, app push, mini-program subscription messages.

Each template names its channels (`"channels"` in templates.py, in-app only by default). For each
channel a message gets one `NotificationDelivery` row. The in-app channel is the inbox row itself,
so it is sent the moment the message is stored. External channels are tried once at once with a
short timeout; a failure never reaches the caller that wrote the message: the delivery is marked
failed with its error and a next attempt time that backs off (30 s, 2 min, 8 min), and the retry
job (`retry_due`) sends it again, until `max_attempts` tries have been used up. The senders and that
policy (`Channels`) are the Platform's `channels`, set by `create_app`; a process without them (a
maintenance script) leaves its external deliveries pending for the service's retry job.

An SMS is the kind's template as the provider approved it (app/notifications/sms_templates.py): the
gateway gets the template name and its parameters in the provider's order; the phone number is
decrypted only to hand it to the gateway and never logged.

App push (`push`) goes to every device of the citizen that registered a push token (a live session);
a token the provider reports invalid is dropped. A citizen with no device left gets the message by
SMS instead, in the same delivery. When every device failed for another reason (the provider down or
throttling) the delivery fails and is retried like any other; no SMS is sent meanwhile, so a message
never arrives twice. Push text is zh-Hans, as SMS is (the device's language is not known).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Protocol, Sequence

from app.i18n import ZH_HANS
from app.integrations import ProviderError
from app.integrations.push import InvalidPushToken, PushGateway
from app.integrations.sms import SmsGateway
from app.notifications.models import Notification, NotificationDelivery
from app.notifications.sms_templates import sms_params
from app.notifications.templates import TEMPLATES, render
from app.platform import Platform

log = logging.getLogger("app.notifications")

IN_APP, SMS, PUSH, MINI_PROGRAM = "in_app", "sms", "push", "mini_program"
CHANNELS = (IN_APP, SMS, PUSH, MINI_PROGRAM)
DEFAULT_CHANNELS = (IN_APP,)
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
INVALID = "invalid token"  # a push outcome: the provider no longer knows the device's token
LEASE = timedelta(minutes=2)  # how long a send in progress keeps a delivery from the retry job


class ChannelError(RuntimeError):
    """The channel did not take the message; `str()` is a short reason without personal data."""


class ChannelSkipped(ChannelError):
    """The channel does not apply to this citizen (e.g. no mini-program bound, no subscription left):
    recorded as skipped and never retried."""


class ChannelSender(Protocol):
    async def send(self, message: Notification) -> None:
        """Hand `message` to the channel or raise ChannelError."""


def channels_of(kind: str) -> tuple[str, ...]:
    """The channels the template of `kind` declares (in-app only when it declares none)."""
    declared = tuple(TEMPLATES[kind].get("channels", DEFAULT_CHANNELS))
    unknown = set(declared) - set(CHANNELS)
    if unknown:
        raise ValueError(f"template {kind!r} names unknown channels {sorted(unknown)}")
    return declared


def render_text(kind: str, params: Mapping[str, Any], language: str = ZH_HANS) -> tuple[str, str]:
    return render(kind, params, language)


SECRET_MASK = "******"


def without_secrets(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with the template's secret parameters (a one-time code) masked: what the inbox shows,
    and what is kept once every external delivery is done."""
    return {**params, **{name: SECRET_MASK for name in TEMPLATES[kind].get("secret", ()) if name in params}}


async def _forget_secrets_once_delivered(message: Notification) -> None:
    """A secret parameter is kept only while an external delivery may still need it."""
    if not TEMPLATES[message.kind].get("secret"):
        return
    if await NotificationDelivery.filter(notification_id=message.id, next_attempt_at__isnull=False).exists():
        return
    message.params = without_secrets(message.kind, message.params)
    await Notification.filter(id=message.id).update(params=message.params)


class PhoneBook(Protocol):
    """The citizen's own phone number (app/accounts `AccountService`)."""

    async def phone_of(self, citizen_id: str) -> str | None:
        """Decrypted, or None once the account is closed."""


class SmsChannel:
    """Sends the kind's approved SMS template, with its parameters, to the citizen's own phone."""

    def __init__(self, gateway: SmsGateway, phones: PhoneBook) -> None:
        self.gateway, self.phones = gateway, phones

    async def send(self, message: Notification) -> None:
        phone = await self.phones.phone_of(message.citizen_id)
        if phone is None:
            raise ChannelError("citizen account closed")
        try:
            await self.gateway.send(phone, message.kind, sms_params(message.kind, message.params))
        except ChannelError:
            raise
        except ProviderError as exc:  # the provider's code only: its message may hold the number
            raise ChannelError(f"sms gateway: {exc.code}") from None
        except Exception as exc:  # an unexpected error: only its type is kept, its text may hold the number
            raise ChannelError(f"sms gateway: {type(exc).__name__}") from None


class DeviceDirectory(Protocol):
    """The push addresses of a citizen's signed-in devices (app/accounts/devices.py `DeviceTokens`)."""

    async def devices_of(self, citizen_id: str) -> Sequence[PushDevice]:
        """The live sessions with a push token."""

    async def drop(self, session_id: str, reason: str = "invalid") -> None:
        """Forget a session's token the provider no longer knows."""


class PushDevice(Protocol):
    @property
    def session_id(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def token(self) -> str: ...
    @property
    def language(self) -> str: ...


class PushChannel:
    """App push to each of the citizen's devices; by SMS (`fallback`) when the citizen has none."""

    def __init__(self, gateway: PushGateway, devices: DeviceDirectory, fallback: ChannelSender) -> None:
        self.gateway, self.devices, self.fallback = gateway, devices, fallback

    async def send(self, message: Notification) -> None:
        devices = await self.devices.devices_of(message.citizen_id)
        params = without_secrets(message.kind, message.params)
        extras = {"kind": message.kind, "message_id": message.id}
        outcomes = await asyncio.gather(*(self._push(device, *render_text(message.kind, params, device.language), extras)
                                          for device in devices))
        delivered = sum(1 for outcome in outcomes if outcome is None)
        failures = [outcome for outcome in outcomes if outcome not in (None, INVALID)]
        if delivered:
            log.info("message %s (%s) went by push to %d device(s)", message.id, message.kind, delivered)
        elif failures:
            raise ChannelError(f"push provider: {failures[0]}")
        else:
            await self.fallback.send(message)
            log.info("message %s (%s) went by sms: no device with push", message.id, message.kind)

    async def _push(self, device: PushDevice, title: str, body: str, extras: Mapping[str, str]) -> str | None:
        """None once pushed, INVALID when the token was dropped, else the provider's error code."""
        try:
            await self.gateway.push(device.platform, device.token, title, body, extras)
        except InvalidPushToken:
            await self.devices.drop(device.session_id)
            log.info("push token of session %s dropped: the provider no longer knows it", device.session_id)
            return INVALID
        except ProviderError as exc:
            return exc.code
        except Exception as exc:  # an adapter bug must not fail the sender: recorded and retried
            return type(exc).__name__
        return None



@dataclass
class Channels:
    """The external channel senders and the retry policy: attempt n (1-based) that fails waits
    `first_backoff * factor**(n-1)` seconds; after `max_attempts` tries the delivery gives up."""

    senders: dict[str, ChannelSender]
    timeout: float = 3.0
    max_attempts: int = 4
    first_backoff: float = 30.0
    factor: float = 4.0

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.first_backoff * self.factor ** (attempts - 1))


async def attempt(platform: Platform, delivery: NotificationDelivery, message: Notification) -> NotificationDelivery:
    """Try one external delivery once over the platform's channels and record the outcome; never raises
    for a channel failure."""
    channels = platform.channels
    if channels is None:
        return delivery  # no senders in this process (a script): it stays pending for the retry job of the service
    sender = channels.senders.get(delivery.channel)
    attempts = delivery.attempts + 1
    error: str | None = None
    skipped = False
    if sender is None:
        error = f"channel {delivery.channel} not configured"
    else:
        try:
            await asyncio.wait_for(sender.send(message), timeout=channels.timeout)
        except asyncio.TimeoutError:
            error = f"timed out after {channels.timeout:g} s"
        except ChannelSkipped as exc:
            error, skipped = str(exc)[:200], True
        except ChannelError as exc:
            error = str(exc)[:200]
    now = platform.clock.now()
    if skipped:
        changes: dict[str, Any] = {"status": SKIPPED, "attempts": attempts, "next_attempt_at": None, "last_error": error}
    elif error is None:
        changes = {"status": SENT, "attempts": attempts, "next_attempt_at": None, "last_error": None}
    else:
        retry_at = now + channels.backoff(attempts) if attempts < channels.max_attempts else None
        changes = {"status": FAILED, "attempts": attempts, "next_attempt_at": retry_at, "last_error": error}
        # Ids and the kind of error only: the phone number never reaches the log.
        log.warning("delivery %s of %s over %s failed (attempt %d): %s", delivery.id, message.kind,
                    delivery.channel, attempts, error)
    await NotificationDelivery.filter(id=delivery.id).update(updated_at=now, **changes)
    for name, value in changes.items():
        setattr(delivery, name, value)
    delivery.updated_at = now
    await _forget_secrets_once_delivered(message)
    return delivery


async def retry_due(platform: Platform, batch: int = 200) -> int:
    """Send again every failed delivery whose next attempt time has come; returns how many were tried.

    Each due delivery is claimed by moving its next attempt time on a conditional update, so a
    second runner (or an overlapping run) never sends the same attempt twice.
    """
    if platform.channels is None:
        return 0  # no senders in this process: the service's retry job sends them
    tried = 0
    now = platform.clock.now()
    due = await NotificationDelivery.filter(status__in=(FAILED, PENDING), next_attempt_at__lte=now) \
        .order_by("next_attempt_at").limit(batch).prefetch_related("notification")
    for delivery in due:
        claimed = await NotificationDelivery.filter(id=delivery.id, attempts=delivery.attempts,
                                                    next_attempt_at=delivery.next_attempt_at) \
            .update(next_attempt_at=now + LEASE)
        if not claimed:
            continue
        await attempt(platform, delivery, delivery.notification)
        tried += 1
    return tried
