"""The rules engine: declared, versioned rules over evidence and time windows → colour + reasons.

Rules are data (`rulesets/*.json`), not code. Each rule names an evidence kind, the values it
matches and how long a matching piece of evidence counts. The highest colour among matching
rules decides (red > yellow > green); every matching rule is a reason; a colour can therefore
only be lowered by time passing, never by newer, milder evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from app.i18n import LANGUAGES, pick

COLOUR_RANK = {"green": 0, "yellow": 1, "red": 2}
EVIDENCE_KINDS = ("declaration", "test_result", "vaccination", "travel", "exposure")
RULESET_DIR = Path(__file__).parent / "rulesets"
FUTURE_TOLERANCE = timedelta(minutes=5)


class RuleSetError(ValueError):
    """A rule file that cannot be used."""


@dataclass(frozen=True)
class Rule:
    id: str
    code: int
    colour: str
    text: Mapping[str, str]
    kind: str = ""
    match: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    within: timedelta = timedelta(0)

    def matches(self, item: "Evidence") -> bool:
        return item.kind == self.kind and all(item.data.get(k) in allowed for k, allowed in self.match.items())

    def reason_text(self, language: str) -> str:
        return pick(self.text, language)


@dataclass(frozen=True)
class Evidence:
    kind: str
    observed_at: datetime
    data: Mapping[str, Any]
    id: str = ""  # the stored row's id: what an appeal names when it disputes this evidence


@dataclass(frozen=True)
class Reason:
    code: int
    rule_id: str
    colour: str
    until: datetime | None


@dataclass(frozen=True)
class Verdict:
    colour: str
    reasons: tuple[Reason, ...]
    next_change_at: datetime | None
    rule_version: str

    @property
    def reason_codes(self) -> tuple[int, ...]:
        return tuple(r.code for r in self.reasons)


@dataclass(frozen=True)
class UpheldAppeal:
    """An appeal a health administrator upheld (申诉通过): the colour the evidence it judged gave is
    overridden to green until `until`. Evidence is named by (evidence id, rule id): the same evidence
    matching a rule of a worse colour later (a region newly high-risk) was not judged; one of the same
    or a milder colour (a region's level lowered) was."""

    judged: frozenset[tuple[str, str]]
    until: datetime


@dataclass(frozen=True)
class Judgement:
    """A verdict with the appeal taken into account. `ends_override` is the reason of evidence the appeal
    did not judge that is not green: it wins at once, and the appeal's override ends for good."""

    verdict: Verdict
    ends_override: "Reason | None" = None


@dataclass(frozen=True)
class RuleSet:
    version: str
    default: Rule
    rules: tuple[Rule, ...]
    appeal_override: Rule | None = None  # the reason shown while an upheld appeal (申诉) overrides the colour

    @property
    def longest_window(self) -> timedelta:
        return max((r.within for r in self.rules), default=timedelta(0))

    def all_reasons(self) -> tuple[Rule, ...]:
        """Every rule that can be a reason in a code: the default, the appeal override, the rules."""
        extra = (self.appeal_override,) if self.appeal_override else ()
        return (self.default, *extra, *self.rules)

    def rule_for_code(self, code: int) -> Rule | None:
        return next((r for r in self.all_reasons() if r.code == code), None)

    def evaluate(self, evidence: Iterable[Evidence], now: datetime,
                 overridden: Mapping[str, int] | None = None) -> Verdict:
        """Colour, every reason, and when the status can next change without new evidence. A match of
        evidence named in `overridden` does not count if its colour's rank is at most the one given."""
        matched: dict[str, Reason] = {}
        pending: list[datetime] = []
        for item, rule, until in self._matches(evidence, now, pending):
            if overridden and COLOUR_RANK[rule.colour] <= overridden.get(item.id, -1):
                continue
            known = matched.get(rule.id)
            if known is None or (known.until is not None and until > known.until):
                matched[rule.id] = Reason(rule.code, rule.id, rule.colour, until)
        if not matched:
            reasons = [Reason(self.default.code, self.default.id, "green", None)]
        else:
            reasons = sorted(matched.values(), key=lambda r: (-COLOUR_RANK[r.colour], r.code))
        colour = reasons[0].colour
        next_change = min([*(r.until for r in reasons if r.until is not None), *pending], default=None)
        return Verdict(colour, tuple(reasons), next_change, self.version)

    def _matches(self, evidence: Iterable[Evidence], now: datetime,
                 pending: list[datetime]) -> Iterator[tuple[Evidence, Rule, datetime]]:
        """Each (evidence, rule, until) that counts now; evidence dated in the future goes to `pending`."""
        for item in evidence:
            if item.observed_at > now + FUTURE_TOLERANCE:
                # A clock-skewed source cannot change a status before its time, but it will count then.
                pending.append(item.observed_at - FUTURE_TOLERANCE)
                continue
            for rule in self.rules:
                if rule.matches(item) and (until := item.observed_at + rule.within) > now:
                    yield item, rule, until

    def disputed(self, evidence: Iterable[Evidence], now: datetime) -> frozenset[tuple[str, str]]:
        """What an appeal made now disputes: every (evidence id, rule id) behind a colour that is not green."""
        return frozenset((item.id, rule.id) for item, rule, _ in self._matches(evidence, now, [])
                         if rule.colour != "green")

    def overridden_ranks(self, judged: frozenset[tuple[str, str]]) -> dict[str, int]:
        """For each evidence an appeal judged, the rank of the worst colour it judged of it."""
        colours = {rule.id: COLOUR_RANK[rule.colour] for rule in self.rules}
        ranks: dict[str, int] = {}
        for evidence_id, rule_id in judged:
            if rule_id in colours:
                ranks[evidence_id] = max(ranks.get(evidence_id, 0), colours[rule_id])
        return ranks

    def judge(self, evidence: Iterable[Evidence], now: datetime, upheld: UpheldAppeal | None) -> Judgement:
        """The verdict with an upheld appeal applied: green (the override reason) while only evidence the
        appeal judged is not green; any other evidence that is not green wins and ends the override."""
        evidence = list(evidence)
        verdict = self.evaluate(evidence, now)
        if verdict.colour == "green" or upheld is None or upheld.until <= now or self.appeal_override is None:
            return Judgement(verdict)
        unjudged = self.evaluate(evidence, now, overridden=self.overridden_ranks(upheld.judged))
        if unjudged.colour != "green":
            return Judgement(verdict, ends_override=unjudged.reasons[0])
        override = self.appeal_override
        next_change = min(t for t in (verdict.next_change_at, upheld.until) if t is not None)
        return Judgement(Verdict("green", (Reason(override.code, override.id, "green", upheld.until),), next_change,
                                 verdict.rule_version))


def parse_ruleset(data: Mapping[str, Any]) -> RuleSet:
    try:
        default = _rule(data["default"], is_default=True)
        override = _rule(data["appeal_override"], is_default=True) if "appeal_override" in data else None
        rules = tuple(_rule(r) for r in data["rules"])
        version = str(data["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleSetError(f"invalid rule set: {exc}") from None
    codes = [default.code, *([override.code] if override else []), *(r.code for r in rules)]
    if len(set(codes)) != len(codes):
        raise RuleSetError("reason codes must be unique")
    return RuleSet(version, default, rules, override)


def _rule(raw: Mapping[str, Any], is_default: bool = False) -> Rule:
    colour = raw["colour"]
    if colour not in COLOUR_RANK:
        raise ValueError(f"unknown colour {colour!r}")
    if is_default and colour != "green":
        raise ValueError(f"rule {raw['id']} must be green")
    missing = [lang for lang in LANGUAGES if not raw["text"].get(lang)]
    if missing:
        raise ValueError(f"rule {raw['id']} lacks text in {missing}")
    code = int(raw["code"])
    if not 0 < code < 24:
        raise ValueError("reason codes are 1..23 so each fits in one CBOR byte")
    if is_default:
        return Rule(raw["id"], code, colour, dict(raw["text"]))
    if raw["kind"] not in EVIDENCE_KINDS:
        raise ValueError(f"unknown evidence kind {raw['kind']!r}")
    hours = float(raw["within_hours"])
    if hours <= 0:
        raise ValueError("within_hours must be positive")
    match = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in raw.get("match", {}).items()}
    return Rule(raw["id"], code, colour, dict(raw["text"]), raw["kind"], match, timedelta(hours=hours))


def load_ruleset(version: str | None = None, directory: Path = RULESET_DIR) -> RuleSet:
    """The rule set of `version`, or the newest one in `directory`."""
    files = sorted(directory.glob("*.json"))
    if version is not None:
        files = [f for f in files if f.stem == version]
    if not files:
        raise RuleSetError(f"no rule set {version or ''} in {directory}")
    return parse_ruleset(json.loads(files[-1].read_text("utf-8")))
