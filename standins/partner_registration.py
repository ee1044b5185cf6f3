"""How `make run` registers the stand-in partner region (Macao, "MO") in the app, as our partner admin would.

A partner region lives in the app's data, not its settings: an admin client with the role `partner_admin`
registers it through the admin API (README, "Mutual recognition with partner regions"). Once the app answers,
`register` does what that admin would:

- our admin client: made once with `python -m app clients add` (the operator's command), its key and id kept
  in `<data dir>/standins/partner-admin.json` (0600); made again if the app no longer knows it (another
  database);
- `POST /api/admin/v1/partners` with the stand-in's API key, or, when MO is registered already, that key
  added if it is missing;
- its key feed: `PUT …/key-feed` (`<stand-in>/published-keys`, signed by its publishing key) and
  `POST …/key-feed/refresh`, which brings in its code-signing keys; a rotation on the stand-in
  (`POST /rotate`) reaches us with the next run of the feed job (10 minutes) or the next refresh;
- a holder key (`POST …/holder-keys`), handed to the stand-in (`PUT /holder-key`) and kept in the same
  file, so a restart hands over the same key while the app still accepts it.

The stand-in keeps its own keys in `<data dir>/standins/partner_region/` (`--keys-dir`), so across restarts
on the same data it is the same partner: registering again changes nothing but the feed's URL (its port).
Production never registers a stand-in.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import Settings
from app.file_modes import make_private_dir, write_private_file

PARTNER_ID = "MO"
NAME = "澳门特别行政区卫生局（示例）"
PARTY = "互认伙伴 Partner region MO (澳门卫生局 Macao health bureau, 示例 sample; 互转互认 mutual recognition)"
HEALTH_PATH = "/keys"
USAGE = ("互认伙伴 MO 用法 Partner MO: POST {url}/codes 出码 makes a code, which a citizen converts (转码) with "
         "POST /api/v1/health-code/conversions;",
         "  POST {url}/verify-ours 验我方码 checks one of ours, POST {url}/call/verifications 调用我方接口 calls "
         "our partner API (README: 互转互认)")
ADMIN_NAME = "互认伙伴管理（开发，示例）"
ADMIN_FILE = "partner-admin.json"
KEYS_DIR = "partner_region"
PARTNERS = "/api/admin/v1/partners"
STATUS_MAPPING = {"绿码": "green", "黄码": "yellow", "红码": "red", "green": "green", "yellow": "yellow", "red": "red"}
CLI_TIMEOUT = 120.0  # seconds for `python -m app clients add` (it applies migrations first)


class NotRegistered(RuntimeError):
    """The stand-in partner could not be registered in the app; the message says why."""


def args(settings: Settings) -> list[str]:
    """Its region code, our issuer (its JWTs' audience) and its keys kept under the data folder."""
    keys = Path(settings.data_dir) / "standins" / KEYS_DIR
    make_private_dir(keys)
    return ["--partner-id", PARTNER_ID, "--our-issuer", settings.security.issuer, "--keys-dir", str(keys)]


def register(url: str, settings: Settings, our_url: str) -> str:
    """Register the stand-in at `url` as partner MO in the app at `our_url`, or bring its registration up to
    date; a line saying so."""
    if settings.production:
        raise NotRegistered("production never registers a stand-in partner: register the real one "
                            "through the admin API")
    with httpx.Client(timeout=15.0) as http:
        theirs = _ok(http.get(f"{url}/keys"))
        publisher = _ok(http.get(f"{url}/publisher-key"))
        admin = PartnerAdmin(http, our_url, settings)
        found = admin.call("GET", f"{PARTNERS}/{PARTNER_ID}")
        if found.status_code == 404:
            admin.call("POST", PARTNERS, _registration(theirs["api_key"]), expect=201)
            done = "已登记 registered"
        else:
            _ok(found)
            added = admin.call("POST", f"{PARTNERS}/{PARTNER_ID}/api-keys", {"jwk": theirs["api_key"]})
            if added.status_code != 409:  # 409: registered with that key already
                _ok(added, 201)
            done = "登记已更新 registration brought up to date"
        feed_url = f"{url}/published-keys"
        admin.call("PUT", f"{PARTNERS}/{PARTNER_ID}/key-feed", {"url": feed_url, "signer_jwk": publisher}, expect=200)
        outcome = _ok(admin.call("POST", f"{PARTNERS}/{PARTNER_ID}/key-feed/refresh")).get("outcome")
        if outcome not in ("applied", "unchanged"):
            raise NotRegistered(f"the app did not take its published keys: {outcome}")
        _ok(http.put(f"{url}/holder-key", json={"key": admin.holder_key()}))
    return (f"互认伙伴 MO {done} in the app ({NAME}): 密钥发布 key feed {feed_url}, "
            f"持有人密钥已交给它 holder key handed over")


def _registration(api_key: dict[str, Any]) -> dict[str, Any]:
    """MO as an admin registers it: its vocabulary, the limits of the tests' Macao, no code-signing key of
    its own (the key feed brings those)."""
    return {"id": PARTNER_ID, "name": NAME, "formats": ["GDHC1"], "status_mapping": STATUS_MAPPING,
            "rate_limit_per_minute": 600, "daily_quota": 10000, "contact": {"name": "互认联络人（示例）"},
            "api_keys": [api_key], "signing_keys": []}


def _ok(reply: httpx.Response, status: int = 200) -> Any:
    """The reply's JSON when it has `status`; NotRegistered quoting it otherwise."""
    if reply.status_code != status:
        raise NotRegistered(f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text[:300]}")
    return reply.json()


class PartnerAdmin:
    """Our admin client with the role partner_admin, as the launcher keeps it (`<data dir>/standins/partner-admin.json`)."""

    def __init__(self, http: httpx.Client, our_url: str, settings: Settings) -> None:
        self.http, self.our_url, self.settings = http, our_url.rstrip("/"), settings
        self.path = Path(settings.data_dir) / "standins" / ADMIN_FILE
        self.kept: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> httpx.Response:
        """One request with a fresh token; an admin client the app does not know is made (again) first."""
        if "client_id" not in self.kept:
            self._add_client()
        reply = self._send(method, path, body)
        if reply.status_code == 401 and _code(reply) == "CLIENT_UNKNOWN":
            self._add_client()
            reply = self._send(method, path, body)
        if expect is not None:
            _ok(reply, expect)
        return reply

    def holder_key(self) -> str:
        """The holder key handed to the stand-in before, while the app accepts it still; else a new one."""
        kept = self.kept.get("holder_key") or {}
        listed = _ok(self.call("GET", f"{PARTNERS}/{PARTNER_ID}/holder-keys"))["items"]
        if any(item["key_id"] == kept.get("key_id") and item["accepted_until"] is None for item in listed):
            return str(kept["key"])
        made = _ok(self.call("POST", f"{PARTNERS}/{PARTNER_ID}/holder-keys"), 201)
        self.kept["holder_key"] = {"key_id": made["key_id"], "key": made["key"]}
        self._save()
        return str(made["key"])

    def _send(self, method: str, path: str, body: Any) -> httpx.Response:
        claims = {"iss": self.kept["client_id"], "aud": f"{self.settings.security.issuer}/admin",
                  "iat": int(time.time()), "jti": secrets.token_hex(16)}
        token = jwt.encode(claims, self.kept["private_key"], algorithm="ES256", headers={"kid": "1"})  # a PEM
        return self.http.request(method, f"{self.our_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})

    def _add_client(self) -> None:
        """A new admin client through the operator's command, on the database the app uses (same environment)."""
        key = ec.generate_private_key(ec.SECP256R1())
        folder = self.path.parent
        make_private_dir(folder)
        public = folder / "partner-admin.pub.pem"
        write_private_file(public, key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
        command = [sys.executable, "-m", "app", "clients", "add", "--name", ADMIN_NAME, "--audience", "admin",
                   "--role", "partner_admin", "--public-key", str(public)]
        from standins.process import REPO_ROOT, _die_with_parent  # here: standins.process imports this module

        try:  # it ends with the launcher, killed outright included (Linux), as the stand-ins do
            done = subprocess.run(command, cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True,
                                  timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL,
                                  preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        except subprocess.TimeoutExpired:
            raise NotRegistered(f"`python -m app clients add` did not finish within {CLI_TIMEOUT:.0f} s") from None
        found = re.search(r"client id \(use as iss\): (\S+)", done.stdout)
        if done.returncode != 0 or found is None:
            raise NotRegistered(f"`python -m app clients add` exited with {done.returncode}: "
                                f"{(done.stderr or done.stdout).strip()[-300:]}")
        self.kept |= {"client_id": found.group(1), "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()}
        self._save()

    def _save(self) -> None:
        write_private_file(self.path, json.dumps(self.kept, ensure_ascii=False, indent=2))


def _code(reply: httpx.Response) -> str | None:
    try:
        code = reply.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None
