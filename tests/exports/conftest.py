"""The copy-of-my-data tests: the settings of a test's app take its `export_settings` marker."""

from __future__ import annotations

import pytest

from app.config import Settings
from tests.services.service_factory import (  # noqa: F401  (pytest finds fixtures by name)
    grandma, grandma_card, social_security_issuer,
)


@pytest.fixture
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    marker = request.node.get_closest_marker("export_settings")
    return settings.with_(**marker.kwargs) if marker else settings

