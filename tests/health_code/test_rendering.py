"""QR images are drawn off the event loop: in a separate process by default, in a thread if configured."""

from __future__ import annotations

from io import BytesIO

import PIL.Image
import pytest
import zxingcpp

from app.platform import build_platform
from health_code.rules import load_ruleset
from health_code.service import HealthCodeService, IssuedCode

PAYLOAD = "GDHC1:" + "6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNTI4L6N$Q%UG/YL"


@pytest.mark.parametrize("processes", [1, 0])
async def test_the_same_image_is_drawn_in_a_process_or_a_thread(settings, clock, processes):
    service = HealthCodeService(build_platform(settings.with_(health_code_render_processes=processes), clock),
                                load_ruleset())
    code = IssuedCode(PAYLOAD, "yellow", (11,), 0, 180)
    try:
        png = await service.image(code, "png", "黄码 · 密接")
    finally:
        service.close()
    scanned = zxingcpp.read_barcode(PIL.Image.open(BytesIO(png)))
    assert scanned is not None and scanned.text == PAYLOAD


async def test_an_image_is_drawn_once_per_code_and_kept_only_as_configured(settings, clock):
    service = HealthCodeService(build_platform(settings.with_(health_code_image_cache=1), clock), load_ruleset())
    first, second = IssuedCode(PAYLOAD, "green", (1,), 0, 180), IssuedCode(PAYLOAD + "A", "green", (1,), 0, 180)
    try:
        one = await service.image(first, "svg", "绿码")
        assert await service.image(first, "svg", "绿码") is one  # served from the cache, not redrawn
        await service.image(second, "svg", "绿码")
        assert len(service._images) == 1
    finally:
        service.close()
