"""Per-object authorization: rows are fetched together with their owner, never by id alone.

A row that exists but belongs to someone else is reported as not found (404), so that ids of
other citizens' objects cannot even be confirmed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.models import Model

from app.errors import NotFound

M = TypeVar("M", bound=Model)


async def get_owned(model: type[M], owner_id: str, object_id: Any, owner_field: str = "citizen_id", **conditions: Any) -> M:
    """The row `object_id` of `model` if `owner_id` owns it (and `conditions` hold), else 404."""
    row = await model.filter(pk=object_id, **{owner_field: owner_id, **conditions}).first()
    if row is None:
        raise NotFound()
    return row
