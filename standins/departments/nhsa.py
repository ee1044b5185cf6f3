"""医保 (medical insurance) sample records: the personal medical account (医保个人账户) as 广东医保 shows it: the
scheme the person is insured in, the account balance and this year's spending from it. Amounts in fen.

Workers' and retirees' schemes (职工医保) credit a personal account every month (2 % of the base from the
worker, a part of the employer's share for retirees); the residents' scheme (城乡居民医保) has no personal
account since the 2021 reform, so its balance is 0."""

from __future__ import annotations

from datetime import date
from typing import Any

from standins.departments.people import base_fen, person, seeded

ISSUER = "广东省医疗保障局"
WORKER_SCHEME = ("310", "职工基本医疗保险")
RESIDENT_SCHEME = ("390", "城乡居民基本医疗保险")


def medical_account(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    who = person(id_number, today)
    code, name = WORKER_SCHEME if who.kind in ("employee", "flexible", "retired") else RESIDENT_SCHEME
    credited = sum(base_fen(id_number, year) * 200 // 10_000 for year, _ in who.working_months((today.year, today.month)))
    draw = seeded(id_number, f"nhsa:{today.year}")
    spent_before = credited * draw.randint(40, 80) // 100
    this_year = min(credited - spent_before, draw.randrange(0, 300_000)) if credited else 0
    balance = max(credited - spent_before - this_year, 0)
    return {"insured": True, "scheme_code": code, "scheme_name": name, "insured_place": f"广东省{who.city[1]}",
            "personal_account_fen": balance, "spent_this_year_fen": this_year,
            "has_personal_account": code == WORKER_SCHEME[0], "issuer": ISSUER, "checked_on": today.isoformat(),
            "sample": True}
