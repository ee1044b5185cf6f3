"""Files that are refused, each with its status and words, and nothing of them kept: too large (413), not a
JPEG, PNG or PDF whatever its name says (415), broken, empty, several at once, too many in an hour (429)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from app.uploads.models import Upload
from tests.services.service_factory import error_code
from tests.uploads.upload_factory import UPLOADS, photo_with_location, upload

SMALL_LIMIT = 64 * 1024


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "GIF")
    return out.getvalue()


async def nothing_kept(stored) -> bool:
    return await Upload.all().count() == 0 and await stored() == {}


@pytest.mark.upload_settings(upload_max_bytes=SMALL_LIMIT)
async def test_a_file_over_the_limit_is_413_and_nothing_is_kept(client, grandma, stored):
    too_big = photo_with_location() + b"\0" * SMALL_LIMIT  # a JPEG, padded past the limit

    as_form = await upload(client, grandma, too_big)
    as_body = await client.post(UPLOADS, headers={**grandma.headers, "Content-Type": "image/jpeg"}, content=too_big)

    for reply in (as_form, as_body):
        assert reply.status_code == 413, reply.text
        assert error_code(reply) == "UPLOAD_TOO_LARGE" and "0.1 MB" in reply.json()["error"]["message"]
        assert reply.json()["error"]["max_bytes"] == SMALL_LIMIT
    assert await nothing_kept(stored)


@pytest.mark.upload_settings(upload_max_bytes=SMALL_LIMIT)
async def test_a_body_streamed_without_a_length_is_cut_at_the_limit(client, grandma, stored):
    async def chunks():
        yield photo_with_location()
        for _ in range(40):
            yield b"\0" * 4096

    reply = await client.post(UPLOADS, headers={**grandma.headers, "Content-Type": "image/jpeg"}, content=chunks())

    assert reply.status_code == 413 and error_code(reply) == "UPLOAD_TOO_LARGE"
    assert await nothing_kept(stored)


@pytest.mark.parametrize("data, filename, content_type", [
    (b"just some text, not a photo", "photo.jpg", "image/jpeg"),  # the name and the header are not believed
    (gif(), "photo.jpg", "image/jpeg"),
    (b"MZ\x90\x00" + b"\0" * 200, "id-card.pdf", "application/pdf"),
], ids=["text-named-jpg", "gif", "program-named-pdf"])
async def test_a_file_of_another_type_is_415_whatever_it_is_called(client, grandma, stored, data, filename,
                                                                   content_type):
    reply = await upload(client, grandma, data, filename=filename, content_type=content_type)

    assert reply.status_code == 415, reply.text
    assert error_code(reply) == "UPLOAD_TYPE_NOT_ALLOWED"
    assert reply.json()["error"]["message"] == "只能上传 JPEG/PNG/PDF 格式的文件。"
    english = await upload(client, grandma, data, filename=filename, content_type=content_type)
    assert english.status_code == 415
    assert await nothing_kept(stored)


async def test_the_refusal_is_in_the_readers_language(client, grandma):
    reply = await client.post(UPLOADS, headers={**grandma.headers, "Accept-Language": "en",
                                                "Content-Type": "text/plain"}, content=b"hello")
    assert reply.status_code == 415 and "JPEG" in reply.json()["error"]["message"]
    assert "只能" not in reply.json()["error"]["message"]


@pytest.mark.upload_settings(upload_allowed_types="jpeg,png")
async def test_only_the_allowed_types_are_taken(client, grandma, stored):
    pdf = await upload(client, grandma, b"%PDF-1.4\n%%EOF", filename="a.pdf", content_type="application/pdf")
    assert pdf.status_code == 415 and pdf.json()["error"]["allowed"] == ["jpeg", "png"]
    assert await nothing_kept(stored)


async def test_a_broken_image_is_415(client, grandma, stored):
    broken = photo_with_location()[:200]  # starts as a JPEG, ends nowhere
    reply = await upload(client, grandma, broken)
    assert reply.status_code == 415 and error_code(reply) == "UPLOAD_UNREADABLE"
    assert await nothing_kept(stored)


@pytest.mark.upload_settings(upload_max_pixels=1_000_000)
async def test_an_image_of_too_many_pixels_is_413(client, grandma, stored):
    out = io.BytesIO()
    Image.new("L", (1200, 1000), 128).save(out, "PNG")  # small file, 1.2 megapixels
    reply = await upload(client, grandma, out.getvalue(), filename="scan.png", content_type="image/png")
    assert reply.status_code == 413 and error_code(reply) == "UPLOAD_TOO_LARGE"
    assert "1 百万像素" in reply.json()["error"]["message"]
    assert await nothing_kept(stored)


async def test_no_file_or_two_files_is_400(client, grandma, stored):
    empty = await client.post(UPLOADS, headers={**grandma.headers, "Content-Type": "image/jpeg"}, content=b"")
    assert empty.status_code == 400 and error_code(empty) == "UPLOAD_EMPTY"
    no_file = await client.post(UPLOADS, headers=grandma.headers, data={"note": "no file"},
                                files={"x": ("", b"", "application/octet-stream")})
    assert no_file.status_code == 400
    two = await client.post(UPLOADS, headers=grandma.headers, files=[
        ("file", ("a.jpg", photo_with_location(), "image/jpeg")), ("file", ("b.jpg", photo_with_location(), "image/jpeg"))])
    assert two.status_code == 400 and error_code(two) == "UPLOAD_ONE_FILE_ONLY"
    assert await nothing_kept(stored)


async def test_uploading_needs_a_signed_in_citizen(client, stored):
    reply = await client.post(UPLOADS, files={"file": ("a.jpg", photo_with_location(), "image/jpeg")})
    assert reply.status_code == 401
    assert await nothing_kept(stored)


@pytest.mark.upload_settings(upload_per_hour=2)
async def test_uploads_are_limited_per_citizen_and_hour(client, grandma, young):
    for _ in range(2):
        assert (await upload(client, grandma)).status_code == 201
    third = await upload(client, grandma)
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert error_code(third) == "RATE_LIMITED"
    assert (await upload(client, young)).status_code == 201  # another citizen has her own allowance
    assert await Upload.filter(citizen_id=grandma.id).count() == 2


@pytest.mark.upload_settings(s3_endpoint="http://127.0.0.1:9", s3_timeout=1)  # nothing listens there
async def test_a_store_that_cannot_take_the_file_is_503_and_nothing_is_kept(client, grandma, settings, storage_kind):
    if storage_kind == "local":
        (Path(settings.data_dir) / "uploads").write_bytes(b"")  # a file where the folder should be: no disk to write
    reply = await upload(client, grandma)
    assert reply.status_code == 503 and error_code(reply) == "UPLOAD_STORAGE_UNAVAILABLE"
    assert await Upload.all().count() == 0


# A photo whose EXIF block is corrupt so that applying its orientation fails inside Pillow (found by fuzzing).
BROKEN_EXIF_PHOTO = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4QCgRXhpZgAATU0AKgAAAAgAAwEPAAIAAAAEQ2FtAAESAAMAAAABAAYAAIglAAQAAAABAAAA"
    "MgAAAAAABAABAAIAAAACTgAAAAAcAAUAAAADAAAAaAADAAIAAAACRQAAAAAEAAUAAAADAAAAgAAAAAAAAAAXAAAAAQAAAAcAAAAB"
    "AAAAAQAAAAEAAABxAAAAAQAAAA8AAAABAAAAAgAAAAH/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHHEgJC4n"
    "ICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAwAEADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECBgQFBgcICQoL/8QA"
    "tRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6"
    "Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJ"
    "ytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQD"
    "BAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElK"
    "U1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX"
    "2Nna4uPk5ebn6Onq8vP09fb3+Pl3/9oADAMBAAIRAxEAPwCOiiivkD83CiiigAooooAKKKKACiiigAooooAKKKKACiiigAooooAK"
    "KKKACiiiFwooooA//9k="
)


async def test_a_photo_with_a_corrupt_exif_block_is_415_not_a_server_error(client, grandma, stored):
    reply = await upload(client, grandma, BROKEN_EXIF_PHOTO)

    assert reply.status_code == 415 and error_code(reply) == "UPLOAD_UNREADABLE"
    assert await nothing_kept(stored)


@pytest.mark.upload_settings(upload_per_hour=1)
async def test_a_citizen_over_the_hourly_limit_is_refused_before_the_file_is_read(client, grandma, stored):
    assert (await upload(client, grandma, photo_with_location())).status_code == 201
    refused = await client.post(UPLOADS, headers={**grandma.headers, "Content-Type": "image/jpeg"},
                                content=b"not even a photo")

    assert refused.status_code == 429  # not 415: the limit is asked before the body
    assert await Upload.all().count() == 1
