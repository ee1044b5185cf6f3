"""Schemathesis over every operation of /docs/openapi.json, with a valid credential for its audience.

The service runs as a real process (tests/served.py). Each audience gets what its real callers
have: citizen routes a face-verified citizen's bearer token; mini-program routes the token of a
mini-program user (another face-verified citizen) signed in through the run's stand-in mini-program
platform (wx.login, then getPhoneNumber to bind); admin, partner and relying-party routes a fresh
client JWT per request (they are single-use), signed with a key registered through `python -m app
clients add`; WeChat Pay's notification a fresh platform signature (Wechatpay-Serial, -Signature,
-Timestamp, -Nonce) over the very body sent, by a key whose public half is pinned as
APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE/_ID, its resource (when it is one) encrypted with our APIv3 key as
WeChat Pay encrypts it. The routes that sign
their caller out (logout, remote sign-out) get a throwaway session of the same user per case, so
the shared token lives on. Every reply must be below 500 and match its declared schema (status
code, content type, body), and every audience must have had replies other than 401 (its credential
worked). Bounded: FUZZ_EXAMPLES generated cases per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from app.config import Settings
from app.integrations.payment_providers import wechatpay_v3 as v3
from miniprogram_mock.client import MiniProgramClient
from tests.factories import live_sample, valid_id_number
from tests.faults.proxy import reserve
from tests.security.routes import PARAM
from tests.served import ROOT, Served, call, served, signed_in_citizen

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
ROLES = ["lab", "verifier", "health_admin", "vaccinator", "venue_owner", "partner_admin", "id_authority",
         "licence_admin", "licence_issuer", "clerk", "catalogue_admin", "office", "oidc_admin"]
CLIENT_ROLES = {"admin": ROLES, "partner": ["partner"], "relying_party": ["name_masked", "is_holder", "age_over_18"]}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PHONE, MP_PHONE = "13722223333", "13722224444"  # the app's citizen; the mini-program's (its own daily limits)
# Audiences whose operations are called with a credential: each must get replies other than 401.
CREDENTIALED = {"citizen", "miniprogram", "admin", "partner", "relying_party", "payment_provider"}
# Operations that end the session they are called with: a throwaway session of the same citizen per case.
SIGN_OUT = {("POST", "/api/v1/auth/logout"): "citizen", ("DELETE", "/api/v1/me/sessions/{session_id}"): "citizen",
            ("POST", "/api/mp/v1/auth/logout"): "miniprogram"}
PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # stands in for WeChat Pay's
PLATFORM_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"  # the pinned WeChat Pay public key's id
API_V3_KEY = Settings().payments.api_v3_key.encode()  # the served app's (the default)


def platform_public_key_file(folder: Path) -> Path:
    path = folder / "wechatpay_pub_key.pem"
    path.write_bytes(PLATFORM_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


# The notification's body is read raw (not declared in the document, so schemathesis sends none): drawn
# here, shaped like WeChat Pay's notices (a transaction or refund encrypted with our APIv3 key) or anything
# else, and signed as sent.
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
out_trade_nos = st.from_regex(r"\APAY[0-9A-F]{24}\Z") | st.text(max_size=50)
# A transaction and a refund as WeChat Pay writes them (what our callback reads in them, more or less of the rest).
transactions = st.fixed_dictionaries({
    "mchid": st.just(Settings().payments.merchant_id), "out_trade_no": out_trade_nos,
    "amount": st.fixed_dictionaries({"total": st.integers(min_value=0), "currency": st.sampled_from(["CNY", "USD"])}),
    "trade_state": st.sampled_from(["SUCCESS", "REFUND", "NOTPAY", "CLOSED", "PAYERROR", "USERPAYING"]),
}, optional={"transaction_id": st.from_regex(r"\A4200[0-9]{24}\Z"), "success_time": st.text(max_size=25)})
refunds = st.fixed_dictionaries({
    "mchid": st.just(Settings().payments.merchant_id), "out_trade_no": out_trade_nos,
    "out_refund_no": st.from_regex(r"\ARF[0-9A-F]{24}\Z") | st.text(max_size=40),
    "amount": st.fixed_dictionaries({"total": st.integers(min_value=0), "refund": st.integers(min_value=0)}),
    "refund_status": st.sampled_from(["SUCCESS", "PROCESSING", "ABNORMAL", "CLOSED"]),
}, optional={"refund_id": st.text(max_size=30), "success_time": st.text(max_size=25)})


def sealed(plain: Any) -> dict[str, str]:
    return v3.encrypt_resource(API_V3_KEY, json.dumps(plain).encode(), associated_data="transaction")


def notices(events: st.SearchStrategy[str], resources: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"id": st.text(max_size=70), "event_type": events, "create_time": st.text(max_size=25),
                                  "resource": resources})


# First what WeChat Pay sends (read and looked up), then notices with anything in them, then anything at all.
notice_bodies = st.one_of(
    notices(st.just("TRANSACTION.SUCCESS"), transactions.map(sealed)),
    notices(st.sampled_from(["REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"]), refunds.map(sealed)),
    notices(st.text(max_size=20), json_values.map(sealed) | json_values),
    json_values, st.binary(max_size=200)).map(lambda body: {"data": body} if isinstance(body, bytes) else {"json": body})


class PlatformSignature(requests.auth.AuthBase):
    """What WeChat Pay puts on a notice: Wechatpay-Serial, -Signature, -Timestamp and -Nonce, the signature
    over `TIMESTAMP\\nNONCE\\nBODY\\n` with the body exactly as requests is about to send it (requests calls
    this after the body is serialized)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        body = body.encode("utf-8") if isinstance(body, str) else body
        request.headers.update(v3.signed_headers(body, serial=PLATFORM_KEY_ID, private_key=PLATFORM_KEY,
                                                 timestamp=int(time.time()), nonce=v3.new_nonce()))
        return request


class Client:
    def __init__(self, client_id: str, key: ec.EllipticCurvePrivateKey, aud: str) -> None:
        self.id, self.key, self.aud = client_id, key, aud

    def token(self) -> str:
        claims = {"iss": self.id, "iat": int(time.time()), "jti": secrets.token_hex(12), "aud": self.aud}
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "1"})


def register(service, audience: str) -> Client:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as file:
        file.write(pem)
        file.flush()
        roles = [arg for role in CLIENT_ROLES[audience] for arg in ("--role", role)]
        # A clerk acts for a department: a sample catalogue one, so that its routes reach the items.
        department = ["--department", "gd-hrss"] if "clerk" in CLIENT_ROLES[audience] else []
        done = subprocess.run([sys.executable, "-m", "app", "clients", "add", "--name", f"模糊测试 {audience}（示例）",
                               "--audience", audience, *roles, *department, "--public-key", file.name],
                              cwd=ROOT, env=service.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    client_id = re.search(r"client id \(use as iss\): (\S+)", done.stdout).group(1)
    return Client(client_id, key, f"https://gov-app.example.cn/{audience}")


def audiences_by_path(tmp: Path) -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> audience, from the live router of an app built (not started) here."""
    from app.config import Settings
    from app.server import create_app
    from tests.security.routes import endpoints

    app = create_app(Settings(env="test", data_dir=tmp, scheduler_enabled=False),
                     name=f"fuzz{secrets.token_hex(3)}")
    return {(e.method, e.openapi_path): e.audience for e in endpoints(app)}


def verified_citizen(service: Served, phone: str, sequence: str) -> str:
    """A citizen at level 3 (实名 and the face check); the access token."""
    port = service.port
    token = signed_in_citizen(service, phone, valid_id_number(sequence=sequence))
    status, body, _ = call(port, "POST", "/api/v1/me/identity/face", {"liveness_sample": live_sample()}, token=token)
    assert status == 200, body
    return token


def citizen_session(port: int) -> str:
    """A new session (its access token) of the fuzzing citizen: SMS code from the dev outbox, login."""
    assert call(port, "POST", "/api/v1/auth/otp", {"phone": PHONE})[0] == 202
    outbox = call(port, "GET", f"/dev/sms-outbox?phone={PHONE}")[1]  # newest first
    code = re.search(r"验证码为 (\d{6})", outbox["items"][0]["text"]).group(1)
    status, login, _ = call(port, "POST", "/api/v1/auth/login", {"phone": PHONE, "code": code, "device_name": "一次性"})
    assert status == 200, login
    return login["access_token"]


async def _mini_program(port: int, platform_url: str, user: str | None, bind: bool) -> MiniProgramClient:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as api, \
            httpx.AsyncClient(base_url=platform_url, timeout=15) as platform:
        mp = MiniProgramClient(api, platform, **({"user": user} if user else {}))
        await mp.login()
        if bind:
            await mp.bind_phone(MP_PHONE)
        assert mp.token, "the mini-program user is not bound"
        return mp


def mini_program_session(service) -> str:
    """A new session (its access token) of the fuzzing mini-program user (bound: wx.login, login)."""
    return asyncio.run(_mini_program(service.port, service.platform_url, service.mp_user, bind=False)).token


@pytest.fixture(scope="module")
def service(mini_program_platform, tmp_path_factory):
    # The stand-in mini-program platform of the run: mini-program logins reach a real platform.
    # WeChat Pay: its notices are verified with the pinned public key of the key signed with here; its API is
    # a closed port (paying answers as when WeChat Pay is down): bound but never listening, and held for
    # the fixture's lifetime, so nothing else can listen there meanwhile. The per-IP and per-phone
    # sign-in limits are raised so that throwaway sessions (and the fuzzed login routes) do not run out.
    with contextlib.closing(reserve()) as provider_port, served(
            APP_MINIPROGRAM_API_URL=mini_program_platform.url,
            APP_PAYMENT_PROVIDER_URL=f"http://127.0.0.1:{provider_port.getsockname()[1]}",
            APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE=str(platform_public_key_file(tmp_path_factory.mktemp("wechatpay"))),
            APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID=PLATFORM_KEY_ID, APP_PAYMENT_PROVIDER_TIMEOUT="2",
            APP_OTP_DAILY_LIMIT="100000", APP_OTP_IP_HOURLY_LIMIT="100000", APP_LOGIN_IP_HOURLY_LIMIT="100000") as running:
        running.start()
        running.citizen_token = verified_citizen(running, PHONE, "551")
        # The mini-program user: another citizen, face-verified too, so that the identity check the
        # mini-program also offers is not already used up (10 a day each) when its turn comes; bound to
        # that citizen's phone number with the platform's phone data.
        verified_citizen(running, MP_PHONE, "552")
        mp = asyncio.run(_mini_program(running.port, mini_program_platform.url, None, bind=True))
        running.platform_url, running.mp_user, running.mp_token = mini_program_platform.url, mp.user, mp.token
        running.clients = {audience: register(running, audience) for audience in CLIENT_ROLES}
        yield running


def operations(service, tmp: Path):
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{service.port}/docs/openapi.json")
    owners = audiences_by_path(tmp)
    for result in schema.get_all_operations():
        operation = result.ok()
        audience = owners.get((operation.method.upper(), PARAM.sub(lambda m: m.group(0), operation.path)))
        yield operation, audience


def credential(service, audience: str | None) -> dict:
    """requests keyword arguments that authenticate a call of `audience` (a header, or a signer of the body)."""
    if audience == "citizen":
        return {"headers": {"Authorization": f"Bearer {service.citizen_token}"}}
    if audience == "miniprogram":
        return {"headers": {"Authorization": f"Bearer {service.mp_token}"}}
    if audience in service.clients:
        return {"headers": {"Authorization": f"Bearer {service.clients[audience].token()}"}}
    if audience == "payment_provider":
        return {"auth": PlatformSignature()}
    return {}


def throwaway(service, audience: str) -> tuple[dict, str]:
    """A fresh session of the fuzzing citizen for one case: its header and its session id."""
    token = citizen_session(service.port) if audience == "citizen" else mini_program_session(service)
    return {"headers": {"Authorization": f"Bearer {token}"}}, jwt.decode(token, options={"verify_signature": False})["sid"]


def test_every_operation_answers_below_500_and_as_declared(service, tmp_path):
    failures: list[str] = []
    covered = 0
    calls: Counter[str] = Counter()  # per audience (the throwaway sessions on their own), calls made
    accepted: Counter[str] = Counter()  # and replies other than 401
    noticed: Counter[int] = Counter()  # the statuses our callback answered the notices with
    for operation, audience in operations(service, tmp_path):
        covered += 1
        method = operation.method.upper()
        sign_out = (method, operation.path) in SIGN_OUT
        label = f"{audience} (throwaway session)" if sign_out else str(audience)

        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data) -> None:
            case = data.draw(operation.as_strategy())
            if sign_out:
                kwargs, session_id = throwaway(service, audience)
                if "session_id" in case.path_parameters and data.draw(st.booleans(), label="own session"):
                    case.path_parameters["session_id"] = session_id  # the success path, not only 404s
            else:
                kwargs = credential(service, audience)
            if audience == "payment_provider":
                kwargs.update(data.draw(notice_bodies, label="notice"))
            response = case.call(base_url=f"http://127.0.0.1:{service.port}", timeout=15, **kwargs)
            calls[label] += 1
            if audience == "payment_provider":
                noticed[response.status_code] += 1
            accepted[label] += response.status_code != 401
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as error:  # one line per failure: what was sent, what came back
                failures.append(f"{method} {operation.path} [{audience}] -> "
                                f"{response.status_code} {response.text[:300]!r}: {str(error).splitlines()[0][:300]}"
                                f" (sent {case.path_parameters} {case.query} {str(case.body)[:200]})")

        fuzz()
    assert covered >= 60, f"only {covered} operations in the document"
    if any("INTERNAL_ERROR" in f for f in failures):
        print("\n".join(line for line in service.log().splitlines() if "unhandled" in line or "File " in line)[-20000:])
    assert not failures, "\n".join(sorted(set(failures)))
    counts = ", ".join(f"{label}: {accepted[label]}/{calls[label]}" for label in sorted(calls))
    print(f"replies other than 401 per audience: {counts}")
    expected = CREDENTIALED | {f"{a} (throwaway session)" for a in SIGN_OUT.values()}
    assert expected <= set(calls), f"no operation of {sorted(expected - set(calls))} was fuzzed ({counts})"
    refused = sorted(label for label in expected if not accepted[label])
    assert not refused, f"every call of {refused} got 401: its credential does not work ({counts})"
    # Some notices were read and looked up (422: not our order), not all refused as unreadable.
    assert noticed[422], f"no notice got past its decryption: {dict(noticed)}"
