"""交管 sample records: motor vehicles (机动车: 号牌, 车辆类型, 检验有效期), the driving licence (驾驶证: 准驾车型,
累积记分, 有效期) and traffic violations (交通违法: 决定书编号, 地点, 罚款, 记分), as 交管12123 shows them, and
the settlement of a fine paid through the platform.

A violation's decision number (处罚决定书编号) follows the scheme of the in-process sample
(app/services/cards/backends.py traffic_violations_sample): `TV` + ten digits from a hash + the violation's index. Here
the hash is of the ID number, not of our citizen id, so the same person has other numbers through the
exchange than in the in-process sample; the scheme, and so payments, are the same.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from typing import Any

from app.clock import CHINA_TZ
from standins.departments.people import Person, UnknownSubject, add_years, person, seeded

DECISION_NUMBER = re.compile(r"TV[0-9]{11}")
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on plates
CARS = (("比亚迪牌", "秦PLUS", True), ("比亚迪牌", "宋PLUS", True), ("丰田牌", "凯美瑞", False), ("本田牌", "雅阁", False),
        ("大众牌", "朗逸", False), ("日产牌", "轩逸", False), ("广汽传祺牌", "GS4", False), ("小鹏牌", "P7", True),
        ("特斯拉牌", "Model 3", True), ("广汽埃安牌", "AION S", True))
LICENCE_CLASSES = (("C1", "小型汽车", 0.85), ("C2", "小型自动挡汽车", 0.10), ("B2", "大型货车", 0.04), ("A1", "大型客车", 0.01))
OFFENCES = (  # the two of the in-process sample: code, wording, fine in fen, points (2022 scoring rules)
    ("1344", "机动车违反禁令标志指示", 20_000, 3),
    ("1625", "驾驶机动车违反道路交通信号灯通行", 20_000, 6),
)
LICENCE_STATUSES = {  # 驾驶证状态 as 交管 codes it: a licence may carry several at once (e.g. "DH")
    "A": "正常", "B": "超分", "C": "转出", "D": "暂扣", "E": "吊销", "F": "撤销", "G": "注销", "H": "违法未处理",
    "I": "事故未处理", "J": "停止使用", "K": "协查", "L": "锁定", "M": "逾期未换证", "N": "延期换证", "P": "延期体检",
    "R": "注销可恢复", "S": "逾期未审验", "T": "延期审验", "U": "扣留"}
PLACES = {"A": ("广州市天河区天河路体育中心段", "广州市越秀区环市东路"), "B": ("深圳市福田区深南大道车公庙段", "深圳市南山区科技园北区"),
          "C": ("珠海市香洲区情侣中路", "珠海市香洲区九洲大道"), "E": ("佛山市禅城区季华路", "佛山市南海区桂澜路"),
          "S": ("东莞市南城区鸿福路", "东莞市东城区东纵大道"), "T": ("中山市东区中山四路", "中山市石岐区孙文中路"),
          "L": ("惠州市惠城区江北文明一路", "惠州市惠城区演达大道")}


def _plate(draw: Any, letter: str, electric: bool) -> str:
    if electric:  # 新能源: 粤A + D (纯电动) or F + five digits
        return f"粤{letter}{draw.choice('DF')}{draw.randrange(10 ** 5):05d}"
    tail = [draw.choice("0123456789") for _ in range(5)]
    for at in draw.sample(range(5), draw.randint(0, 2)):
        tail[at] = draw.choice(_LETTERS)
    return f"粤{letter}{''.join(tail)}"


def vehicles_of(who: Person, today: date) -> list[dict[str, Any]]:
    draw = seeded(who.id_number, "tpb-vehicles")
    if who.age(today) < 18:
        return []
    count = draw.choices((0, 1, 2), weights=(40, 45, 15))[0]
    found = []
    for _ in range(count):
        brand, model, electric = draw.choice(CARS)
        earliest = add_years(who.born, 18)
        registered = earliest + timedelta(days=draw.randrange(max((today - earliest).days, 1)))
        registered = max(registered, today - timedelta(days=365 * 8))
        age = (today - registered).days // 365
        due = add_years(registered, 6 if age < 6 else (age // 2 + 1) * 2 if age < 10 else age + 1)
        found.append({"plate_no": _plate(draw, who.city[2], electric),
                      "plate_type": "52" if electric else "02", "plate_type_name": "小型新能源汽车" if electric else "小型汽车",
                      "vehicle_type": "小型轿车", "brand": brand, "model": model,
                      "energy": "纯电动" if electric and brand != "比亚迪牌" else "插电式混合动力" if electric else "汽油",
                      "colour": draw.choice(("白", "黑", "灰", "蓝", "红")), "registered_on": registered.isoformat(),
                      "inspection_valid_until": due.isoformat(), "status": "A", "status_name": "正常",
                      "owner_authority": who.city[3]})
    return found


def vehicles(id_number: str, today: date, body: dict[str, Any]) -> dict[str, Any]:
    items = vehicles_of(person(id_number, today), today)
    return {"count": len(items), "items": items, "sample": True}


def _violations_of(who: Person, today: date, settled: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    cars = vehicles_of(who, today)
    a = int.from_bytes(hashlib.sha256(f"traffic_violations:{who.id_number}".encode()).digest()[:4], "big")
    count = [0, 0, 0, 1, 1, 2][a % 6] if cars else 0  # most people have none
    draw = seeded(who.id_number, "tpb-violations")
    items = []
    for n in range(count):
        code, offence, fine, points = OFFENCES[n % 2]
        when = datetime.combine(today, datetime.min.time(), CHINA_TZ) - timedelta(
            days=draw.randint(3, 60), minutes=draw.randint(6 * 60, 22 * 60))
        reference = f"TV{a % 10 ** 10:010d}{n}"
        paid = settled.get(reference, {}).get("status") == "paid"
        items.append({"reference": reference, "plate_no": cars[n % len(cars)]["plate_no"],
                      "occurred_at": when.isoformat(timespec="minutes"), "place": PLACES.get(who.city[2],
                      PLACES["A"])[n % 2], "offence_code": code, "offence": offence, "fine_fen": fine, "points": points,
                      "authority": who.city[3], "decided_on": (when + timedelta(days=2)).date().isoformat(),
                      "pay_by": (when + timedelta(days=17)).date().isoformat(),
                      "status": "paid" if paid else "unpaid", "status_name": "已缴款" if paid else "未缴款"})
    return items


def violations(id_number: str, today: date, body: dict[str, Any],
               settled: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Violations with a decision (已处理未缴款 and paid ones); `count`, `fines_fen` and `points` are of the unpaid."""
    items = _violations_of(person(id_number, today), today, settled or {})
    unpaid = [i for i in items if i["status"] == "unpaid"]
    return {"count": len(unpaid), "fines_fen": sum(i["fine_fen"] for i in unpaid),
            "points": sum(i["points"] for i in unpaid), "items": items, "sample": True}


def licence_status_name(status: str) -> str:
    """The wording of a status of one or more codes ("DH": 暂扣、违法未处理); ValueError for an unknown code."""
    if not status or len(set(status)) != len(status) or any(code not in LICENCE_STATUSES for code in status):
        raise ValueError(f"status: one or more of the codes {''.join(LICENCE_STATUSES)}, each once")
    return "、".join(LICENCE_STATUSES[code] for code in status)


def driving_licence(id_number: str, today: date, body: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """The licence, `status` A (正常) unless 交管 recorded another for this person (a test sets it)."""
    who = person(id_number, today)
    draw = seeded(id_number, "tpb-licence")
    if who.age(today) < 18 or draw.random() >= 0.75:
        return {"holds_licence": False, "sample": True}
    first = add_years(who.born, 18) + timedelta(days=draw.randrange(365 * 12))
    first = min(first, today - timedelta(days=30))
    code, name = draw.choices([(c, n) for c, n, _ in LICENCE_CLASSES], weights=[w for *_, w in LICENCE_CLASSES])[0]
    renewals = [first, add_years(first, 6), add_years(first, 16)]
    valid_from = max(d for d in renewals if d <= today)
    validity = {0: "6年", 1: "10年", 2: "长期"}[renewals.index(valid_from)]
    cycle_start = max(add_years(first, y) for y in range(0, 80) if add_years(first, y) <= today)
    points = sum(v["points"] for v in _violations_of(who, today, {}) if v["occurred_at"][:10] >= cycle_start.isoformat())
    return {"holds_licence": True, "licence": {
        "file_no": f"{who.city[0]}{draw.randrange(10 ** 8):08d}", "class": code, "class_name": name,
        "first_issued_on": first.isoformat(), "valid_from": valid_from.isoformat(), "validity": validity,
        "valid_until": None if validity == "长期" else add_years(valid_from, 6 if validity == "6年" else 10).isoformat(),
        "status": status or "A", "status_name": licence_status_name(status or "A"), "points": points, "points_cycle_ends": add_years(cycle_start, 1).isoformat(),
        "issuing_authority": f"广东省{who.city[3]}"}, "sample": True}


def settle(id_number: str | None, today: date, body: dict[str, Any],
           settled: dict[str, dict[str, Any]], now: float) -> dict[str, Any]:
    """Write a fine off as paid, or due again after the payment was reversed (idempotent): the body gives
    `decision_number` and `action` ("paid" or "reversed"), with `payment_id` and `amount_fen` when paid.
    With a subject, the decision must be one of theirs (UnknownSubject otherwise)."""
    number, action = body.get("decision_number"), body.get("action")
    if not isinstance(number, str) or not DECISION_NUMBER.fullmatch(number):
        raise ValueError("decision_number must be a decision number (TV and eleven digits)")
    if action not in ("paid", "reversed"):
        raise ValueError("action must be paid or reversed")
    amount = body.get("amount_fen")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0):
        raise ValueError("amount_fen must be a positive whole number of fen")
    if id_number is not None:
        items = _violations_of(person(id_number, today), today, {})
        if not any(i["reference"] == number for i in items):
            raise UnknownSubject("no such decision for this subject")
        fine = next(i["fine_fen"] for i in items if i["reference"] == number)
        if amount is not None and amount != fine:
            raise ValueError(f"amount_fen {amount} is not the fine of {fine}")
    at = datetime.fromtimestamp(now, CHINA_TZ).isoformat(timespec="seconds")
    previous = settled.get(number)
    if action == "paid" and not (previous and previous["status"] == "paid"):
        settled[number] = {"status": "paid", "at": at, "payment_id": str(body.get("payment_id", ""))[:64]}
    elif action == "reversed" and previous and previous["status"] == "paid":
        settled[number] = {"status": "unpaid", "at": at, "payment_id": previous["payment_id"]}
    record = settled.get(number, {"status": "unpaid", "at": None})
    return {"decision_number": number, "status": record["status"],
            "status_name": "已缴款" if record["status"] == "paid" else "未缴款", "recorded_at": record["at"],
            "sample": True}

