"""Language negotiation: Simplified Chinese by default, Traditional Chinese and English on request."""

from __future__ import annotations

from typing import Mapping

ZH_HANS = "zh-Hans"
ZH_HANT = "zh-Hant"
EN = "en"
LANGUAGES = (ZH_HANS, ZH_HANT, EN)

_HANT_TAGS = {"zh-hant", "zh-tw", "zh-hk", "zh-mo"}


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
