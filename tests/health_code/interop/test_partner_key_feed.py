"""Partner keys without hand work: the stand-in Macau region (its own process) publishes its code-signing
keys as a document signed with its long-term key; an admin registers where; the scheduled job fetches,
verifies and applies it. Documents that do not verify, are stale, replayed or unreachable change nothing,
and what an admin revoked stays revoked."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import jwt
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from cryptography.hazmat.primitives.asymmetric import ec

from app.audit import AuditEntry
from health_code.codec import CodeError
from app.errors import ValidationFailed
from health_code.interop.key_feed import (DOCUMENT_TYPE, FeedRefused, check_feed_url, public_addresses,
                                          read_document)
from health_code.interop.models import PartnerKey, PartnerKeyFeed
from health_code.jobs import add_partner_key_jobs, run_exclusively
from tests.factories import make_department
from tests.health_code.interop.partners_factory import PARTNERS, SAME_WORDS, CodeSigningKey, public_jwk
from tests.health_code.interop.test_partner_registry import fetch_trust_list

MO = f"{PARTNERS}/MO"
FEED = f"{MO}/key-feed"


@pytest.fixture
async def macau(client, partner_region, admin):
    """MO registered by hand with the key its system signs with today, as before key feeds."""
    keys = (await partner_region.client.get("/keys")).json()
    reply = await client.post(PARTNERS, headers=admin.headers(), json={
        "id": "MO", "name": "澳门特别行政区卫生局（示例）", "formats": ["GDHC1"], "status_mapping": SAME_WORDS,
        "contact": {"name": "互认联络人（示例）"}, "api_keys": [keys["api_key"]],
        "signing_keys": [{"jwk": keys["signing_keys"][0]}],
    })
    assert reply.status_code == 201, reply.text
    return partner_region


@pytest.fixture
async def feed(client, macau, admin) -> dict[str, Any]:
    """The admin registers where MO publishes its keys and the long-term key that signs them."""
    publisher = (await macau.client.get("/publisher-key")).json()
    reply = await client.put(FEED, headers=admin.headers(),
                             json={"url": f"{macau.url}/published-keys", "signer_jwk": publisher})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def run_job(app) -> dict[str, str]:
    """The scheduled job as the scheduler runs it (one worker at a time)."""
    outcomes: dict[str, str] = {}

    async def job() -> None:
        outcomes.update(await app.ctx.services.partner_key_feeds.refresh_all())

    assert await run_exclusively(app.ctx.services.platform.cache, "partner-key-feeds", job)
    return outcomes


async def code_by(partner, kid: str | None = None, **fields: Any) -> dict[str, Any]:
    reply = await partner.client.post("/codes", json={"colour": "green", **({"kid": kid} if kid else {}), **fields})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def verdict(app, code: dict[str, Any]) -> str:
    """What our side says of a partner's code: ok, or the refusal."""
    try:
        await app.ctx.services.interop.read_partner_code(code["payload"])
    except CodeError as refused:
        return refused.code
    return "ok"


async def listed_keys(client, admin) -> dict[str, dict[str, Any]]:
    reply = await client.get(MO, headers=admin.headers())
    assert reply.status_code == 200
    return {k["kid"]: k for k in reply.json()["signing_keys"]}


async def key_rows() -> list[tuple[str, str, bool, bool]]:
    """Every MO key as (kid, source, revoked, retired): what a refused document must leave alone."""
    return [(k.kid, k.source, k.revoked_at is not None, k.retired_at is not None)
            for k in await PartnerKey.filter(partner_id="MO").order_by("id")]


async def feed_audit(action: str) -> list[dict[str, Any]]:
    return [e.attributes for e in await AuditEntry.filter(action=action).order_by("seq")]


def sign_document(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": DOCUMENT_TYPE, **header})


def tampered(token: str, change: dict[str, Any]) -> str:
    """The claims changed, the partner's signature kept, as a forger on the path would."""
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(change)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


async def serve(partner, document: str) -> None:
    assert (await partner.client.put("/published-keys", content=document)).status_code == 200


# --- rotation applied from the published keys --------------------------------------------------------

async def test_a_rotation_published_by_the_partner_is_applied_by_the_job(app, client, admin, macau, feed):
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    assert await run_job(app) == {"MO": "applied"}
    keys = await listed_keys(client, admin)
    assert keys[first]["source"] == "published" and keys[first]["retired_at"] is None  # the feed manages it now
    first_sequence = (await client.get(FEED, headers=admin.headers())).json()["sequence"]
    before_rotation = await code_by(macau)

    new = (await macau.client.post("/rotate", json={"retire_previous": True})).json()["kid"]
    fresh = await code_by(macau)
    assert await verdict(app, fresh) == "UNKNOWN_KID"  # published, not fetched yet

    assert await run_job(app) == {"MO": "applied"}

    assert await verdict(app, fresh) == "ok"
    assert await verdict(app, before_rotation) == "ok"  # signed before the old key retired: valid until its expiry
    signed_after = await code_by(macau, kid=first, iat_offset=5)
    assert await verdict(app, signed_after) == "KEY_RETIRED"
    keys = await listed_keys(client, admin)
    assert keys[new]["source"] == "published" and keys[new]["retired_at"] is None
    assert keys[first]["retired_at"] is not None and keys[first]["revoked_at"] is None  # retired, not deleted
    shown = (await client.get(FEED, headers=admin.headers())).json()
    assert shown["outcome"] == "applied" and shown["sequence"] > first_sequence
    assert [(a["kid"]) for a in await feed_audit("partner_key_added")] == [new]
    assert [(a["kid"]) for a in await feed_audit("partner_key_retired")] == [first]
    applied = await feed_audit("partner_key_feed_applied")
    assert [(a["added"], a["retired"]) for a in applied] == [(0, 0), (1, 1)]
    assert (await AuditEntry.get(action="partner_key_retired")).actor_type == "system"
    _, trust_list = await fetch_trust_list(client)  # what outside verifiers are told
    published = {k["kid"]: k for k in trust_list["partners"][0]["keys"]}
    assert published[first]["retired_at"] == keys[first]["retired_at"] and published[new]["retired_at"] is None


async def test_the_same_document_again_changes_nothing_and_is_not_audited_again(app, admin, macau, feed):
    assert await run_job(app) == {"MO": "applied"}
    rows = await key_rows()
    assert await run_job(app) == {"MO": "unchanged"}
    assert await key_rows() == rows
    assert len(await feed_audit("partner_key_feed_applied")) == 1


async def test_a_retired_key_listed_again_is_restored(app, client, admin, macau, feed):
    """A partner that dropped a key by mistake lists it again in a newer document."""
    publisher = ec.generate_private_key(ec.SECP256R1())
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys",
                                                          "signer_jwk": public_jwk(publisher, "test-publisher")})
    one, two = CodeSigningKey(), CodeSigningKey()
    now = int(clock_now(app))
    for seq, keys in ((1, [one, two]), (2, [two]), (3, [one, two])):
        await serve(macau, sign_document(publisher, {"iss": "MO", "iat": now, "exp": now + 3600, "seq": seq,
                                                     "keys": [k.jwk() for k in keys]}))
        assert await run_job(app) == {"MO": "applied"}
    assert [a["kid"] for a in await feed_audit("partner_key_restored")] == [one.kid]
    listed = await listed_keys(client, admin)
    assert listed[one.kid]["retired_at"] is None and listed[two.kid]["retired_at"] is None


def clock_now(app) -> float:
    return app.ctx.services.platform.clock.timestamp()


# --- documents that change nothing ---------------------------------------------------------------------

async def test_a_tampered_document_changes_nothing(app, admin, macau, feed):
    assert await run_job(app) == {"MO": "applied"}
    rows = await key_rows()
    genuine = (await macau.client.get("/published-keys")).text
    intruder = CodeSigningKey()
    await serve(macau, tampered(genuine, {"seq": 10**12, "keys": [intruder.jwk()]}))

    assert await run_job(app) == {"MO": "BAD_SIGNATURE"}

    assert await key_rows() == rows
    refused = await feed_audit("partner_key_feed_refused")
    assert [(a["partner"], a["reason"]) for a in refused] == [("MO", "BAD_SIGNATURE")]
    assert not await PartnerKey.exists(kid=intruder.kid)


@pytest.mark.parametrize("how, reason", [
    ("foreign key", "BAD_SIGNATURE"),
    ("other issuer", "WRONG_ISSUER"),
    ("no type", "MALFORMED"),
    ("no sequence", "MALFORMED"),
    ("expired", "STALE"),
    ("from the future", "NOT_YET_VALID"),
    ("bad key", "BAD_KEY"),
])
async def test_a_document_that_does_not_verify_or_is_not_fresh_changes_nothing(app, client, admin, macau, feed,
                                                                               how, reason):
    publisher = ec.generate_private_key(ec.SECP256R1())
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys",
                                                          "signer_jwk": public_jwk(publisher, "test-publisher")})
    rows = await key_rows()
    now = int(clock_now(app))
    new = CodeSigningKey()
    claims: dict[str, Any] = {"iss": "MO", "iat": now, "exp": now + 3600, "seq": 7, "keys": [new.jwk()]}
    signer, header = publisher, {}
    if how == "foreign key":
        signer = ec.generate_private_key(ec.SECP256R1())
    elif how == "other issuer":
        claims["iss"] = "HK"
    elif how == "no type":
        header = {"typ": "JWT"}
    elif how == "no sequence":
        del claims["seq"]
    elif how == "expired":
        claims.update(iat=now - 7200, exp=now - 1)
    elif how == "from the future":
        claims.update(iat=now + 600, exp=now + 7200)
    elif how == "bad key":
        claims["keys"] = [{**new.jwk(), "crv": "P-384"}]
    await serve(macau, sign_document(signer, claims, **header))

    assert await run_job(app) == {"MO": reason}

    assert await key_rows() == rows
    assert not await PartnerKey.exists(kid=new.kid)
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == [reason]
    assert (await client.get(FEED, headers=admin.headers())).json()["outcome"] == reason


async def test_a_document_goes_stale_when_the_partner_stops_publishing(app, admin, macau, feed, clock):
    assert await run_job(app) == {"MO": "applied"}
    rows = await key_rows()
    await serve(macau, (await macau.client.get("/published-keys")).text)  # frozen: the partner stopped re-signing
    (await macau.client.post("/rotate", json={"retire_previous": True}))
    clock.advance(days=8)  # its week-long document has expired meanwhile

    assert await run_job(app) == {"MO": "STALE"}
    assert await key_rows() == rows


async def test_a_replayed_older_document_changes_nothing(app, client, admin, macau, feed):
    older = (await macau.client.get("/published-keys")).text
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    assert await run_job(app) == {"MO": "applied"}
    new = (await macau.client.post("/rotate", json={"retire_previous": True})).json()["kid"]
    assert await run_job(app) == {"MO": "applied"}
    rows = await key_rows()
    await serve(macau, older)  # genuinely signed, still within its exp, but a lower sequence

    assert await run_job(app) == {"MO": "REPLAYED"}

    assert await key_rows() == rows
    keys = await listed_keys(client, admin)
    assert keys[first]["retired_at"] is not None and keys[new]["retired_at"] is None
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == ["REPLAYED"]

    # Registered again with the same publishing key (e.g. a new URL): the sequence is kept, the old one still refused.
    publisher = (await macau.client.get("/publisher-key")).json()
    again = await client.put(FEED, headers=admin.headers(), json={"url": feed["url"], "signer_jwk": publisher})
    assert again.status_code == 200, again.text
    assert await run_job(app) == {"MO": "REPLAYED"}
    assert await key_rows() == rows


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_an_unreachable_feed_changes_nothing_and_is_audited_once(app, client, admin, macau):
    publisher = (await macau.client.get("/publisher-key")).json()
    reply = await client.put(FEED, headers=admin.headers(), json={
        "url": f"http://127.0.0.1:{closed_port()}/published-keys", "signer_jwk": publisher})
    assert reply.status_code == 200
    rows = await key_rows()

    assert await run_job(app) == {"MO": "UNREACHABLE"}
    assert await run_job(app) == {"MO": "UNREACHABLE"}

    assert await key_rows() == rows
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == ["UNREACHABLE"]  # not one a run
    shown = (await client.get(FEED, headers=admin.headers())).json()
    assert shown["outcome"] == "UNREACHABLE" and shown["sequence"] is None


async def test_a_missing_or_oversized_document_changes_nothing(app, client, admin, macau):
    publisher = (await macau.client.get("/publisher-key")).json()
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/no-such-document",
                                                          "signer_jwk": publisher})
    rows = await key_rows()
    assert await run_job(app) == {"MO": "HTTP_STATUS"}
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys", "signer_jwk": publisher})
    await serve(macau, "e" * (65 * 1024))
    assert await run_job(app) == {"MO": "TOO_LARGE"}
    assert await key_rows() == rows
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == ["HTTP_STATUS", "TOO_LARGE"]


# --- the manual override -------------------------------------------------------------------------------

async def test_a_key_revoked_by_hand_stays_revoked_and_a_key_added_by_hand_stays(app, client, admin, macau, feed):
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    assert await run_job(app) == {"MO": "applied"}
    revoked = await client.post(f"{MO}/signing-keys/{first}/revocation", headers=admin.headers())
    assert revoked.status_code == 200
    by_hand = CodeSigningKey()
    added = await client.post(f"{MO}/signing-keys", headers=admin.headers(), json=by_hand.spec())
    assert added.status_code == 201, added.text
    new = (await macau.client.post("/rotate")).json()["kid"]  # the revoked key is still in its published list

    assert await run_job(app) == {"MO": "applied"}

    keys = await listed_keys(client, admin)
    assert keys[first]["revoked_at"] is not None
    assert await verdict(app, await code_by(macau, kid=first)) == "KEY_REVOKED"
    assert await verdict(app, await code_by(macau, kid=new)) == "ok"
    assert keys[by_hand.kid]["source"] == "manual" and keys[by_hand.kid]["retired_at"] is None
    assert keys[by_hand.kid]["revoked_at"] is None
    assert (await feed_audit("partner_key_feed_applied"))[-1]["kept_revoked"] == [first]


async def test_a_kid_of_another_partner_or_a_new_key_under_a_known_kid_is_refused(app, client, admin, macau, feed):
    publisher = ec.generate_private_key(ec.SECP256R1())
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys",
                                                          "signer_jwk": public_jwk(publisher, "test-publisher")})
    first = (await macau.client.get("/keys")).json()["signing_keys"][0]["kid"]
    rows = await key_rows()
    now = int(clock_now(app))
    impostor = CodeSigningKey(kid_bytes=base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    await serve(macau, sign_document(publisher, {"iss": "MO", "iat": now, "exp": now + 3600, "seq": 1,
                                                 "keys": [impostor.jwk()]}))
    assert await run_job(app) == {"MO": "KEY_CHANGED"}
    assert await key_rows() == rows


# --- registration by an admin ----------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["not a url", "ftp://keys.ssm.example.mo/jwks", "https://", "/published-keys",
                                 "https://user:secret@keys.ssm.example.mo/jwks", "https://keys.ssm.example.mo:99999/"])
async def test_a_feed_url_that_is_not_an_absolute_http_url_is_refused(client, admin, macau, url):
    publisher = (await macau.client.get("/publisher-key")).json()
    reply = await client.put(FEED, headers=admin.headers(), json={"url": url, "signer_jwk": publisher})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    assert reply.json()["error"]["fields"][0]["field"] == "url"
    assert not await PartnerKeyFeed.exists(partner_id="MO")


async def test_production_takes_only_https_to_the_partners_own_host(app, client, admin, macau, monkeypatch):
    platform = app.ctx.services.partner_key_feeds.platform
    monkeypatch.setattr(platform, "settings", platform.settings.model_copy(update={"env": "production"}))
    publisher = (await macau.client.get("/publisher-key")).json()
    for url in (f"{macau.url}/published-keys", "http://keys.ssm.example.mo/jwks", "https://127.0.0.1/jwks"):
        reply = await client.put(FEED, headers=admin.headers(), json={"url": url, "signer_jwk": publisher})
        assert reply.status_code == 422 and reply.json()["error"]["fields"][0]["field"] == "url", url
    accepted = await client.put(FEED, headers=admin.headers(),
                                json={"url": "https://keys.ssm.example.mo/jwks", "signer_jwk": publisher})
    assert accepted.status_code == 200 and accepted.json()["url"] == "https://keys.ssm.example.mo/jwks"
    assert check_feed_url("http://127.0.0.1:8100/published-keys", production=False)


@pytest.mark.parametrize("signer, problem", [
    ("private", "private key"),
    ("P-384", "P-256"),
    ("nonsense", "JWK"),
])
async def test_a_signer_key_that_is_not_a_usable_public_key_is_refused(client, admin, macau, signer, problem):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {"private": {**public_jwk(key, "p"), "d": "AAAA"},
           "P-384": public_jwk(ec.generate_private_key(ec.SECP384R1()), "p"),
           "nonsense": {"kty": "EC", "x": "nope"}}[signer]
    reply = await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys",
                                                                  "signer_jwk": jwk})
    assert reply.status_code == 422
    problem_seen = reply.json()["error"]["fields"][0]
    assert problem_seen["field"] == "signer_jwk" and problem in problem_seen["problem"]


async def test_registering_showing_and_removing_a_feed_is_audited_and_admin_only(app, client, admin, macau):
    publisher = (await macau.client.get("/publisher-key")).json()
    body = {"url": f"{macau.url}/published-keys", "signer_jwk": publisher}
    missing = await client.get(FEED, headers=admin.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PARTNER_KEY_FEED_NOT_FOUND"
    unknown = await client.put(f"{PARTNERS}/HK/key-feed", headers=admin.headers(), json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "PARTNER_NOT_FOUND"
    lab = await make_department(app.ctx.services.platform.clock, "检测机构", ["lab"])
    assert (await client.put(FEED, headers=lab.headers(), json=body)).status_code == 403
    assert (await client.put(FEED, json=body)).status_code == 401

    registered = await client.put(FEED, headers=admin.headers(), json=body)
    assert registered.status_code == 200
    assert registered.json() == {"partner": "MO", "url": body["url"], "signer_kid": "mo-keys-publisher",
                                 "sequence": None, "document_issued_at": None, "checked_at": None, "outcome": None}
    refreshed = await client.post(f"{FEED}/refresh", headers=admin.headers())
    assert refreshed.status_code == 200 and refreshed.json()["outcome"] == "applied"
    assert refreshed.json()["sequence"] is not None

    removed = await client.delete(FEED, headers=admin.headers())
    assert removed.status_code == 200
    assert (await client.get(FEED, headers=admin.headers())).status_code == 404
    assert await PartnerKey.filter(partner_id="MO", revoked_at=None).count() == 1  # its keys stay
    actions = [(e.actor, e.action) for e in await AuditEntry.filter(action__startswith="partner_key_feed_")
               .order_by("seq")]
    assert actions == [(admin.id, "partner_key_feed_registered"), ("partner-key-feed", "partner_key_feed_applied"),
                       (admin.id, "partner_key_feed_removed")]
    assert await run_job(app) == {}


def test_the_job_is_on_the_health_code_scheduler(app):
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_partner_key_jobs(scheduler, app.ctx.services.platform.cache, app.ctx.services.partner_key_feeds)
    job = scheduler.get_job("partner-key-feeds")
    assert job is not None and job.args[1] == "partner-key-feeds"
    assert job.args[2] == app.ctx.services.partner_key_feeds.refresh_all


async def test_a_kid_another_partner_holds_is_refused(app, client, admin, macau, feed):
    hong_kong_key = CodeSigningKey()
    hk = await client.post(PARTNERS, headers=admin.headers(), json={
        "id": "HK", "name": "香港特别行政区卫生署", "formats": ["GDHC1"], "status_mapping": SAME_WORDS,
        "contact": {"name": "互认联络人"}, "api_keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()), "hk-1")],
        "signing_keys": [hong_kong_key.spec()]})
    assert hk.status_code == 201, hk.text
    publisher = ec.generate_private_key(ec.SECP256R1())
    await client.put(FEED, headers=admin.headers(), json={"url": f"{macau.url}/published-keys",
                                                          "signer_jwk": public_jwk(publisher, "test-publisher")})
    rows = await key_rows()
    now = int(clock_now(app))
    await serve(macau, sign_document(publisher, {"iss": "MO", "iat": now, "exp": now + 3600, "seq": 1,
                                                 "keys": [hong_kong_key.jwk()]}))
    assert await run_job(app) == {"MO": "KID_TAKEN"}
    assert await key_rows() == rows
    assert await PartnerKey.filter(kid=hong_kong_key.kid).values_list("partner_id", flat=True) == ["HK"]


async def test_the_feed_of_a_suspended_partner_changes_nothing(app, client, admin, macau, feed):
    suspended = await client.patch(MO, headers=admin.headers(), json={"status": "suspended"})
    assert suspended.status_code == 200
    rows = await key_rows()
    await macau.client.post("/rotate", json={"retire_previous": True})
    assert await run_job(app) == {"MO": "PARTNER_SUSPENDED"}
    assert await key_rows() == rows


async def test_removing_a_feed_that_is_not_there_is_not_found(client, admin, macau):
    missing = await client.delete(FEED, headers=admin.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PARTNER_KEY_FEED_NOT_FOUND"


@pytest.mark.parametrize("change", [
    {"exp": float("inf")}, {"exp": float("nan")}, {"exp": 10 ** 15}, {"iat": -1}, {"seq": 2 ** 63}, {"seq": -1},
])
def test_a_signed_document_with_times_or_a_sequence_no_one_can_hold_is_malformed_not_a_crash(change):
    signer = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": "MO", "iat": 1_800_000_000, "exp": 1_800_086_400, "seq": 7, "keys": [], **change}
    token = jwt.encode(claims, signer, algorithm="ES256", headers={"typ": DOCUMENT_TYPE})

    with pytest.raises(FeedRefused) as refused:
        read_document(token, signer.public_key(), "MO", 1_800_000_100)

    assert refused.value.reason == "MALFORMED"


@pytest.mark.parametrize("url", ["https://10.0.0.5/jwks", "https://169.254.169.254/latest/meta-data",
                                 "https://[::ffff:7f00:1]/jwks", "https://192.168.1.20/jwks", "https://0.0.0.0/jwks",
                                 "https://[64:ff9b::a9fe:a9fe]/latest/meta-data", "https://[2002:a00:1::1]/jwks"])
def test_production_refuses_a_feed_at_an_address_that_is_not_public(url):
    with pytest.raises(ValidationFailed):
        check_feed_url(url, production=True)
    assert check_feed_url("https://8.8.8.8/jwks", production=True)


async def test_a_name_that_resolves_to_an_internal_address_is_not_fetched(app, admin, macau, feed, monkeypatch):
    with pytest.raises(FeedRefused) as inside:
        await public_addresses("localhost")
    assert inside.value.reason == "NOT_PUBLIC"
    with pytest.raises(FeedRefused) as nowhere:
        await public_addresses("no-such-host.invalid")
    assert nowhere.value.reason == "UNREACHABLE"
    platform = app.ctx.services.partner_key_feeds.platform  # the feed registered at 127.0.0.1, then the service in production
    monkeypatch.setattr(platform, "settings", platform.settings.model_copy(update={"env": "production"}))
    before = await key_rows()

    assert await run_job(app) == {"MO": "NOT_PUBLIC"}
    assert await key_rows() == before


# IPv6 addresses that carry an IPv4 one, and lead to it: NAT64 (64:ff9b::/96; 64:ff9b:1::/48 is a network's own),
# 6to4 (2002::/16), Teredo (2001::/32, the client's address inverted), IPv4-compatible (::/96) and IPv4-mapped.
INTERNAL_BEHIND_IPV6 = ["64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::808:808",
                        "2002:a00:1::1", "2002:a9fe:a9fe::", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "::a00:1",
                        "::a9fe:a9fe", "::ffff:a9fe:a9fe"]
PUBLIC_ADDRESSES = ["2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1", "93.184.215.14"]


def resolving_to(monkeypatch, address: str) -> str:
    """keys.ssm.example.mo answers `address` (and only it)."""
    name = "keys.ssm.example.mo"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    getaddrinfo = socket.getaddrinfo

    def dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != name:
            return getaddrinfo(host, port, *args, **kwargs)
        return [(family, socket.SOCK_STREAM, 6, "", (address, 0, 0, 0) if family == socket.AF_INET6 else (address, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return name


@pytest.mark.parametrize("address", INTERNAL_BEHIND_IPV6)
async def test_a_name_that_resolves_to_an_ipv6_address_leading_to_an_internal_one_is_not_fetched(monkeypatch, address):
    with pytest.raises(FeedRefused) as inside:
        await public_addresses(resolving_to(monkeypatch, address))
    assert inside.value.reason == "NOT_PUBLIC"
    with pytest.raises(ValidationFailed):
        check_feed_url(f"https://[{address}]/jwks", production=True)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
async def test_a_name_that_resolves_to_a_public_address_is_fetched_from_it(monkeypatch, address):
    assert await public_addresses(resolving_to(monkeypatch, address)) == [address]
    literal = f"[{address}]" if ":" in address else address
    assert check_feed_url(f"https://{literal}/jwks", production=True)
