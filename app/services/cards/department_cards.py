"""The home cards of 住房公积金, 社会保险, 交通违法, 医疗保障 and 养老金资格认证 read from the departments themselves,
through the data exchange (docs/exchange.md), when the exchange registry registers their service. (水电燃气 bills
come from the utility companies' billing systems, which are not on the government exchange.)

Each adapter is a `DepartmentBackend`: it asks its department service for the citizen's records, by the ID
number the identity authority confirmed (实名), with the purpose `home_card`, and turns the department's reply
into the facts the card words today (the shapes of the in-process samples in backends.py). Whatever gives no
data (no verified ID number, a department that is down or refuses, a reply that does not verify or has another
shape) is a `BackendError`, so the cards' timeout, last good value and circuit breaker apply as to any backend.

The traffic police adapter also tells 交管 when a fine is paid through us or a full refund reverses that
(settlements/v1, purpose `settlement`): a write, never sent twice by the exchange client; the payments settle
job tells it again later when it could not be told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from app.accounts.service import verified_id_number
from app.departments.service import (HPF_ACCOUNT, HRSS_PENSION_CERTIFICATION, HRSS_RIGHTS_RECORD, NHSA_MEDICAL_ACCOUNT,
                                     TPB_SETTLEMENTS, TPB_VIOLATIONS)
from app.integrations.exchange.client import ExchangeError
from app.services.cards.backends import BackendError, DepartmentBackend, Facts

if TYPE_CHECKING:
    from app.integrations.exchange.client import ExchangeClient

IdNumberOf = Callable[[str], Awaitable[str | None]]  # a citizen id -> their verified ID number, or None

HPF_STATES = {"normal": "paying", "sealed": "sealed", "none": "none"}  # 正常, 封存, 未开户


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def _fen(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("an amount in fen is a whole number, not negative")
    return value


class ExchangeCard:
    """One card read from one department service. Subclasses name the card and service and map the reply."""

    name = ""
    service = ""

    def __init__(self, exchange: ExchangeClient, id_number_of: IdNumberOf, purpose: str = "home_card") -> None:
        self.exchange = exchange
        self.id_number_of = id_number_of
        self.purpose = purpose

    async def fetch(self, citizen_id: str) -> Facts:
        id_number = await self.id_number_of(citizen_id)
        if id_number is None:
            raise BackendError(f"{self.name}: the citizen has no verified ID number to ask by")
        reply = await self._call(self.service, citizen_id, self.purpose, {"subject": {"id_number": id_number}})
        try:
            return self.facts(reply)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BackendError(f"{self.name}: the department's reply is not of the published shape") from None

    async def _call(self, service: str, citizen_id: str, purpose: str, body: dict[str, Any],
                    read: bool = True) -> dict[str, Any]:
        try:
            return await self.exchange.call(service, citizen_id, purpose, body, read=read)
        except ExchangeError as error:  # fault types only: no personal data in the message
            raise BackendError(f"{self.name}: {type(error).__name__} {error.fault}") from error

    def facts(self, reply: dict[str, Any]) -> Facts:
        raise NotImplementedError


class ProvidentFundCard(ExchangeCard):
    """住房公积金 account (账户): balance, monthly deposit (单位 + 个人) and state."""

    name, service = "provident_fund", HPF_ACCOUNT

    def facts(self, reply: dict[str, Any]) -> Facts:
        sample = reply.get("sample") is True
        if reply["has_account"] is not True:
            return {"balance": 0.0, "monthly_deposit": 0.0, "state": "none", "sample": sample}
        return {"balance": _yuan(_fen(reply["balance_fen"])), "monthly_deposit": _yuan(_fen(reply["monthly_deposit_fen"])),
                "state": HPF_STATES.get(reply["status"], "other"), "sample": sample}


class SocialSecurityCard(ExchangeCard):
    """社会保险 from the personal rights record (个人权益记录): pension months paid and the personal account."""

    name, service = "social_security", HRSS_RIGHTS_RECORD

    def facts(self, reply: dict[str, Any]) -> Facts:
        pension = reply["pension"]
        months = _fen(pension["months_total"])  # a count: the same check as an amount
        return {"months_paid": months, "pension_balance": _yuan(_fen(pension["personal_account_fen"])),
                "sample": reply.get("sample") is True}


class TrafficViolationsCard(ExchangeCard):
    """交通违法: the violations still to pay (未缴款); paid ones are not due."""

    name, service = "traffic_violations", TPB_VIOLATIONS

    def facts(self, reply: dict[str, Any]) -> Facts:
        items: list[dict[str, Any]] = [
            {"reference": str(i["reference"]), "fine_fen": _fen(i["fine_fen"]), "points": _fen(i["points"]),
             "offence": str(i["offence"]), "place": str(i["place"])}
            for i in reply["items"] if i["status"] == "unpaid"]
        fines_fen = sum(i["fine_fen"] for i in items)
        return {"count": len(items), "fines": fines_fen // 100 if fines_fen % 100 == 0 else _yuan(fines_fen),
                "points": sum(i["points"] for i in items), "items": items, "sample": reply.get("sample") is True}

    async def settlement_paid(self, number: str, citizen_id: str, amount_fen: int, payment_id: str) -> None:
        """交管 writes the fine off as paid by our payment (销账)."""
        await self._settle(citizen_id, {"decision_number": number, "action": "paid", "amount_fen": amount_fen,
                                        "payment_id": payment_id}, "paid")

    async def settlement_reversed(self, number: str, citizen_id: str) -> None:
        """交管 has the fine due again: a full refund reversed our payment of it."""
        await self._settle(citizen_id, {"decision_number": number, "action": "reversed"}, "unpaid")

    async def _settle(self, citizen_id: str, body: dict[str, Any], expected: str) -> None:
        # The decision number is enough to find the fine; the ID number, when verified, lets 交管 check it is theirs.
        id_number = await self.id_number_of(citizen_id)
        if id_number is not None:
            body["subject"] = {"id_number": id_number}
        reply = await self._call(TPB_SETTLEMENTS, citizen_id, "settlement", body, read=False)
        if reply.get("decision_number") != body["decision_number"] or reply.get("status") != expected:
            raise BackendError(f"{self.name}: the department did not record the settlement as {expected}")


class MedicalInsuranceCard(ExchangeCard):
    """医疗保障: the personal medical account (医保个人账户) balance; the residents' scheme has none (0)."""

    name, service = "medical_insurance", NHSA_MEDICAL_ACCOUNT

    def facts(self, reply: dict[str, Any]) -> Facts:
        return {"balance": _yuan(_fen(reply["personal_account_fen"])), "sample": reply.get("sample") is True}


class PensionCertificationCard(ExchangeCard):
    """养老金资格认证: whether a pensioner's check for this year is done; someone drawing no pension needs none."""

    name, service = "pension_certification", HRSS_PENSION_CERTIFICATION

    def facts(self, reply: dict[str, Any]) -> Facts:
        receiving = reply["receiving_pension"]
        if not isinstance(receiving, bool) or not isinstance(reply["certified_this_year"], bool):
            raise ValueError("receiving_pension and certified_this_year are true or false")
        return {"receiving": receiving, "certified": reply["certified_this_year"], "due_by": "12-31",
                "sample": reply.get("sample") is True}


CARDS: tuple[type[ExchangeCard], ...] = (ProvidentFundCard, SocialSecurityCard, TrafficViolationsCard,
                                         MedicalInsuranceCard, PensionCertificationCard)


def exchange_backends(exchange: ExchangeClient | None, purpose: str = "home_card",
                      id_number_of: IdNumberOf | None = None) -> dict[str, DepartmentBackend]:
    """The cards whose department service the exchange registry registers, by card name (none without an
    exchange). `purpose` is why they are read: `home_card` for the cards, `citizen_request` when the citizen
    asked (their fines to pay)."""
    if exchange is None:
        return {}
    if id_number_of is None:
        platform = exchange.platform

        async def id_number_of(citizen_id: str) -> str | None:
            return await verified_id_number(platform, citizen_id)

    return {card.name: card(exchange, id_number_of, purpose) for card in CARDS
            if exchange.registration(card.service) is not None}


__all__ = ["ExchangeCard", "MedicalInsuranceCard", "PensionCertificationCard", "ProvidentFundCard", "SocialSecurityCard", "TPB_SETTLEMENTS", "TrafficViolationsCard",
           "exchange_backends"]
