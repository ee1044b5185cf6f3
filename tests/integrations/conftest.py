"""The stand-in Tencent Cloud as its own process, once per test session (per xdist worker), and its controls
emptied for each test. It is started with explicit credentials and app ids, the same the adapters here are
given, so the tests do not depend on the APP_* environment. Also the receiver of the notices a stand-in
payment provider posts, shared by the WeChat Pay tests."""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from app.config import Settings
from standins.tencent_cloud.control import TencentStandIn
from tests.health_code.interop.partner_process import end_now, launch
from tests.integrations.notice_receiver import Receiver

SECRET_ID = "AKIDintegrationtests0000000000000"
SECRET_KEY = "integration-tests-secret-key"
SMS_SDK_APP_ID = "1400009999"
VOICE_SDK_APP_ID = "1400009998"
SIGN_NAME = "粤省事示例"


@pytest.fixture(scope="session")
def tencent_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("tencent-cloud") / "standin.log"
    command = [sys.executable, "-m", "standins.tencent_cloud", "--port", "0", "--secret-id", SECRET_ID,
               "--secret-key", SECRET_KEY, "--sms-sdk-app-id", SMS_SDK_APP_ID, "--voice-sdk-app-id",
               VOICE_SDK_APP_ID, "--sign-name", SIGN_NAME]
    url, process = launch(command, log, "/_standin/health", what="stand-in Tencent Cloud")
    yield url
    end_now(process)


@pytest.fixture
def tencent_control(tencent_url: str) -> Iterator[TencentStandIn]:
    control = TencentStandIn(tencent_url)
    control.reset()
    yield control
    control.reset()
    control.close()


@pytest.fixture
def tencent_settings(tencent_url: str) -> Settings:
    """Settings pointing every Tencent Cloud adapter at the stand-in, with short timeouts."""
    return Settings(tencent_secret_id=SECRET_ID, tencent_secret_key=SECRET_KEY, sms_url=tencent_url,
                    voice_url=tencent_url, identity_url=tencent_url, face_url=tencent_url,
                    sms_sdk_app_id=SMS_SDK_APP_ID, voice_sdk_app_id=VOICE_SDK_APP_ID, sms_sign_name=SIGN_NAME,
                    sms_timeout=2.0, identity_timeout=2.0, face_timeout=2.0)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A local endpoint that collects the notices a stand-in provider posts, for one test module."""
    receiver = Receiver()
    yield receiver
    receiver.stop()
