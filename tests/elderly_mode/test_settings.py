"""The elderly-mode settings refuse values that would break the promises made to users."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


@pytest.mark.parametrize(("name", "value", "message"), [
    ("family_link_days", 0, "APP_FAMILY_LINK_DAYS"),
    ("family_link_days", 5000, "APP_FAMILY_LINK_DAYS"),
    ("family_consent_ttl", 30, "APP_FAMILY_CONSENT_TTL"),
    ("elderly_extend_factor", 1, "APP_ELDERLY_EXTEND_FACTOR"),  # less than twice is not "time enough"
    ("elderly_undo_minutes", 5, "APP_ELDERLY_UNDO_MINUTES"),  # the undo window is at least 10 minutes
    ("print_card_ttl", 4 * 86400, "APP_PRINT_CARD_TTL"),
    ("help_line", "call us", "APP_HELP_LINE"),
])
def test_bad_values_stop_start_up_with_a_message(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**{name: value})


def test_the_defaults_and_the_environment():
    settings = Settings.from_env({"APP_ELDERLY_UNDO_MINUTES": "15", "APP_HELP_LINE": "12333"})
    assert settings.elderly.undo_minutes == 15 and settings.elderly.help_line == "12333"
    assert Settings().elderly.extend_factor == 2 and Settings().elderly.family_link_days == 365
