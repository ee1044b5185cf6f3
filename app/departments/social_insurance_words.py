"""Our own words for 社保: the schemes (险种) by their national codes, the states a scheme is in, the kinds
of insured person, and the labels of the printed record, each its zh-Hans text (zh-Hant and en are in the
message catalogs). The department's own words (in Simplified Chinese) are passed through beside these,
never replaced."""

from __future__ import annotations

from typing import Mapping

from app.i18n import N_, translate

Texts = str  # a zh-Hans msgid

SCHEMES: dict[str, Texts] = {  # 险种 by code
    "110": N_("企业职工基本养老保险"),
    "170": N_("城乡居民基本养老保险"),
    "210": N_("失业保险"),
    "310": N_("职工基本医疗保险"),
    "390": N_("城乡居民基本医疗保险"),
    "410": N_("工伤保险"),
    "510": N_("生育保险"),
}
SCHEME_STATES: dict[str, Texts] = {
    "paying": N_("参保缴费"),
    "suspended": N_("暂停缴费"),
    "receiving": N_("享受待遇"),
    "retired": N_("退休参保"),
}
PERSON_KINDS: dict[str, Texts] = {
    "employee": N_("在职职工"),
    "flexible": N_("灵活就业人员"),
    "resident": N_("城乡居民"),
    "retired": N_("退休人员"),
    "minor": N_("未成年人"),
}
RECORD_TITLE: Texts = N_("广东省社会保险个人权益记录（示例）")
PROOF_STATE_NAMES: dict[str, Texts] = {  # a printed record's state, in the holder's list
    "valid": N_("有效"),
    "expired": N_("已过期"),
    "revoked": N_("已作废"),
}
PROOF_STATES: dict[str, Texts] = {  # what a verifier is told of a printed record
    "valid": N_("有效：请核对纸质文件上的信息与此一致"),
    "expired": N_("已过有效期，请联系持有人重新打印"),
    "revoked": N_("持有人已作废此记录"),
}


def text(texts: Mapping[str, Texts], key: str, language: str, fallback: str = "") -> str:
    """Our word for `key` in `language` (zh-Hans when that language has none); `fallback` for a key we have no
    word for (a scheme code new to us: the department's own name)."""
    entry = texts.get(key)
    if entry is None:
        return fallback
    return translate(entry, language)


__all__ = ["PERSON_KINDS", "PROOF_STATE_NAMES", "PROOF_STATES", "RECORD_TITLE", "SCHEMES", "SCHEME_STATES", "text"]
