"""Partner key feeds against a partner's key in the wrong hands, a name that changes what it points to, workers
racing each other and documents that say more than they may. The stand-in Macau region (its own process)
publishes; the job fetches, verifies and applies; our verification is what a border officer's scan meets."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.security.keys import b64url
from health_code.interop import key_feed
from health_code.interop.models import PartnerKey, PartnerKeyFeed
from tests.health_code.interop import test_partner_key_feed as stories
from tests.health_code.interop.dcc_signing import DAY, OID_TEST, OID_VACCINATION, make_signer
from tests.health_code.interop.partners_factory import CodeSigningKey, public_jwk
from tests.health_code.interop.test_partner_key_feed import (FEED, clock_now, code_by, feed_audit, key_rows,
                                                             listed_keys, run_job, serve, sign_document, verdict)

macau, feed = stories.macau, stories.feed  # the fixtures: MO registered by hand, then its feed by the admin

YEAR = 365 * 24 * 3600


# --- a retired key in the wrong hands ------------------------------------------------------------------

async def test_a_retired_key_verifies_nothing_once_its_grace_has_passed_whatever_the_code_says(
        app, client, admin, macau, feed, clock):
    """Whoever kept the retired private key signs codes dated before the retirement, valid for a year."""
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    assert await run_job(app) == {"MO": "applied"}
    await macau.client.post("/rotate", json={"retire_previous": True})
    assert await run_job(app) == {"MO": "applied"}
    assert (await listed_keys(client, admin))[first]["retired_at"] is not None
    backdated = await code_by(macau, kid=first, iat_offset=-3600, ttl=YEAR)

    assert await verdict(app, backdated) == "ok"  # within the grace: codes signed before the retirement still pass
    clock.advance(days=6)
    assert await verdict(app, backdated) == "ok"
    clock.advance(days=1, minutes=1)
    assert await verdict(app, backdated) == "KEY_NOT_VALID"
    assert await verdict(app, await code_by(macau, ttl=YEAR)) == "ok"  # the partner's current key is not affected


# --- a document may narrow what a signer certificate allows, never widen it ---------------------------------

def signed_document(app, publisher: ec.EllipticCurvePrivateKey, keys: list[dict[str, Any]], seq: int) -> str:
    now = int(clock_now(app))
    return sign_document(publisher, {"iss": "MO", "iat": now, "exp": now + 3600, "seq": seq, "keys": keys})


async def publish_with_own_publisher(app, client, admin, partner, keys: list[dict[str, Any]],
                                     seq: int = 1) -> ec.EllipticCurvePrivateKey:
    """The admin registers a publishing key the test holds; MO's feed then serves a document it signed."""
    publisher = ec.generate_private_key(ec.SECP256R1())
    reply = await client.put(FEED, headers=admin.headers(), json={
        "url": f"{partner.url}/published-keys", "signer_jwk": public_jwk(publisher, "test-publisher")})
    assert reply.status_code == 200, reply.text
    await serve(partner, signed_document(app, publisher, keys, seq))
    return publisher


@pytest.mark.parametrize("certificate_allows, document_states, signs", [
    ((OID_TEST, OID_VACCINATION), ["v", "r"], ["v"]),  # r is not the document's to give
    ((OID_TEST, OID_VACCINATION), None, ["t", "v"]),  # the document says nothing: the certificate decides
    (None, ["t"], ["t"]),  # a certificate without usages allows any: the document narrows it to tests
    ((OID_VACCINATION,), ["t", "r"], []),  # nothing in common: it signs no type at all
])
async def test_a_signer_certificate_signs_only_what_both_it_and_the_document_allow(
        app, client, admin, macau, feed, certificate_allows, document_states, signs):
    now = clock_now(app)
    signer = make_signer(eku=certificate_allows, not_before=now - DAY, not_after=now + 365 * DAY)
    entry = {"x5c": [base64.b64encode(signer.der).decode()],
             **({"usages": document_states} if document_states is not None else {})}
    await publish_with_own_publisher(app, client, admin, macau, [entry])

    assert await run_job(app) == {"MO": "applied"}

    kid = b64url(signer.kid)
    assert (await listed_keys(client, admin))[kid]["usages"] == signs
    await app.ctx.trust.refresh()
    assert app.ctx.trust.find_key(signer.kid).usages == frozenset(signs)  # what a DCC's type is checked against


async def test_a_key_with_usages_that_are_not_a_list_of_types_is_refused(app, client, admin, macau, feed):
    rows = await key_rows()
    await publish_with_own_publisher(app, client, admin, macau, [{**CodeSigningKey().jwk(), "usages": 5}])
    assert await run_job(app) == {"MO": "BAD_KEY"}
    assert await key_rows() == rows


# --- two workers applying at once ---------------------------------------------------------------------------

async def test_a_worker_that_verified_an_older_document_while_another_applied_a_newer_one_changes_nothing(
        app, client, admin, macau, feed, monkeypatch):
    """Worker A stalls fetching past its lock's lease; worker B takes the lock and applies the partner's newer
    document; then A, holding a genuine but older document, comes back to apply it."""
    one, two = CodeSigningKey(), CodeSigningKey()
    by_hand = await key_rows()
    publisher = await publish_with_own_publisher(app, client, admin, macau, [two.jwk()], seq=3)
    older = signed_document(app, publisher, [one.jwk()], seq=2)
    fetch = key_feed.fetch_document

    async def stalled_then_older(url: str, *args: Any, **kwargs: Any) -> str:
        monkeypatch.setattr(key_feed, "fetch_document", fetch)  # worker B fetches for real
        await app.ctx.platform.cache.delete("lock:partner-key-feed:MO")  # A's lease ran out
        assert await run_job(app) == {"MO": "applied"}  # B applies the newer document
        return older

    monkeypatch.setattr(key_feed, "fetch_document", stalled_then_older)
    worker_a = await PartnerKeyFeed.get(partner_id="MO")

    assert await app.ctx.partner_key_feeds.refresh(worker_a) == "REPLAYED"

    assert (await PartnerKeyFeed.get(partner_id="MO")).sequence == 3
    assert await key_rows() == [*by_hand, (two.kid, "published", False, False)]
    assert not await PartnerKey.exists(kid=one.kid)
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == ["REPLAYED"]


# --- a sequence number used twice --------------------------------------------------------------------------

async def test_a_document_reusing_the_last_sequence_with_other_keys_is_refused(app, client, admin, macau, feed):
    one, two, three = CodeSigningKey(), CodeSigningKey(), CodeSigningKey()
    publisher = await publish_with_own_publisher(app, client, admin, macau, [one.jwk(), two.jwk()], seq=5)
    assert await run_job(app) == {"MO": "applied"}
    rows = await key_rows()

    await serve(macau, signed_document(app, publisher, [one.jwk()], seq=5))  # two dropped, no new number
    assert await run_job(app) == {"MO": "SEQUENCE_REUSED"}
    await serve(macau, signed_document(app, publisher, [one.jwk(), two.jwk(), three.jwk()], seq=5))
    assert await run_job(app) == {"MO": "SEQUENCE_REUSED"}

    assert await key_rows() == rows
    assert not await PartnerKey.exists(kid=three.kid)
    shown = (await client.get(FEED, headers=admin.headers())).json()
    assert shown["sequence"] == 5 and shown["outcome"] == "SEQUENCE_REUSED"
    assert [(a["partner"], a["reason"]) for a in await feed_audit("partner_key_feed_refused")] == [
        ("MO", "SEQUENCE_REUSED")]  # once, as every refusal that repeats

    await serve(macau, signed_document(app, publisher, [two.jwk(), one.jwk()], seq=5))  # the same keys, re-signed
    assert await run_job(app) == {"MO": "unchanged"}
    assert await key_rows() == rows
