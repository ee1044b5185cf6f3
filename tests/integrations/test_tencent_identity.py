"""The 二要素 adapter (IdCardVerification) against the stand-in Tencent Cloud over HTTP: each published
Result becomes our outcome or the provider error the domains act on; the stand-in's registry is the
示例 residents of sample_people.json and the people a test adds."""

from __future__ import annotations

import json
from typing import AsyncIterator

import pytest

from app.accounts.rules import id_check_char, normalize_name
from app.config import Settings
from app.integrations import ProviderThrottled, ProviderUnavailable
from app.integrations.identity import INVALID_ID_NUMBER, INVALID_NAME, MATCH, MISMATCH, NO_RECORD
from app.integrations.identity.tencent import TencentIdentity, verdict
from standins.tencent_cloud.control import TencentStandIn
from standins.tencent_cloud.provider import SAMPLE_PEOPLE

SAMPLE = json.loads(SAMPLE_PEOPLE.read_text(encoding="utf-8"))["people"]


def number(sequence: str) -> str:
    first17 = "44010319870521" + sequence
    return first17 + id_check_char(first17)


@pytest.fixture
async def authority(tencent_settings: Settings, tencent_control: TencentStandIn) -> AsyncIterator[TencentIdentity]:
    identity = TencentIdentity.from_settings(tencent_settings)
    yield identity
    await identity.close()


def test_the_sample_residents_are_marked_and_their_numbers_are_valid():
    assert 8 <= len(SAMPLE) <= 10
    for person in SAMPLE:
        assert person["note"] == "示例" and normalize_name(person["name"]) == person["name"]
        assert id_check_char(person["id_number"][:17]) == person["id_number"][17]


async def test_a_seeded_resident_matches_and_another_name_does_not(authority, tencent_control):
    person = SAMPLE[0]
    assert (await authority.check(person["name"], person["id_number"])).outcome == MATCH
    assert (await authority.check(person["name"][:-1] + "乙", person["id_number"])).outcome == MISMATCH
    assert tencent_control.count("IdCardVerification") == 2


async def test_each_published_result_becomes_our_outcome(authority, tencent_control):
    tencent_control.add_person("陈美玲", number("318"))
    assert (await authority.check("陈美玲", number("318"))).confirmed
    assert (await authority.check("陈美玲", number("319"))).outcome == NO_RECORD
    assert (await authority.check("陈美玲", number("318")[:17] + "0")).outcome == INVALID_ID_NUMBER
    assert (await authority.check("Chen Meiling", number("318"))).outcome == INVALID_NAME


async def test_added_people_go_at_a_reset_and_the_seeded_stay(authority, tencent_control):
    tencent_control.add_person("黄志强", number("415"))
    tencent_control.reset()
    assert (await authority.check("黄志强", number("415"))).outcome == NO_RECORD
    assert (await authority.check(SAMPLE[1]["name"], SAMPLE[1]["id_number"])).outcome == MATCH


async def test_enrolling_takes_an_unknown_number_under_the_first_name_asked(authority, tencent_control):
    tencent_control.behave("IdCardVerification,DetectAuth", "enrol", count=0)
    tencent_control.fail_next(1, action="IdCardVerification")  # a fault of one call does not end enrolling
    with pytest.raises(ProviderUnavailable):
        await authority.check("林晓东", number("533"))
    assert (await authority.check("林晓东", number("533"))).outcome == MATCH
    assert (await authority.check("林晓冬", number("533"))).outcome == MISMATCH


async def test_an_authority_over_its_daily_limit_is_throttled(authority, tencent_control):
    tencent_control.behave("IdCardVerification", "throttle")
    with pytest.raises(ProviderThrottled) as caught:
        await authority.check(SAMPLE[0]["name"], SAMPLE[0]["id_number"])
    assert caught.value.code == "result_-7" and caught.value.retry_after > 0


@pytest.mark.parametrize("mode, code", [("fail", "InternalError"), ("http500", "http_500"), ("slow", "timeout")])
async def test_an_authority_that_cannot_answer_is_unavailable(tencent_settings, tencent_control, mode, code):
    identity = TencentIdentity.from_settings(tencent_settings.with_(identity_timeout=0.3))
    tencent_control.behave("IdCardVerification", mode, delay=2.0)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await identity.check(SAMPLE[0]["name"], SAMPLE[0]["id_number"])
        assert caught.value.code == code and SAMPLE[0]["id_number"] not in str(caught.value)
    finally:
        await identity.close()


def test_the_results_the_stand_in_never_gives_map_as_published():
    for result in ("-4", "-6", "-99", ""):
        with pytest.raises(ProviderUnavailable):
            verdict(result)
    assert verdict("-1").outcome == MISMATCH and verdict("-5").outcome == NO_RECORD


async def test_the_documents_of_the_resident_id_form_are_checked_and_no_other_is_sent(authority, tencent_control):
    """A 港澳台居民居住证 and a 2023 永居证 are numbers of the resident ID's form in the same register; a permit or a
    passport is not checked there, and is never sent."""
    from app.accounts import documents

    tencent_control.behave("IdCardVerification", "enrol", count=0)
    permit = "810000" + "19880512" + "031"
    permanent = "9" + "44" + "840" + "19850704" + "012"
    assert (await authority.check("陈家明", permit + id_check_char(permit), "residence_permit")).outcome == MATCH
    assert (await authority.check("JOHN SMITH", permanent + documents.gb11643_check_char(permanent),
                                  "permanent_residence")).outcome == MATCH
    sent = tencent_control.count("IdCardVerification")
    for document_type, number_of_it in (("hk_macao_permit", "H1234567801"), ("passport", "E12345678"),
                                        ("permanent_residence", "CAN447602150071")):
        with pytest.raises(ProviderUnavailable) as caught:
            await authority.check("WONG KA MING", number_of_it, document_type)
        assert caught.value.code == "document_not_covered"
    assert tencent_control.count("IdCardVerification") == sent
