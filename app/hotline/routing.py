"""Which department a 12345 ticket goes to (派单): the item's, the one named, or the category's.

The routing table is a JSON file (`APP_HOTLINE_ROUTING`; by default the sample `sample_routing.json`):
`{"categories": {"complaint": "<department id>", ...}}`, one department for each category. Its
departments must be in the catalogue's departments table, as the item and the department a citizen names
must be: checked at start, once the database is up (`unknown_departments`), a start naming another stops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.errors import NotFound
from app.services.catalogue.service import ServiceItem, catalogue_departments, existing_departments

SAMPLE_FILE = Path(__file__).with_name("sample_routing.json")
CATEGORY_NAMES = ("complaint", "suggestion", "enquiry", "help")


@dataclass(frozen=True)
class Route:
    department_id: str
    by: str  # item, department or category: what decided it


class RoutingTable:
    def __init__(self, categories: dict[str, str], include_sample: bool) -> None:
        missing = [name for name in CATEGORY_NAMES if not categories.get(name)]
        if missing:
            raise ValueError(f"the routing table names no department for {', '.join(missing)}")
        self.categories, self.include_sample = dict(categories), include_sample

    @classmethod
    def load(cls, path: str, include_sample: bool) -> "RoutingTable":
        """The table at `path`, or the sample table when `path` is empty."""
        data = json.loads((Path(path) if path else SAMPLE_FILE).read_text(encoding="utf-8"))
        return cls(dict(data["categories"]), include_sample)

    async def unknown_departments(self) -> list[str]:
        """The departments the table names that the catalogue's departments table does not have."""
        named = set(self.categories.values())
        return sorted(named - await existing_departments(named))

    async def route(self, category: str, item_id: str | None, department_id: str | None) -> Route:
        """The item's department when an item is named (404 TICKET_ITEM_NOT_FOUND if no published item is, as
        for an application), else the department named (404 TICKET_DEPARTMENT_NOT_FOUND if the catalogue knows
        none), else the category's."""
        if item_id:
            item = await ServiceItem.get_or_none(id=item_id, status="published")
            if item is None:
                raise NotFound("TICKET_ITEM_NOT_FOUND", extra={"field": "item_id"})
            return Route(item.department_id, "item")
        if department_id:
            if department_id not in await catalogue_departments(self.include_sample):
                raise NotFound("TICKET_DEPARTMENT_NOT_FOUND", extra={"field": "department_id"})
            return Route(department_id, "department")
        return Route(self.categories[category], "category")
