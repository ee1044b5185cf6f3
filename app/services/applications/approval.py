"""秒批 (instant approval): small declarative rules over verified facts and declared form fields, kept per item.

A rule set is JSON, stored in `ServiceItem.approval_rules` (its `rules_version` goes up with
every change), for example

    {"all": [{"fact": "identity_level", "op": ">=", "value": 2},
             {"fact": "age", "op": ">=", "value": 60},
             {"fact": "holds_licence", "value": "social_security_card"},
             {"fact": "prior_applications", "op": "==", "value": 0},
             {"fact": "region", "op": "starts_with", "value": "44"}]}

Every rule must pass for an instant approval; the decision lists each rule with `passed`, so a
citizen (and a clerk) sees which one sent the application to review. An item without rules is
always reviewed by a clerk. Most facts come from what we verified ourselves (the 实名 identity
level, the birth date and region in the verified ID number, valid licences in the wallet, our own
application records, and the answers a department gave us through the data exchange).

Declared fields (申报事项): a fact `form.<field>` reads a field of the application form, e.g.
`{"fact": "form.household_size", "op": ">=", "value": 3}`. It is what the citizen declared, not what we
verified, so it is allowed only where the item's form schema (app/services/catalogue/form_schema.py) declares
that field with one type the operator and value fit (a number, a string, or true/false), and the form was
validated against that schema before any rule reads it (app/services/applications/forms.py). Its words say
so: "申报的家庭人口不低于3" (the field's title from the schema, after "申报的"). A rule set naming a field the
schema does not declare is refused when an administrator saves it, and one whose field the schema lost since
approves nothing (the application goes to a clerk). A field left empty fails its rule.

Department checks (部门核验): a fact of kind `check` names a department answer, and its value one of the
department's rules, met or not, e.g. `{"fact": "hpf_withdrawal_rent", "op": "met", "value": "paid_3_months"}`
(住房公积金 租房提取: deposited the last three months). The application service asks the department at
submission (purpose `eligibility_check`) and hands its answers in as `Facts.checks`; a check the department did
not answer never approves anything.

Each rule in a decision carries `text`, the rule in plain words: the department's words for a department check
it answered, else the rule's own `text` when the catalogue gives one, else words made from the fact, operator
and value. A declared field's rule also carries `field_title`, the zh-Hans title of the field it read.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

from app.errors import AppError
from app.i18n import EN, ZH_HANS, N_, translate
from app.services.catalogue.service import catalogue_text, declared_fields

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
SET_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "in": lambda fact, value: fact in value,
    "not_in": lambda fact, value: fact not in value,
}
# What each fact is and which operators make sense for it.
FACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "identity_level": ("int", (*COMPARISONS, *SET_OPS)),
    "age": ("int", (*COMPARISONS, *SET_OPS)),
    "prior_applications": ("int", (*COMPARISONS, *SET_OPS)),
    "region": ("str", ("==", "!=", "in", "not_in", "starts_with")),
    "holds_licence": ("licence", ("holds", "lacks")),
    # Department checks: the 住房公积金 centre's answer to "may this person withdraw for this reason".
    "hpf_withdrawal_rent": ("check", ("met", "unmet")),
    "hpf_withdrawal_purchase": ("check", ("met", "unmet")),
    "hpf_withdrawal_retirement": ("check", ("met", "unmet")),
}
DEFAULT_OPS = {"licence": "holds", "check": "met"}
FORM_PREFIX = "form."
# A declared field's kind by the type its schema gives it, and the operators that make sense for it.
FORM_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "integer": ("number", (*COMPARISONS, *SET_OPS)), "number": ("number", (*COMPARISONS, *SET_OPS)),
    "string": ("str", ("==", "!=", "in", "not_in", "starts_with")), "boolean": ("bool", ("==", "!=")),
}
MAX_RULES = 20
MAX_TEXT = 100
# How a rule is said (zh-Hans msgids, translated by rule_text): each fact's name and its value with the unit,
# each operator's sentence with the fact's {name} and the {value}.
FACT_WORDS = {"identity_level": (N_("身份认证等级"), N_("{value}级")), "age": (N_("年龄"), N_("{value}周岁")),
              "prior_applications": (N_("此前申请本事项"), N_("{value}次")), "region": (N_("身份证号码所属地区"), None)}
OP_WORDS = {"==": N_("{name}为{value}"), "!=": N_("{name}不为{value}"), ">": N_("{name}高于{value}"),
            ">=": N_("{name}不低于{value}"), "<": N_("{name}低于{value}"), "<=": N_("{name}不超过{value}"),
            "in": N_("{name}属于{value}"), "not_in": N_("{name}不属于{value}"), "starts_with": N_("{name}以 {value} 开头")}
LICENCE_WORDS = {"holds": N_("持有有效的电子证照（{licence}）"), "lacks": N_("未持有有效的电子证照（{licence}）")}
DEPARTMENT_CHECK = N_("部门核验：{value}")
DECLARED = N_("申报的{name}")
YES_NO = {True: N_("是"), False: N_("否")}
NOT_MET = N_("不符合：{words}")


@dataclass(frozen=True)
class Check:
    """One rule a department checked for us (部门核验), in the department's words."""

    met: bool
    text: str


@dataclass(frozen=True)
class Facts:
    """What we know for sure about the applicant when the application arrives."""

    identity_level: int
    age: int | None  # from the birth date in the verified ID number; None without 实名
    region: str | None  # the 6-digit region code of the verified ID number
    licences: frozenset[str] = field(default_factory=frozenset)  # types of licences valid now
    prior_applications: int = 0  # earlier applications for the same item, rejected ones not counted
    # Department checks by fact, then by the department's rule code (absent: the department was not asked or
    # did not answer, so none of its checks passes).
    checks: Mapping[str, Mapping[str, Check]] = field(default_factory=dict)
    # The application form, validated against the item's form schema: what the citizen declared.
    form: Mapping[str, Any] = field(default_factory=dict)
    # The zh-Hans title of each declared field, from the form schema (the words of a form fact).
    form_titles: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        if name.startswith(FORM_PREFIX):
            return self.form.get(name.removeprefix(FORM_PREFIX))
        return {"identity_level": self.identity_level, "age": self.age, "region": self.region,
                "prior_applications": self.prior_applications}.get(name)


def age_on(birth: date, today: date) -> int:
    """Full years on `today` (a 29 February birthday counts on 1 March in other years)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def birth_date_of(id_number: str) -> date:
    """The birth date written in an 18-character resident ID number (digits 7–14)."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def _invalid(problem: str, index: int | None = None) -> AppError:
    where = "rules" if index is None else f"rules.all.{index}"
    return AppError("APPROVAL_RULES_INVALID", status=422, params={"problem": problem},
                    extra={"fields": [{"field": where, "problem": problem}]})


def check_rules(rules: Any, form_schema: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The rule set in its stored form, or 422 APPROVAL_RULES_INVALID saying which rule is wrong.

    `None` (or `{"all": []}`) means no 秒批: every application goes to a clerk. `form_schema` is the item's: a
    declared field's rule (`form.<field>`) must name a field it declares, with a type the rule fits.
    """
    if rules is None:
        return None
    if not isinstance(rules, dict) or set(rules) - {"all", "version"} or not isinstance(rules.get("all"), list):
        raise _invalid('a rule set is {"all": [rule, ...]}')
    if not rules["all"]:
        return None
    if len(rules["all"]) > MAX_RULES:
        raise _invalid(f"at most {MAX_RULES} rules")
    return {"all": [_check_rule(rule, index, form_schema) for index, rule in enumerate(rules["all"])]}


def _check_rule(rule: Any, index: int, form_schema: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(rule, dict) or set(rule) - {"fact", "op", "value", "text"}:
        raise _invalid("a rule is {fact, op, value} with an optional text", index)
    fact = rule.get("fact")
    if not isinstance(fact, str):  # a list or object is no fact (and unhashable)
        raise _invalid(f"unknown fact {str(fact)[:40]!r}; known: {', '.join(FACTS)}, form.<field>", index)
    kind, ops = _form_fact(fact, form_schema, index) if fact.startswith(FORM_PREFIX) else _known_fact(fact, index)
    op = rule.get("op", DEFAULT_OPS.get(kind))
    if op not in ops:
        raise _invalid(f"operator for {fact} must be one of {', '.join(ops)}", index)
    value = rule.get("value")
    if not _value_fits(kind, op, value) or not _in_enum(fact, form_schema, op, value):
        raise _invalid(f"value does not fit {fact} {op}", index)
    text = rule.get("text")
    if text is None:
        return {"fact": fact, "op": op, "value": value}
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_TEXT:
        raise _invalid(f"text is 1 to {MAX_TEXT} characters", index)
    return {"fact": fact, "op": op, "value": value, "text": text.strip()}


def _known_fact(fact: str, index: int) -> tuple[str, tuple[str, ...]]:
    if fact not in FACTS:
        raise _invalid(f"unknown fact {fact[:40]!r}; known: {', '.join(FACTS)}, form.<field>", index)
    return FACTS[fact]


def _form_fact(fact: str, form_schema: dict[str, Any] | None, index: int) -> tuple[str, tuple[str, ...]]:
    """A declared field's kind and operators, from the type the item's form schema gives it."""
    name = fact.removeprefix(FORM_PREFIX)
    declared = declared_fields(form_schema).get(name)
    if declared is None:
        raise _invalid(f"the item's form does not declare the field {name[:40]!r}", index)
    kind = FORM_KINDS.get(str(declared.get("type")))
    if kind is None:
        raise _invalid(f"the form field {name[:40]!r} is not declared as one of {', '.join(FORM_KINDS)}", index)
    return kind


def _in_enum(fact: str, form_schema: dict[str, Any] | None, op: str, value: Any) -> bool:
    """A declared field with a list of allowed values: a rule compares it with those only."""
    if not fact.startswith(FORM_PREFIX) or op == "starts_with":
        return True
    allowed = declared_fields(form_schema).get(fact.removeprefix(FORM_PREFIX), {}).get("enum")
    if not isinstance(allowed, list):
        return True
    return all(v in allowed for v in (value if op in SET_OPS else [value]))


def _value_fits(kind: str, op: str, value: Any) -> bool:
    def one(v: Any) -> bool:
        if kind == "int":
            return isinstance(v, int) and not isinstance(v, bool)
        if kind == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if kind == "bool":
            return isinstance(v, bool)
        return isinstance(v, str) and 0 < len(v) <= 40

    if op in SET_OPS:
        return isinstance(value, list) and 0 < len(value) <= 100 and all(one(v) for v in value)
    return one(value)


def _kind(fact: str) -> str:
    """A stored rule's kind; every declared field's rule is of kind `form`."""
    return "form" if fact.startswith(FORM_PREFIX) else FACTS[fact][0]


def _passes(rule: dict[str, Any], facts: Facts) -> bool:
    fact, op, value = rule["fact"], rule["op"], rule["value"]
    if _kind(fact) == "check":
        check = facts.checks.get(fact, {}).get(value)
        return check is not None and check.met == (op == "met")
    if fact == "holds_licence":
        return (value in facts.licences) == (op == "holds")
    actual = facts.value(fact)
    if actual is None:
        return False  # an unknown fact never approves anything
    if op == "starts_with":
        return str(actual).startswith(value)
    try:
        return bool((COMPARISONS.get(op) or SET_OPS[op])(actual, value))
    except TypeError:  # a declared field of another type than the rule's (the schema changed since)
        return False


def decide(rules: dict[str, Any] | None, rules_version: int, facts: Facts) -> dict[str, Any]:
    """The 秒批 decision as stored on the application: approved or not, and each rule's result."""
    if not rules:
        return {"auto_approved": False, "rules_version": rules_version, "reason": "no_rules", "rules": []}
    results = [_result(rule, facts) for rule in rules["all"]]
    approved = all(r["passed"] for r in results)
    return {"auto_approved": approved, "rules_version": rules_version,
            "reason": "all_rules_passed" if approved else "rule_failed", "rules": results}


def _result(rule: dict[str, Any], facts: Facts) -> dict[str, Any]:
    if _kind(rule["fact"]) == "form":
        name = rule["fact"].removeprefix(FORM_PREFIX)
        rule = {**rule, "field_title": facts.form_titles.get(name) or name}
    return {**rule, "passed": _passes(rule, facts), "text": rule_text(rule, facts)}


def rule_text(rule: dict[str, Any], facts: Facts | None = None, language: str = ZH_HANS) -> str:
    """The rule in plain words in `language` (zh-Hans, as stored with a decision): the department's words for a
    department check it answered, else the catalogue's own text, else words made from the fact, the operator and
    the value."""
    fact, op, value = rule["fact"], rule["op"], rule["value"]
    kind = _kind(fact)
    if kind == "check":
        check = (facts.checks if facts else {}).get(fact, {}).get(value)
        words = check.text if check is not None else rule.get("text") or translate(DEPARTMENT_CHECK, language, value=value)
        return words if op == "met" else translate(NOT_MET, language, words=words)
    if rule.get("text"):
        return str(rule["text"])
    if kind == "licence":
        return translate(LICENCE_WORDS["holds" if op == "holds" else "lacks"], language, licence=value)
    if kind == "form":
        return _declared_text(rule, facts, language)
    name, unit = FACT_WORDS[fact]
    shown = _shown(value, language)
    if op != "starts_with" and unit is not None:
        shown = translate(unit, language, value=shown)
    return translate(OP_WORDS[op], language, name=translate(name, language), value=shown)


def _declared_text(rule: dict[str, Any], facts: Facts | None, language: str) -> str:
    """A declared field's rule said as what the citizen declared: "申报的家庭人口不低于3"."""
    field_name = rule["fact"].removeprefix(FORM_PREFIX)
    title = rule.get("field_title") or (facts.form_titles.get(field_name) if facts else None) or field_name
    name = translate(DECLARED, language, name=catalogue_text(title, language))
    return translate(OP_WORDS[rule["op"]], language, name=name, value=_shown(rule["value"], language))


def _shown(value: Any, language: str) -> str:
    if isinstance(value, list):
        return (", " if language == EN else "、").join(_shown(v, language) for v in value)
    if isinstance(value, bool):
        return translate(YES_NO[value], language)
    return str(value)


def decision_in(decision: dict[str, Any] | None, language: str) -> dict[str, Any] | None:
    """A stored decision with each rule said in `language`, where we made its words: a department check's words
    (the department's own) and a catalogue's own text stay as stored, as does every rule in zh-Hans."""
    if not decision or language == ZH_HANS:
        return decision
    return {**decision, "rules": [_rule_in(rule, language) for rule in decision.get("rules", [])]}


def _rule_in(rule: dict[str, Any], language: str) -> dict[str, Any]:
    fact = rule.get("fact")
    if not isinstance(fact, str) or not (fact in FACTS or fact.startswith(FORM_PREFIX)) or _kind(fact) == "check" \
            or "op" not in rule or "value" not in rule:
        return rule
    bare = {key: value for key, value in rule.items() if key != "text"}
    if rule.get("text") != rule_text(bare):
        return rule  # the catalogue's own text
    return {**rule, "text": rule_text(bare, None, language)}
