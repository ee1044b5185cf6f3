"""A 12345 ticket end to end through `make run`, as a newcomer would try it: a citizen signs in with the code at
/dev/sms-outbox and files a complaint; an operator registers a clerk of 广州市市场监督管理局 (the department the
sample routing table sends complaints to) with `python -m app clients add`; the clerk accepts and answers through
the admin API with a JWT it signs itself; the citizen confirms the answer and rates it."""

from __future__ import annotations

import io
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
from PIL import Image

from app.config import Settings
from tests.ci.test_make_run import REPO_ROOT, Served, _end, _launch, signed_in

# `make run`'s own processes, always on the embedded default.
pytestmark = pytest.mark.same_on_every_backend

MARKET_REGULATION = "gz-scjgj"  # 广州市市场监督管理局, in the sample catalogue


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes the launcher started")
    launched = _launch(tmp_path_factory.mktemp("make-run-ticket"))
    try:
        yield launched
    finally:
        _end(launched)


def _data_dir(served: Served) -> Path:
    return served.out_path.parent / "data"


def _register_clerk(served: Served, key: ec.EllipticCurvePrivateKey) -> str:
    """`python -m app clients add` beside the running app, on its data folder, as an operator would."""
    pem = _data_dir(served).parent / "clerk.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update(APP_ENV="dev", APP_DATA_DIR=str(_data_dir(served)))
    done = subprocess.run([sys.executable, "-m", "app", "clients", "add", "--name", "广州市市场监督管理局 12345 承办窗口（示例）",
                           "--audience", "admin", "--role", "clerk", "--department", MARKET_REGULATION,
                           "--public-key", str(pem)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    found = re.search(r"client id \(use as iss\): (\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def _clerk_headers(client_id: str, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    claims = {"iss": client_id, "iat": int(time.time()), "jti": secrets.token_hex(8),
              "aud": f"{Settings().security.issuer}/admin"}
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": "1"})}


def _photo() -> bytes:
    """A small JPEG, as a phone would take of the smoke."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(out, format="JPEG")
    return out.getvalue()


def test_a_complaint_is_filed_answered_by_the_clerk_confirmed_and_rated(served: Served) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    clerk_id = _register_clerk(served, key)
    with httpx.Client(base_url=served.url, timeout=15) as citizen, httpx.Client(base_url=served.url, timeout=15) as clerk:
        signed_in(citizen, "市民的手机", verified=False)
        photo = citizen.post("/api/v1/uploads", files={"file": ("smoke.jpg", _photo(), "image/jpeg")})
        assert photo.status_code == 201, photo.text
        ticket_key = {"Idempotency-Key": f"make-run-{secrets.token_hex(8)}"}
        complaint = {"uploads": [photo.json()["id"]], "category": "complaint",
                     "description": "小区楼下餐馆油烟直排，多次沟通无果，请求处理。（示例）",
                     "location": {"address": "广州市越秀区东风中路 300 号（示例）", "latitude": 23.1291,
                                  "longitude": 113.2644}}
        filed = citizen.post("/api/v1/hotline/tickets", headers=ticket_key, json=complaint)
        assert filed.status_code == 201, filed.text
        ticket = filed.json()
        again = citizen.post("/api/v1/hotline/tickets", headers=ticket_key, json=complaint)  # a retry files nothing
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true", again.text
        assert again.json()["id"] == ticket["id"]
        assert (ticket["department_id"], ticket["status"]) == (MARKET_REGULATION, "submitted")
        assert ticket["accept_due"] < ticket["answer_due"]

        queue = clerk.get("/api/admin/v1/hotline/tickets", headers=_clerk_headers(clerk_id, key))
        assert queue.status_code == 200, queue.text
        assert ticket["id"] in [t["id"] for t in queue.json()["items"]]
        seen = clerk.get(f"/api/admin/v1/hotline/tickets/{ticket['id']}/uploads/{photo.json()['id']}",
                         headers=_clerk_headers(clerk_id, key))
        assert seen.status_code == 200 and seen.headers["content-type"] == "image/jpeg", seen.text
        accepted = clerk.post(f"/api/admin/v1/hotline/tickets/{ticket['id']}/accept", headers=_clerk_headers(clerk_id, key))
        assert accepted.status_code == 200, accepted.text
        answered = clerk.post(f"/api/admin/v1/hotline/tickets/{ticket['id']}/answer", headers=_clerk_headers(clerk_id, key),
                              json={"answer": "已约谈餐馆经营者，责令限期安装油烟净化设施，我局将复查。"})
        assert answered.status_code == 200 and answered.json()["status"] == "answered", answered.text

        confirmed = citizen.post(f"/api/v1/hotline/tickets/{ticket['id']}/confirm")
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "closed", confirmed.text
        rated = citizen.post(f"/api/v1/hotline/tickets/{ticket['id']}/rating", json={"score": 5, "tags": ["处理及时"]})
        assert rated.status_code == 201 and rated.json()["reopened"] is False, rated.text
        shown = citizen.get(f"/api/v1/hotline/tickets/{ticket['id']}").json()
        assert [e["action"] for e in shown["events"]] == ["submitted", "accepted", "answered", "confirmed", "rated"]
        assert "已约谈餐馆经营者" in shown["answer"]
