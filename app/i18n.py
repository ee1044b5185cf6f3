"""Language negotiation: Simplified Chinese by default, Traditional Chinese and English on request.

Our texts (error messages, inbox and SMS templates, labels, spoken sentences) live in gettext
catalogs (locales/<language>/LC_MESSAGES/messages.po). Each is written once in code as its zh-Hans
text, marked with `N_`, and translated at reply time with `translate` (one language) or
`translations` (a reply that carries all three). `pick` is for texts that come with their words in
each language as data (a department's JSON, a licence type). How to add a message and update the
catalogs: docs/i18n.md.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from pathlib import Path
from typing import Mapping, NamedTuple

ZH_HANS = "zh-Hans"
ZH_HANT = "zh-Hant"
EN = "en"
LANGUAGES = (ZH_HANS, ZH_HANT, EN)

_HANT_TAGS = {"zh-hant", "zh-tw", "zh-hk", "zh-mo"}

LOCALES = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
# The catalog folder of each language (gettext locale names: `zh-Hans` is `zh_Hans`).
CATALOG_FOLDERS = {ZH_HANS: "zh_Hans", ZH_HANT: "zh_Hant", EN: "en"}

log = logging.getLogger(__name__)


def negotiate(accept_language: str | None) -> str:
    """Pick zh-Hans, zh-Hant or en from an `Accept-Language` header (q-values honoured)."""
    if not accept_language:
        return ZH_HANS
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().lower().startswith("q="):
            try:
                quality = min(1.0, float(params.strip()[2:]))
            except ValueError:
                quality = 0.0
        language = _match(tag.strip().lower())
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else ZH_HANS


def _match(tag: str) -> str | None:
    if tag.startswith("zh"):
        if any(tag == t or tag.startswith(t + "-") for t in _HANT_TAGS):
            return ZH_HANT
        return ZH_HANS
    if tag == "en" or tag.startswith("en-"):
        return EN
    return None


def pick(texts: Mapping[str, str], language: str, **params: object) -> str:
    """The text in `language` (falling back to zh-Hans), with `{name}` placeholders filled.

    A missing parameter raises KeyError: a message must never show a raw `{placeholder}`.
    """
    template = texts.get(language) or texts[ZH_HANS]
    return template.format(**params)


def N_(message: str) -> str:
    """Mark `message`, a zh-Hans text, for the catalogs; it is returned as is.

    `pybabel extract` finds every `N_("...")` (the one marker), so a message is written once, in
    its source language, where it is defined. It is translated later, in the caller's language,
    by `translate`.
    """
    return message


class InContext(NamedTuple):
    """A zh-Hans text said another way in one context (gettext's msgctxt), marked by `NC_`."""

    context: str
    message: str


def NC_(context: str, message: str) -> InContext:
    """Mark `message` for the catalogs under `context`: the same zh-Hans words translated differently
    there (`NC_("账户状态", "正常")` is "Active" where a plain `N_("正常")` is "OK"). Say it with `translate`."""
    return InContext(context, message)


def translate(message: str | InContext, language: str, **params: object) -> str:
    """`message` (a zh-Hans msgid, or one in its context) in `language`, with `{name}` placeholders filled.

    A message the language's catalog lacks stays in zh-Hans, as `pick` falls back. A missing
    parameter raises KeyError: a message must never show a raw `{placeholder}`.
    """
    if isinstance(message, InContext):
        return catalog(language).pgettext(message.context, message.message).format(**params)
    return catalog(language).gettext(message).format(**params)


def translations(message: str, **params: object) -> dict[str, str]:
    """`message` (a zh-Hans msgid) in every language, `{"zh-Hans": ..., "zh-Hant": ..., "en": ...}`:
    for a reply or a record that carries its words in all three languages."""
    return {language: translate(message, language, **params) for language in LANGUAGES}


@functools.cache
def catalog(language: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    """The compiled catalog of `language`, loaded once per process: the error messages, or another
    gettext domain (`catalogue`: the service catalogue's own texts).

    `make` compiles each .po into its .mo. When the .mo is missing or older than
    its .po (a fresh clone run without make, or a .po edited since), the .po is compiled in
    memory instead: the replies stay right, and nothing is written into the source tree.
    A language without a catalog gets the zh-Hans source texts.
    """
    folder = CATALOG_FOLDERS.get(language)
    if folder is None:
        return gettext.NullTranslations()
    po = LOCALES / folder / "LC_MESSAGES" / f"{domain}.po"
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return gettext.GNUTranslations(compiled)
    if not po.is_file():
        log.warning("no message catalog for %s at %s: replies stay in zh-Hans", language, po)
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def compile_po(po: Path) -> bytes:
    """The .mo bytes of the catalog `po` (what `pybabel compile` writes; fuzzy entries left out)."""
    # Babel is imported here, not with the module: a server started by make reads the compiled
    # .mo with the standard library and never pays for importing Babel.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        messages = read_po(source, locale=po.parent.parent.name)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    return compiled.getvalue()
