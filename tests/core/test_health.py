"""Operators probe liveness and readiness; integrators read the OpenAPI document."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx

from app.config import Settings
from app.server import create_app
from tests.conftest import running
from tests.core.test_config import PRODUCTION


API_MD = Path(__file__).resolve().parents[3] / "shared" / "API.md"

# Paths of ../shared/API.md implemented so far, and whether each takes a JSON body.
IMPLEMENTED = {
    ("post", "/api/v1/auth/otp"): True,
    ("post", "/api/v1/auth/login"): True,
    ("post", "/api/v1/auth/refresh"): True,
    ("post", "/api/v1/auth/logout"): False,
    ("get", "/api/v1/me"): False,
    ("post", "/api/v1/me/identity"): True,
    ("post", "/api/v1/me/identity/face"): True,
    ("get", "/api/v1/me/access-log"): False,
    ("get", "/.well-known/jwks.json"): False,
}


async def test_liveness(client):
    reply = await client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


async def test_readiness_checks_database_and_cache(client):
    reply = await client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


async def test_not_ready_when_the_cache_is_down(client, platform, monkeypatch):
    async def down():
        raise ConnectionError("redis://:hunter2@cache.internal:6379 refused")

    monkeypatch.setattr(platform.cache, "ping", down)
    reply = await client.get("/readyz", headers={"Accept-Language": "en"})
    assert reply.status_code == 503
    error = reply.json()["error"]
    assert error["code"] == "NOT_READY"
    assert error["failed"] == ["cache"]
    assert error["checks"]["database"] == "ok"
    assert error["checks"]["cache"].startswith("unavailable")
    assert error["message"] == "Not ready: cache."
    assert error["request_id"] == reply.headers["X-Request-ID"]
    assert "hunter2" not in reply.text  # the failure kind is named, not its details

    monkeypatch.undo()
    assert (await client.get("/readyz")).status_code == 200  # recovers by itself


async def test_not_ready_when_the_database_is_down(client, monkeypatch):
    async def down():
        raise OSError("connection refused")

    monkeypatch.setattr("app.server.ping_db", down)
    reply = await client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json()["error"]["failed"] == ["database"]
    assert reply.json()["error"]["message"] == "服务尚未就绪：database。"
    assert (await client.get("/healthz")).status_code == 200  # alive, just not ready


async def test_the_openapi_document_describes_the_fixed_api(client):
    reply = await client.get("/docs/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    paths = document["paths"]
    for (method, path), takes_body in IMPLEMENTED.items():
        assert path in paths and method in paths[path], f"{method.upper()} {path} missing from OpenAPI"
        operation = paths[path][method]
        if takes_body:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema, f"{path}: empty request schema"
        else:
            assert "requestBody" not in operation, f"{path} documents a body it does not take"


async def test_with_app_docs_off_the_docs_and_the_openapi_document_answer_404(settings, platform):
    closed = create_app(settings.with_(docs=False), platform=platform, name=f"nodocs_{secrets.token_hex(4)}")
    async with running(closed, settings, platform) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gov.test") as client:
            for path in ("/docs", "/docs/openapi.json", "/docs/swagger"):
                reply = await client.get(path)
                assert reply.status_code == 404, path
                assert reply.json()["error"]["code"] == "NOT_FOUND"
            assert (await client.get("/healthz")).status_code == 200


def test_production_serves_no_docs_unless_the_operator_chooses_to(settings, platform):
    production = Settings.from_env({**PRODUCTION, "APP_DATA_DIR": str(settings.data_dir),
                                    "APP_KEYS_DIR": str(settings.data_dir / "keys")})
    # The production app is assembled (not started: that needs PostgreSQL) and its routes read.
    closed = create_app(production, platform=platform, name=f"prod_{secrets.token_hex(4)}")
    assert not {r.path for r in closed.router.routes if r.path.startswith("docs")}
    opened = create_app(production.with_(docs=True), platform=platform,
                        name=f"prod_{secrets.token_hex(4)}")
    assert {"docs", "docs/openapi.json"} <= {r.path for r in opened.router.routes}


async def test_request_body_schemas_name_their_fields(client):
    document = (await client.get("/docs/openapi.json")).json()

    def fields_of(path: str) -> set[str]:
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return set(schema.get("properties", {}))

    assert fields_of("/api/v1/auth/otp") == {"phone", "channel"}  # channel: sms or voice (elderly mode)
    assert fields_of("/api/v1/auth/login") == {"phone", "code", "device_name"}
    assert fields_of("/api/v1/auth/refresh") == {"refresh_token"}
    assert fields_of("/api/v1/me/identity") == {"name", "id_number", "document_type", "nationality", "renewal_count", "mrz"}
    assert fields_of("/api/v1/me/identity/face") == {"session_id", "liveness_sample"}
    assert fields_of("/api/v1/me/identity/face/sessions") == {"purpose", "name", "id_number", "document_type"}


def test_the_implemented_list_matches_the_contract_document():
    """Guards the list above: every path checked here is one API.md fixes."""
    text = API_MD.read_text("utf-8")
    fixed = set(re.findall(r"`(?:GET|POST|PUT|DELETE) (/[^`? ]*)", text)) | {"/.well-known/jwks.json"}
    assert {path for _, path in IMPLEMENTED} <= fixed
    assert "/.well-known/jwks.json" in text


async def test_the_jwks_is_served_and_cacheable(client, platform):
    reply = await client.get("/.well-known/jwks.json")
    assert reply.status_code == 200
    assert [k["kid"] for k in reply.json()["keys"]] == [platform.keys.current.kid]
    assert "max-age=300" in reply.headers["Cache-Control"]


async def test_the_dev_sms_outbox_exists_outside_production(app, client):
    assert "dev/sms-outbox" in {r.path for r in app.router.routes}
    reply = await client.get("/dev/sms-outbox", params={"phone": "13800138000"})
    assert reply.status_code == 200 and reply.json() == {"items": []}
    bad = await client.get("/dev/sms-outbox", params={"phone": "123"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_PHONE"


async def test_the_dev_sms_outbox_does_not_exist_in_production(settings, platform):
    production = Settings.from_env({**PRODUCTION, "APP_DATA_DIR": str(settings.data_dir),
                                    "APP_KEYS_DIR": str(settings.data_dir / "keys")})
    assert production.dev_endpoints is False
    # The production app is assembled (not started: that needs PostgreSQL) and its routes read.
    app = create_app(production, platform=platform, name=f"prod_{secrets.token_hex(4)}")
    paths = {r.path for r in app.router.routes}
    assert "dev/sms-outbox" not in paths
    assert {"healthz", "readyz", ".well-known/jwks.json", "api/v1/auth/otp"} <= paths
