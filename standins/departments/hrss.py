"""人社 (social insurance) sample records: insured status (参保状态), monthly contributions by year (缴费明细),
the personal rights record (个人权益记录) and the social security card (社会保障卡), as 广东人社 and 粤省事
show them. Keys are English, values as the department words them; amounts in fen, months as `YYYY-MM`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from standins.departments.people import Month, Person, add_years, base_fen, month_text, person, seeded

ISSUER = "广东省人力资源和社会保障厅"
# 险种: code, name, employer and personal rates in basis points of the base (Guangdong, approximately).
WORKER_SCHEMES = {
    "110": ("企业职工基本养老保险", 1600, 800),
    "210": ("失业保险", 48, 20),
    "310": ("职工基本医疗保险", 550, 200),
    "410": ("工伤保险", 20, 0),
    "510": ("生育保险", 85, 0),
}
FLEXIBLE_SCHEMES = {"110": ("企业职工基本养老保险", 0, 2000), "310": ("职工基本医疗保险", 0, 750)}
RESIDENT_PENSION = ("170", "城乡居民基本养老保险")
RESIDENT_MEDICAL = ("390", "城乡居民基本医疗保险")
RESIDENT_PENSION_GRADES = (18_000, 30_000, 50_000, 90_000, 120_000, 180_000, 300_000)  # 缴费档次, fen a year
RESIDENT_MEDICAL_FEN = {2020: 28_000, 2021: 32_000, 2022: 35_000, 2023: 38_000, 2024: 40_000, 2025: 40_000}
KINDS = {"employee": "在职职工", "flexible": "灵活就业人员", "resident": "城乡居民", "retired": "退休人员",
         "minor": "未成年人（城乡居民）"}
STATUS_NAMES = {"paying": "参保缴费", "suspended": "暂停缴费", "receiving": "享受待遇", "retired": "退休参保"}


def credited_until(today: date) -> Month:
    """The last month whose contributions are credited: this month from the 20th, else the one before."""
    if today.day >= 20:
        return today.year, today.month
    return (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)


def _schemes_of(who: Person) -> dict[str, tuple[str, int, int]]:
    return FLEXIBLE_SCHEMES if who.kind == "flexible" else WORKER_SCHEMES


def _resident_since(who: Person) -> int:
    return who.born.year if who.kind == "minor" else max(who.born.year + 18, 2010)


def schemes(who: Person, today: date) -> list[dict[str, Any]]:
    """The schemes (参保险种) the person is insured in, each with its state and first month."""
    last = credited_until(today)
    if who.kind in ("resident", "minor"):
        since = f"{_resident_since(who)}-01"
        found = [] if who.kind == "minor" else [(RESIDENT_PENSION, since)]
        return [_scheme(code, name, "paying", since_text) for (code, name), since_text in
                [*found, (RESIDENT_MEDICAL, since)]]
    months = who.working_months(last)
    since = month_text(who.since)
    if who.kind == "retired":
        return [_scheme("110", "企业职工基本养老保险", "receiving", since),
                _scheme("310", "职工基本医疗保险", "retired", since)]
    state = "paying" if months and months[-1] == last else "suspended"
    return [_scheme(code, name, state, since) for code, (name, _, _) in _schemes_of(who).items()]


def _scheme(code: str, name: str, status: str, since: str) -> dict[str, Any]:
    return {"code": code, "name": name, "status": status, "status_name": STATUS_NAMES[status], "since": since}


def insured_status(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    who = person(id_number, today)
    return {"insured": True, "insured_place": f"广东省{who.city[1]}", "person_kind": who.kind,
            "person_kind_name": KINDS[who.kind], "employer": who.employer or None,
            "schemes": schemes(who, today), "checked_on": today.isoformat(), "sample": True}


def _month_items(who: Person, month: Month) -> dict[str, Any]:
    base = base_fen(who.id_number, month[0])
    items = [{"code": code, "name": name, "employer_fen": base * employer // 10_000,
              "personal_fen": base * personal // 10_000} for code, (name, employer, personal) in _schemes_of(who).items()]
    return {"month": month_text(month), "base_fen": base, "employer": who.employer, "items": items,
            "employer_total_fen": sum(i["employer_fen"] for i in items),
            "personal_total_fen": sum(i["personal_fen"] for i in items), "status": "已到账"}


def _resident_payment(who: Person, year: int) -> dict[str, Any]:
    paid_month = (year, seeded(who.id_number, f"resident:{year}").randint(1, 3))
    items = [{"code": RESIDENT_MEDICAL[0], "name": RESIDENT_MEDICAL[1], "employer_fen": 0,
              "personal_fen": RESIDENT_MEDICAL_FEN.get(year, 40_000 if year > 2025 else 25_000)}]
    if who.kind == "resident":
        grade = RESIDENT_PENSION_GRADES[seeded(who.id_number, "grade").randrange(len(RESIDENT_PENSION_GRADES))]
        items.insert(0, {"code": RESIDENT_PENSION[0], "name": RESIDENT_PENSION[1], "employer_fen": 0,
                         "personal_fen": grade})
    return {"month": month_text(paid_month), "base_fen": None, "employer": None, "items": items,
            "employer_total_fen": 0, "personal_total_fen": sum(i["personal_fen"] for i in items), "status": "已到账"}


def months_of(who: Person, year: int, today: date) -> list[dict[str, Any]]:
    last = credited_until(today)
    if who.kind in ("resident", "minor"):
        payment = _resident_payment(who, year)
        return [payment] if _resident_since(who) <= year and payment["month"] <= month_text(last) else []
    return [_month_items(who, m) for m in who.working_months(last) if m[0] == year]


def contributions(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """缴费明细 of one year (the body's `year`, default this year)."""
    year = body.get("year", today.year)
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= today.year:
        raise ValueError(f"year must be a whole year from 1990 to {today.year}")
    who = person(id_number, today)
    months = months_of(who, year, today)
    return {"year": year, "months": months, "months_paid": len(months) if who.kind not in ("resident", "minor") else 0,
            "employer_total_fen": sum(m["employer_total_fen"] for m in months),
            "personal_total_fen": sum(m["personal_total_fen"] for m in months), "sample": True}


def rights_record(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """个人权益记录: what the person has built up in each scheme, as the annual statement shows it."""
    who = person(id_number, today)
    worked = who.working_months(credited_until(today))
    pension = sum(base_fen(id_number, m[0]) * 800 // 10_000 for m in worked)  # 8 % of the base: personal account
    this_year = [m for m in worked if m[0] == today.year]
    draw = seeded(id_number, f"record:{today.isoformat()}")
    statement = schemes(who, today)
    for scheme in statement:
        scheme["months_total"] = len(worked) if scheme["code"] in _schemes_of(who) else \
            (today.year - _resident_since(who)) * 12 + today.month
    medical = sum(base_fen(id_number, m[0]) * 200 // 10_000 for m in worked)
    return {"record_no": f"GDSI{today:%Y%m%d}{draw.randrange(10 ** 8):08d}",
            "title": "广东省社会保险个人权益记录（示例）", "issuer": ISSUER, "issued_on": today.isoformat(),
            "insured_place": f"广东省{who.city[1]}", "person_kind_name": KINDS[who.kind], "employer": who.employer or None,
            "schemes": statement,
            "pension": {"months_total": len(worked), "personal_account_fen": pension,
                        "this_year_months": len(this_year)},
            "medical": {"personal_account_fen": medical * draw.randint(10, 60) // 100},
            "this_year_base_fen": base_fen(id_number, today.year) if this_year else None, "sample": True}


def social_security_card(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """社会保障卡 and its electronic card (电子社保卡): number, state, bank, validity."""
    who = person(id_number, today)
    draw = seeded(id_number, "card")
    issued = max(today - timedelta(days=draw.randrange(30, 3650)), who.born)  # renewed every ten years
    status = "lost" if draw.random() < 0.03 else "active"
    electronic = status == "active" and who.kind != "minor"
    return {"card_no": f"{draw.choice('ABCDEFGHJKLMN')}{draw.randrange(10 ** 8):08d}",
            "generation": 3 if issued.year >= 2020 else 2, "status": status,
            "status_name": {"active": "正常", "lost": "挂失"}[status],
            "bank": draw.choice(("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "广州农商银行")),
            "issued_on": issued.isoformat(), "valid_until": add_years(issued, 10).isoformat(),
            "electronic_card": {"issued": electronic, "status_name": "已签发" if electronic else "未签发"},
            "issuer": ISSUER, "sample": True}


def pension_certification(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """养老金领取资格认证: whether a pensioner's check for this year (年度资格认证, by face in the app or at a
    service hall) is done, when, and the last day; someone not drawing a pension needs none."""
    who = person(id_number, today)
    receiving = who.kind == "retired"
    draw = seeded(id_number, f"certification:{today.year}")
    certified_on = date(today.year, draw.randint(1, 12), draw.randint(1, 28)) if receiving else None
    if certified_on is not None and (certified_on > today or draw.random() < 0.3):
        certified_on = None
    return {"receiving_pension": receiving, "certified_this_year": certified_on is not None,
            "certified_on": certified_on.isoformat() if certified_on else None,
            "due_by": f"{today.year}-12-31" if receiving else None,
            "method_names": ["粤省事刷脸认证", "社保经办机构窗口"] if receiving else [], "issuer": ISSUER, "sample": True}
