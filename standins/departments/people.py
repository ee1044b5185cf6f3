"""Who a resident is, as far as every sample department agrees: birth date, sex and home city read from the
ID number, and a working life derived from a hash of it (the same person every time, in every department).

Nothing here is real: every figure is derived from SHA-256 of the ID number and a salt, so that seeded and
new citizens alike have plausible records, and two persons differ.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import date

from app.accounts.rules import id_check_char

ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")

# Guangdong cities: region prefix, name, plate letter, the traffic police detachment (交警支队).
CITIES = (
    ("4401", "广州市", "A", "广州市公安局交通警察支队"),
    ("4403", "深圳市", "B", "深圳市公安局交通警察支队"),
    ("4404", "珠海市", "C", "珠海市公安局交通警察支队"),
    ("4406", "佛山市", "E", "佛山市公安局交通警察支队"),
    ("4419", "东莞市", "S", "东莞市公安局交通警察支队"),
    ("4420", "中山市", "T", "中山市公安局交通警察支队"),
    ("4413", "惠州市", "L", "惠州市公安局交通警察支队"),
)
_EMPLOYER_HEADS = ("星禾", "云帆", "粤信", "启明", "南越", "华远", "珠江", "锦程", "恒达", "岭南", "海湾", "立信")
_EMPLOYER_TRADES = ("信息科技", "电子", "物流", "建筑工程", "餐饮管理", "医药", "贸易", "智能制造", "教育咨询", "物业管理")

Month = tuple[int, int]  # (year, month)


class UnknownSubject(ValueError):
    """An ID number whose check character does not match: no department has records of it."""


def checked_id_number(value: object) -> str:
    """An ID number of the right form (ValueError otherwise) whose check character matches (UnknownSubject)."""
    if not isinstance(value, str) or not ID_NUMBER.fullmatch(value.strip().upper()):
        raise ValueError("subject.id_number must be an 18-character resident ID number")
    text = value.strip().upper()
    if id_check_char(text[:17]) != text[17]:
        raise UnknownSubject("no records of this ID number")
    return text


def seeded(id_number: str, salt: str) -> random.Random:
    """A generator that gives the same draws for the same person and salt, every run."""
    return random.Random(int.from_bytes(hashlib.sha256(f"{salt}:{id_number}".encode()).digest(), "big"))


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from `first` to `last`, both included."""
    count = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    return [((first[0] * 12 + first[1] - 1 + n) // 12, (first[0] * 12 + first[1] - 1 + n) % 12 + 1)
            for n in range(max(count, 0))]


def month_text(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Person:
    """A resident as the departments see them. `kind`: employee (职工), flexible (灵活就业), resident
    (城乡居民), retired (退休) or minor (未成年); `since` the first month insured as a worker."""

    id_number: str
    born: date
    male: bool
    city: tuple[str, str, str, str]
    kind: str
    since: Month
    until: Month | None  # the last month contributed as a worker (retired), else None
    employer: str

    def age(self, today: date) -> int:
        return today.year - self.born.year - ((today.month, today.day) < (self.born.month, self.born.day))

    def working_months(self, last: Month) -> list[Month]:
        """The months contributed as a worker up to `last`, without the gaps between jobs."""
        if self.kind not in ("employee", "flexible", "retired"):
            return []
        end = min(last, self.until) if self.until else last
        gaps = self._gaps()
        return [m for m in months_between(self.since, end) if m not in gaps]

    def _gaps(self) -> set[Month]:
        draw = seeded(self.id_number, "gaps")
        gaps: set[Month] = set()
        for year in range(self.since[0] + 1, self.since[0] + 61):
            if draw.random() < 0.12:
                start = draw.randint(1, 9)
                gaps.update((year, m) for m in range(start, start + draw.randint(1, 4)))
        return gaps


def person(id_number: str, today: date) -> Person:
    """Everything every department agrees on about the holder of `id_number` (already checked)."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        born = date(1990, 1, 1)
    male = int(id_number[16]) % 2 == 1
    draw = seeded(id_number, "person")
    home = next((c for c in CITIES if id_number.startswith(c[0])), None)
    city = home if home and draw.random() < 0.7 else CITIES[draw.randrange(len(CITIES))]
    employer = (f"{city[1]}{draw.choice(_EMPLOYER_HEADS)}{draw.choice(_EMPLOYER_TRADES)}有限公司（示例）")
    start_year = max(born.year + 18 + draw.randint(0, 6), 1995)
    since = (start_year, draw.randint(1, 12))
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    retire_age = 60 if male else 55
    roll = draw.random()
    if age < 16:
        return Person(id_number, born, male, city, "minor", since, None, "")
    if age >= retire_age:
        retired = (born.year + retire_age, born.month)
        return Person(id_number, born, male, city, "retired", since, retired, employer)
    if since > (today.year, today.month) or roll >= 0.85:
        return Person(id_number, born, male, city, "resident", since, None, "")
    if roll >= 0.72:
        return Person(id_number, born, male, city, "flexible", since, None, "个人（灵活就业人员）")
    return Person(id_number, born, male, city, "employee", since, None, employer)


def base_fen(id_number: str, year: int) -> int:
    """The monthly contribution base (缴费基数) of a worker in `year`, in whole yuan (as fen): between the
    province's floor and ceiling (ceiling five times the floor, the floor growing about 6 % a year)."""
    floor = round(180_000 * 1.06 ** (year - 2010), -2)
    position = seeded(id_number, "base").random() ** 2 + seeded(id_number, f"base:{year}").uniform(-0.03, 0.03)
    return int(round(floor + min(max(position, 0.0), 1.0) * 4 * floor, -2))
