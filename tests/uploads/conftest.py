"""Every upload test runs twice: with uploads kept on the local disk (the embedded default) and in a real
S3-compatible server on loopback (SeaweedFS, tests/s3_server.py), each test under a key prefix of its own.

`stored` reads what the chosen storage holds, straight from the disk or the server, to show what is at rest.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from app.config import Settings
from tests.s3_server import stored_objects
from tests.services.service_factory import (  # noqa: F401  (pytest finds fixtures by name)
    catalogue_admin, clerk, elderly_item, grandma, grandma_card, social_security_issuer, young,
)

Stored = Callable[[], Awaitable[dict[str, bytes]]]


@pytest.fixture(params=["local", "s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(request: pytest.FixtureRequest, settings: Settings, storage_kind: str) -> Settings:
    """The app's settings with the storage of this run (and a test's own `upload_settings` marker)."""
    marker = request.node.get_closest_marker("upload_settings")
    changes = dict(marker.kwargs) if marker else {}
    if storage_kind == "s3":
        server = request.getfixturevalue("s3_server")
        changes.update(server.settings(), s3_prefix=f"t-{secrets.token_hex(6)}")
    return settings.with_(**changes) if changes else settings


@pytest.fixture
def stored(request: pytest.FixtureRequest, settings: Settings, storage_kind: str) -> Stored:
    """What the storage holds for this test: {object key: bytes as stored}."""
    async def on_disk() -> dict[str, bytes]:
        root = Path(settings.data_dir) / "uploads"
        return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()} \
            if root.exists() else {}

    async def in_bucket() -> dict[str, bytes]:
        prefix = settings.uploads.s3_prefix + "/"
        found = await stored_objects(request.getfixturevalue("s3_server"), prefix)
        return {key.removeprefix(prefix): data for key, data in found.items() if key.startswith(prefix)}

    return in_bucket if storage_kind == "s3" else on_disk
