"""The routing table (派单): an operator points APP_HOTLINE_ROUTING at their own; a table that leaves a category
without a department, or a file that is not there, stops the start with a message naming the setting."""

from __future__ import annotations

import json

import pytest

from app.config import ConfigError
from app.hotline.routing import RoutingTable
from app.server import create_app


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
