"""Schemathesis over every operation of /docs/openapi.json, with a valid credential for its audience.

The service runs as a real process (tests/served.py). Each audience gets what its real callers
have: a face-verified citizen's bearer token, and for admin, partner and relying-party routes a
fresh client JWT per request (they are single-use), signed with a key registered through
`python -m app clients add`. Every reply must be below 500 and match its declared schema
(status code, content type, body). Bounded: FUZZ_EXAMPLES generated cases per operation.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.factories import live_sample, valid_id_number
from tests.security.routes import PARAM
from tests.served import ROOT, call, served, signed_in_citizen

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
ROLES = ["lab", "verifier", "health_admin", "vaccinator", "venue_owner", "partner_admin", "id_authority",
         "licence_admin", "licence_issuer", "clerk", "catalogue_admin", "office"]
CLIENT_ROLES = {"admin": ROLES, "partner": ["partner"], "relying_party": ["name_masked", "is_holder", "age_over_18"]}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Client:
    def __init__(self, client_id: str, key: ec.EllipticCurvePrivateKey, aud: str) -> None:
        self.id, self.key, self.aud = client_id, key, aud

    def token(self) -> str:
        import time

        claims = {"iss": self.id, "iat": int(time.time()), "jti": secrets.token_hex(12), "aud": self.aud}
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "1"})


def register(service, audience: str) -> Client:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as file:
        file.write(pem)
        file.flush()
        roles = [arg for role in CLIENT_ROLES[audience] for arg in ("--role", role)]
        done = subprocess.run([sys.executable, "-m", "app", "clients", "add", "--name", f"模糊测试 {audience}（示例）",
                               "--audience", audience, *roles, "--public-key", file.name],
                              cwd=ROOT, env=service.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    client_id = re.search(r"client id \(use as iss\): (\S+)", done.stdout).group(1)
    return Client(client_id, key, f"https://gov-app.example.cn/{audience}")


def audiences_by_path(tmp: Path) -> dict[tuple[str, str], str]:
    """(METHOD, OpenAPI path) -> audience, from the live router of an app built (not started) here."""
    from app.config import Settings
    from app.server import create_app
    from tests.security.routes import endpoints

    app = create_app(Settings(env="test", data_dir=tmp, scheduler_enabled=False).validated(),
                     name=f"fuzz{secrets.token_hex(3)}")
    return {(e.method, e.openapi_path): e.audience for e in endpoints(app)}


@pytest.fixture(scope="module")
def service(mini_program_platform):
    # The stand-in mini-program platform of the run: mini-program logins reach a real platform.
    with served(APP_MINIPROGRAM_API_URL=mini_program_platform.url) as running:
        running.start()
        token = signed_in_citizen(running.port, "13722223333", valid_id_number(sequence="551"))
        status, body, _ = call(running.port, "POST", "/api/v1/me/identity/face", {"liveness_sample": live_sample()},
                               token=token)
        assert status == 200, body
        running.citizen_token = token
        running.clients = {audience: register(running, audience) for audience in CLIENT_ROLES}
        yield running


def operations(service, tmp: Path):
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{service.port}/docs/openapi.json")
    owners = audiences_by_path(tmp)
    for result in schema.get_all_operations():
        operation = result.ok()
        audience = owners.get((operation.method.upper(), PARAM.sub(lambda m: m.group(0), operation.path)))
        yield operation, audience


def credential(service, audience: str | None) -> dict[str, str]:
    if audience == "citizen":
        return {"Authorization": f"Bearer {service.citizen_token}"}
    if audience in service.clients:
        return {"Authorization": f"Bearer {service.clients[audience].token()}"}
    return {}


def test_every_operation_answers_below_500_and_as_declared(service, tmp_path):
    failures: list[str] = []
    covered = 0
    for operation, audience in operations(service, tmp_path):
        if operation.path.startswith("/api/v1/auth/logout") or operation.path.startswith("/api/v1/me/sessions/"):
            continue  # would sign the fuzzing citizen out for the rest of the run
        covered += 1

        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data) -> None:
            case = data.draw(operation.as_strategy())
            response = case.call(base_url=f"http://127.0.0.1:{service.port}", headers=credential(service, audience),
                                 timeout=15)
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as error:  # one line per failure: what was sent, what came back
                failures.append(f"{operation.method.upper()} {operation.path} [{audience}] -> "
                                f"{response.status_code} {response.text[:300]!r}: {str(error).splitlines()[0][:300]}"
                                f" (sent {case.path_parameters} {case.query} {str(case.body)[:200]})")

        fuzz()
    assert covered >= 60, f"only {covered} operations in the document"
    if any("INTERNAL_ERROR" in f for f in failures):
        print("\n".join(line for line in service.log().splitlines() if "unhandled" in line or "File " in line)[-20000:])
    assert not failures, "\n".join(sorted(set(failures)))
