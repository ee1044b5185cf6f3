"""Sample files a citizen uploads (示例: made here, nobody's real photo) and the requests that upload them."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import ExifTags, Image, PngImagePlugin

from tests.factories import SignedInCitizen

UPLOADS = "/api/v1/uploads"
# Where the sample photo says it was taken: 广州市天河区 (sample).
GPS_TAGS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (23.0, 7.0, 30.0),
            ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (113.0, 19.0, 12.0)}
CAMERA = "SampleCam ZX-100"


def photo_with_location(size: tuple[int, int] = (96, 128)) -> bytes:
    """An ID-photo-like JPEG whose EXIF names the camera and, in its GPS block, where it was taken."""
    image = Image.new("RGB", size, (236, 240, 245))
    for x in range(size[0] // 4, 3 * size[0] // 4):  # a head-and-shoulders shape, so the pixels are not all one
        for y in range(size[1] // 5, size[1]):
            image.putpixel((x, y), (90, 60, 50) if y < size[1] // 2 else (30, 50, 120))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    exif[ExifTags.Base.Orientation] = 1
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS_TAGS)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def scanned_png() -> bytes:
    """A small PNG of a scanned page, with a text chunk that says who scanned it."""
    image = Image.new("L", (120, 160), 250)
    for y in range(20, 140, 12):
        for x in range(15, 105):
            image.putpixel((x, y), 20)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "王秀英 13800138000（示例）")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def small_pdf() -> bytes:
    """A one-page PDF (居住证明, sample)."""
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


def exif_of(data: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


def gps_of(data: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


async def upload(client: httpx.AsyncClient, citizen: SignedInCitizen, data: bytes | None = None, *,
                 filename: str = "photo.jpg", content_type: str = "image/jpeg") -> httpx.Response:
    """A multipart/form-data upload of one file, as a phone's form sends it."""
    return await client.post(UPLOADS, headers=citizen.headers,
                             files={"file": (filename, photo_with_location() if data is None else data, content_type)})


async def uploaded(client: httpx.AsyncClient, citizen: SignedInCitizen, data: bytes | None = None) -> str:
    """The id of a file the citizen uploaded (by default a photo), to name as a material's upload_ref."""
    reply = await upload(client, citizen, data)
    assert reply.status_code == 201, reply.text
    upload_id: str = reply.json()["id"]
    return upload_id
