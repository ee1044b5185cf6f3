"""The inbox: `notify` stores a message and sends it over the template's channels; readers get it
rendered in their language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from tortoise.backends.base.client import BaseDBAsyncClient

from app import db
from app.clock import Clock
from app.ids import new_id
from app.ownership import get_owned
from app.platform import Platform
from app.notifications import channels
# What other domains use of the SMS templates the provider approved (a login code is one).
from app.notifications.sms_templates import CONFIRM_CODE as CONFIRM_CODE, LOGIN_CODE as LOGIN_CODE
from app.notifications.sms_templates import PHONE_CHANGED_AWAY as PHONE_CHANGED_AWAY, sms_params as sms_params
from app.notifications.channels import ChannelError as ChannelError, ChannelSkipped as ChannelSkipped
from app.notifications.channels import render_text as render_text
from app.notifications.models import Notification as Notification, NotificationDelivery
from app.notifications.templates import TEMPLATES


@dataclass(frozen=True)
class InboxMessage:
    id: str
    kind: str
    title: str
    body: str
    created_at: datetime
    read: bool


@dataclass(frozen=True)
class StoredMessage:
    """A message written with its deliveries; the external ones are still to be tried (`send_stored`)."""
    message: Notification
    external: list[NotificationDelivery]


async def notify(platform: Platform, citizen_id: str, kind: str, params: Mapping[str, Any] | None = None) -> Notification:
    """Put a message of `kind` into the citizen's inbox (消息中心) and send it over the channels its
    template declares. Unknown kinds are a programming error; a failing external channel is not
    the caller's problem: it is recorded and retried by the delivery job."""
    stored = await store_message(None, platform, citizen_id, kind, params)
    await send_stored(platform, stored)
    return stored.message


async def store_message(conn: BaseDBAsyncClient | None, platform: Platform, citizen_id: str, kind: str,
                        params: Mapping[str, Any] | None = None) -> StoredMessage:
    """The message and its delivery rows, written in the caller's transaction (`conn`), so that what
    changed and the citizen's message about it are stored together or not at all. A message to an
    account being erased or erased (`platform.account_closed`) is dropped: it is returned unsaved, with nothing
    to send."""
    if kind not in TEMPLATES:
        raise ValueError(f"no inbox template for {kind!r}")
    params = dict(params or {})
    render(kind, params, "zh-Hans")  # fail now, not when the citizen opens the inbox
    now = platform.clock.now()
    if await platform.account_closed(citizen_id):
        return StoredMessage(Notification(id=new_id("msg"), citizen_id=citizen_id, kind=kind, params=params,
                                          created_at=now), [])
    message = await Notification.create(id=new_id("msg"), citizen_id=citizen_id, kind=kind, params=params,
                                        created_at=now, using_db=conn)
    await db.remember_write(citizen_id)  # their next inbox read is the primary's, which holds it
    external = []
    for name in channels.channels_of(kind):
        # The in-app channel is the inbox row itself: delivered the moment it is stored.
        in_app = name == channels.IN_APP
        delivery = await NotificationDelivery.create(
            notification=message, channel=name, status=channels.SENT if in_app else channels.PENDING,
            attempts=1 if in_app else 0, created_at=now, updated_at=now,
            # A lease: were this process to stop before or during the send, the retry job takes it over afterwards.
            next_attempt_at=None if in_app else now + channels.LEASE, using_db=conn)
        if not in_app:
            external.append(delivery)
    return StoredMessage(message, external)


async def send_stored(platform: Platform, stored: StoredMessage) -> None:
    """Try the external deliveries once over the platform's channels, after the transaction that stored
    them has committed."""
    for delivery in stored.external:
        await channels.attempt(platform, delivery, stored.message)


def render(kind: str, params: Mapping[str, Any], language: str) -> tuple[str, str]:
    """The message as the inbox shows it: secret parameters (a one-time code) only go out by their channel."""
    return channels.render_text(kind, channels.without_secrets(kind, params), language)


def _message(row: Notification, language: str) -> InboxMessage:
    title, body = render(row.kind, row.params, language)
    return InboxMessage(row.id, row.kind, title, body, row.created_at, row.read_at is not None)


@db.lag_tolerant
async def inbox(citizen_id: str, language: str, limit: int = 20, unread_only: bool = False) -> tuple[list[InboxMessage], int]:
    """The newest messages and the unread count."""
    query = Notification.filter(citizen_id=citizen_id)
    if unread_only:
        query = query.filter(read_at=None)
    rows = await query.order_by("-created_at", "-id").limit(limit)
    unread = await Notification.filter(citizen_id=citizen_id, read_at=None).count()
    return [_message(row, language) for row in rows], unread


async def mark_read(clock: Clock, citizen_id: str, message_id: str) -> None:
    """Mark one of the citizen's own messages read; another citizen's id is simply not found."""
    row = await get_owned(Notification, citizen_id, message_id)
    if row.read_at is None:
        await Notification.filter(id=row.id, read_at=None).update(read_at=clock.now())


async def mark_all_read(clock: Clock, citizen_id: str) -> int:
    return await Notification.filter(citizen_id=citizen_id, read_at=None).update(read_at=clock.now())


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Notifications' part of the citizen's copy of their data: the inbox (消息) and how each message went
    out (SMS, push, mini-program)."""
    deliveries = await NotificationDelivery.filter(notification__citizen_id=citizen_id).order_by("created_at", "id")
    return {
        "notifications": [record_of(row, pii) for row in
                          await Notification.filter(citizen_id=citizen_id).order_by("created_at")],
        "notification_deliveries": [record_of(row, pii) for row in deliveries],
    }

# -- account deletion (注销) --------------------------------------------------------------------------

async def erase_citizen(citizen_id: str) -> int:
    """The account is erased: its inbox goes, with every delivery (a message still waiting for a retry is
    never sent). Returns how many messages went."""
    ids = await Notification.filter(citizen_id=citizen_id).values_list("id", flat=True)
    await NotificationDelivery.filter(notification_id__in=list(ids)).delete()
    return await Notification.filter(citizen_id=citizen_id).delete()
