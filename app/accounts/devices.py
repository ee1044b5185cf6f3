"""Push tokens (推送标识) of signed-in devices: where each live session receives app push.

A token is the push provider's registration id of one app install on one phone. It is kept on the
login session that registered it, encrypted (PII purpose "push_token") with a keyed hash beside it,
and lives as long as that session: signing out clears it. A phone has one token, so a token
registered by another session (the same phone signed in again, or signed in to another account) is
moved there: a push for one account never reaches a phone now signed in to another.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.accounts.models import LoginSession
from app.errors import Unauthorized
from app.i18n import ZH_HANS
from app.integrations.push import PLATFORMS
from app.platform import Platform

PURPOSE = "push_token"


@dataclass(frozen=True)
class Device:
    """One live session's push address; `token` is clear text for the push adapter only, never logged."""

    session_id: str
    platform: str
    token: str
    language: str  # the language the device registered its token in: what its pushes speak


class DeviceTokens:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def register(self, citizen_id: str, session_id: str, platform: str, token: str, language: str = ZH_HANS) -> None:
        """Push for `citizen_id` now reaches `token` on the device of `session_id` (a live session of theirs),
        in `language`."""
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}")
        try:
            moved_from = await self._take(citizen_id, session_id, platform, token, language)
        except IntegrityError:  # another session registered the same token at that moment: take it from there
            moved_from = await self._take(citizen_id, session_id, platform, token, language)
        await self._audit_moves(citizen_id, session_id, moved_from)
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="push_token_registered",
                                 subject_id=citizen_id, attributes={"session_id": session_id, "platform": platform})

    async def _take(self, citizen_id: str, session_id: str, platform: str, token: str,
                    language: str) -> list[tuple[str, str]]:
        """Move the token to this session in one transaction; the sessions it left."""
        token_hash = self.platform.pii.lookup_hash(token, PURPOSE)
        now = self.platform.clock.now()
        async with in_transaction() as conn:
            moved_from = await LoginSession.filter(push_token_hash=token_hash).exclude(id=session_id) \
                .using_db(conn).values_list("id", "citizen_id")
            if moved_from:
                await LoginSession.filter(id__in=[sid for sid, _ in moved_from]).using_db(conn) \
                    .update(push_platform=None, push_token_enc=None, push_token_hash=None)
            updated = await LoginSession.filter(id=session_id, citizen_id=citizen_id, revoked_at=None,
                                                expires_at__gt=now).using_db(conn).update(
                push_platform=platform, push_token_enc=self.platform.pii.encrypt(token, PURPOSE), push_token_hash=token_hash,
                push_language=language)
            if not updated:
                raise Unauthorized("TOKEN_REVOKED")  # rolls the move back: the session ended meanwhile
        return list(moved_from)

    async def _audit_moves(self, citizen_id: str, session_id: str, moved_from: list[tuple[str, str]]) -> None:
        """Each session the token left no longer gets push; its owner's audit trail says so."""
        for old_session, owner in moved_from:
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="push_token_moved",
                                     subject_id=owner, attributes={"session_id": old_session, "to_session_id": session_id})

    async def devices_of(self, citizen_id: str) -> list[Device]:
        """The push addresses of the citizen's live sessions, oldest session first."""
        rows = await LoginSession.filter(citizen_id=citizen_id, revoked_at=None, expires_at__gt=self.platform.clock.now(),
                                         push_token_enc__isnull=False).order_by("created_at", "id") \
            .values_list("id", "push_platform", "push_token_enc", "push_language")
        return [Device(sid, platform, self.platform.pii.decrypt(enc, PURPOSE), language or ZH_HANS)
                for sid, platform, enc, language in rows]

    async def drop(self, session_id: str, reason: str = "invalid") -> None:
        """Forget the session's token (the provider reported it invalid): no more push to that device."""
        row = await LoginSession.filter(id=session_id).first().values("citizen_id", "push_token_hash")
        if row is None or row["push_token_hash"] is None:
            return
        await LoginSession.filter(id=session_id, push_token_hash=row["push_token_hash"]) \
            .update(push_platform=None, push_token_enc=None, push_token_hash=None)
        await audit.record_event(self.platform.clock, actor="system", actor_type="system", action="push_token_dropped",
                                 subject_id=row["citizen_id"], attributes={"session_id": session_id, "reason": reason})
