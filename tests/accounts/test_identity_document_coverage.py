"""Which documents count as confirmed is a setting (APP_IDENTITY_DOCUMENT_TYPES): a type listed there is sent to
the identity authority, and an authority that cannot check it answers 503 with nothing stored, rather than the
document being taken as confirmed or quietly declared."""

from __future__ import annotations

import pytest

from app.accounts.models import Citizen
from app.config import ConfigError, Settings
from tests.factories import sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(identity_document_types="resident_id,residence_permit,permanent_residence,hk_macao_permit")


async def test_a_listed_type_the_authority_cannot_check_is_unavailable_and_nothing_is_stored(client, sms, tencent):
    citizen = await sign_in(client, sms)
    reply = await client.post("/api/v1/me/identity", headers=citizen.headers, json={
        "name": "WONG KA MING", "id_number": "H1234567801", "document_type": "hk_macao_permit"})
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "IDENTITY_CHECK_UNAVAILABLE"
    assert tencent.count("IdCardVerification") == 0
    row = await Citizen.get(id=citizen.id)
    assert row.level == 1 and row.id_number_enc is None


def test_an_unknown_document_type_in_the_setting_is_refused_at_start():
    with pytest.raises((ConfigError, ValueError), match="APP_IDENTITY_DOCUMENT_TYPES"):
        Settings.from_env({"APP_IDENTITY_DOCUMENT_TYPES": "resident_id,library_card"})
    assert Settings.from_env({"APP_IDENTITY_DOCUMENT_TYPES": "resident_id,passport"}).identity.document_type_list == [
        "resident_id", "passport"]
