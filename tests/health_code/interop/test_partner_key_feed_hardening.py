"""Partner key feeds against a partner's key in the wrong hands, a name that changes what it points to, workers
racing each other and documents that say more than they may. The stand-in Macau region (its own process)
publishes; the job fetches, verifies and applies; our verification is what a border officer's scan meets."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.security.keys import b64url
from health_code.interop import key_feed
from health_code.interop.models import PartnerKey, PartnerKeyFeed
from tests.health_code.interop import test_partner_key_feed as stories
from tests.health_code.interop.dcc_signing import DAY, OID_TEST, OID_VACCINATION, make_signer
from tests.health_code.interop.partners_factory import CodeSigningKey, public_jwk
from tests.health_code.interop.test_partner_key_feed import (FEED, MO, clock_now, code_by, feed_audit, key_rows,
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
    await app.ctx.services.trust.refresh()
    assert app.ctx.services.trust.find_key(signer.kid).usages == frozenset(signs)  # what a DCC's type is checked against


async def test_a_key_with_usages_that_are_not_a_list_of_types_is_refused(app, client, admin, macau, feed):
    rows = await key_rows()
    await publish_with_own_publisher(app, client, admin, macau, [{**CodeSigningKey().jwk(), "usages": 5}])
    assert await run_job(app) == {"MO": "BAD_KEY"}
    assert await key_rows() == rows


# --- a key already held, published again with other terms ----------------------------------------------------

def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(int(seconds), timezone.utc)


async def held_terms(kid: str) -> tuple[list[str] | None, datetime | None, datetime | None, bool]:
    """What our trust list holds of a key: (usages, not_before, not_after, revoked)."""
    key = await PartnerKey.get(partner_id="MO", kid=kid)
    return key.usages, key.not_before, key.not_after, key.revoked_at is not None


async def test_a_newer_document_narrowing_a_held_keys_usages_and_bringing_its_expiry_forward_takes_effect(
        app, client, admin, macau, feed):
    """MO's signer certificate allows tests and vaccinations for a year; MO then limits the key to vaccinations
    and ends it in 30 days, and later publishes it with the certificate's terms again, plus recoveries."""
    now = clock_now(app)
    signer = make_signer(eku=(OID_TEST, OID_VACCINATION), not_before=now - DAY, not_after=now + 365 * DAY)
    entry = {"x5c": [base64.b64encode(signer.der).decode()]}
    kid = b64url(signer.kid)
    publisher = await publish_with_own_publisher(app, client, admin, macau, [entry], seq=1)
    assert await run_job(app) == {"MO": "applied"}
    assert await held_terms(kid) == (["t", "v"], at(now - DAY), at(now + 365 * DAY), False)

    await serve(macau, signed_document(app, publisher, [{**entry, "usages": ["v"], "exp": int(now + 30 * DAY)}], 2))
    assert await run_job(app) == {"MO": "applied"}

    assert await held_terms(kid) == (["v"], at(now - DAY), at(now + 30 * DAY), False)
    await app.ctx.services.trust.refresh()
    trusted = app.ctx.services.trust.find_key(signer.kid)
    assert trusted.usages == frozenset({"v"}) and trusted.not_after == at(now + 30 * DAY)
    assert (await listed_keys(client, admin))[kid]["usages"] == ["v"]
    assert await feed_audit("partner_key_changed") == [
        {"partner": "MO", "sequence": 2, "kid": kid, "fields": ["not_after", "usages"]}]
    assert (await feed_audit("partner_key_feed_applied"))[-1]["changed"] == 1

    await serve(macau, signed_document(app, publisher, [{**entry, "usages": ["t", "v", "r"]}], 3))
    assert await run_job(app) == {"MO": "applied"}
    assert await held_terms(kid) == (["t", "v"], at(now - DAY), at(now + 365 * DAY), False)  # never beyond the certificate


async def test_a_key_an_admin_revoked_is_not_extended_by_a_newer_document(app, client, admin, macau, feed):
    now = clock_now(app)
    key = CodeSigningKey()
    listed = {**key.jwk(), "usages": ["v"], "exp": int(now + 30 * DAY)}
    publisher = await publish_with_own_publisher(app, client, admin, macau, [listed], seq=1)
    assert await run_job(app) == {"MO": "applied"}
    revoked = await client.post(f"{MO}/signing-keys/{key.kid}/revocation", headers=admin.headers())
    assert revoked.status_code == 200, revoked.text
    terms = await held_terms(key.kid)

    await serve(macau, signed_document(app, publisher, [{**listed, "usages": ["t", "v", "r"],
                                                         "exp": int(now + 365 * DAY)}], 2))
    assert await run_job(app) == {"MO": "applied"}

    assert await held_terms(key.kid) == terms == (["v"], None, at(now + 30 * DAY), True)
    assert await feed_audit("partner_key_changed") == []
    assert (await feed_audit("partner_key_feed_applied"))[-1]["kept_revoked"] == [key.kid]


@pytest.mark.parametrize("change", [
    lambda now: {"exp": int(now + 30 * DAY)},
    lambda now: {"nbf": int(now + DAY)},
    lambda now: {"usages": ["t"]},
], ids=["sooner expiry", "later start", "fewer usages"])
async def test_a_document_reusing_the_last_sequence_with_other_terms_for_a_key_is_refused(
        app, client, admin, macau, feed, change):
    now = clock_now(app)
    key = CodeSigningKey()
    listed = {**key.jwk(), "usages": ["t", "v"], "nbf": int(now - DAY), "exp": int(now + 365 * DAY)}
    publisher = await publish_with_own_publisher(app, client, admin, macau, [listed], seq=5)
    assert await run_job(app) == {"MO": "applied"}
    terms = await held_terms(key.kid)

    await serve(macau, signed_document(app, publisher, [{**listed, **change(now)}], 5))
    assert await run_job(app) == {"MO": "SEQUENCE_REUSED"}
    assert await held_terms(key.kid) == terms

    await serve(macau, signed_document(app, publisher, [{**listed, "usages": ["v", "t"]}], 5))  # the same terms
    assert await run_job(app) == {"MO": "unchanged"}


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
        await app.ctx.services.platform.cache.delete("lock:partner-key-feed:MO")  # A's lease ran out
        assert await run_job(app) == {"MO": "applied"}  # B applies the newer document
        return older

    monkeypatch.setattr(key_feed, "fetch_document", stalled_then_older)
    worker_a = await PartnerKeyFeed.get(partner_id="MO")

    assert await app.ctx.services.partner_key_feeds.refresh(worker_a) == "REPLAYED"

    assert (await PartnerKeyFeed.get(partner_id="MO")).sequence == 3
    assert await key_rows() == [*by_hand, (two.kid, "published", False, False)]
    assert not await PartnerKey.exists(kid=one.kid)
    assert [a["reason"] for a in await feed_audit("partner_key_feed_refused")] == ["REPLAYED"]


async def test_a_feed_an_admin_registers_again_while_its_document_is_fetched_is_left_for_the_next_run(
        app, client, admin, macau, feed, monkeypatch):
    """The admin moves MO's feed to another URL while the job is fetching from the old one: what the old URL served
    is not applied (it was checked against what the admin has since replaced); the next run reads the new URL."""
    rows = await key_rows()
    moved = f"{macau.url}/published-keys?moved=1"
    publisher = (await macau.client.get("/publisher-key")).json()
    fetch = key_feed.fetch_document

    async def fetch_while_the_admin_moves_it(url: str, *args: Any, **kwargs: Any) -> str:
        reply = await client.put(FEED, headers=admin.headers(), json={"url": moved, "signer_jwk": publisher})
        assert reply.status_code == 200, reply.text
        return await fetch(url, *args, **kwargs)

    monkeypatch.setattr(key_feed, "fetch_document", fetch_while_the_admin_moves_it)
    assert await run_job(app) == {"MO": "busy"}

    assert await key_rows() == rows
    shown = (await client.get(FEED, headers=admin.headers())).json()
    assert (shown["url"], shown["sequence"], shown["outcome"]) == (moved, None, None)
    assert await feed_audit("partner_key_feed_applied") == []
    monkeypatch.setattr(key_feed, "fetch_document", fetch)
    assert await run_job(app) == {"MO": "applied"}
    assert (await client.get(FEED, headers=admin.headers())).json()["url"] == moved


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


# --- a name that points elsewhere a moment later -------------------------------------------------------------

PARTNER_HOST = "keys.ssm.example.mo"
PUBLIC = ["93.184.215.14", "93.184.215.15"]


async def test_the_fetch_connects_to_the_addresses_checked_and_never_asks_the_name_again(
        app, client, admin, macau, monkeypatch):
    """The partner's name answers with public addresses for the check, then with 127.0.0.1 (DNS rebinding):
    nothing is ever sent to 127.0.0.1, and the first public address, not answering, is passed over."""
    platform = app.ctx.services.partner_key_feeds.platform
    monkeypatch.setattr(platform, "settings", platform.settings.model_copy(update={"env": "production"}))
    document = (await macau.client.get("/published-keys")).text
    publisher = (await macau.client.get("/publisher-key")).json()
    reply = await client.put(FEED, headers=admin.headers(), json={"url": f"https://{PARTNER_HOST}/published-keys",
                                                                  "signer_jwk": publisher})
    assert reply.status_code == 200, reply.text
    answers = [PUBLIC, ["127.0.0.1"]]
    lookups: list[str] = []
    getaddrinfo = socket.getaddrinfo

    def rebinding_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != PARTNER_HOST:
            return getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)) for address in answers[len(lookups) > 1]]

    sent: list[tuple[str, str, str | None]] = []

    def network(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.headers["host"], request.extensions.get("sni_hostname")))
        if request.url.host == PUBLIC[0]:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text=document)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr(key_feed, "http_client",
                        lambda **options: httpx.AsyncClient(transport=httpx.MockTransport(network), **options))

    assert await run_job(app) == {"MO": "applied"}
    assert lookups == [PARTNER_HOST]  # once, for the check
    assert sent == [(PUBLIC[0], PARTNER_HOST, PARTNER_HOST), (PUBLIC[1], PARTNER_HOST, PARTNER_HOST)]

    assert await run_job(app) == {"MO": "NOT_PUBLIC"}  # the next run asks again and is told 127.0.0.1
    assert len(sent) == 2  # nothing went there


async def test_an_address_that_never_answers_leaves_the_next_one_its_share_of_the_time(monkeypatch):
    """The first address checked is blackholed: its connection attempt gets half the fetch's time, not all of it,
    and the second address, which answers, gets what is left."""
    tried: list[tuple[str, float]] = []

    async def network(request: httpx.Request) -> httpx.Response:
        connect = request.extensions["timeout"]["connect"]
        tried.append((request.url.host, connect))
        if request.url.host == PUBLIC[0]:
            await asyncio.sleep(connect)  # no answer at all until the connect timeout
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(200, text="served")

    monkeypatch.setattr(key_feed, "http_client",
                        lambda **options: httpx.AsyncClient(transport=httpx.MockTransport(network), **options))

    assert await fetched(f"https://{PARTNER_HOST}/published-keys", PUBLIC, timeout=1.0) == "served"

    assert [host for host, _ in tried] == PUBLIC
    assert tried[0][1] == pytest.approx(0.5, abs=0.05)
    assert tried[1][1] == pytest.approx(0.5, abs=0.1)


async def test_a_name_that_does_not_resolve_in_time_is_unreachable(monkeypatch):
    async def never_answers(*args: Any, **kwargs: Any) -> list[Any]:
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", never_answers)
    with pytest.raises(key_feed.FeedRefused) as refused:
        await asyncio.wait_for(key_feed.public_addresses(PARTNER_HOST, timeout=0.1), 5)
    assert refused.value.reason == "UNREACHABLE"


def tls_files(directory: Path, server_name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA and a server certificate it issued for `server_name`: the server's TLS context and a client
    context that trusts only that CA."""
    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    end = start + timedelta(days=2)
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(name(server_name)).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(end)
              .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(directory / "server.pem", directory / "server.key")
    return server_tls, ssl.create_default_context(cafile=str(directory / "ca.pem"))


@asynccontextmanager
async def partner_over_tls(directory: Path, certified_name: str) -> AsyncIterator[tuple[int, list[str], ssl.SSLContext]]:
    """The partner's server on 127.0.0.1 over real TLS with a certificate for `certified_name`: its port, the Host
    of each request it was sent, and a client TLS context that trusts its CA only."""
    server_tls, client_tls = tls_files(directory, certified_name)
    asked: list[str] = []

    async def serve_document(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        asked.append(next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                          if line.lower().startswith("host:")))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nserved")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_document, "127.0.0.1", 0, ssl=server_tls)
    try:
        yield server.sockets[0].getsockname()[1], asked, client_tls
    finally:
        server.close()
        await server.wait_closed()


async def fetched(url: str, addresses: list[str], **options: Any) -> str:
    """The document fetched, or the reason it was not."""
    try:
        return await key_feed.fetch_document(url, addresses=addresses, **options)
    except key_feed.FeedRefused as refused:
        return refused.reason


@pytest.mark.parametrize("certified_name, outcome", [(PARTNER_HOST, "served"), ("other.example.mo", "UNREACHABLE")])
async def test_the_address_checked_is_spoken_to_as_the_partners_name(tmp_path, monkeypatch, certified_name, outcome):
    """Over real TLS to the address the check returned: the server is asked for the partner's name (SNI, Host),
    and its certificate must be for that name, not merely for whatever answers at the address."""
    async with partner_over_tls(tmp_path, certified_name) as (port, asked, client_tls):
        monkeypatch.setattr(key_feed, "http_client",
                            lambda **options: httpx.AsyncClient(verify=client_tls, **options))
        got = await fetched(f"https://{PARTNER_HOST}:{port}/published-keys", ["127.0.0.1"])

    assert got == outcome
    assert asked == ([f"{PARTNER_HOST}:{port}"] if outcome == "served" else [])  # a name no DNS knows, not resolved


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
async def test_a_proxy_set_in_the_environment_is_not_used_for_the_fetch(tmp_path, monkeypatch, variable):
    """A proxy would decide itself where the connection goes (and TLS would check the address, not the partner's
    name): the fetch goes straight to the address checked, whatever the worker's environment says."""
    proxied: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(await reader.readline())
        writer.close()

    proxy_server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    for name in ("HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy_server.sockets[0].getsockname()[1]}")
    try:
        async with partner_over_tls(tmp_path, PARTNER_HOST) as (port, asked, client_tls):
            monkeypatch.setattr(key_feed, "http_client",
                                lambda **options: httpx.AsyncClient(verify=client_tls, **options))
            got = await fetched(f"https://{PARTNER_HOST}:{port}/published-keys", ["127.0.0.1"])
    finally:
        proxy_server.close()
        await proxy_server.wait_closed()

    assert got == "served"
    assert asked == [f"{PARTNER_HOST}:{port}"]
    assert proxied == []
