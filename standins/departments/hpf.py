"""住房公积金 sample records: the account (账户状态, 余额, 月缴存额), its entries by year (缴存明细: 汇缴,
年度结息, 提取) and whether a withdrawal (提取) would be allowed, as the provident fund centres show them.
Amounts in fen; the ledger is built month by month from the account's opening, so that balance, deposits
and interest agree with one another."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from standins.departments.people import Month, Person, base_fen, month_text, months_between, person, seeded

REASONS = {"purchase": "购买自住住房提取", "rent": "租赁住房提取", "retirement": "离休、退休提取"}
RENT_LIMIT_FEN = 450_000  # a quarter's rent at ¥1,500 a month, per withdrawal
INTEREST_BP = 150  # 1.5 % a year, credited on 30 June (年度结息)


def _account(who: Person) -> tuple[bool, Month, int]:
    """Whether the person has an account, the month it opened, and each side's deposit rate in percent."""
    draw = seeded(who.id_number, "hpf")
    rate = draw.randint(5, 12)
    if who.kind in ("employee", "retired"):
        year, month = who.since
        opened = months_between(who.since, (year + 1, month))[draw.randint(0, 3)]
        return True, opened, rate
    if who.kind == "flexible" and draw.random() < 0.3:
        year, month = who.since
        return True, months_between(who.since, (year + 4, month))[draw.randint(12, 36)], 5
    return False, who.since, rate


def _deposited_until(today: date) -> Month:
    return (today.year, today.month) if today.day >= 15 else \
        ((today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12))


def monthly_deposit(who: Person, year: int, rate: int) -> int:
    """Employer and employee together (单位 + 个人), each `rate` % of the base."""
    return 2 * (base_fen(who.id_number, year) * rate // 100)


def ledger(who: Person, today: date) -> list[dict[str, Any]]:
    """Every entry of the account up to `today`, oldest first, with the balance after each."""
    has, opened, rate = _account(who)
    if not has:
        return []
    worked = set(who.working_months(_deposited_until(today)))
    entries: list[dict[str, Any]] = []
    balance = 0

    def add(day: date, kind: str, name: str, amount: int, period: str | None = None) -> None:
        nonlocal balance
        balance += amount
        entries.append({"date": day.isoformat(), "type": kind, "type_name": name, "period": period,
                        "amount_fen": amount, "balance_fen": balance})

    for year, month in months_between(opened, (today.year, today.month)):
        if (year, month) in worked:
            add(date(year, month, 15), "deposit", "汇缴", monthly_deposit(who, year, rate), month_text((year, month)))
        draw = seeded(who.id_number, f"hpf-withdraw:{year}")
        if month == draw.randint(3, 11) and draw.random() < 0.18 and balance > 1_000_000 \
                and date(year, month, 20) <= today:
            add(date(year, month, 20), "withdrawal", REASONS["rent"], -min(balance // 2, RENT_LIMIT_FEN))
        if month == 6 and date(year, 6, 30) <= today and balance > 0:
            add(date(year, 6, 30), "interest", "年度结息", balance * INTEREST_BP // 10_000)
    return [e for e in entries if e["date"] <= today.isoformat()]


def _no_account() -> dict[str, Any]:
    return {"has_account": False, "status": "none", "status_name": "未开户", "sample": True}


def account(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    who = person(id_number, today)
    has, opened, rate = _account(who)
    if not has:
        return _no_account()
    entries = ledger(who, today)
    deposits = [e for e in entries if e["type"] == "deposit"]
    last = _deposited_until(today)
    normal = bool(deposits) and deposits[-1]["period"] == month_text(last)
    interest = next((e["amount_fen"] for e in reversed(entries) if e["type"] == "interest"), 0)
    return {"has_account": True, "account_no": f"{who.city[0]}{seeded(id_number, 'hpf-no').randrange(10 ** 12):012d}",
            "centre": f"{who.city[1]}住房公积金管理中心", "status": "normal" if normal else "sealed",
            "status_name": "正常" if normal else "封存", "employer": who.employer or None,
            "opened_on": month_text(opened), "base_fen": base_fen(id_number, today.year),
            "employer_rate_percent": rate, "personal_rate_percent": rate,
            "monthly_deposit_fen": monthly_deposit(who, today.year, rate) if normal else 0,
            "balance_fen": entries[-1]["balance_fen"] if entries else 0,
            "paid_up_to": deposits[-1]["period"] if deposits else None, "last_interest_fen": interest, "sample": True}


def deposits(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """缴存明细 of one year (the body's `year`, default this year)."""
    year = body.get("year", today.year)
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= today.year:
        raise ValueError(f"year must be a whole year from 1990 to {today.year}")
    who = person(id_number, today)
    if not _account(who)[0]:
        return {**_no_account(), "year": year, "items": []}
    entries = ledger(who, today)
    before = [e for e in entries if e["date"] < f"{year}-01-01"]
    items = [e for e in entries if e["date"].startswith(f"{year}-")]
    opening = before[-1]["balance_fen"] if before else 0
    return {"has_account": True, "year": year, "items": items, "opening_balance_fen": opening,
            "closing_balance_fen": items[-1]["balance_fen"] if items else opening,
            "deposit_total_fen": sum(e["amount_fen"] for e in items if e["type"] == "deposit"),
            "withdrawal_total_fen": -sum(e["amount_fen"] for e in items if e["type"] == "withdrawal"),
            "interest_fen": sum(e["amount_fen"] for e in items if e["type"] == "interest"), "sample": True}


def _rule(code: str, met: bool, text: str) -> dict[str, Any]:
    return {"code": code, "met": met, "text": text}


def withdrawal_eligibility(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    """Whether a withdrawal for the body's `reason` (purchase, rent or retirement) would be approved, up to how
    much, and each rule with whether it is met."""
    reason = body.get("reason")
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}")
    who = person(id_number, today)
    current = account(id_number, today, {})
    balance = current.get("balance_fen", 0)
    entries = ledger(who, today)
    recent = {e["period"] for e in entries if e["type"] == "deposit"}
    rules = [_rule("account_open", current["has_account"], "已开立住房公积金个人账户")]
    if reason == "rent":
        three = [month_text(m) for m in months_between(*_last_months(today, 3))]
        last_rent = max((e["date"] for e in entries if e["type_name"] == REASONS["rent"]), default="")
        rules += [_rule("normal", current["status"] == "normal", "账户处于正常缴存状态"),
                  _rule("paid_3_months", all(m in recent for m in three), "连续足额缴存满3个月"),
                  _rule("interval", last_rent < (today - timedelta(days=90)).isoformat(), "距上次租房提取满3个月")]
        limit = min(balance, RENT_LIMIT_FEN)
    elif reason == "purchase":
        six = [month_text(m) for m in months_between(*_last_months(today, 6))]
        rules += [_rule("paid_6_months", all(m in recent for m in six) or current["status"] == "sealed"
                        and len(recent) >= 6, "连续足额缴存满6个月"),
                  _rule("balance", balance > 0, "账户余额大于零")]
        limit = balance
    else:
        retire_age = 60 if who.male else 55
        rules += [_rule("retired", who.age(today) >= retire_age, f"已达法定退休年龄（{retire_age}周岁）"),
                  _rule("balance", balance > 0, "账户余额大于零")]
        limit = balance
    eligible = all(r["met"] for r in rules)
    return {"reason": reason, "reason_name": REASONS[reason], "eligible": eligible,
            "max_amount_fen": limit if eligible else 0, "balance_fen": balance, "reasons": rules, "sample": True}


def _last_months(today: date, count: int) -> tuple[Month, Month]:
    last = _deposited_until(today)
    first_index = last[0] * 12 + last[1] - 1 - (count - 1)
    return (first_index // 12, first_index % 12 + 1), last
