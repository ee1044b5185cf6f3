"""交管: vehicles, the driving licence and its points, violations in detail, and the licence status pulled from 交管."""

from __future__ import annotations

from app.departments.exchange_services import DepartmentAsker


class TrafficPolice:
    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker
