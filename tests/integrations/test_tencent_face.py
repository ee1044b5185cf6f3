"""The 人脸核身 adapter (DetectAuth, GetDetectInfoEnhanced) against the stand-in Tencent Cloud over HTTP:
a session is not finished until the person did the check on the provider's page, then the verdict says
whether the face was live and how like the authority's photo it was."""

from __future__ import annotations

import json
import os
from typing import AsyncIterator

import httpx
import pytest

from app.accounts.rules import id_check_char
from app.config import Settings
from app.integrations import ProviderMisconfigured, ProviderThrottled, ProviderUnavailable
from app.integrations.face.tencent import TencentFace, face_verdict
from app.integrations.face import FaceSessionGone, FaceSubjectRefused
from standins.tencent_cloud.control import TencentStandIn
from standins.tencent_cloud.provider import SAMPLE_PEOPLE

UNKNOWN = "44010619900307123" + id_check_char("44010619900307123")
PERSON = json.loads(SAMPLE_PEOPLE.read_text(encoding="utf-8"))["people"][2]
BACK = "https://gov-app.example.cn/face/done"


@pytest.fixture
async def face(tencent_settings: Settings, tencent_control: TencentStandIn) -> AsyncIterator[TencentFace]:
    provider = TencentFace.from_settings(tencent_settings)
    yield provider
    await provider.close()


async def test_a_passed_session_is_finished_live_and_alike(face, tencent_control, tencent_url):
    session = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    assert face.name == "tencent-faceid"
    assert session.url == f"{tencent_url}/_standin/faceid/page/{session.biz_token}"
    assert (await face.verdict(session.biz_token)).finished is False
    tencent_control.complete_face(session.biz_token, outcome="pass")
    verdict = await face.verdict(session.biz_token)
    assert verdict.finished and verdict.live and verdict.similarity == 97.0 and verdict.code == "0"
    assert (verdict.id_number, verdict.name) == (PERSON["id_number"], PERSON["name"])
    assert tencent_control.count("DetectAuth") == 1 and tencent_control.count("GetDetectInfoEnhanced") == 2


@pytest.mark.parametrize("outcome, live, similarity, code", [("fail", True, 31.0, "2016"),
                                                             ("not_live", False, 0.0, "1002")])
async def test_a_failed_or_not_live_session_says_so(face, tencent_control, outcome, live, similarity, code):
    session = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    tencent_control.complete_face(session.biz_token, outcome=outcome)
    verdict = await face.verdict(session.biz_token)
    assert (verdict.finished, verdict.live, verdict.similarity, verdict.code) == (True, live, similarity, code)


async def test_a_captured_sample_is_scored_by_its_variety(face):
    varied = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    await face.complete_with_sample(varied.biz_token, os.urandom(4096))
    verdict = await face.verdict(varied.biz_token)
    assert verdict.live and verdict.code == "0" and 95 < verdict.similarity <= 99
    covered = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    await face.complete_with_sample(covered.biz_token, bytes(4096))
    verdict = await face.verdict(covered.biz_token)
    assert verdict.finished and not verdict.live and verdict.code == "1002"


async def test_a_session_is_done_once(face, tencent_control):
    session = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    tencent_control.complete_face(session.biz_token, outcome="pass")
    with pytest.raises(httpx.HTTPStatusError) as again:
        tencent_control.complete_face(session.biz_token, outcome="fail")
    assert again.value.response.status_code == 409
    assert (await face.verdict(session.biz_token)).code == "0"


async def test_an_unknown_biz_token_is_refused(face, tencent_control):
    token = "CE661F1A-0F1E-45BD-BE13-34C05CEA7681"
    with pytest.raises(FaceSessionGone) as caught:
        await face.verdict(token)
    assert caught.value.code == "InvalidParameterValue.BizTokenIllegal"
    with pytest.raises(FaceSessionGone):
        await face.complete_with_sample(token, os.urandom(512))
    with pytest.raises(httpx.HTTPStatusError) as control:
        tencent_control.complete_face(token, outcome="pass")
    assert control.value.response.status_code == 404


async def test_a_reset_forgets_the_sessions(face, tencent_control):
    session = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    tencent_control.reset()
    with pytest.raises(FaceSessionGone):
        await face.verdict(session.biz_token)


async def test_a_person_the_authority_does_not_hold_cannot_start(face, tencent_control):
    with pytest.raises(FaceSubjectRefused) as unknown:
        await face.start("王小明", UNKNOWN, BACK)
    assert unknown.value.code == "FailedOperation.IdNoExistSystem" and "440106" not in str(unknown.value)
    with pytest.raises(FaceSubjectRefused) as mismatch:
        await face.start("王小明", PERSON["id_number"], BACK)
    assert mismatch.value.code == "FailedOperation.IdNameMisMatch"
    tencent_control.behave("DetectAuth", "enrol", count=0)
    assert (await face.start("王小明", UNKNOWN, BACK)).biz_token


async def test_a_throttled_or_failing_provider(face, tencent_control, tencent_settings):
    tencent_control.behave("DetectAuth", "throttle")
    with pytest.raises(ProviderThrottled) as throttled:
        await face.start(PERSON["name"], PERSON["id_number"], BACK)
    assert throttled.value.code == "RequestLimitExceeded"
    session = await face.start(PERSON["name"], PERSON["id_number"], BACK)
    slow = TencentFace.from_settings(tencent_settings.with_(face_timeout=0.3))
    tencent_control.behave("GetDetectInfoEnhanced", "slow", delay=2.0)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await slow.verdict(session.biz_token)
        assert caught.value.code == "timeout"
    finally:
        await slow.close()


async def test_a_sample_is_never_sent_to_a_real_provider(tencent_settings):
    real = TencentFace.from_settings(tencent_settings.with_(face_url="https://faceid.tencentcloudapi.com"))
    try:
        with pytest.raises(ProviderMisconfigured) as caught:
            await real.complete_with_sample("CE661F1A-0F1E-45BD-BE13-34C05CEA7681", os.urandom(512))
        assert caught.value.code == "not_a_stand_in"
    finally:
        await real.close()


async def test_the_page_is_a_marked_zh_hans_sample(face, tencent_url):
    session = await face.start(PERSON["name"], PERSON["id_number"], "https://x.example/</script><b>")
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url)
        gone = await http.get(f"{tencent_url}/_standin/faceid/page/unknown")
    assert page.status_code == 200 and 'lang="zh-Hans"' in page.text and "示例 stand-in" in page.text
    assert "开始检测" in page.text and PERSON["name"] not in page.text  # the name is masked
    assert "</script><b>" not in page.text
    assert gone.status_code == 404


def test_a_verdict_without_a_comparison_has_no_similarity():
    assert face_verdict({"ErrCode": None}).finished is False
    verdict = face_verdict({"ErrCode": 1002, "LiveStatus": 1002, "Sim": None, "IdCard": None, "Name": None})
    assert verdict.finished and not verdict.live and verdict.similarity == 0.0 and verdict.code == "1002"
