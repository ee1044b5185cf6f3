"""The inbox: `notify` stores a message and sends it over the template's channels; readers get it
rendered in their language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from tortoise.backends.base.client import BaseDBAsyncClient

from app.clock import Clock
from app.ids import new_id
from app.ownership import get_owned
from app.notifications import channels
# What other domains use of the SMS templates the provider approved (a login code is one).
from app.notifications.sms_templates import LOGIN_CODE as LOGIN_CODE, sms_params as sms_params
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


async def notify(clock: Clock, citizen_id: str, kind: str, params: Mapping[str, Any] | None = None) -> Notification:
    """Put a message of `kind` into the citizen's inbox (消息中心) and send it over the channels its
    template declares. Unknown kinds are a programming error; a failing external channel is not
    the caller's problem: it is recorded and retried by the delivery job."""
    stored = await store_message(None, clock, citizen_id, kind, params)
    await send_stored(clock, stored)
    return stored.message


async def store_message(conn: BaseDBAsyncClient | None, clock: Clock, citizen_id: str, kind: str,
                        params: Mapping[str, Any] | None = None) -> StoredMessage:
    """The message and its delivery rows, written in the caller's transaction (`conn`), so that what
    changed and the citizen's message about it are stored together or not at all."""
    if kind not in TEMPLATES:
        raise ValueError(f"no inbox template for {kind!r}")
    params = dict(params or {})
    render(kind, params, "zh-Hans")  # fail now, not when the citizen opens the inbox
    now = clock.now()
    message = await Notification.create(id=new_id("msg"), citizen_id=citizen_id, kind=kind, params=params,
                                        created_at=now, using_db=conn)
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


async def send_stored(clock: Clock, stored: StoredMessage) -> None:
    """Try the external deliveries once, after the transaction that stored them has committed."""
    for delivery in stored.external:
        await channels.attempt(clock, delivery, stored.message)


def render(kind: str, params: Mapping[str, Any], language: str) -> tuple[str, str]:
    """The message as the inbox shows it: secret parameters (a one-time code) only go out by their channel."""
    return channels.render_text(kind, channels.without_secrets(kind, params), language)


def _message(row: Notification, language: str) -> InboxMessage:
    title, body = render(row.kind, row.params, language)
    return InboxMessage(row.id, row.kind, title, body, row.created_at, row.read_at is not None)


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
