"""个人信息副本 (PIPL art. 45): one request gathers everything held about the citizen into one file.

What other code uses (this module is the exports domain's interface):

- `ExportService.create(citizen_id, session_id)`: with a fresh step-up of that session (a code sent to the
  citizen's phone just now; 403 FRESH_OTP_REQUIRED otherwise), gathers every domain's part (each domain's
  `service.export_of`), builds the zip off the event loop, keeps it encrypted in the object storage and
  answers its `ExportView`: the download link lives APP_EXPORT_LINK_TTL seconds. At most
  APP_EXPORT_DAILY_LIMIT copies a day per citizen (429).
- `ExportService.download(citizen_id, session_id, export_id)`: again with a fresh step-up; the citizen's own
  copy only (another's or an unknown one: 404 EXPORT_NOT_FOUND), while its link lives (410 EXPORT_EXPIRED)
  and for APP_EXPORT_MAX_DOWNLOADS downloads (410 EXPORT_DOWNLOADS_USED). Each download is audited and
  shown in the citizen's own access log (action `data_export_downloaded`).
- `ExportService.sweep_expired()`: the scheduled sweep removes expired copies' files.
- `ExportService.remove_all_of(citizen_id)`: every copy of the citizen's data removed, files and rows (注销).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from tortoise.expressions import F

import elderly_mode.service as elderly_mode
import health_code.service as health_code
from app import audit
from app.accounts import service as accounts
from app.accounts.service import AccountService
from app.clock import CHINA_TZ
from app.db import lag_tolerant
from app.departments import service as departments
from app.errors import AppError, NotFound, Unavailable
from app.exports import errors as _errors  # noqa: F401  (the codes' words)
from app.exports.archive import ArchiveWriter
from app.exports.models import DataExport
from app.hotline import service as hotline
from app.ids import new_id
from app.miniprogram import service as miniprogram
from app.notifications import service as notifications
from app.oidc import service as oidc
from app.payments import service as payments
from app.integrations.exchange.client import ExchangeClient
from app.personal_data import Areas, FileSink, Records, plain, record_of
from app.platform import Platform
from app.security import ratelimit
from app.services.applications import service as applications
from app.services.appointments import service as appointments
from app.services.cards import service as cards
from app.services.ratings import service as ratings
from app.storage import ObjectMissing, ObjectStorage
from app.uploads import service as uploads
from app.vouchers import service as vouchers

log = logging.getLogger(__name__)

DOMAIN_EXPORTS = (accounts.export_of, health_code.export_of, applications.export_of, payments.export_of,
                  vouchers.export_of, elderly_mode.export_of, appointments.export_of, ratings.export_of,
                  hotline.export_of, notifications.export_of, cards.export_of, miniprogram.export_of,
                  departments.export_of, oidc.export_of)
"""Each domain's part of the copy, in the order its areas appear in data.json (uploads and the audit log after)."""
SWEEP_BATCH = 200
DOWNLOAD_PURPOSE = "本人下载个人信息副本（《个人信息保护法》第四十五条）"


@dataclass(frozen=True)
class ExportView:
    """A copy as the citizen sees it: where to download it, until when, how many more times."""

    id: str
    status: str  # ready, expired
    download_url: str
    expires_at: str
    size: int
    downloads_left: int
    areas: list[str]


@dataclass(frozen=True)
class Built:
    """A finished zip: its size and digest in clear, and its encrypted form to keep."""

    size: int
    sha256: str
    sealed: bytes


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes


def _context(export_id: str) -> str:
    return f"data-export:{export_id}"


class ExportService:
    """个人信息副本: building, keeping, handing out and removing a citizen's copy of their data."""

    def __init__(self, platform: Platform, storage: ObjectStorage, account_service: AccountService,
                 upload_service: uploads.UploadService, exchange: ExchangeClient | None = None) -> None:
        self.platform = platform
        self.exchange = exchange  # its message log says which departments were asked about the citizen
        self.settings = platform.settings.exports
        self.storage = storage
        self.accounts = account_service
        self.uploads = upload_service

    # -- citizens ------------------------------------------------------------------------------
    async def create(self, citizen_id: str, session_id: str) -> ExportView:
        """Gather, build and keep the citizen's copy; its link lives APP_EXPORT_LINK_TTL seconds."""
        await self.accounts.require_fresh_step_up(citizen_id, session_id)
        await self._count(citizen_id)
        try:
            return await self._made(citizen_id)
        except BaseException:
            await self._count(citizen_id, amount=-1)  # no copy was made: it does not count against the day's
            raise

    async def _count(self, citizen_id: str, amount: int = 1) -> None:
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"export:{citizen_id}", self.settings.daily_limit,
                            86400, amount=amount)

    async def _made(self, citizen_id: str) -> ExportView:
        """The row first (building), then the file, then the row ready: a file stored for a copy always has its
        row, so the sweep finds it even when this process ends between the two."""
        export_id, now = new_id("exp"), self.platform.clock.now()
        row = await DataExport.create(id=export_id, citizen_id=citizen_id, status="building",
                                      storage_key=f"exports/{now:%Y%m}/{export_id}", size=0, sha256="", created_at=now,
                                      expires_at=now + timedelta(seconds=self.settings.link_ttl),
                                      downloads_left=self.settings.max_downloads)
        writer = ArchiveWriter(self.settings.max_file_bytes)
        try:
            areas = await self.gather(citizen_id, writer)
            built = await asyncio.to_thread(self._built, writer, export_id, citizen_id, now, areas)
            await self._put(row.storage_key, built.sealed)
        except BaseException:
            await self._abandon(row)
            raise
        finally:
            await asyncio.to_thread(writer.close)
        row.status, row.size, row.sha256, row.areas = "ready", built.size, built.sha256, list(areas)
        await row.save(update_fields=["status", "size", "sha256", "areas"])
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="data_export_created",
                                 subject_id=citizen_id, attributes={"export_id": export_id, "size": built.size,
                                                                    "areas": len(areas), "files": writer.files})
        return self.view(row)

    async def _abandon(self, row: DataExport) -> None:
        """A copy that could not be made: its file (if any was stored) and row removed; when the store will not
        delete, the row stays (building) and the sweep removes the file at its expiry."""
        try:
            await self.storage.delete(row.storage_key)
        except Exception as failure:
            log.warning("data export %s: storage delete failed: %s", row.id, type(failure).__name__)
            return
        await DataExport.filter(id=row.id).delete()

    async def gather(self, citizen_id: str, files: FileSink) -> Areas:
        """Every domain's part of the copy, then the uploads (records; the files into `files`) and the audit log
        about the citizen."""
        areas = await self._records(citizen_id)
        try:
            areas.update(await uploads.export_of(self.uploads, citizen_id, files))
        except Unavailable:  # the uploads' store is down: the copy is refused as a whole, asked for again later
            raise Unavailable("EXPORT_STORAGE_UNAVAILABLE") from None
        areas["department_requests"] = await self._department_requests(citizen_id)
        return areas

    @lag_tolerant
    async def _records(self, citizen_id: str) -> Areas:
        """Every domain's records of the citizen: a copy a few seconds behind is still theirs (served by the
        replica when there is one, the primary within their read-your-writes window)."""
        pii, areas = self.platform.pii, {}
        for export_of in DOMAIN_EXPORTS:
            areas.update(await export_of(pii, citizen_id))
        areas["access_log"] = [_audit_record(entry) for entry in await audit.entries_about(citizen_id, "access")]
        areas["account_events"] = [_audit_record(entry) for entry in await audit.entries_about(citizen_id, "event")]
        return areas

    async def _department_requests(self, citizen_id: str) -> Records:
        """The exchange's message log about the citizen (which department service was asked, why, what came of
        it; never a body), found by their pseudonym at each registered department."""
        if self.exchange is None:
            return []
        return [record_of(row, self.platform.pii, skip=("user",)) for row in await self.exchange.messages_about(citizen_id)]

    def _built(self, writer: ArchiveWriter, export_id: str, citizen_id: str, now: datetime, areas: Areas) -> Built:
        """The zip finished, measured and encrypted (CPU work: run in a thread)."""
        archive = writer.finish(citizen_id, now, areas)
        return Built(len(archive), hashlib.sha256(archive).hexdigest(), self.platform.pii.seal(archive, _context(export_id)))

    async def _put(self, key: str, sealed: bytes) -> None:
        try:
            await self.storage.put(key, sealed)
        except Exception as failure:  # the store is down or refused: the citizen asks again later
            log.warning("data export storage put failed: %s", type(failure).__name__)
            raise Unavailable("EXPORT_STORAGE_UNAVAILABLE") from None

    async def download(self, citizen_id: str, session_id: str, export_id: str) -> ExportFile:
        """The citizen's own copy, decrypted, counted against its downloads; audited and in their access log."""
        await self.accounts.require_fresh_step_up(citizen_id, session_id)
        now = self.platform.clock.now()
        claimed = await DataExport.filter(id=export_id, citizen_id=citizen_id, status="ready", removed_at=None,
                                          expires_at__gt=now, downloads_left__gt=0).update(downloads_left=F("downloads_left") - 1,
                                                                       downloaded_at=now)
        if not claimed:
            raise await self._why_not(citizen_id, export_id, now)
        row = await DataExport.get(id=export_id)
        try:
            content = await self._content(row)
        except BaseException:
            await DataExport.filter(id=export_id).update(downloads_left=F("downloads_left") + 1)  # not delivered
            raise
        await audit.record_own_copy(self.platform.clock, citizen_id=citizen_id, action="data_export_downloaded",
                                    attributes=list(row.areas), purpose=DOWNLOAD_PURPOSE)
        return ExportFile(f"personal-data-{row.created_at.astimezone(CHINA_TZ):%Y%m%d}.zip", content)

    async def _why_not(self, citizen_id: str, export_id: str, now: datetime) -> AppError:
        row = await DataExport.get_or_none(id=export_id, citizen_id=citizen_id)
        if row is None or row.status == "building":  # not made (yet, or ever): nothing to download
            return NotFound("EXPORT_NOT_FOUND")
        if row.removed_at is not None or row.expires_at <= now:
            return AppError("EXPORT_EXPIRED", status=410)
        return AppError("EXPORT_DOWNLOADS_USED", status=410)

    async def _content(self, row: DataExport) -> bytes:
        try:
            sealed = await self.storage.get(row.storage_key)
        except ObjectMissing:
            log.error("data export %s has no stored object", row.id)
            raise AppError("EXPORT_EXPIRED", status=410) from None
        except Exception as failure:
            log.warning("data export storage get failed: %s", type(failure).__name__)
            raise Unavailable("EXPORT_STORAGE_UNAVAILABLE") from None
        try:
            content = await asyncio.to_thread(self.platform.pii.unseal, sealed, _context(row.id))
        except (ValueError, InvalidTag):
            content = b""  # not what was stored: refused below
        if hashlib.sha256(content).hexdigest() != row.sha256:
            log.error("data export %s is not the file stored for it", row.id)
            raise Unavailable("EXPORT_STORAGE_UNAVAILABLE")
        return content

    def view(self, row: DataExport) -> ExportView:
        return ExportView(id=row.id, status=row.status, download_url=f"/api/v1/me/exports/{row.id}/download",
                          expires_at=plain(row.expires_at), size=row.size, downloads_left=row.downloads_left,
                          areas=list(row.areas))

    # -- retention -----------------------------------------------------------------------------
    async def sweep_expired(self) -> int:
        """Remove the files of copies past their expiry (the row stays, marked expired). Returns how many."""
        now, removed, stuck = self.platform.clock.now(), 0, set[str]()
        while True:
            expired = DataExport.filter(removed_at=None, expires_at__lte=now)
            rows = await (expired.exclude(id__in=stuck) if stuck else expired).order_by("expires_at").limit(SWEEP_BATCH)
            for row in rows:
                if await self._removed(row, now):
                    removed += 1
                else:
                    stuck.add(row.id)  # tried again next run; the copies after it are swept now
            if len(rows) < SWEEP_BATCH:
                return removed

    async def _removed(self, row: DataExport, now: datetime) -> bool:
        """An expired copy's file removed and its row marked expired; False (logged) when the store refused."""
        try:
            await self.storage.delete(row.storage_key)
        except Exception as failure:
            log.warning("data export %s: storage delete failed: %s", row.id, type(failure).__name__)
            return False
        await DataExport.filter(id=row.id).update(removed_at=now, status="expired")
        return True

    async def remove_all_of(self, citizen_id: str) -> int:
        """Remove every copy of a citizen's data, files and rows (for closing the account, 注销). Returns how many."""
        rows = await DataExport.filter(citizen_id=citizen_id)
        for row in rows:
            if row.removed_at is None:
                await self.storage.delete(row.storage_key)
            await DataExport.filter(id=row.id).delete()
        return len(rows)


def _audit_record(entry: audit.AuditEntry) -> dict[str, object]:
    """An audit entry about the citizen, without its chain links (the chain is checked by the service itself)."""
    return {"seq": entry.seq, "at": plain(entry.at), "actor": entry.actor, "actor_type": entry.actor_type,
            "action": entry.action, "attributes": entry.attributes, "purpose": entry.purpose}
