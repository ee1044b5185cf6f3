"""Undo (撤回) for applications submitted in elderly mode: withdrawn without penalty within the window.

An older person who pressed "submit" by mistake, or with the wrong form, should not have to call a
department. An application submitted while the citizen is in elderly mode gets an undo window
(APP_ELDERLY_UNDO_MINUTES, 10 minutes by default); within it the citizen (or their family proxy)
withdraws it in one call. The move goes through the application state machine (audited, notified),
and a withdrawn application is not counted as a prior application by 秒批 rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from app.accounts.service import CitizenSnapshot
from app.errors import AppError, Conflict
from app.platform import Platform
from app.services.applications.service import ApplicationService, ApplicationView
from elderly_mode.models import UndoWindow


class UndoService:
    def __init__(self, platform: Platform, applications: ApplicationService) -> None:
        self.platform = platform
        self.applications = applications
        applications.on_submitted.append(self.opened)

    async def opened(self, conn: BaseDBAsyncClient, application_id: str, citizen: CitizenSnapshot, at: datetime) -> None:
        """Hooked into submission, in its transaction: an elderly-mode submission gets its undo window
        with it (a replayed submission opens none: the hook runs only for a new application)."""
        if not citizen.elderly_mode:
            return
        minutes = self.platform.settings.elderly.undo_minutes
        await UndoWindow.create(application_id=application_id, citizen_id=citizen.id, submitted_at=at,
                                undo_until=at + timedelta(minutes=minutes), using_db=conn)

    async def undo_until(self, citizen_id: str, application_id: str) -> datetime | None:
        """When the window of one of the citizen's applications closes (None: it has none, or it was used)."""
        window = await UndoWindow.get_or_none(application_id=application_id, citizen_id=citizen_id, withdrawn_at=None)
        if window is None or window.undo_until <= self.platform.clock.now():
            return None
        return window.undo_until

    async def withdraw(self, citizen_id: str, application_id: str) -> ApplicationView:
        await self.applications.one_of_mine(citizen_id, application_id)  # 404 for anyone else's
        window = await UndoWindow.get_or_none(application_id=application_id, citizen_id=citizen_id)
        if window is None:
            raise Conflict("UNDO_NOT_AVAILABLE")
        now = self.platform.clock.now()
        if window.undo_until <= now:
            raise AppError("UNDO_WINDOW_CLOSED", status=409, params={"minutes": self.platform.settings.elderly.undo_minutes})
        view = await self.applications.withdraw(citizen_id, application_id, "长辈模式撤回（无责）")
        await UndoWindow.filter(application_id=application_id).update(withdrawn_at=now)
        return view
