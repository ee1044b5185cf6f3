"""The mini-program settings refuse values that cannot work, with a message saying what to fix."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


def test_defaults_point_at_the_stand_in_platform():
    settings = Settings()
    assert settings.miniprogram.api_url == "http://127.0.0.1:8200"
    assert (settings.miniprogram.token_refresh_margin, settings.miniprogram.bind_ttl) == (300, 300)


@pytest.mark.parametrize("variable, value, says", [
    ("APP_MINIPROGRAM_API_URL", "ftp://mp.example.cn", "APP_MINIPROGRAM_API_URL"),
    ("APP_MINIPROGRAM_TIMEOUT", "0", "APP_MINIPROGRAM_TIMEOUT"),
    ("APP_MINIPROGRAM_TOKEN_REFRESH_MARGIN", "7200", "APP_MINIPROGRAM_TOKEN_REFRESH_MARGIN"),
    ("APP_MINIPROGRAM_BIND_TTL", "10", "APP_MINIPROGRAM_BIND_TTL"),
    ("APP_MINIPROGRAM_APPID", " ", None),  # blank means the default
])
def test_wrong_values_are_refused(variable, value, says):
    if says is None:
        assert Settings.from_env({variable: value}).miniprogram.appid == "wx5a3e9c2b7d1f0a46"
        return
    with pytest.raises(ConfigError, match=says):
        Settings.from_env({variable: value})


def test_an_empty_secret_is_refused():
    with pytest.raises(ConfigError, match="APP_MINIPROGRAM_SECRET"):
        Settings(miniprogram_secret="")
