"""The copy as a file: a zip of the citizen's uploaded files, data.json (every area's records) and README.md
(what every field means), written to an unnamed temporary file a file at a time, off the event loop."""

from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from datetime import datetime
from typing import Any

from app.exports.fields import AREA_TITLES, describe
from app.personal_data import Areas

FORMAT = "gov-app-personal-data/1"


class ArchiveWriter:
    """The zip of one copy, being written. Its temporary file has no name (0600, gone when closed, or when the
    process ends), so the copy in clear never lies where another could open it. The uploaded files in it add
    up to at most `max_file_bytes`: memory holds one file at a time, then the finished zip once."""

    def __init__(self, max_file_bytes: int) -> None:
        self.room = max_file_bytes
        self.files = 0
        self._file = tempfile.TemporaryFile()
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED)

    def has_room(self, size: int) -> bool:
        return size <= self.room

    async def add(self, name: str, content: bytes) -> None:
        """An uploaded file, as kept (images and PDFs are compressed already)."""
        self.room -= len(content)
        await asyncio.to_thread(self._zip.writestr, name, content, compress_type=zipfile.ZIP_STORED)
        self.files += 1

    def finish(self, citizen_id: str, generated_at: datetime, areas: Areas) -> bytes:
        """data.json and README.md added, the zip closed and read back (CPU and disk work: run in a thread)."""
        data = {"format": FORMAT, "citizen_id": citizen_id, "generated_at": generated_at.isoformat(), "areas": areas}
        self._zip.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=1))
        self._zip.writestr("README.md", readme(areas, generated_at))
        self._zip.close()
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._zip.close()
        self._file.close()


def fields_of(records: list[dict[str, Any]]) -> list[str]:
    """Every field the records of an area have, in the order first met."""
    return list(dict.fromkeys(name for record in records for name in record))


def readme(areas: Areas, generated_at: datetime) -> str:
    """README.md of the copy: how it is laid out, then each area and what each of its fields means."""
    lines = [
        "# 个人信息副本 · Your copy of your personal data",
        "",
        f"Made {generated_at.isoformat()} at your request (《个人信息保护法》第四十五条, PIPL art. 45).",
        "",
        "- `data.json`: `{\"format\", \"citizen_id\", \"generated_at\", \"areas\"}`; `areas` maps each area below to a",
        "  list of records, one per thing held about you. Times are ISO 8601 with their offset; amounts in fen",
        "  (分, 1/100 yuan). Your own phone number, name, ID number and what you wrote are in clear: keep this",
        "  file safe.",
        "- `files/`: the files you uploaded, as kept (images without their metadata), named in `uploads[].file`",
        "  (`uploads[].file_left_out` says why one is not here).",
        "- Left out: secrets that prove who you are (refresh tokens, code hashes), handles that still reach you or",
        "  pay an open order (push registrations, payment handles, ids of codes you may still show) and keyed",
        "  lookup hashes, which are derived from values given here in clear.",
        "",
    ]
    for area, records in areas.items():
        lines += [f"## `{area}`: {AREA_TITLES.get(area, area)}", "", f"{len(records)} record(s).", ""]
        names = fields_of(records)
        if names:
            lines += ["| field | meaning |", "| --- | --- |"]
            lines += [f"| `{name}` | {describe(area, name) or '(no description)'} |" for name in names]
            lines.append("")
    return "\n".join(lines)
