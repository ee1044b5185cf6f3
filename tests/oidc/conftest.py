"""The OpenID Connect provider's tests: the in-process app knows itself as https://gov.test (the issuer)."""

from __future__ import annotations

import pytest

from app.config import Settings

ISSUER = "https://gov.test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(oidc_issuer=ISSUER)
