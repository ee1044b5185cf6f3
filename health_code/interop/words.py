"""How a converted code's origin is said to the citizen: the partner region and its state, in the reader's
language (the partner's registered name and its states are in its own words, often Chinese or codes)."""

from __future__ import annotations

from app.i18n import ZH_HANS, ZH_HANT, N_, translate

# The partner regions by id, as a citizen names them.
REGIONS = {"MO": N_("澳门"), "HK": N_("香港"), "DE": N_("德国")}
# A partner's states (its own vocabulary, ForeignStatus.state) in plain words.
STATES = {
    "green": N_("绿码"), "yellow": N_("黄码"), "red": N_("红码"),
    "vaccinated": N_("已完成疫苗接种"), "partially_vaccinated": N_("未完成全部疫苗接种"),
    "test_negative": N_("检测结果阴性"), "test_positive": N_("检测结果阳性"), "recovered": N_("已康复"),
}


def region_words(partner_id: str, partner_name: str, language: str) -> str:
    """The partner's region in `language`; a region we have no words for by its registered name (in Chinese),
    or in English by its id."""
    if partner_id in REGIONS:
        return translate(REGIONS[partner_id], language)
    return partner_name if language in (ZH_HANS, ZH_HANT) else partner_id


def state_words(state: str, language: str) -> str:
    """A partner's state in `language`; a state we have no words for as the partner gave it."""
    return translate(STATES[state], language) if state in STATES else state
