"""材料上传: citizens upload files to use as materials; other domains attach them; clerks read them.

What other domains use (this module is the uploads domain's interface):

- `UploadService.usable(citizen_id, upload_ids, owner_kind, owner_id=None)`: checks, before anything is
  stored, that each id is the citizen's own upload, and either unused and unexpired or already attached to
  this owner; raises 404 UPLOAD_NOT_FOUND (another citizen's, unknown, expired) or 409 UPLOAD_IN_USE (the
  citizen's own, attached to something else). Returns each as `UploadInfo`, in the order given.
- `UploadService.attach(citizen_id, upload_ids, owner_kind, owner_id, using_db=None)`: the same checks, then
  the uploads belong to that owner (an application, a 12345 ticket, a joint application) and no longer expire; pass the owner's
  transaction as `using_db` so both are stored or neither. Raises as `usable` does.
- `UploadService.read_for_clerk(upload_id, clerk, owner_kind=, owner_id=, purpose=, citizen_id=None)`: the
  decrypted file attached to that owner (404 UPLOAD_NOT_FOUND otherwise), with an entry in the access log of
  `citizen_id` (whose the owner is; the uploader by default). The owning domain first checks that the clerk
  may see the owner (its department's application).

An upload is checked before it is kept: at most APP_UPLOAD_MAX_BYTES (413), of a type sniffed from its bytes
among APP_UPLOAD_ALLOWED_TYPES (415); images are re-encoded without metadata (app/uploads/files.py). It is
stored encrypted (`platform.pii.seal`, a sub-key of the PII master key, the upload's id bound in) in the object
storage (app/storage.py). Unused uploads expire after APP_UPLOAD_RETENTION seconds, and the scheduled sweep
(`sweep_expired`) deletes their objects and rows; attached ones live as long as their owner.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Sequence

from cryptography.exceptions import InvalidTag
from tortoise.backends.base.client import BaseDBAsyncClient

from app import audit
from app.errors import AppError, Conflict, NotFound, Unavailable
from app.ids import new_id
from app.platform import Platform
from app.security import ratelimit
from app.security.clients import AuthenticatedClient
from app.storage import ObjectMissing, ObjectStorage
from app.uploads import errors as _errors  # noqa: F401  (the codes' words)
from app.uploads.files import CleanFile, clean
from app.uploads.models import Upload

log = logging.getLogger(__name__)

# The owners uploads are attached to: an application, a 12345 ticket, a joint application (一件事联办: its parts
# share the materials named once, so the joint application owns them and each part's clerk reads them through it).
APPLICATION, TICKET, JOINT = "application", "ticket", "joint"
SWEEP_BATCH = 200
CLEANING_AT_ONCE = 2  # images decoded at once per worker: each holds its whole bitmap (up to ~100 MB)


@dataclass(frozen=True)
class UploadInfo:
    """An upload as others see it: never its bytes, never where it is kept."""

    id: str
    kind: str  # jpeg, png, pdf
    content_type: str
    size: int
    created_at: datetime
    expires_at: datetime | None  # None once attached
    owner_kind: str | None
    owner_id: str | None

    @property
    def filename(self) -> str:
        """A name to save it under: its id and the usual extension of its type."""
        return f"{self.id}.{'jpg' if self.kind == 'jpeg' else self.kind}"


@dataclass(frozen=True)
class UploadedFile:
    """A file with what it is, decrypted, for whoever may read it."""

    info: UploadInfo
    content: bytes


def info_of(row: Upload) -> UploadInfo:
    return UploadInfo(id=row.id, kind=row.kind, content_type=row.content_type, size=row.size,
                      created_at=row.created_at, expires_at=row.expires_at, owner_kind=row.owner_kind,
                      owner_id=row.owner_id)


def _context(upload_id: str) -> str:
    return f"upload:{upload_id}"


class UploadService:
    """材料上传: receiving, checking, attaching, reading and expiring citizens' uploaded files."""

    def __init__(self, platform: Platform, storage: ObjectStorage) -> None:
        self.platform = platform
        self.storage = storage
        self.settings = platform.settings.uploads
        self._cleaning = asyncio.Semaphore(CLEANING_AT_ONCE)

    # -- citizens ------------------------------------------------------------------------------
    async def receive(self, citizen_id: str, read: Callable[[], Awaitable[bytes]]) -> UploadInfo:
        """Check, clean, encrypt and keep a citizen's file; nothing is kept when it is refused. `read` gives the
        file, and is called only once the citizen's hourly limit lets this upload in (a refused client does not
        make us read ten megabytes first)."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"upload:{citizen_id}", self.settings.per_hour,
                            3600)
        data = await read()
        if not data:
            raise AppError("UPLOAD_EMPTY", status=400)
        self.refuse_oversize(len(data))
        async with self._cleaning:  # decoding holds the whole bitmap in memory: a few at a time per worker
            cleaned = await asyncio.to_thread(clean, data, self.settings.allowed_type_list, self.settings.max_pixels)
        return await self._keep(citizen_id, cleaned)

    def refuse_oversize(self, size: int) -> None:
        """413 UPLOAD_TOO_LARGE above APP_UPLOAD_MAX_BYTES (also asked with the declared length, before reading)."""
        if size > self.settings.max_bytes:
            raise AppError("UPLOAD_TOO_LARGE", status=413, params={"mb": f"{round(self.settings.max_bytes / 2 ** 20, 1):g}"},
                           extra={"max_bytes": self.settings.max_bytes})

    async def _keep(self, citizen_id: str, cleaned: CleanFile) -> UploadInfo:
        upload_id, now = new_id("upl"), self.platform.clock.now()
        key = f"{now:%Y%m}/{upload_id}"
        sealed = self.platform.pii.seal(cleaned.data, _context(upload_id))
        try:
            await self.storage.put(key, sealed)
        except Exception as failure:  # the store is down or refused: the citizen tries again later
            log.warning("upload storage put failed: %s", type(failure).__name__)
            raise Unavailable("UPLOAD_STORAGE_UNAVAILABLE") from None
        try:
            row = await Upload.create(
                id=upload_id, citizen_id=citizen_id, kind=cleaned.kind, content_type=cleaned.content_type,
                size=len(cleaned.data), storage_key=key, created_at=now,
                expires_at=now + timedelta(seconds=self.settings.retention))
        except BaseException:
            await self.storage.delete(key)  # no object without its row
            raise
        return info_of(row)

    async def mine(self, citizen_id: str, upload_id: str) -> UploadInfo:
        """One of the citizen's own uploads (another's answers 404, as an unknown one)."""
        row = await Upload.get_or_none(id=upload_id, citizen_id=citizen_id)
        if row is None:
            raise NotFound("UPLOAD_NOT_FOUND")
        return info_of(row)

    # -- other domains -------------------------------------------------------------------------
    async def usable(self, citizen_id: str, upload_ids: Sequence[str], owner_kind: str,
                     owner_id: str | None = None) -> list[UploadInfo]:
        """Each id checked as the citizen's own, unused and unexpired or attached to this owner; 404/409 if not."""
        rows = await self._usable_rows(citizen_id, upload_ids, owner_kind, owner_id)
        return [info_of(row) for row in rows]

    async def attach(self, citizen_id: str, upload_ids: Sequence[str], owner_kind: str, owner_id: str,
                     using_db: BaseDBAsyncClient | None = None) -> list[UploadInfo]:
        """The uploads now belong to the owner (and no longer expire); 404/409 as `usable`, nothing changed then."""
        rows = await self._usable_rows(citizen_id, upload_ids, owner_kind, owner_id, using_db)
        now = self.platform.clock.now()
        for row in rows:
            if row.owner_id is not None:
                continue  # already this owner's
            # Conditional: a sweep or another attach that got there first leaves nothing to update.
            taken = await Upload.filter(id=row.id, owner_id__isnull=True, expires_at__gt=now).using_db(using_db).update(
                owner_kind=owner_kind, owner_id=owner_id, attached_at=now, expires_at=None)
            if not taken:  # another owner took it meanwhile (409), or it expired or was swept (404)
                now_owned = await Upload.filter(id=row.id, owner_id__isnull=False).using_db(using_db).exists()
                if now_owned:
                    raise Conflict("UPLOAD_IN_USE", extra={"upload_id": row.id})
                raise NotFound("UPLOAD_NOT_FOUND", extra={"upload_id": row.id})
            row.owner_kind, row.owner_id, row.attached_at, row.expires_at = owner_kind, owner_id, now, None
        return [info_of(row) for row in rows]

    async def _usable_rows(self, citizen_id: str, upload_ids: Sequence[str], owner_kind: str, owner_id: str | None,
                           using_db: BaseDBAsyncClient | None = None) -> list[Upload]:
        wanted = list(dict.fromkeys(upload_ids))
        found = {row.id: row for row in await Upload.filter(id__in=wanted, citizen_id=citizen_id).using_db(using_db)}
        now = self.platform.clock.now()
        for upload_id in wanted:
            row = found.get(upload_id)
            if row is None or (row.owner_id is None and not row.usable_by(owner_kind, owner_id, now)):
                raise NotFound("UPLOAD_NOT_FOUND", extra={"upload_id": upload_id})
            if not row.usable_by(owner_kind, owner_id, now):
                raise Conflict("UPLOAD_IN_USE", extra={"upload_id": upload_id})
        return [found[upload_id] for upload_id in wanted]

    # -- clerks --------------------------------------------------------------------------------
    async def read_for_clerk(self, upload_id: str, clerk: AuthenticatedClient, *, owner_kind: str, owner_id: str,
                             purpose: str, citizen_id: str | None = None) -> UploadedFile:
        """The decrypted file attached to the owner, and the access log of `citizen_id` (whose the owner is; the
        uploader by default: a family proxy uploads for the one they act for) says who looked and why."""
        row = await Upload.get_or_none(id=upload_id, owner_kind=owner_kind, owner_id=owner_id)
        if row is None:
            raise NotFound("UPLOAD_NOT_FOUND")
        content = await self._content(row)
        await audit.record_access(self.platform.clock, citizen_id=citizen_id or row.citizen_id, actor=clerk.name,
                                  actor_type="admin",
                                  action="material_viewed", attributes=[f"material_{row.kind}"], purpose=purpose)
        return UploadedFile(info_of(row), content)

    async def _content(self, row: Upload) -> bytes:
        try:
            sealed = await self.storage.get(row.storage_key)
        except ObjectMissing:
            log.error("upload %s has no stored object", row.id)
            raise NotFound("UPLOAD_NOT_FOUND") from None
        except Exception as failure:
            log.warning("upload storage get failed: %s", type(failure).__name__)
            raise Unavailable("UPLOAD_STORAGE_UNAVAILABLE") from None
        return await asyncio.to_thread(self.platform.pii.unseal, sealed, _context(row.id))  # up to APP_UPLOAD_MAX_BYTES

    # -- retention -----------------------------------------------------------------------------
    async def sweep_expired(self) -> int:
        """Delete unused uploads past their expiry, object first, then row; attached ones stay. Returns how many."""
        now, deleted = self.platform.clock.now(), 0
        while True:
            rows = await Upload.filter(owner_id__isnull=True, expires_at__lte=now).order_by("expires_at") \
                .limit(SWEEP_BATCH)
            for row in rows:
                # The row first, and only while still unused: an attach that won the race keeps its file. An
                # object left behind by a failed delete is encrypted and unreferenced.
                if await Upload.filter(id=row.id, owner_id__isnull=True, expires_at__lte=now).delete():
                    await self.storage.delete(row.storage_key)
                    deleted += 1
            if len(rows) < SWEEP_BATCH:
                return deleted

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> int:
        """The account is erased: its unused uploads go (row first, then object, as the sweep does). Files
        attached to an application or a ticket stay with it: they are materials a department holds."""
        deleted = 0
        for row in await Upload.filter(citizen_id=citizen_id, owner_id__isnull=True):
            if await Upload.filter(id=row.id, owner_id__isnull=True).delete():
                await self.storage.delete(row.storage_key)
                deleted += 1
        return deleted

    async def close(self) -> None:
        await self.storage.close()


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, FileSink, record_of  # noqa: E402


async def export_of(uploads: UploadService, citizen_id: str, sink: FileSink) -> Areas:
    """Every file the citizen uploaded (材料上传): its record, and the file itself, decrypted off the event loop,
    put into `sink` one at a time as `files/<name>` (`file` in the record). A file not in the copy is null
    there, and `file_left_out` says why: `too_large` (the copy had no room left for it), `missing` (no longer
    in storage) or `unreadable` (not the file stored for it). Where it is stored is left out. The store being
    down raises Unavailable (UPLOAD_STORAGE_UNAVAILABLE)."""
    records = []
    for row in await Upload.filter(citizen_id=citizen_id).order_by("created_at"):
        name = f"files/{info_of(row).filename}"
        left_out = await _copied(uploads, row, name, sink)
        records.append(record_of(row, uploads.platform.pii, skip=("storage_key",),
                                 file=None if left_out else name, file_left_out=left_out))
    return {"uploads": records}


async def _copied(uploads: UploadService, row: Upload, name: str, sink: FileSink) -> str | None:
    """The file put into the copy (None), or why it was not."""
    if not sink.has_room(row.size):
        return "too_large"
    try:
        content = await uploads._content(row)
    except NotFound:  # its object is gone (logged by _content)
        return "missing"
    except (ValueError, InvalidTag):  # altered at rest, or another object under its key
        log.error("upload %s is not the file stored for it", row.id)
        return "unreadable"
    await sink.add(name, content)
    return None
