"""The routing table (派单): an operator points APP_HOTLINE_ROUTING at their own; a table that leaves a category
without a department, names a department the catalogue does not have, or a file that is not there, stops the
start with a message naming the setting; so do time limits that do not fit together."""

from __future__ import annotations

import json

import pytest

from app.config import ConfigError, Settings
from app.hotline.routing import RoutingTable
from app.server import create_app
from app.db import close_db
from tests.conftest import _empty_tables, lifespan


def test_a_table_missing_a_category_is_refused_at_start(settings, tmp_path):
    table = tmp_path / "routing.json"
    table.write_text(json.dumps({"categories": {"complaint": "gz-scjgj", "suggestion": "yx-zsj",
                                                "enquiry": "th-zsj"}}), "utf-8")
    with pytest.raises(ConfigError, match="APP_HOTLINE_ROUTING: .*help"):
        create_app(settings.with_(hotline_routing=str(table)), name="routing_missing_help")


def test_a_routing_file_that_is_not_there_is_refused(settings, tmp_path):
    with pytest.raises(ConfigError, match="APP_HOTLINE_ROUTING"):
        settings.with_(hotline_routing=str(tmp_path / "nowhere.json"))


def test_the_sample_table_names_a_department_for_every_category():
    table = RoutingTable.load("", include_sample=True)
    assert table.categories == {"complaint": "gz-scjgj", "suggestion": "yx-zsj", "enquiry": "th-zsj", "help": "gz-mzj"}


async def test_a_table_naming_a_department_the_catalogue_does_not_have_stops_the_start(settings, platform, tmp_path):
    table = tmp_path / "routing.json"
    table.write_text(json.dumps({"categories": {"complaint": "gz-scjgj", "suggestion": "yx-zsj",
                                                "enquiry": "gz-12345-center", "help": "gz-mzj"}}), "utf-8")
    app = create_app(settings.with_(hotline_routing=str(table)), platform=platform, name="routing_unknown_department")
    try:
        with pytest.raises(RuntimeError, match="APP_HOTLINE_ROUTING names departments the catalogue does not "
                                               "have: gz-12345-center"):
            async with lifespan(app):
                pass
    finally:  # the start stopped after the database was up and seeded: left as a stopped app leaves it
        await _empty_tables(settings)
        await platform.cache.clear()
        await close_db()


def test_the_acceptance_limit_may_not_be_longer_than_the_answer_limit():
    with pytest.raises(ConfigError, match="APP_HOTLINE_ACCEPT_DAYS must be at most APP_HOTLINE_ANSWER_DAYS"):
        Settings(hotline_accept_days=6, hotline_answer_days=5)
    assert Settings(hotline_accept_days=3, hotline_answer_days=3).hotline.accept_days == 3
