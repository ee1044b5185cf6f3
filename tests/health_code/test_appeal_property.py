"""Property: evidence an upheld appeal did not judge is never masked by it.

Over any sequence of evidence (test results, declarations, exposures, trips, vaccinations), time passing,
appeals and decisions, every match of a rule that is not green and that no live override judged keeps the
colour at least that high. Checked on the rules alone (many sequences) and on the running service, whose
appeals are stored and whose overrides end in the database (fewer sequences, each against a new citizen).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from app.accounts.rules import id_check_char
from app.security.clients import AuthenticatedClient
from health_code.models import Appeal, HealthEvidence
from health_code.rules import COLOUR_RANK, Evidence, UpheldAppeal, load_ruleset
from tests.factories import sign_in, verify_real_name

RULES = load_ruleset()
ID_SEQUENCES = itertools.count(100)
START = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)

# What can arrive: (kind, data), green, yellow and red alike.
NEWS = [
    ("test_result", {"result": "positive"}),
    ("test_result", {"result": "negative"}),
    ("declaration", {"symptoms": True, "confirmed_case": False}),
    ("declaration", {"symptoms": False, "confirmed_case": True}),
    ("declaration", {"symptoms": False, "confirmed_case": False}),
    ("exposure", {}),
    ("travel", {"region_code": "330106", "risk_level": "high"}),
    ("vaccination", {"complete": True}),
]

steps = st.lists(st.one_of(
    st.tuples(st.just("news"), st.integers(0, len(NEWS) - 1), st.integers(0, 48)),  # observed this many hours ago
    st.tuples(st.just("wait"), st.integers(1, 120)),  # hours
    st.tuples(st.just("appeal")),
    st.tuples(st.just("decide"), st.booleans(), st.integers(1, 336)),  # approve?, override hours
), min_size=1, max_size=14)


NOT_GREEN = [i for i, (kind, data) in enumerate(NEWS) if any(r.colour != "green" and r.matches(
    Evidence(kind, START, data)) for r in RULES.rules)]


def upheld_then(rest: st.SearchStrategy) -> st.SearchStrategy:
    """Sequences that begin with evidence that is not green, an appeal and its approval: fewer examples
    reach the cases that matter."""
    opening = st.tuples(st.sampled_from(NOT_GREEN), st.integers(0, 48), st.integers(1, 336)).map(
        lambda o: [("news", o[0], o[1]), ("appeal",), ("decide", True, o[2])])
    return st.tuples(opening, rest).map(lambda parts: parts[0] + parts[1])


@dataclass
class Override:
    judged: frozenset[tuple[str, str]]
    until: datetime
    ended: bool = False


@dataclass
class Citizen:
    """The rules' view of one citizen, kept as the service keeps it."""

    now: datetime = START
    evidence: list[Evidence] = field(default_factory=list)
    pending: frozenset[tuple[str, str]] | None = None
    overrides: list[Override] = field(default_factory=list)

    def live_override(self) -> Override | None:
        live = [o for o in self.overrides if not o.ended and o.until > self.now]
        return max(live, key=lambda o: o.until, default=None)

    def judge(self) -> str:
        override = self.live_override()
        judgement = RULES.judge(self.evidence, self.now, UpheldAppeal(override.judged, override.until) if override else None)
        if judgement.ends_override is not None and override is not None:
            override.ended = True
        return judgement.verdict.colour


def unmasked_floor(evidence: list[Evidence], now: datetime, override: Override | None) -> int:
    """The lowest colour rank the status may have: that of every match no live override judged (one judged of
    a piece of evidence covers its matches of the same or a milder colour)."""
    judged = RULES.overridden_ranks(override.judged) if override else {}
    floor = 0
    for item in evidence:
        for rule in RULES.rules:
            if rule.matches(item) and item.observed_at + rule.within > now \
                    and COLOUR_RANK[rule.colour] > judged.get(item.id, -1):
                floor = max(floor, COLOUR_RANK[rule.colour])
    return floor


@settings(max_examples=400, deadline=None)
@given(steps)
def test_evidence_no_override_judged_is_never_masked(sequence):
    citizen = Citizen()
    for number, step in enumerate(sequence):
        if step[0] == "news":
            kind, data = NEWS[step[1]]
            citizen.evidence.append(Evidence(kind, citizen.now - timedelta(hours=step[2]), data, f"ev{number}"))
        elif step[0] == "wait":
            citizen.now += timedelta(hours=step[1])
        elif step[0] == "appeal" and citizen.pending is None and citizen.judge() != "green":
            citizen.pending = RULES.disputed(citizen.evidence, citizen.now)
        elif step[0] == "decide" and citizen.pending is not None:
            if step[1]:
                citizen.overrides.append(Override(citizen.pending, citizen.now + timedelta(hours=step[2])))
            citizen.pending = None
        colour = citizen.judge()
        assert COLOUR_RANK[colour] >= unmasked_floor(citizen.evidence, citizen.now, citizen.live_override())
        if citizen.live_override() is not None:
            assert colour == "green"  # while an override lives, only evidence it judged is not green


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(sequence=upheld_then(steps))
async def test_the_service_never_masks_evidence_its_appeals_did_not_judge(app, client, sms, clock, sequence):
    health, appeals = app.ctx.services.health, app.ctx.services.appeals
    admin = AuthenticatedClient("cl_cdc", "示例市疾控中心", "admin", ("health_admin",))
    signed_in = await sign_in(client, sms)
    first17 = "440106" + "19900307" + f"{next(ID_SEQUENCES):03d}"
    await verify_real_name(client, signed_in, id_number=first17 + id_check_char(first17))
    citizen = await app.ctx.services.accounts.citizen(signed_in.id)
    for step in sequence:
        if step[0] == "news":
            kind, data = NEWS[step[1]]
            await health.record_evidence(citizen.id, kind, clock.now() - timedelta(hours=step[2]), data, source="test")
        elif step[0] == "wait":
            clock.advance(hours=step[1])
        elif step[0] == "appeal":
            status = await health.status(citizen.id)
            if status.colour != "green" and not await Appeal.filter(citizen_id=citizen.id, status="pending").exists():
                await appeals.submit(citizen, "请核实我的情况")
        elif step[0] == "decide":
            pending = await Appeal.filter(citizen_id=citizen.id, status="pending").first()
            if pending is not None:
                await appeals.decide(admin, pending.id, step[1], "复核意见", step[2])
        status = await health.status(citizen.id)
        now = clock.now()
        rows = await HealthEvidence.filter(citizen_id=citizen.id)
        # No region is on the risk list here: the service judges every trip low risk, and so does this check.
        evidence = [Evidence(r.kind, r.observed_at, {**r.data, "risk_level": "low"} if r.kind == "travel" else r.data,
                             r.id) for r in rows]
        live = await Appeal.filter(citizen_id=citizen.id, status="approved", override_until__gt=now,
                                   override_ended_at__isnull=True).order_by("-override_until").first()
        override = Override(frozenset(map(tuple, live.judged)), live.override_until) if live else None
        assert COLOUR_RANK[status.colour] >= unmasked_floor(evidence, now, override), (status.colour, status.reasons)
