"""Our own words for 社保 in zh-Hans, zh-Hant and en: the schemes (险种) by their national codes, the states a
scheme is in, the kinds of insured person, and the labels of the printed record. The department's own words
(in Simplified Chinese) are passed through beside these, never replaced."""

from __future__ import annotations

from typing import Mapping

from app.i18n import ZH_HANS

Texts = Mapping[str, str]

SCHEMES: dict[str, Texts] = {  # 险种 by code
    "110": {"zh-Hans": "企业职工基本养老保险", "zh-Hant": "企業職工基本養老保險",
            "en": "Basic pension insurance (enterprise employees)"},
    "170": {"zh-Hans": "城乡居民基本养老保险", "zh-Hant": "城鄉居民基本養老保險",
            "en": "Basic pension insurance (urban and rural residents)"},
    "210": {"zh-Hans": "失业保险", "zh-Hant": "失業保險", "en": "Unemployment insurance"},
    "310": {"zh-Hans": "职工基本医疗保险", "zh-Hant": "職工基本醫療保險", "en": "Basic medical insurance (employees)"},
    "390": {"zh-Hans": "城乡居民基本医疗保险", "zh-Hant": "城鄉居民基本醫療保險",
            "en": "Basic medical insurance (urban and rural residents)"},
    "410": {"zh-Hans": "工伤保险", "zh-Hant": "工傷保險", "en": "Work injury insurance"},
    "510": {"zh-Hans": "生育保险", "zh-Hant": "生育保險", "en": "Maternity insurance"},
}
SCHEME_STATES: dict[str, Texts] = {
    "paying": {"zh-Hans": "参保缴费", "zh-Hant": "參保繳費", "en": "Contributing"},
    "suspended": {"zh-Hans": "暂停缴费", "zh-Hant": "暫停繳費", "en": "Contributions suspended"},
    "receiving": {"zh-Hans": "享受待遇", "zh-Hant": "享受待遇", "en": "Receiving benefits"},
    "retired": {"zh-Hans": "退休参保", "zh-Hant": "退休參保", "en": "Insured as a retiree"},
}
PERSON_KINDS: dict[str, Texts] = {
    "employee": {"zh-Hans": "在职职工", "zh-Hant": "在職職工", "en": "Employee"},
    "flexible": {"zh-Hans": "灵活就业人员", "zh-Hant": "靈活就業人員", "en": "Flexibly employed"},
    "resident": {"zh-Hans": "城乡居民", "zh-Hant": "城鄉居民", "en": "Urban or rural resident"},
    "retired": {"zh-Hans": "退休人员", "zh-Hant": "退休人員", "en": "Retiree"},
    "minor": {"zh-Hans": "未成年人", "zh-Hant": "未成年人", "en": "Minor"},
}
RECORD_TITLE: Texts = {"zh-Hans": "广东省社会保险个人权益记录（示例）", "zh-Hant": "廣東省社會保險個人權益記錄（示例）",
                       "en": "Guangdong social insurance personal rights record (sample)"}
PROOF_STATE_NAMES: dict[str, Texts] = {  # a printed record's state, in the holder's list
    "valid": {"zh-Hans": "有效", "zh-Hant": "有效", "en": "Valid"},
    "expired": {"zh-Hans": "已过期", "zh-Hant": "已過期", "en": "Expired"},
    "revoked": {"zh-Hans": "已作废", "zh-Hant": "已作廢", "en": "Withdrawn"},
}
PROOF_STATES: dict[str, Texts] = {  # what a verifier is told of a printed record
    "valid": {"zh-Hans": "有效：请核对纸质文件上的信息与此一致", "zh-Hant": "有效：請核對紙本文件上的資訊與此一致",
              "en": "Valid: check that the paper shows the same details"},
    "expired": {"zh-Hans": "已过有效期，请联系持有人重新打印", "zh-Hant": "已過有效期，請聯絡持有人重新列印",
                "en": "Expired: ask the holder to print a new one"},
    "revoked": {"zh-Hans": "持有人已作废此记录", "zh-Hant": "持有人已作廢此記錄", "en": "Withdrawn by the holder"},
}


def text(texts: Mapping[str, Texts], key: str, language: str, fallback: str = "") -> str:
    """Our word for `key` in `language` (zh-Hans when that language has none); `fallback` for a key we have no
    word for (a scheme code new to us: the department's own name)."""
    entry = texts.get(key)
    if entry is None:
        return fallback
    return entry.get(language) or entry[ZH_HANS]


__all__ = ["PERSON_KINDS", "PROOF_STATE_NAMES", "PROOF_STATES", "RECORD_TITLE", "SCHEMES", "SCHEME_STATES", "text"]
