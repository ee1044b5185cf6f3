"""王秀英 uploads her ID photo from her phone. The photo's EXIF says which camera took it and where (GPS):
what is kept is the picture only, encrypted, so neither the disk nor the object store holds her photo or
where she was. A scanned page and a PDF go the same way, as a form part or as the body itself."""

from __future__ import annotations

import io
import stat
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from app.clock import rfc3339
from app.uploads.models import Upload
from tests.services.service_factory import error_code
from tests.uploads.upload_factory import (CAMERA, UPLOADS, exif_of, gps_of, photo_with_location, scanned_png,
                                          small_pdf, upload)


def parsed(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_a_photo_is_kept_encrypted_and_without_its_location(client, grandma, platform, clock, settings,
                                                                  stored, storage_kind):
    photo = photo_with_location()
    assert gps_of(photo) and exif_of(photo)  # the phone's photo says where it was taken

    reply = await upload(client, grandma, photo, filename="id-photo.jpg")

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["id"].startswith("upl_") and len(body["id"]) > 20  # 128 random bits
    assert (body["type"], body["content_type"], body["status"]) == ("jpeg", "image/jpeg", "unused")
    assert body["expires_at"] == rfc3339(parsed(body["created_at"]) + timedelta(seconds=settings.uploads.retention))

    [(key, at_rest)] = (await stored()).items()
    kept = platform.pii.unseal(at_rest, f"upload:{body['id']}")
    assert body["size"] == len(kept)
    # At rest: neither the photo as sent nor the picture as kept, no EXIF, no camera name.
    assert at_rest != photo and photo not in at_rest and kept not in at_rest
    assert kept[64:128] not in at_rest and b"Exif" not in at_rest and CAMERA.encode() not in at_rest
    # Decrypted: the same picture, without EXIF (no GPS block, no camera).
    assert exif_of(kept) == {} and gps_of(kept) == {} and CAMERA.encode() not in kept
    with Image.open(io.BytesIO(kept)) as image, Image.open(io.BytesIO(photo)) as original:
        assert image.format == "JPEG" and image.size == original.size and "exif" not in image.info
    if storage_kind == "local":
        path = Path(settings.data_dir) / "uploads" / key
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_the_file_as_the_body_is_sniffed_not_taken_at_its_word(client, grandma, platform, stored):
    """A PNG sent as the body with a generic Content-Type is a PNG; its text chunk (a name, a phone) is gone."""
    page = scanned_png()
    reply = await client.post(UPLOADS, headers={**grandma.headers, "Content-Type": "application/octet-stream"},
                              content=page)

    assert reply.status_code == 201, reply.text
    assert (reply.json()["type"], reply.json()["content_type"]) == ("png", "image/png")
    [at_rest] = (await stored()).values()
    kept = platform.pii.unseal(at_rest, f"upload:{reply.json()['id']}")
    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "PNG" and "Author" not in image.info
    assert "王秀英".encode() not in kept and b"13800138000" not in kept and b"13800138000" not in at_rest


async def test_a_pdf_is_kept_as_sent_and_encrypted(client, grandma, platform, stored):
    document = small_pdf()
    reply = await upload(client, grandma, document, filename="居住证明.pdf", content_type="application/pdf")

    assert reply.status_code == 201, reply.text
    assert (reply.json()["type"], reply.json()["size"]) == ("pdf", len(document))
    [at_rest] = (await stored()).values()
    assert b"%PDF" not in at_rest and document not in at_rest
    assert platform.pii.unseal(at_rest, f"upload:{reply.json()['id']}") == document


async def test_the_citizen_sees_her_upload_and_nobody_else_does(client, grandma, young):
    mine = (await upload(client, grandma)).json()

    seen = await client.get(f"{UPLOADS}/{mine['id']}", headers=grandma.headers)
    assert seen.status_code == 200 and seen.json() == mine

    other = await client.get(f"{UPLOADS}/{mine['id']}", headers=young.headers)
    assert other.status_code == 404 and error_code(other) == "UPLOAD_NOT_FOUND"
    unknown = await client.get(f"{UPLOADS}/upl_not-a-real-file", headers=grandma.headers)
    assert unknown.status_code == 404 and error_code(unknown) == "UPLOAD_NOT_FOUND"
    assert await Upload.filter(citizen_id=young.id).count() == 0
