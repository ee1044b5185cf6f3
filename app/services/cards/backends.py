"""Adapters to the department systems behind the home-screen service cards (服务卡片).

Each department backend (住房公积金, 社会保险, 医疗保障, 交通违法, 水电燃气) is reached through
`DepartmentBackend.fetch(citizen_id)`, which answers plain facts (numbers, states) and never
display text: the card layer words them in the reader's language. The stand-ins behave as a
remote system would be seen from outside (latency, random failures, a hang or an error on
demand), so the timeouts, stale
values and circuit breaker around them are tested for real.

The health-code and ID-voucher cards read our own services through the same interface.
All figures the stand-ins return are sample data derived from the citizen id.

With the data exchange configured (APP_EXCHANGE_REGISTRY; `make run` does), the department cards read the
departments through it instead (app/services/department_cards.py); these in-process stand-ins then serve only
水电燃气, whose billers are not on the government exchange, and any card whose service is not registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any, Awaitable, Callable, Iterable, Protocol, runtime_checkable

from app.errors import NotFound

Facts = dict[str, Any]


Settled = Callable[[str], Awaitable[set[str]]]  # a citizen -> the fine and bill numbers paid


class BackendError(RuntimeError):
    """The department system did not give a usable answer."""


class DepartmentBackend(Protocol):
    name: str

    async def fetch(self, citizen_id: str) -> Facts:
        """The citizen's current facts for one card, or raise BackendError."""


@runtime_checkable
class SettlementReversals(Protocol):
    """A department that writes off fines or bills paid through us is told when a full refund reverses
    one of those settlements: the fine or bill is due again."""

    async def settlement_reversed(self, number: str, citizen_id: str) -> None:
        """Record that `number` (a decision or bill number of the citizen `citizen_id`) is no longer paid, or
        raise BackendError."""


@runtime_checkable
class SettlementPayments(Protocol):
    """A department that is told at once when a fine or bill of its own is paid through us (销账). One that is
    not learns of it by its own settlement run; until then the cards leave what we settled out."""

    async def settlement_paid(self, number: str, citizen_id: str, amount_fen: int, payment_id: str) -> None:
        """Record that `number` of the citizen `citizen_id` is paid (`amount_fen` by our payment `payment_id`),
        or raise BackendError."""


def _numbers(citizen_id: str, salt: str, count: int) -> list[int]:
    """Stable pseudo-random numbers per citizen and department: the same citizen sees the same sample data."""
    digest = hashlib.sha256(f"{salt}:{citizen_id}".encode()).digest()
    return [int.from_bytes(digest[i * 4:i * 4 + 4], "big") for i in range(count)]


# -- sample data (示例数据), realistic in size for a Guangdong resident ---------------------------------

def provident_fund_sample(citizen_id: str) -> Facts:
    """住房公积金: account balance and the monthly deposit (employer and employee together)."""
    a, b = _numbers(citizen_id, "provident_fund", 2)
    return {"balance": round(8_000 + a % 14_200_000 / 100, 2), "monthly_deposit": round(600 + b % 360_000 / 100, 2),
            "state": "paying", "sample": True}


def social_security_sample(citizen_id: str) -> Facts:
    """社会保险: months of pension contributions and the personal pension account."""
    a, b = _numbers(citizen_id, "social_security", 2)
    return {"months_paid": 12 + a % 300, "pension_balance": round(3_000 + b % 9_000_000 / 100, 2), "sample": True}


def medical_insurance_sample(citizen_id: str) -> Facts:
    """医疗保障: the personal medical account (医保个人账户) balance."""
    (a,) = _numbers(citizen_id, "medical_insurance", 1)
    return {"balance": round(a % 1_200_000 / 100, 2), "sample": True}


def traffic_violations_sample(citizen_id: str) -> Facts:
    """交通违法: open violations of the citizen's vehicles, fines and licence points."""
    (a,) = _numbers(citizen_id, "traffic_violations", 1)
    count = [0, 0, 0, 1, 1, 2][a % 6]  # most people have none
    # Each open violation has a stable decision number (处罚决定书编号) that a payment settles.
    items = [{"reference": f"TV{a % 10 ** 10:010d}{n}", "fine_fen": 20_000, "points": 3,
              "offence": ["机动车违反禁令标志指示", "驾驶机动车违反道路交通信号灯通行"][n % 2],
              "place": ["广州市天河区天河路体育中心段", "广州市越秀区环市东路"][n % 2]} for n in range(count)]
    return {"count": count, "fines": 200 * count, "points": 3 * count, "items": items, "sample": True}


def utility_bills_sample(citizen_id: str) -> Facts:
    """水电燃气: this month's bills still to pay, in yuan."""
    a, b, c = _numbers(citizen_id, "utility_bills", 3)
    facts: Facts = {"electricity": round(80 + a % 30_000 / 100, 2), "water": round(b % 9_000 / 100, 2) if b % 3 else 0.0,
                    "gas": round(c % 12_000 / 100, 2) if c % 2 else 0.0, "sample": True}
    # Each bill due has a stable bill number and its amount in whole fen (yuan figures above are for the card).
    fen = {"electricity": 8_000 + a % 30_000, "water": b % 9_000 if b % 3 else 0, "gas": c % 12_000 if c % 2 else 0}
    facts["items"] = [{"reference": f"UB{kind[:2].upper()}{seed % 10 ** 10:010d}", "kind": kind, "amount_fen": fen[kind]}
                      for kind, seed in (("electricity", a), ("water", b), ("gas", c)) if fen[kind]]
    return facts


def pension_certification_sample(citizen_id: str) -> Facts:
    """养老金资格认证: whether this year's pension eligibility check (年度资格认证) is done, and by when."""
    (a,) = _numbers(citizen_id, "pension_certification", 1)
    return {"certified": a % 3 != 0, "due_by": "12-31", "sample": True}


SAMPLES: dict[str, Callable[[str], Facts]] = {
    "pension_certification": pension_certification_sample,
    "provident_fund": provident_fund_sample,
    "social_security": social_security_sample,
    "medical_insurance": medical_insurance_sample,
    "traffic_violations": traffic_violations_sample,
    "utility_bills": utility_bills_sample,
}


class StandInBackend:
    """A department system stand-in. `mode` "ok" answers (after `latency`, failing at `failure_rate`),
    "hang" never answers in time, "fail" answers an error. `calls` counts every request it received;
    `reversals` lists the numbers it was told are due again after a full refund, in order."""

    def __init__(self, name: str, sample: Callable[[str], Facts], latency: float = 0.02, failure_rate: float = 0.0,
                 mode: str = "ok", hang_seconds: float = 3600.0, rng: random.Random | None = None) -> None:
        self.name = name
        self.sample = sample
        self.latency = latency
        self.failure_rate = failure_rate
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.calls = 0
        self.reversals: list[str] = []
        self._rng = rng or random.Random()

    async def fetch(self, citizen_id: str) -> Facts:
        self.calls += 1
        await self._answer()
        return self.sample(citizen_id)

    async def settlement_reversed(self, number: str, citizen_id: str) -> None:
        await self._answer()
        self.reversals.append(number)

    async def _answer(self) -> None:
        """Behave as the remote system would before it answers: wait, hang or fail as set."""
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.mode == "fail" or (self.failure_rate and self._rng.random() < self.failure_rate):
            raise BackendError(f"{self.name} answered 503")


def without_settled(name: str, facts: Facts, settled: set[str]) -> Facts:
    """A department's facts without the fines and bills paid through us since (the department writes
    them off on its next settlement run; until then the card must not show them as due)."""
    items = [item for item in facts["items"] if item["reference"] not in settled]
    if len(items) == len(facts["items"]):
        return facts
    if name == "traffic_violations":
        return {**facts, "items": items, "count": len(items), "fines": sum(i["fine_fen"] for i in items) // 100,
                "points": sum(i["points"] for i in items)}
    if name == "utility_bills":
        left = {item["kind"] for item in items}
        return {**facts, "items": items, **{kind: 0.0 for kind in ("electricity", "water", "gas") if kind not in left}}
    return facts


def stand_in_backends(latency: float, failure_rate: float = 0.0, hang: Iterable[str] = ()) -> dict[str, StandInBackend]:
    """One stand-in per department; names in `hang` start hanging (a setting for demos and benchmarks)."""
    hanging = set(hang)
    unknown = hanging - SAMPLES.keys()
    if unknown:
        raise ValueError(f"unknown department backend(s): {', '.join(sorted(unknown))}; known: {', '.join(SAMPLES)}")
    return {name: StandInBackend(name, sample, latency, failure_rate, mode="hang" if name in hanging else "ok")
            for name, sample in SAMPLES.items()}


# -- our own services, read through the same interface ---------------------------------------------------

class _HasStatus(Protocol):
    async def status(self, citizen_id: str) -> Any: ...


class _HasCurrentVoucher(Protocol):
    async def current(self, citizen_id: str) -> Any: ...


class HealthCodeSource:
    """The health-code card (健康码): the current colour from the health-code service, no remote call."""

    name = "health_code"

    def __init__(self, health: _HasStatus) -> None:
        self.health = health

    async def fetch(self, citizen_id: str) -> Facts:
        status = await self.health.status(citizen_id)
        return {"colour": status.colour}


class VoucherSource:
    """The ID-voucher card (居民身份电子凭证): whether the citizen holds one and whether it is locked."""

    name = "id_voucher"

    def __init__(self, vouchers: _HasCurrentVoucher) -> None:
        self.vouchers = vouchers

    async def fetch(self, citizen_id: str) -> Facts:
        try:
            voucher = await self.vouchers.current(citizen_id)
        except NotFound:
            return {"state": "none"}
        return {"state": voucher.status}


def internal_sources(health: _HasStatus, vouchers: _HasCurrentVoucher) -> dict[str, DepartmentBackend]:
    return {"health_code": HealthCodeSource(health), "id_voucher": VoucherSource(vouchers)}


__all__ = ["BackendError", "DepartmentBackend", "Facts", "SettlementPayments", "SettlementReversals", "StandInBackend",
           "stand_in_backends", "internal_sources", "SAMPLES"]
