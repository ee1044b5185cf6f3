"""The catalogue's words in the reader's language: item names, guides (办事指南), bundles (一件事), departments.

The catalogue is written in Simplified Chinese, the source language. Its texts are the msgids of
the gettext domain `catalogue` (locales/<language>/LC_MESSAGES/catalogue.po), extracted from the
sample catalogue (item forms' field titles included) and from the labels below by `make i18n-update`
(locales/extract_catalogue.py):
a text read in zh-Hant or English is looked up there at reply time. A text the catalog lacks,
such as an item an administrator wrote after the last extraction, stays in zh-Hans.
What is stored is the zh-Hans text; search indexes it, with each item's name in zh-Hant and English
beside it (app/services/catalogue/search.py).
"""

from __future__ import annotations

from typing import Any, Iterator

from app.i18n import EN, ZH_HANS, catalog

DOMAIN = "catalogue"

# The guide's fixed labels: the region level, the channels and the time limit.
LEVEL_TEXT = {"province": "省级", "city": "市级", "district": "区级"}
CHANNEL_TEXT = {"online": "网上办理", "offline": "窗口办理", "mini_program": "小程序办理"}
ON_THE_SPOT = "即办"
ONE_WORKING_DAY = "1 个工作日"
WORKING_DAYS = "{days} 个工作日"
LABELS = (*LEVEL_TEXT.values(), *CHANNEL_TEXT.values(), ON_THE_SPOT, ONE_WORKING_DAY, WORKING_DAYS)


def shown_texts(catalogue: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(text, what it is) for every text of `catalogue` (the sample file's shape) that a reader is shown
    and the API translates, in file order: what `make i18n-update` extracts, and the tests hold the
    catalogs to. Aliases are not among them: they are words to search by, never shown translated."""
    for department in catalogue["departments"]:
        yield department["name"], "department"
    for event in catalogue["life_events"]:
        yield event["name"], "life event (一件事) name"
        yield event["description"], "life event description"
    for item in catalogue["items"]:
        yield item["name"], "item name"
        yield item["category"], "item category"
        for material in item["materials"]:
            yield material["name"], "material"
        yield item["legal_basis"], "legal basis"
        yield item["fee"], "fee"
        for entry in item["faq"]:
            yield entry["q"], "FAQ question"
            yield entry["a"], "FAQ answer"
        for form_text in form_texts(item.get("form_schema")):
            yield form_text, "form field title"
    for label in LABELS:
        yield label, "guide label"


# The keywords of a form schema (JSON Schema) whose text a reader is shown; the values under the others listed
# are the form's data (the allowed answers), never translated.
FORM_SHOWN_KEYWORDS = ("title", "description")
FORM_DATA_KEYWORDS = ("enum", "const", "default", "examples")


def form_texts(schema: Any) -> Iterator[str]:
    """Each title and description of a form schema (an item's 申请表), in schema order."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in FORM_SHOWN_KEYWORDS and isinstance(value, str):
                if value:
                    yield value
            elif key not in FORM_DATA_KEYWORDS:
                yield from form_texts(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from form_texts(value)


def text(source: str, language: str) -> str:
    """`source`, a zh-Hans catalogue text, in `language`; itself when the catalog has no translation."""
    if not source or language == ZH_HANS:
        return source
    return catalog(language, DOMAIN).gettext(source)


def department_name(name: str, name_en: str | None, language: str) -> str:
    """A department's name: in English its own `name_en` where it has one, else as any other catalogue text."""
    if language == EN and name_en:
        return name_en
    return text(name, language)


def time_limit(days: int, language: str) -> str:
    """The promised time limit: 即办 (on the spot), or so many working days."""
    if days == 0:
        return text(ON_THE_SPOT, language)
    if days == 1:
        return text(ONE_WORKING_DAY, language)
    return text(WORKING_DAYS, language).format(days=days)
