"""住房公积金: balance, deposits, and withdrawals (提取) through 办件 with 秒批 rules that read the fund centre's data."""

from __future__ import annotations

from app.departments.exchange_services import DepartmentAsker


class ProvidentFund:
    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker
