"""The message rules both ends use (app/integrations/exchange/protocol.py), without any I/O."""

from __future__ import annotations

import base64
import json

import pytest

from app.integrations.exchange import protocol
from tests.integrations.exchange.department import CLIENT, HRSS, new_key

NOW = 1_796_544_000
SERVICE = f"{HRSS}/insured-status/v1"


def headers(**changes: str) -> dict[str, str]:
    sent = {protocol.HEADER_CLIENT: CLIENT, protocol.HEADER_SERVICE: SERVICE, protocol.HEADER_ID: "ab" * 16,
            protocol.HEADER_USER: "0f" * 32, protocol.HEADER_ISSUE: "home_card", protocol.HEADER_TIME: str(NOW)}
    sent.update(changes)
    return sent


def test_good_headers_are_read() -> None:
    read = protocol.read_request_headers(headers(**{protocol.HEADER_REPRESENTED: "family:child"}), NOW + 10)
    assert str(read.client) == CLIENT and str(read.service) == SERVICE
    assert read.service.provider.member_code == "11440000MB2D0001XA" and read.service.version == "v1"
    assert (read.purpose, read.represented_party, read.time) == ("home_card", "family:child", NOW)
    assert read.as_headers()[protocol.HEADER_REPRESENTED] == "family:child"


def test_lower_case_header_names_are_read() -> None:
    lowered = {name.lower(): value for name, value in headers().items()}
    assert protocol.read_request_headers(lowered, NOW).message_id == "ab" * 16


@pytest.mark.parametrize("changes, fault, status", [
    ({protocol.HEADER_TIME: str(NOW - 301)}, "Client.Stale", 401),
    ({protocol.HEADER_TIME: str(NOW + 301)}, "Client.Stale", 401),
    ({protocol.HEADER_TIME: "1.7e9"}, "Client.Stale", 401),
    ({protocol.HEADER_ISSUE: "curiosity"}, "Client.UnknownPurpose", 400),
    ({protocol.HEADER_ISSUE: ""}, "Client.UnknownPurpose", 400),
    ({protocol.HEADER_ID: "AB" * 16}, "Client.BadHeader", 400),
    ({protocol.HEADER_ID: "ab" * 15}, "Client.BadHeader", 400),
    ({protocol.HEADER_ID: "../" + "a" * 29}, "Client.BadHeader", 400),
    ({protocol.HEADER_USER: "440106199001011234 "}, "Client.BadHeader", 400),
    ({protocol.HEADER_CLIENT: "CN-GD/GOV/only-three"}, "Client.BadHeader", 400),
    ({protocol.HEADER_SERVICE: f"{HRSS}/insured-status"}, "Client.BadHeader", 400),
])
def test_bad_headers_are_refused_with_their_fault(changes: dict[str, str], fault: str, status: int) -> None:
    with pytest.raises(protocol.ExchangeRefused) as refused:
        protocol.read_request_headers(headers(**changes), NOW)
    assert (refused.value.fault, refused.value.status) == (fault, status)


def _signed() -> tuple[bytes, str, object, str]:
    key, kid = new_key()
    request = protocol.read_request_headers(headers(), NOW)
    signing_input = protocol.request_signing_input("post", f"/r1/{SERVICE}", request, b'{"a":1}')
    return signing_input, protocol.sign_detached(signing_input, key, kid), key.public_key(), kid


def test_a_detached_signature_verifies_with_its_key_only() -> None:
    signing_input, signature, public, kid = _signed()
    header, payload, _ = signature.split(".")
    assert payload == ""  # detached
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    assert (fields["alg"], fields["kid"], fields["b64"], fields["crit"]) == ("ES256", kid, False, ["b64"])
    assert protocol.verify_detached(signature, signing_input, {kid: public}.get) == kid

    other, _ = new_key()
    for find in ({kid: other.public_key()}.get, {}.get):
        with pytest.raises(protocol.ExchangeRefused) as refused:
            protocol.verify_detached(signature, signing_input, find)
        assert (refused.value.fault, refused.value.status) == ("Client.SignatureInvalid", 401)
    with pytest.raises(protocol.ExchangeRefused):
        protocol.verify_detached(signature, signing_input.replace(b"home_card", b"proxy_request"), {kid: public}.get)


def test_alg_none_and_malformed_signatures_are_refused() -> None:
    signing_input, signature, public, kid = _signed()
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).rstrip(b"=").decode()
    hs_header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode()).rstrip(b"=").decode()
    for forged in (f"{none_header}..", f"{hs_header}..{signature.split('.')[2]}", "", "not-a-jws", "a.b.c.d"):
        with pytest.raises(protocol.ExchangeRefused) as refused:
            protocol.verify_detached(forged, signing_input, {kid: public}.get)
        assert refused.value.fault == "Client.SignatureInvalid"


def test_every_header_and_the_body_are_in_the_request_signing_input() -> None:
    request = protocol.read_request_headers(headers(), NOW)
    base = protocol.request_signing_input("POST", f"/r1/{SERVICE}", request, b"{}")
    assert json.loads(base)["method"] == "POST"
    changed = [
        protocol.request_signing_input("POST", f"/r1/{SERVICE}?x=1", request, b"{}"),
        protocol.request_signing_input("POST", f"/r1/{SERVICE}", request, b"{ }"),
        protocol.request_signing_input("GET", f"/r1/{SERVICE}", request, b"{}"),
    ]
    for name, value in ((protocol.HEADER_USER, "1f" * 32), (protocol.HEADER_ISSUE, "citizen_request"),
                        (protocol.HEADER_REPRESENTED, "family:child"), (protocol.HEADER_TIME, str(NOW + 1)),
                        (protocol.HEADER_ID, "cd" * 16)):
        other = protocol.read_request_headers(headers(**{name: value}), NOW)
        changed.append(protocol.request_signing_input("POST", f"/r1/{SERVICE}", other, b"{}"))
    assert base not in changed and len(set(changed)) == len(changed)


def test_the_reply_signing_input_binds_status_id_request_and_body() -> None:
    base = protocol.response_signing_input(200, "ab" * 16, "h", b"{}")
    assert base not in {protocol.response_signing_input(404, "ab" * 16, "h", b"{}"),
                        protocol.response_signing_input(200, "cd" * 16, "h", b"{}"),
                        protocol.response_signing_input(200, "ab" * 16, "g", b"{}"),
                        protocol.response_signing_input(200, "ab" * 16, "h", b"[]")}


def test_every_purpose_has_the_words_the_citizen_reads_in_their_access_log() -> None:
    assert set(protocol.PURPOSE_NAMES) == set(protocol.PURPOSES)
    assert all(name and not name.isascii() for name in protocol.PURPOSE_NAMES.values())
