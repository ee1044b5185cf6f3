"""Application forms (申请表): a submission checked against its item's form schema (JSON Schema, draft 2020-12).

`validate_form` answers the form when it fits the schema, else 422 FORM_INVALID listing every field that
does not, each with its problem in plain words in the reader's language:

    {"error": {"code": "FORM_INVALID", "message": "申请表有 2 处填写有误：出生日期、家庭人口。请按…",
               "fields": [{"field": "birth_date", "title": "出生日期", "problem": "应为日期，如 2026-01-31"},
                          {"field": "household_size", "title": "家庭人口", "problem": "不能小于 1"}]}}

`field` is the place in the form as a dotted path (`members.0.name`, the form itself is `""`), `title` the
label an app shows there; the fields come in the form's order (`x-order`). An item without a schema takes any
JSON object, as before forms existed. What the
schema means (which schemas an administrator may save, the formats checked) is the catalogue's
(app/services/catalogue/form_schema.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from app.errors import AppError
from app.i18n import EN, N_, ZH_HANS, translate
from app.services.catalogue.service import FORM_FIELD_ORDER, FORMAT_CHECKER, field_title

FORM_INVALID = "FORM_INVALID"
MAX_PROBLEMS = 50
TYPE_WORDS = {"string": N_("文字"), "integer": N_("整数"), "number": N_("数字"), "boolean": N_("是或否"),
              "object": N_("一组栏目"), "array": N_("列表"), "null": N_("空")}
FORMAT_WORDS = {"date": N_("应为日期，如 2026-01-31"), "date-time": N_("应为带时区的日期时间，如 2026-01-31T09:30:00+08:00"),
                "time": N_("应为时间，如 09:30:00+08:00"), "email": N_("应为电子邮箱地址"),
                "cn-mobile": N_("应为 11 位手机号码"), "cn-id-number": N_("不是有效的居民身份证号码")}
# Each JSON Schema keyword's problem in plain words (zh-Hans msgids), {limit} the keyword's value.
PROBLEM_WORDS = {
    "required": N_("必须填写"),
    "type": N_("应为{type}"),
    "enum": N_("须为以下之一：{limit}"),
    "const": N_("须为 {limit}"),
    "minimum": N_("不能小于 {limit}"),
    "maximum": N_("不能大于 {limit}"),
    "exclusiveMinimum": N_("须大于 {limit}"),
    "exclusiveMaximum": N_("须小于 {limit}"),
    "multipleOf": N_("须为 {limit} 的倍数"),
    "minLength": N_("至少 {limit} 个字"),
    "maxLength": N_("最多 {limit} 个字"),
    "pattern": N_("格式不对"),
    "format": N_("格式不对"),
    "minItems": N_("至少填 {limit} 项"),
    "maxItems": N_("最多填 {limit} 项"),
    "uniqueItems": N_("各项不能重复"),
    "additionalProperties": N_("不是本表的栏目，请删去"),
    "unevaluatedProperties": N_("不是本表的栏目，请删去"),
}
OTHER_PROBLEM = N_("填写有误")
NOT_AN_OBJECT = N_("申请表应为一组栏目（JSON 对象）")


@dataclass(frozen=True)
class Problem:
    """One field that does not fit, as words to be said in the reader's language."""

    path: tuple[str | int, ...]
    words: str  # a zh-Hans msgid
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path)


class FormInvalid(AppError):
    """422 FORM_INVALID: the form does not fit its item's schema; `fields` lists each field and its problem,
    said in the language the reply is in (the envelope asks for the message first)."""

    status, code = 422, FORM_INVALID

    def __init__(self, schema: dict[str, Any] | None, problems: list[Problem], language: str = ZH_HANS) -> None:
        super().__init__()
        self.schema, self.problems = schema, problems
        self._say(language)

    def _say(self, language: str) -> None:
        fields = [self._field(problem, language) for problem in self.problems]
        joiner = ", " if language == EN else "、"
        self.params = {"count": len(fields), "fields": joiner.join(dict.fromkeys(f["title"] for f in fields))}
        self.extra = {"fields": fields}

    def _field(self, problem: Problem, language: str) -> dict[str, str]:
        params = {key: _shown(value, language) for key, value in problem.params}
        return {"field": problem.field,
                "title": field_title(self.schema, list(problem.path), language) if problem.path else "",
                "problem": translate(problem.words, language, **params)}

    def message(self, language: str) -> str:
        self._say(language)
        return super().message(language)


def validate_form(schema: dict[str, Any] | None, form: Any, language: str = ZH_HANS) -> dict[str, Any]:
    """`form` when it fits `schema` (any JSON object when there is none), else FormInvalid (422 FORM_INVALID)
    naming every field that does not fit, in `language` (and again in the reply's language)."""
    if not isinstance(form, dict):
        raise FormInvalid(schema, [Problem((), NOT_AN_OBJECT)], language)
    if schema is None:
        return form
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    problems = list(dict.fromkeys(p for error in validator.iter_errors(form) for p in _problems(error)))
    if problems:
        problems.sort(key=lambda p: _order(schema, p))
        raise FormInvalid(schema, problems[:MAX_PROBLEMS], language)
    return form


def _order(schema: dict[str, Any], problem: Problem) -> tuple[int, str]:
    """Fields in the order the form shows them (its `x-order`, else its properties' order), then by path."""
    given = schema.get(FORM_FIELD_ORDER)
    names = given if isinstance(given, list) else list((schema.get("properties") or {}).keys())
    first = problem.path[0] if problem.path else ""
    return (names.index(first) if first in names else len(names), problem.field)


def _problems(error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    keyword = str(error.validator)
    instance = error.instance
    if keyword == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield Problem((*path, name), PROBLEM_WORDS["required"])
        return
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        declared = set((error.schema.get("properties") or {}).keys())
        for name in instance:
            if name not in declared:
                yield Problem((*path, name), PROBLEM_WORDS[keyword])
        return
    yield _problem(path, keyword, error.validator_value)


def _problem(path: tuple[str | int, ...], keyword: str, value: Any) -> Problem:
    if keyword == "format" and value in FORMAT_WORDS:
        return Problem(path, FORMAT_WORDS[value])
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        return Problem(path, PROBLEM_WORDS["type"], (("type", tuple(TYPE_WORDS.get(k, k) for k in kinds)),))
    if keyword in PROBLEM_WORDS:
        limit = tuple(_hashable(v) for v in value) if isinstance(value, list) else _hashable(value)
        return Problem(path, PROBLEM_WORDS[keyword], (("limit", limit),))
    return Problem(path, OTHER_PROBLEM)


def _hashable(value: Any) -> Any:
    """A keyword's value as kept in a Problem: scalars as they are, anything else as its JSON text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(value: Any, language: str) -> str:
    """A keyword's value as words: type names translated, lists joined, true/false as the form shows them."""
    joiner = ", " if language == EN else "、"
    if isinstance(value, tuple):
        return joiner.join(_shown(v, language) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in TYPE_WORDS.values():
        return translate(value, language)
    return str(value)
