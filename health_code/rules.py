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
from typing import Any, Iterable, Mapping

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

    def evaluate(self, evidence: Iterable[Evidence], now: datetime) -> Verdict:
        """Colour, every reason, and when the status can next change without new evidence."""
        matched: dict[str, Reason] = {}
        pending: list[datetime] = []
        for item in evidence:
            if item.observed_at > now + FUTURE_TOLERANCE:
                # A clock-skewed source cannot change a status before its time, but it will count then.
                pending.append(item.observed_at - FUTURE_TOLERANCE)
                continue
            for rule in self.rules:
                if not rule.matches(item):
                    continue
                until = item.observed_at + rule.within
                if until <= now:
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
