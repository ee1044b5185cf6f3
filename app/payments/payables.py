"""What a citizen can pay (待缴费): application fees, traffic fines and utility bills, with what is owed.

The amount owed always comes from here (the fee table, the department backends), never from the
client: a payment for a different amount is refused. References are `<kind>:<id>`:

- `application_fee:<application id>`: the fee (in fen, `ItemFee`) of a fee-bearing item the citizen applied for;
- `traffic_fine:<decision number>`: an open violation from the traffic police backend (交通违法);
- `utility_bill:<bill number>`: a bill due from the utilities backend (水电燃气).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Literal, Mapping

from tortoise.exceptions import IntegrityError

from app.db import column
from app.errors import NotFound, Unavailable
from app.integrations.exchange.client import DepartmentUnavailable, PurposeNotRegistered, ServiceNotRegistered
from app.payments.models import ItemFee, PaidReference
from app.services.cards.service import BackendError, DepartmentBackend, SettlementPayments, SettlementReversals
from app.integrations.exchange.replies import department_error, exchange_error_of
from app.services.applications.service import Application
from app.services.catalogue.service import ServiceItem

log = logging.getLogger("app.payments")
KINDS = ("application_fee", "traffic_fine", "utility_bill")
Telling = Literal["told", "later", "refused"]  # what became of telling a department of a settlement
CARD_OF_KIND = {"traffic_fine": "traffic_violations", "utility_bill": "utility_bills"}  # department and its card
SAMPLE_FEES = Path(__file__).with_name("sample_fees.json")
BACKEND_TIMEOUT = 3.0
BILL_NAMES = {"electricity": "电费", "water": "水费", "gas": "燃气费"}


@dataclass(frozen=True)
class Payable:
    """One thing owed (应缴款项), amount in fen."""

    reference: str
    kind: str
    amount_fen: int
    description: str
    paid: bool = False


def split_reference(reference: str) -> tuple[str, str]:
    kind, _, ident = reference.partition(":")
    if kind not in KINDS or not ident or len(reference) > 80:
        raise NotFound("PAYABLE_NOT_FOUND")
    return kind, ident


async def seed_fees(path: Path = SAMPLE_FEES) -> int:
    """Sample fees for fee-bearing catalogue items; an existing row (an admin edit) is never overwritten."""
    data = json.loads(path.read_text(encoding="utf-8"))
    created = 0
    for item_id, fee in data["fees"].items():
        if await ServiceItem.exists(id=item_id) and not await ItemFee.exists(item_id=item_id):
            try:
                await ItemFee.create(item_id=item_id, amount_fen=int(fee["amount_fen"]), basis=fee["basis"], sample=True)
            except IntegrityError:
                continue  # another worker of the same start inserted it first
            created += 1
    return created


class Payables:
    def __init__(self, backends: Mapping[str, DepartmentBackend]) -> None:
        self.backends = backends

    async def of(self, citizen_id: str) -> list[Payable]:
        """Everything the citizen owes or has paid, fees first; a backend that does not answer is left out."""
        found = await self._fees(citizen_id)
        for kind in ("traffic_fine", "utility_bill"):
            try:
                found += await self._from_backend(citizen_id, kind)
            except Unavailable:
                continue  # the others still show; the card for that department says it is unavailable
        paid: set[str] = set(await column(PaidReference.filter(reference__in=[p.reference for p in found]), "reference"))
        return [Payable(p.reference, p.kind, p.amount_fen, p.description, p.reference in paid) for p in found]

    async def resolve(self, citizen_id: str, reference: str) -> Payable:
        """The one payable of this citizen under `reference`; another citizen's is simply not found."""
        kind, _ = split_reference(reference)
        try:
            candidates = await self._fees(citizen_id) if kind == "application_fee" else \
                await self._from_backend(citizen_id, kind)
        except Unavailable as unavailable:  # the citizen is paying: say what the department's exchange said
            answered = exchange_error_of(unavailable)
            if answered is None:
                raise
            raise department_error(answered) from None
        for payable in candidates:
            if payable.reference == reference:
                return payable
        raise NotFound("PAYABLE_NOT_FOUND")

    async def tell_paid(self, reference: str, citizen_id: str, amount_fen: int, payment_id: str) -> Telling:
        """Tell the department behind a fine or bill that our payment settled it: "told" once told, or when there
        is nobody to tell now (an application fee, or a department that learns of payments by its own settlement
        run: the in-process stand-ins; the cards leave what we settled out until then); "later" when it could
        not be reached; "refused" when it answered that it will not record it (asking again would not help)."""
        kind, number = split_reference(reference)
        backend = self.backends.get(CARD_OF_KIND.get(kind, ""))
        if not isinstance(backend, SettlementPayments):
            return "told"
        return await self._tell(kind, "settlement", backend.settlement_paid(number, citizen_id, amount_fen, payment_id))

    async def tell_reversed(self, reference: str, citizen_id: str) -> Telling:
        """Tell the department behind a fine or bill of the citizen that a full refund reversed its settlement
        (it is due again); as tell_paid. An application fee has no department system to tell: "told" at once."""
        kind, number = split_reference(reference)
        if kind not in CARD_OF_KIND:
            return "told"
        backend = self.backends.get(CARD_OF_KIND[kind])
        if not isinstance(backend, SettlementReversals):
            log.warning("the %s department cannot be told of reversed settlements", kind)
            return "later"
        return await self._tell(kind, "reversed settlement", backend.settlement_reversed(number, citizen_id))

    @staticmethod
    async def _tell(kind: str, what: str, telling: Awaitable[None]) -> Telling:
        try:
            await asyncio.wait_for(telling, BACKEND_TIMEOUT)
        except (BackendError, asyncio.TimeoutError) as failure:
            exchanged = exchange_error_of(failure)
            # Only the department's own answer is a refusal; our registry refusing before sending is our
            # configuration, put right by an operator, after which the settle job tells the department.
            if exchanged is not None and not isinstance(exchanged, (DepartmentUnavailable, ServiceNotRegistered,
                                                                     PurposeNotRegistered)):
                log.warning("the %s department refused a %s: %s", kind, what, exchanged.fault)
                return "refused"
            log.warning("the %s department was not told of a %s: %s", kind, what, failure)
            return "later"
        return "told"

    async def _fees(self, citizen_id: str) -> list[Payable]:
        rows = await Application.filter(citizen_id=citizen_id).exclude(status="rejected").order_by("-created_at").limit(50)
        fees = {f.item_id: f for f in await ItemFee.filter(item_id__in={r.item_id for r in rows})}
        items = {i.id: i for i in await ServiceItem.filter(id__in=set(fees))}
        return [Payable(f"application_fee:{r.id}", "application_fee", fees[r.item_id].amount_fen,
                        f"{items[r.item_id].name} 办件费用（{r.id[-6:]}）")
                for r in rows if r.item_id in fees]

    async def _from_backend(self, citizen_id: str, kind: str) -> list[Payable]:
        backend = self.backends.get(CARD_OF_KIND[kind])
        if backend is None:
            raise Unavailable("PAYABLES_UNAVAILABLE")
        try:
            facts: dict[str, Any] = await asyncio.wait_for(backend.fetch(citizen_id), BACKEND_TIMEOUT)
        except (BackendError, asyncio.TimeoutError) as failure:
            raise Unavailable("PAYABLES_UNAVAILABLE") from failure
        if kind == "traffic_fine":
            return [Payable(f"traffic_fine:{i['reference']}", kind, int(i["fine_fen"]),
                            f"交通违法罚款 {i['reference']}（{i['offence']}）") for i in facts.get("items", [])]
        return [Payable(f"utility_bill:{i['reference']}", kind, int(i["amount_fen"]),
                        f"{BILL_NAMES.get(i['kind'], i['kind'])} {i['reference']}") for i in facts.get("items", [])]


async def settled_numbers(citizen_id: str) -> set[str]:
    """The fine and bill numbers of this citizen that are paid: what the departments are told (销账)."""
    references: list[str] = await column(PaidReference.filter(citizen_id=citizen_id), "reference")
    return {split_reference(r)[1] for r in references if not r.startswith("application_fee:")}
