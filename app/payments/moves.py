"""Moving a payment from one state to another (see `rules.TRANSITIONS`).

Each move is one conditional UPDATE (`WHERE state = <from>`) with its event in the same transaction, so a
notification and a query racing to settle a payment make one move. Every move is audited.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Awaitable, Callable

from tortoise.transactions import in_transaction

from app import audit
from app.notifications.service import notify
from app.payments.context import PaymentsContext
from app.payments.models import Payment, PaymentEvent
from app.payments.rules import TRANSITIONS, StateConflict

log = logging.getLogger("app.payments")

WithMove = Callable[[Any], Awaitable[None]]


async def move(context: PaymentsContext, payment_id: str, from_state: str, to_state: str, *, actor: str,
               actor_type: str, note: str = "", **changes: Any) -> None:
    """A move that must happen: 409 PAYMENT_STATE_CONFLICT when it is not allowed or another moved first."""
    if not await try_move(context, payment_id, from_state, to_state, note, actor=actor, actor_type=actor_type,
                          **changes):
        raise StateConflict((await Payment.get(id=payment_id)).state, to_state)


async def try_move(context: PaymentsContext, payment_id: str, from_state: str, to_state: str, note: str = "", *,
                   actor: str = "payment_provider", actor_type: str = "system", with_move: WithMove | None = None,
                   **changes: Any) -> bool:
    """One allowed move, written only if nobody moved the payment first; an illegal one is refused.
    `with_move(conn)` writes what must commit together with the move, in its transaction."""
    if to_state not in TRANSITIONS.get(from_state, ()):
        log.info("payment %s: move %s -> %s refused", payment_id, from_state, to_state)
        return False
    clock = context.platform.clock
    now = clock.now()
    async with in_transaction() as conn:
        moved = await Payment.filter(id=payment_id, state=from_state).using_db(conn).update(
            state=to_state, updated_at=now, **changes)
        if not moved:
            return False
        await PaymentEvent.create(payment_id=payment_id, from_state=from_state, to_state=to_state, actor=actor,
                                  actor_type=actor_type, note=note[:200], at=now, using_db=conn)
        if with_move is not None:
            await with_move(conn)
    payment = await Payment.get(id=payment_id)
    await audit_move(context, payment, from_state, to_state, actor=actor, actor_type=actor_type)
    if to_state in ("failed", "expired"):
        await notify(context.platform, payment.citizen_id, f"payment_{to_state}", {"description": payment.description})
    return True


async def write_move(conn: Any, payment: Payment, to_state: str, note: str, now: datetime, *,
                     with_move: WithMove | None = None) -> bool:
    """A move of a payment already read (and locked) in `conn`'s transaction, with its event."""
    if to_state not in TRANSITIONS.get(payment.state, ()):
        log.info("payment %s: move %s -> %s refused", payment.id, payment.state, to_state)
        return False
    if not await Payment.filter(id=payment.id, state=payment.state).using_db(conn).update(
            state=to_state, updated_at=now):
        return False
    await PaymentEvent.create(payment_id=payment.id, from_state=payment.state, to_state=to_state,
                              actor="payment_provider", actor_type="system", note=note[:200], at=now, using_db=conn)
    if with_move is not None:
        await with_move(conn)
    return True


async def audit_move(context: PaymentsContext, payment: Payment, from_state: str | None, to_state: str, *,
                     actor: str, actor_type: str) -> None:
    """The audit entry of a move (`from_state` None for a payment just created)."""
    await audit.record_event(context.platform.clock, actor=actor, actor_type=actor_type, action=f"payment_{to_state}",
                             subject_id=payment.citizen_id,
                             attributes={"payment_id": payment.id, "reference": payment.reference,
                                         "amount_fen": payment.amount_fen, "from": from_state, "to": to_state})
