"""Sign in with this account elsewhere through `make run`, as a site's developer would try it: an operator
registers the data bureau's admin client with `python -m app clients add`; the bureau registers the site through
the admin API; the site, using a real OpenID Connect client library (authlib's client side, configured from our
discovery document only), sends a citizen to the consent page, gets the code back, exchanges it with its
secret and PKCE verifier, and checks the id_token against the JWKS the running service publishes."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import Settings
from tests.ci.test_make_run import REPO_ROOT, Served, _end, _launch, signed_in
from tests.oidc.oidc_factory import RegisteredSite
from tests.oidc.relying_party import finish_sign_in, relying_party

# `make run`'s own processes, always on the embedded default.
pytestmark = pytest.mark.same_on_every_backend


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes the launcher started")
    launched = _launch(tmp_path_factory.mktemp("make-run-oidc"))
    try:
        yield launched
    finally:
        _end(launched)


def _register_bureau(served: Served, key: ec.EllipticCurvePrivateKey) -> str:
    """`python -m app clients add` beside the running app, on its data folder, as an operator would."""
    data = served.out_path.parent / "data"
    pem = data.parent / "bureau.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update(APP_ENV="dev", APP_DATA_DIR=str(data))
    done = subprocess.run([sys.executable, "-m", "app", "clients", "add", "--name", "广东省政务服务数据管理局（示例）",
                           "--audience", "admin", "--role", "oidc_admin", "--public-key", str(pem)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = re.search(r"client id \(use as iss\): (\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def _admin_headers(client_id: str, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    claims = {"iss": client_id, "iat": int(time.time()), "jti": secrets.token_hex(8),
              "aud": f"{Settings().security.issuer}/admin"}
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": "1"})}


async def test_a_site_signs_a_citizen_in_with_a_real_oidc_client(served: Served) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    bureau = _register_bureau(served, key)
    with httpx.Client(base_url=served.url, timeout=15) as http:
        made = http.post("/api/admin/v1/oidc-clients", headers=_admin_headers(bureau, key), json={
            "name": "广州公积金网上办事大厅（示例）", "client_type": "confidential",
            "redirect_uris": ["http://127.0.0.1:9/oidc/callback"], "scopes": ["openid", "profile", "phone", "identity"]})
        assert made.status_code == 201, made.text
        body = made.json()
        site = RegisteredSite(body["client_id"], body["client_secret"], body["redirect_uris"][0], body["name"])

        signed_in(http, "市民的手机")  # 实名 passed: level 2
        rp = relying_party(served.url, site, scope="openid profile phone identity")
        started = await rp.create_authorization_url(redirect_uri=site.redirect_uri)
        page = http.get(started["url"])
        assert page.status_code == 200 and "consent.js" in page.text, page.text
        decided = http.post("/api/v1/oidc/consents", json={"query": started["url"].split("?", 1)[1], "approve": True})
        assert decided.status_code == 200, decided.text

        signed = await finish_sign_in(rp, site, started, decided.json()["redirect_to"])
        assert signed["id_token"]["iss"] == served.url and signed["id_token"]["identity_level"] == 2
        assert signed["id_token"]["acr"] == "urn:cn:gd:gov:loa:2" and signed["userinfo"]["name"].startswith("*")
        log = http.get("/api/v1/me/access-log").json()["items"]
        assert {e["action"] for e in log if e["actor"] == site.name} == {
            "oidc_code_issued", "oidc_token_issued", "oidc_userinfo_read"}
