"""Over a real HTTP/1.1 socket (Sanic's own server, not the in-process client): a photo larger than the
limit of other requests (APP_MAX_BODY_BYTES) is taken, since the upload route reads its body in chunks up
to APP_UPLOAD_MAX_BYTES; one over that is cut off with 413 and nothing is kept."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from PIL import Image

from app.uploads.models import Upload
from tests.health_code.interop.partner_process import serve_live
from tests.uploads.upload_factory import UPLOADS


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels), about 3 * side * side bytes."""
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(3 * side * side)).save(out, "PNG", compress_level=0)
    return out.getvalue()


async def announced(base: str, path: str, length: int, token: str) -> bytes:
    """The answer to a request whose headers announce a body of `length` bytes, none of it sent yet."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: gov.test\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: image/png\r\nContent-Length: {length}\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    return answer


@pytest.mark.upload_settings(max_body_bytes=256 * 1024, upload_max_bytes=1024 * 1024)
async def test_an_upload_may_be_larger_than_other_requests_but_not_than_its_own_limit(app, grandma, stored):
    fits = noisy_png(400)  # ~480 KB: over the other routes' limit, under the uploads'
    assert 256 * 1024 < len(fits) < 1024 * 1024
    async with serve_live(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        taken = await http.post(UPLOADS, headers={**grandma.headers, "Content-Type": "image/png"}, content=fits)
        assert taken.status_code == 201, taken.text
        # Refused from the headers, before the body is sent: the upload over its limit, another route over its own.
        too_big = await announced(base, UPLOADS, 1024 * 1024 + 20_000, grandma.access_token)
        assert too_big.startswith(b"HTTP/1.1 413") and b"UPLOAD_TOO_LARGE" in too_big
        other = await announced(base, "/api/v1/auth/otp", 300_000, grandma.access_token)
        assert other.startswith(b"HTTP/1.1 413")
    assert await Upload.all().count() == 1 and len(await stored()) == 1
