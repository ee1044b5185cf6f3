"""Upkeep and the citizen's own data: spent codes and expired tokens are purged, an erased account leaves nothing
here, and the citizen's copy of their data carries their consents and sign-ins."""

from __future__ import annotations

from app.jobs import run_exclusively
from app.oidc.models import OidcAccessToken, OidcAuthorizationCode, OidcConsent
from app.oidc.service import export_of
from tests.factories import sign_in
from tests.oidc.oidc_factory import approved_code, authorization_query, data_bureau, exchange, pkce, register_site


async def _signed_in_at(client, sms, clock, site):
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    assert (await exchange(client, site, code, verifier)).status_code == 200
    return citizen


async def test_the_purge_keeps_what_may_still_be_used_and_deletes_the_rest(app, client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    await _signed_in_at(client, sms, clock, site)
    oidc = app.ctx.services.oidc
    assert await run_exclusively(app.ctx.services.platform.cache, "oidc-purge", oidc.purge_expired)
    assert await OidcAuthorizationCode.all().count() == 1 and await OidcAccessToken.all().count() == 1
    clock.advance(oidc.settings.access_token_ttl + oidc.settings.code_ttl + 1)
    assert await oidc.purge_expired() == 2
    assert await OidcAuthorizationCode.all().count() == 0 and await OidcAccessToken.all().count() == 0
    assert await OidcConsent.all().count() == 1  # a remembered consent stays until the citizen withdraws it


async def test_erasing_a_citizen_leaves_nothing_of_them_and_their_copy_has_their_sign_ins(app, client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await _signed_in_at(client, sms, clock, site)
    other = await _signed_in_at(client, sms, clock, site)
    copy = await export_of(app.ctx.services.platform.pii, citizen.id)
    assert [c["client_id"] for c in copy["oidc_consents"]] == [site.client_id]
    assert copy["oidc_sign_ins"][0]["used_at"] and copy["oidc_access_tokens"][0]["revoked_at"] is None
    assert "code_hash" not in str(copy) and "token_hash" not in str(copy)

    await app.ctx.services.oidc.erase_citizen(citizen.id)
    for model in (OidcConsent, OidcAuthorizationCode, OidcAccessToken):
        assert await model.filter(citizen_id=citizen.id).count() == 0
        assert await model.filter(citizen_id=other.id).count() == 1
    assert await export_of(app.ctx.services.platform.pii, citizen.id) == {
        "oidc_consents": [], "oidc_sign_ins": [], "oidc_access_tokens": []}


async def test_two_approvals_at_once_widen_one_remembered_consent(app, client, sms, clock, monkeypatch):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    oidc = app.ctx.services.oidc
    async def not_yet(*args, **kwargs):  # the other tab's row is not visible when this one looks
        return None

    await oidc._remember(citizen.id, site.client_id, ["openid", "profile"])
    monkeypatch.setattr(OidcConsent, "get_or_none", not_yet)
    await oidc._remember(citizen.id, site.client_id, ["openid", "phone"])
    monkeypatch.undo()
    (consent,) = await OidcConsent.filter(citizen_id=citizen.id)
    assert consent.scopes == ["openid", "profile", "phone"]
