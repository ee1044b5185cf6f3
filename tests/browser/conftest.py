"""Browser tests: the H5 page in headless Chromium (Debian's `chromium`, driven by Playwright's
Python package with `executable_path`; Playwright's own browser download is never used).

`live_url`: our app (the `app` fixture) served on a real loopback port (serve_live, as the
partner-region tests do). `open_page(bypass_csp=False)`: a fresh browser with a fresh profile
(a persistent context in a new temporary folder) at 390 × 844, and a page in it. Screenshots go
to tests/artifacts/screenshots/ (git-ignored). The tests are skipped, saying why, only where
Chromium is not installed (`make` installs it when it may).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest

from app.clock import MovableClock
from tests.health_code.interop.partner_process import REPO_ROOT, serve_live

CHROMIUM = Path(os.environ.get("APP_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO_ROOT / ".cache" / "axe-core-4.14.1" / "axe.min.js"
ARTEFACTS = REPO_ROOT / "tests" / "artifacts" / "screenshots"
VIEWPORT = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (make does it as root)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed: run make")


@pytest.fixture
async def live_url(app, clock: MovableClock) -> AsyncIterator[str]:
    clock.set(datetime.now(timezone.utc))
    async with serve_live(app) as url:
        yield url


@pytest.fixture
async def open_page(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[object]]]:
    contexts = []
    async with playwright_api.async_playwright() as driver:

        async def open_one(bypass_csp: bool = False):
            profile = tmp_path / f"profile-{len(contexts)}"
            context = await driver.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport=VIEWPORT, screen=VIEWPORT, device_scale_factor=1, is_mobile=True, has_touch=True,
                locale="zh-CN", bypass_csp=bypass_csp)
            contexts.append(context)
            return context.pages[0] if context.pages else await context.new_page()

        try:
            yield open_one
        finally:
            for context in contexts:
                await context.close()


@pytest.fixture
def screenshots() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS
