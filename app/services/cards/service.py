"""Home-screen service cards (首页服务卡片): the card registry, the citizen's pins, live summaries.

A card type names its provider (a department backend, or one of our own services), how long
a fetched value stays fresh (TTL) and how to word it. The home screen asks every pinned
card's provider at once, each under its own timeout, so one slow or failing department
never slows or breaks the screen: a card falls back to its last good value, marked stale
with its time, or says it is temporarily unavailable. A circuit breaker per backend stops
calling a department that keeps failing until a cool-down has passed; its state lives in
the shared cache, so every worker agrees, and its time comes from the platform clock.

Stale-while-revalidate: for `card_stale_grace` seconds after its freshness a card shows its last
value at once, marked stale, while a background task refreshes it; a short lock in the shared
cache lets one worker refresh a citizen's card at a time, the others keep showing the stale value.
A refresh that got no answer is not tried again for the breaker's cool-down; meanwhile the card says it could
not be refreshed (暂时无法刷新) instead of that it is being refreshed. Past the grace window a request waits for the backend (up to the timeout) as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from tortoise.transactions import in_transaction

from app import metrics
from app.accounts.service import LEVEL_REAL_NAME, CitizenSnapshot, lock_citizen
from app.background import BackgroundTasks
from app.cache import get_json, set_json
from app.db import column
from app.errors import AppError, NotFound, echoed
from app.i18n import N_, translate
from app.platform import Platform
from app.services.cards.backends import DepartmentBackend as DepartmentBackend, Facts, Settled, without_settled
# The department backends other domains and the composition root use (payments settles fines through them).
from app.services.cards.backends import (BackendError as BackendError, SettlementPayments as SettlementPayments,
                                        SettlementReversals as SettlementReversals, StandInBackend as StandInBackend,
                                        internal_sources as internal_sources, stand_in_backends as stand_in_backends)
from app.services.cards.department_cards import exchange_backends as exchange_backends
from app.services.cards.models import CardPin
from app.single_flight import SingleFlight

log = logging.getLogger("app.cards")

STALE_KEEP = 7 * 24 * 3600  # a last good value is shown (marked stale) for up to a week
PINS_CACHE_TTL = 300
MARKER = "_chosen"  # a pin row (position -1) that records "this citizen chose their cards", even none
DEFAULT_PINS = ("health_code", "id_voucher", "social_security", "provident_fund")

Describe = Callable[[Facts, str], str]


def _yuan(amount: float) -> str:
    return f"¥{amount:,.2f}"


# -- how each card words its facts ---------------------------------------------------------------------------

COLOURS = {"green": N_("绿码"), "yellow": N_("黄码"), "red": N_("红码")}
VOUCHER_STATES = {
    "active": N_("已申领，可亮证使用"),
    "suspended": N_("已锁定，解锁后可使用"),
    "none": N_("未申领，完成人脸核验后可申领"),
}
NOTICES = {
    "stale": N_("暂时无法刷新，显示的是此前的数据"),
    "refreshing": N_("正在更新，显示的是此前的数据"),
    "unavailable": N_("暂时无法获取，请稍后再试"),
    "locked": N_("完成实名认证后可查看"),
}


def describe_health_code(facts: Facts, language: str) -> str:
    return translate(COLOURS.get(facts["colour"], COLOURS["green"]), language)


def describe_voucher(facts: Facts, language: str) -> str:
    return translate(VOUCHER_STATES.get(facts["state"], VOUCHER_STATES["none"]), language)


def describe_social_security(facts: Facts, language: str) -> str:
    return translate(N_("养老保险累计缴费 {months} 个月 · 个人账户 {balance}"),
                     language, months=facts["months_paid"], balance=_yuan(facts["pension_balance"]))


def describe_pension_certification(facts: Facts, language: str) -> str:
    if not facts.get("receiving", True):
        return translate(N_("您未领取养老金，无需资格认证"), language)
    if facts["certified"]:
        return translate(N_("本年度已认证，养老金按时发放"), language)
    return translate(N_("本年度尚未认证，请在 {due} 前完成刷脸认证"), language,
                     due={"en": "31 December"}.get(language, "12月31日"))


def describe_provident_fund(facts: Facts, language: str) -> str:
    return translate(N_("账户余额 {balance} · 月缴存 {monthly}"),
                     language, balance=_yuan(facts["balance"]), monthly=_yuan(facts["monthly_deposit"]))


def describe_medical_insurance(facts: Facts, language: str) -> str:
    return translate(N_("医保个人账户余额 {balance}"),
                     language, balance=_yuan(facts["balance"]))


def describe_traffic_violations(facts: Facts, language: str) -> str:
    if not facts["count"]:
        return translate(N_("暂无未处理的交通违法"), language)
    return translate(N_("未处理违法 {count} 条 · 罚款 {fines} · 记 {points} 分"),
                     language, count=facts["count"], fines=_yuan(facts["fines"]), points=facts["points"])


def describe_utility_bills(facts: Facts, language: str) -> str:
    names = {"electricity": N_("电费"), "water": N_("水费"), "gas": N_("燃气费")}
    due = [(kind, facts[kind]) for kind in names if facts.get(kind)]
    if not due:
        return translate(N_("本月暂无待缴账单"), language)
    parts = " · ".join(f"{translate(names[kind], language)} {_yuan(amount)}" for kind, amount in due)
    return translate(N_("本月待缴 {total}（{parts}）"),
                     language, total=_yuan(sum(amount for _, amount in due)), parts=parts)


# -- the registry --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CardType:
    """One kind of card: its title (a zh-Hans msgid), the backend that feeds it, how long a value stays fresh."""

    type: str
    heading: str
    backend: str
    ttl: int  # seconds a fetched value is shown without asking the backend again (0: ask every time)
    describe: Describe
    min_level: int = LEVEL_REAL_NAME  # every card shows personal records: 实名 first
    opens: str | None = None  # the API path of the service behind the card, which the app opens on a tap

    def title(self, language: str) -> str:
        return translate(self.heading, language)


class CardRegistry:
    """The card types citizens may pin, in the order the "add a card" list shows them."""

    def __init__(self, types: Iterable[CardType]) -> None:
        self._types = {t.type: t for t in types}

    def __contains__(self, card_type: object) -> bool:
        return card_type in self._types

    def get(self, card_type: str) -> CardType:
        try:
            return self._types[card_type]
        except KeyError:
            raise NotFound("CARD_TYPE_UNKNOWN", params={"card_type": echoed(card_type)}) from None

    def all(self) -> list[CardType]:
        return list(self._types.values())


REGISTRY = CardRegistry([
    # Our own services: a status read, never stale for long, so asked every time.
    CardType("health_code", N_("健康码"), "health_code", 0, describe_health_code,
             opens="/api/v1/health-code"),
    CardType("id_voucher", N_("居民身份电子凭证"), "id_voucher", 0,
             describe_voucher, opens="/api/v1/vouchers/current"),
    # Department records change monthly or less: minutes of freshness spare the departments.
    CardType("social_security", N_("社会保险"), "social_security", 3600,
             describe_social_security, opens="/api/v1/social-insurance"),
    CardType("pension_certification", N_("养老金资格认证"),
             "pension_certification", 3600, describe_pension_certification,
             opens="/api/v1/social-insurance"),
    CardType("provident_fund", N_("住房公积金"), "provident_fund", 600,
             describe_provident_fund, opens="/api/v1/provident-fund"),
    CardType("medical_insurance", N_("医疗保障"), "medical_insurance", 600,
             describe_medical_insurance),
    CardType("traffic_violations", N_("交通违法"), "traffic_violations", 300,
             describe_traffic_violations, opens="/api/v1/traffic/violations"),
    CardType("utility_bills", N_("水电燃气"), "utility_bills", 1800,
             describe_utility_bills, opens="/api/v1/payables"),
])


@dataclass(frozen=True)
class CardView:
    """What the home screen shows for one card. `status`: ok, stale, unavailable or locked."""

    type: str
    title: str
    summary: str
    status: str
    updated_at: datetime | None
    notice: str | None = None
    opens: str | None = None

    @property
    def stale(self) -> bool:
        return self.status == "stale"


def _value_key(card_type: str, citizen_id: str) -> str:
    """A citizen's card summary as last fetched. A citizen's card keys carry the citizen's id as hash tag
    (one slot of a Redis Cluster); every backend's breaker keys share one tag (`_breaker_key`): a home
    screen reads them all as two MGETs, to at most two nodes."""
    return f"card:v:{{{citizen_id}}}:{card_type}"


def _refresh_failed_key(card_type: str, citizen_id: str) -> str:
    """Holds the time a card's background refresh got no answer, for the breaker's cool-down."""
    return f"card:rf:{{{citizen_id}}}:{card_type}"


def _breaker_key(part: str, backend: str) -> str:
    """A card backend's breaker: `bo` open until, `bf` failures counted, `bp` the half-open trial taken."""
    return f"card:{part}:{{card-breakers}}:{backend}"


@dataclass(frozen=True)
class _Breaker:
    open_until: float | None  # set while open, and after the cool-down until a trial call succeeds
    failures: bool  # consecutive failures are being counted


class HomeCards:
    """The citizen's pinned cards (置顶卡片) and their live summaries."""

    def __init__(self, platform: Platform, backends: Mapping[str, DepartmentBackend],
                 registry: CardRegistry = REGISTRY, settled: Settled | None = None) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.backends = backends  # looked up per call, so a swapped backend takes effect at once
        self.registry = registry
        self.settled = settled  # fines and bills paid through us, not yet written off by their department
        self._settled_once: SingleFlight[set[str]] = SingleFlight()  # one query for a request's cards together
        self._refreshing = BackgroundTasks("card refresh")

    @property
    def refreshing(self) -> int:
        """How many background refreshes this worker has under way."""
        return len(self._refreshing)

    async def refreshed(self) -> None:
        """Wait until this worker's background refreshes have ended."""
        await self._refreshing.drained()

    async def close(self) -> None:
        """At server stop: cancel the background refreshes still running (their cards keep the stale value)."""
        await self._refreshing.close()

    # -- pins ------------------------------------------------------------------------------------------------
    async def pinned(self, citizen_id: str) -> list[str]:
        """The pinned card types in order; a citizen who never chose sees the default set."""
        cached = await get_json(self.platform.cache, f"card:pins:{citizen_id}")
        if cached is None:
            cached = await self._stored_pins(citizen_id)
            await set_json(self.platform.cache, f"card:pins:{citizen_id}", cached, ttl=PINS_CACHE_TTL)
        return [t for t in cached if t in self.registry]

    async def set_order(self, citizen_id: str, types: list[str]) -> list[str]:
        """Pin exactly `types`, in this order (unknown types and repeats refused)."""
        seen: set[str] = set()
        for card_type in types:
            if card_type not in self.registry:
                raise AppError("CARD_TYPE_UNKNOWN", status=422, params={"card_type": echoed(card_type)})
            if card_type in seen:
                raise AppError("CARD_TYPE_REPEATED", status=422, params={"card_type": card_type})
            seen.add(card_type)
        return await self._change(citizen_id, lambda current: list(types))

    async def pin(self, citizen_id: str, card_type: str) -> list[str]:
        """Add a card at the end; pinning a pinned card changes nothing."""
        self.registry.get(card_type)
        return await self._change(citizen_id, lambda current: current if card_type in current else current + [card_type])

    async def unpin(self, citizen_id: str, card_type: str) -> list[str]:
        self.registry.get(card_type)

        def without(current: list[str]) -> list[str]:
            if card_type not in current:
                raise NotFound("CARD_NOT_PINNED", params={"card_type": card_type})
            return [t for t in current if t != card_type]

        return await self._change(citizen_id, without)

    async def _stored_pins(self, citizen_id: str, conn: Any = None) -> list[str]:
        rows: list[str] = await column(CardPin.filter(citizen_id=citizen_id).using_db(conn).order_by("position"),
                                       "card_type")
        if not rows:
            return list(DEFAULT_PINS)
        return [t for t in rows if t != MARKER]

    async def _change(self, citizen_id: str, change: Callable[[list[str]], list[str]]) -> list[str]:
        # The citizen row is locked (PostgreSQL) so two phones reordering at once cannot interleave
        # their delete-and-insert and trip over the one-pin-per-type constraint.
        async with in_transaction() as conn:
            await lock_citizen(conn, citizen_id)
            current = [t for t in await self._stored_pins(citizen_id, conn) if t in self.registry]
            wanted = change(current)
            await CardPin.filter(citizen_id=citizen_id).using_db(conn).delete()
            rows = [CardPin(citizen_id=citizen_id, card_type=MARKER, position=-1)]
            rows += [CardPin(citizen_id=citizen_id, card_type=t, position=i) for i, t in enumerate(wanted)]
            await CardPin.bulk_create(rows, using_db=conn)
        await self.platform.cache.delete(f"card:pins:{citizen_id}")
        return wanted

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: its pinned cards go, and so do the summaries cached for them."""
        await CardPin.filter(citizen_id=citizen_id).delete()
        types = [card.type for card in self.registry.all()]
        for key in [f"card:pins:{citizen_id}", *(_value_key(t, citizen_id) for t in types),
                    *(_refresh_failed_key(t, citizen_id) for t in types)]:
            await self.platform.cache.delete(key)

    # -- the home screen -------------------------------------------------------------------------------------
    async def home(self, citizen: CitizenSnapshot, language: str,
                   types: Iterable[str] | None = None) -> list[CardView]:
        """Every pinned card (or exactly `types`) with its summary, asked concurrently, each bounded by the
        card timeout."""
        chosen = list(types) if types is not None else await self.pinned(citizen.id)
        cards = [self.registry.get(t) for t in chosen]
        backends = sorted({c.backend for c in cards})
        keys = [_value_key(c.type, citizen.id) for c in cards] + [_refresh_failed_key(c.type, citizen.id) for c in cards]
        keys += [_breaker_key("bo", b) for b in backends] + [_breaker_key("bf", b) for b in backends]
        raw = await self.platform.cache.get_many(keys)  # one round trip for values, failed refreshes and breaker states
        n, m = len(cards), len(backends)
        values, failed, opens, fails = raw[:n], raw[n:2 * n], raw[2 * n:2 * n + m], raw[2 * n + m:]
        breakers = {b: _Breaker(float(o) if o is not None else None, f is not None)
                    for b, o, f in zip(backends, opens, fails)}
        now = self.platform.clock.timestamp()
        return list(await asyncio.gather(*(
            self._card(card, citizen, json.loads(value) if value else None, breakers[card.backend], now, language,
                       refresh_failed=failure is not None and now - float(failure) < self.settings.cards.breaker_cooldown)
            for card, value, failure in zip(cards, values, failed))))

    async def _card(self, card: CardType, citizen: CitizenSnapshot, stored: dict[str, Any] | None,
                    breaker: _Breaker, now: float, language: str, refresh_failed: bool = False) -> CardView:
        title = card.title(language)
        if citizen.level < card.min_level:
            return CardView(card.type, title, translate(NOTICES["locked"], language), "locked", None, opens=card.opens)
        fresh_for = min(card.ttl, self.settings.cards.max_ttl)  # 0: asked every time, never shown stale while asking
        if stored is not None and now - stored["at"] < fresh_for:
            return await self._view(card, title, stored, "ok", language, citizen.id)
        if stored is not None and now - stored["at"] < fresh_for + self.settings.cards.stale_grace and fresh_for:
            # A refresh that just failed is not tried again until the breaker's cool-down has passed: the card
            # says it could not be refreshed rather than that it is being refreshed.
            refreshing = not refresh_failed and await self._revalidate(card, citizen.id, breaker, now)
            return await self._view(card, title, stored, "stale", language, citizen.id,
                                    notice="refreshing" if refreshing else "stale")
        fetched = await self._fetch(card, citizen.id, breaker, now)
        if fetched is not None:
            return await self._view(card, title, fetched, "ok", language, citizen.id)
        if stored is not None:
            return await self._view(card, title, stored, "stale", language, citizen.id)
        text = translate(NOTICES["unavailable"], language)
        return CardView(card.type, title, text, "unavailable", None, notice=text, opens=card.opens)

    async def _fetch(self, card: CardType, citizen_id: str, breaker: _Breaker, now: float) -> dict[str, Any] | None:
        """Ask the backend and keep its answer as the card's value; None when it gave none."""
        facts = await self._call(card.backend, citizen_id, breaker, now)
        if facts is None:
            return None
        stored = {"data": facts, "at": now}
        await set_json(self.platform.cache, _value_key(card.type, citizen_id), stored, ttl=STALE_KEEP)
        return stored

    # -- refreshing a stale card in the background -----------------------------------------------------------
    async def _revalidate(self, card: CardType, citizen_id: str, breaker: _Breaker, now: float) -> bool:
        """Start refreshing a card past its freshness, unless its breaker is open or a refresh of it is under
        way already (in any worker). True while a refresh is under way."""
        if card.backend not in self.backends or (breaker.open_until is not None and now < breaker.open_until):
            return False
        lock, token = f"card:rv:{card.type}:{citizen_id}", secrets.token_hex(8)
        # The lock outlives the backend call (bounded by the timeout); a worker that died frees it by then.
        if not await self.platform.cache.set_if_absent(lock, token, ttl=self.settings.cards.timeout + 1):
            return True
        self._refreshing.start(self._refresh(card, citizen_id, breaker, lock, token))
        return True

    async def _refresh(self, card: CardType, citizen_id: str, breaker: _Breaker, lock: str, token: str) -> None:
        """Fetch the card again behind its breaker, as a request past the grace window would; a failure keeps
        the stale value and counts against the breaker."""
        try:
            try:
                now = self.platform.clock.timestamp()
                current = await get_json(self.platform.cache, _value_key(card.type, citizen_id))
                # A request that read the old value just before another refresh ended asks nobody again.
                if current is None or now - current["at"] >= min(card.ttl, self.settings.cards.max_ttl):
                    if await self._fetch(card, citizen_id, breaker, now) is None:
                        # The platform clock decides when it is over; the cache's expiry only clears it away.
                        await self.platform.cache.set(_refresh_failed_key(card.type, citizen_id), repr(now),
                                               ttl=self.settings.cards.breaker_cooldown)
            finally:
                await self.platform.cache.delete_if(lock, token)
        except Exception as exc:  # the cache failed: the card stays stale, and the next request tries again
            log.warning("card %s: background refresh failed: %s", card.type, type(exc).__name__)

    async def _view(self, card: CardType, title: str, stored: dict[str, Any], status: str, language: str,
                    citizen_id: str, notice: str = "stale") -> CardView:
        data = stored["data"]
        if self.settled is not None and data.get("items"):
            settled = self.settled
            data = without_settled(card.backend, data, await self._settled_once.run(citizen_id, lambda: settled(citizen_id)))
        return CardView(card.type, title, card.describe(data, language), status,
                        datetime.fromtimestamp(stored["at"], tz=timezone.utc),
                        notice=translate(NOTICES[notice], language) if status == "stale" else None, opens=card.opens)

    # -- calling a backend behind its circuit breaker --------------------------------------------------------
    async def _call(self, name: str, citizen_id: str, breaker: _Breaker, now: float) -> Facts | None:
        """The backend's answer, or None when it failed, timed out or its breaker is open."""
        backend = self.backends.get(name)
        if backend is None:
            return None
        if breaker.open_until is not None:
            if now < breaker.open_until:
                metrics.breaker(f"card:{name}", "open")
                return None  # open: the department is left alone until the cool-down ends
            # Half-open: one trial call across all workers; the others keep serving the fallback.
            metrics.breaker(f"card:{name}", "half_open")
            if not await self.platform.cache.set_if_absent(_breaker_key("bp", name), "1", ttl=self.settings.cards.timeout + 1):
                return None
        try:
            facts = await asyncio.wait_for(backend.fetch(citizen_id), timeout=self.settings.cards.timeout)
        except Exception as exc:  # a timeout, a department error, or a broken adapter: the screen must still show
            log.warning("card backend %s failed: %s", name, type(exc).__name__)
            await self._failed(name, breaker)
            return None
        if breaker.open_until is not None or breaker.failures:
            await self._recovered(name)
        metrics.breaker(f"card:{name}", "closed")
        return facts

    async def _failed(self, name: str, breaker: _Breaker) -> None:
        window = max(600, 10 * self.settings.cards.breaker_cooldown)  # failures further apart than this are not "consecutive"
        count = await self.platform.cache.incr(_breaker_key("bf", name), ttl=window)
        if breaker.open_until is not None or count >= self.settings.cards.breaker_failures:
            until = self.platform.clock.timestamp() + self.settings.cards.breaker_cooldown
            # The key outlives the cool-down: after it, the stored time says "half-open".
            await self.platform.cache.set(_breaker_key("bo", name), repr(until), ttl=self.settings.cards.breaker_cooldown + window)
            await self.platform.cache.delete(_breaker_key("bf", name))
            await self.platform.cache.delete(_breaker_key("bp", name))
            metrics.breaker(f"card:{name}", "open")
            log.warning("card backend %s: circuit open for %s s", name, self.settings.cards.breaker_cooldown)

    async def _recovered(self, name: str) -> None:
        for key in (_breaker_key("bo", name), _breaker_key("bf", name), _breaker_key("bp", name)):
            await self.platform.cache.delete(key)


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Home cards' part of the citizen's copy of their data: the service cards (服务卡片) they pinned, in order."""
    return {"home_cards": [record_of(row, pii) for row in
                           await CardPin.filter(citizen_id=citizen_id).order_by("position")]}
