"""A stand-in for a partner region's health-code system (e.g. Macau's health bureau, "MO").

Tests and demos run it as its own process, the other side of cross-region mutual recognition:

    python -m standins.partner_region --port 8100 --partner-id MO \\
        --our-url http://127.0.0.1:8000 [--our-issuer https://gov-app.example.cn] [--keys-dir DIR]

It is independent of this code base on purpose: it imports only third-party libraries and
builds and checks `GDHC1:` codes from nothing but the format in README.md ("The health-code
payload"), so tests that pass against it show that document is enough for a partner. It has
no database: a code-signing EC P-256 key set (random 8-byte kids; rotating keeps old keys
listed) and one API-client key for ES256 JWTs to our partner API, in memory or, with
--keys-dir, in DIR/keys.json. Time is the wall clock. `--port 0` picks a free port; the
first line on stdout is always `LISTENING <port>`.

It publishes its code-signing keys as our partner key feeds read them (health_code/interop/key_feed.py
states the format; restated here from the document, not imported): GET /published-keys is a JWT
(typ `partner-keys+jwt`, ES256) signed with its long-term publishing key, whose public half is at
GET /publisher-key, carrying `iat`, `exp` (a week later), `seq` and `keys` (the JWKs it publishes).
`seq` grows with every change and starts from the wall clock, so it keeps growing across restarts.

Control endpoints (JSON): GET /keys, PUT /holder-key ({"key": base64url}: the holder key the other
side's admin made for us; a code is bound to its holder only once one is set), POST /codes, POST /rotate ({"retire_previous": true}: publish
only the new key), POST /verify-ours, POST /call/verifications, POST /call/revocations, and
PUT /published-keys (serve this text instead, e.g. an older or tampered document) / DELETE
/published-keys (serve its own again); see the handlers below.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import time
import unicodedata
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import base45
import cbor2
import httpx
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from pypinyin import Style, pinyin
from sanic import Request, Sanic
from sanic import json as reply
from sanic.response import HTTPResponse, text

COLOURS = ("green", "yellow", "red")
PREFIXES = {"GDHC1:": "hc", "GDBP1:": "bp"}  # health code, border pass (CWT aud 3 = partner): same pipeline
CLOCK_SKEW = 5  # seconds an `iat` may be ahead of our clock (their clock may run a little fast)
PublicKeys = dict[bytes, ec.EllipticCurvePublicKey]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")), "kid": kid, "alg": "ES256"}


def _ec_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key the stand-in saved (PEM); any other kind in the file is refused."""
    key = serialization.load_pem_private_key(pem.encode(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the saved keys must be EC private keys")
    return key


class Keys:
    """Code-signing keys (oldest first, the last signs by default) and the API-client key."""

    def __init__(self, partner_id: str, path: Path | None) -> None:
        self.path = path
        self.signing: dict[bytes, ec.EllipticCurvePrivateKey] = {}
        self.publisher_kid = f"{partner_id.lower()}-keys-publisher"
        self.publisher = ec.generate_private_key(ec.SECP256R1())  # long-term: signs its keys document
        self.published: list[bytes] = []  # the kids in its keys document
        self.sequence = 0
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
            load = _ec_private_key
            self.api_kid, self.api = saved["api"]["kid"], load(saved["api"]["pem"])
            self.signing = {b64url_decode(k["kid"]): load(k["pem"]) for k in saved["signing"]}
            self.publisher = load(saved["publisher"]["pem"]) if "publisher" in saved else self.publisher
        else:
            self.api_kid, self.api = f"{partner_id.lower()}-api-1", ec.generate_private_key(ec.SECP256R1())
            self.rotate()
        self.published = list(self.signing)
        self.sequence = int(time.time())

    @property
    def current(self) -> bytes:
        return list(self.signing)[-1]

    def rotate(self, retire_previous: bool = False) -> bytes:
        kid = secrets.token_bytes(8)
        self.signing[kid] = ec.generate_private_key(ec.SECP256R1())
        self.published = [kid] if retire_previous else [*self.published, kid]
        self.sequence = max(self.sequence + 1, int(time.time()))
        if self.path is not None:
            pem = lambda key: key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                                serialization.NoEncryption()).decode()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            saved = json.dumps({"api": {"kid": self.api_kid, "pem": pem(self.api)},
                                "publisher": {"pem": pem(self.publisher)},
                                "signing": [{"kid": b64url(k), "pem": pem(v)} for k, v in self.signing.items()]})
            with os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
                out.write(saved)  # private keys: never readable by others, not even for a moment
        return kid

    def keys_document(self, partner_id: str, now: int) -> str:
        """Its published code-signing keys, signed with the long-term publishing key."""
        claims = {"iss": partner_id, "iat": now, "exp": now + 7 * 24 * 3600, "seq": self.sequence,
                  "keys": [public_jwk(self.signing[kid], b64url(kid)) for kid in self.published]}
        return jwt.encode(claims, self.publisher, algorithm="ES256",
                          headers={"kid": self.publisher_kid, "typ": "partner-keys+jwt"})


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign(cwt: dict[Any, Any], key: ec.EllipticCurvePrivateKey, kid: bytes, prefix: str = "GDHC1:") -> str:
    """prefix + base45(COSE_Sign1 tag 18 [protected {1: -7, 4: kid}, {}, cwt, r||s]), not compressed."""
    protected, payload = cbor2.dumps({1: -7, 4: kid}), cbor2.dumps(cwt)
    r, s = decode_dss_signature(key.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256())))
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")]))
    return prefix + base45.b45encode(cose).decode("ascii")


ICAO_LETTERS = {"ß": "SS", "Æ": "AE", "Ø": "OE", "Œ": "OE", "Þ": "TH", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H"}


def standardised_name(name: str) -> str:
    """The legal name in capital letters without separators: a Chinese character by its most common Hanyu
    Pinyin reading (ü as U), a Latin letter without diacritics, a letter of another script as it is."""
    spelt = []
    # pypinyin declares its `errors` callback as returning a str; it takes the documented list of readings too.
    readings = pinyin(name, style=Style.NORMAL, errors=lambda run: [[c] for c in run])  # type: ignore[arg-type,return-value]
    for char, [reading] in zip(name, readings):
        if reading != char:
            spelt.append(reading.upper().replace("Ü", "U").replace("V", "U"))
        elif char.upper() in ICAO_LETTERS:
            spelt.append(ICAO_LETTERS[char.upper()])
        elif unicodedata.normalize("NFKD", char)[:1].isascii() and unicodedata.normalize("NFKD", char)[:1].isalpha():
            spelt.append(unicodedata.normalize("NFKD", char)[0].upper())
        elif char.isalpha() or unicodedata.category(char).startswith("M"):
            spelt.append(char.upper())
    return "".join(spelt)


def holder_tag(key: bytes, code_id: bytes, name: str, birth_date: str) -> bytes:
    """hc[6]: binds a code to its holder's name and birth date (YYYY-MM-DD) without showing them, keyed with
    the holder key the other side made for us."""
    message = b"GDHC1-holder\x00" + code_id + b"\x00" + standardised_name(name).encode() + b"\x00" + birth_date.encode()
    return hmac.digest(key, message, hashlib.sha256)[:6]


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def verify(text: Any, find_key: Callable[[bytes], ec.EllipticCurvePublicKey | None], now: float) -> tuple[str, dict]:
    """Unpack and check a code of the other side; return (prefix, CWT map) or raise Refused."""
    prefix = next((p for p in PREFIXES if isinstance(text, str) and text.startswith(p)), None)
    if prefix is None:
        raise Refused("BAD_PREFIX")
    try:
        compressed = base45.b45decode(text[len(prefix):])
    except (ValueError, KeyError):
        raise Refused("BAD_ENCODING") from None
    raw = compressed
    if compressed[:1] == b"\x78":  # zlib, as older codes have it
        try:
            raw = zlib.decompress(compressed)
        except zlib.error:
            raise Refused("BAD_COMPRESSION") from None
    try:
        message = cbor2.loads(raw)
        if isinstance(message, cbor2.CBORTag):
            message = message.value if message.tag == 18 else None
        protected_raw, _unprotected, body, signature = message
        protected, claims = cbor2.loads(protected_raw), cbor2.loads(body)
    except (ValueError, TypeError, cbor2.CBORError):
        raise Refused("BAD_COSE") from None
    if not isinstance(protected, dict) or not isinstance(claims, dict) or not isinstance(signature, bytes):
        raise Refused("BAD_COSE")
    if protected.get(1) != -7:
        raise Refused("UNSUPPORTED_ALGORITHM")
    key = find_key(protected[4]) if isinstance(protected.get(4), bytes) else None
    if key is None:
        raise Refused("UNKNOWN_KID")
    if len(signature) != 64:
        raise Refused("BAD_SIGNATURE")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, sig_structure(protected_raw, body), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("BAD_SIGNATURE") from None
    iat, exp = claims.get(6), claims.get(4)
    if not (isinstance(iat, int) and isinstance(exp, int) and isinstance(claims.get(1), str)
            and isinstance(claims.get(PREFIXES[prefix]), dict)):
        raise Refused("BAD_CLAIMS")
    if iat > now + CLOCK_SKEW:
        raise Refused("NOT_YET_VALID")
    if exp <= now:
        raise Refused("EXPIRED")
    return prefix, claims


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value.hex() if isinstance(value, bytes) else value


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def create_app(partner_id: str, our_url: str, our_issuer: str, keys: Keys) -> Sanic:
    app = Sanic(f"standin_partner_region_{partner_id}")
    app.config.AUTO_EXTEND = False
    our_keys: PublicKeys = {}
    last_jti: list[str] = []
    served_instead: list[str] = []  # a keys document to serve in place of its own (tests: replayed, tampered)
    holder_key: list[bytes] = []  # the secret keying hc[6], once the other side has made one for us

    @app.before_server_start
    async def open_client(app: Sanic) -> None:
        app.ctx.http = httpx.AsyncClient(base_url=our_url, timeout=10)

    @app.after_server_stop
    async def close_client(app: Sanic) -> None:
        await app.ctx.http.aclose()

    async def fetch_our_keys() -> PublicKeys:
        reply_ = await app.ctx.http.get("/.well-known/jwks.json")
        reply_.raise_for_status()
        our_keys.clear()
        for jwk in reply_.json().get("keys", []):
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                x, y = (int.from_bytes(b64url_decode(jwk[c]), "big") for c in ("x", "y"))
                our_keys[b64url_decode(jwk["kid"])] = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        return our_keys

    @app.get("/keys")
    async def list_keys(request: Request) -> HTTPResponse:
        return reply({"signing_keys": [public_jwk(key, b64url(kid)) for kid, key in keys.signing.items()],
                      "api_key": public_jwk(keys.api, keys.api_kid)})

    @app.post("/codes")
    async def make_code(request: Request) -> HTTPResponse:
        body = request.json or {}
        kid = b64url_decode(body["kid"]) if body.get("kid") else keys.current
        if kid not in keys.signing or body.get("colour", "green") not in COLOURS:
            return reply({"error": "UNKNOWN_KID" if kid not in keys.signing else "BAD_COLOUR"}, status=400)
        iat, code_id = int(time.time()) + int(body.get("iat_offset", 0)), secrets.token_bytes(6)
        hc = {1: code_id, 2: COLOURS.index(body.get("colour", "green")),
              3: sum(1 << int(r) for r in set(body.get("reasons", [1]))), 4: str(body.get("name_masked", "*三"))}
        if body.get("holder"):  # {"name": legal name, "birth_date": "YYYY-MM-DD"}: bound to its holder
            if not holder_key:
                return reply({"error": "NO_HOLDER_KEY"}, status=400)
            hc[6] = holder_tag(holder_key[0], code_id, str(body["holder"]["name"]), str(body["holder"]["birth_date"]))
        cwt = {1: body.get("issuer", partner_id), 4: iat + int(body.get("ttl", 180)), 6: iat, "hc": hc}
        return reply({"payload": sign(cwt, keys.signing[kid], kid), "code_id": code_id.hex(), "kid": b64url(kid),
                      "issued_at": iat, "expires_at": cwt[4]})

    @app.put("/holder-key")
    async def set_holder_key(request: Request) -> HTTPResponse:
        """The holder key the other side made for us (its admin API shows it once), as base64url."""
        try:
            key = b64url_decode(str((request.json or {})["key"]))
        except (KeyError, ValueError):
            return reply({"error": "BAD_KEY"}, status=400)
        if len(key) < 32:
            return reply({"error": "BAD_KEY"}, status=400)
        holder_key[:] = [key]
        return reply({"holder_key": "set"})

    @app.post("/rotate")
    async def rotate(request: Request) -> HTTPResponse:
        kid = keys.rotate(retire_previous=bool((request.json or {}).get("retire_previous")))
        return reply(public_jwk(keys.signing[kid], b64url(kid)))

    @app.get("/publisher-key")
    async def publisher_key(request: Request) -> HTTPResponse:
        return reply(public_jwk(keys.publisher, keys.publisher_kid))

    @app.get("/published-keys")
    async def published_keys(request: Request) -> HTTPResponse:
        body = served_instead[0] if served_instead else keys.keys_document(partner_id, int(time.time()))
        return text(body, content_type="application/jwt")

    @app.put("/published-keys")
    async def serve_instead(request: Request) -> HTTPResponse:
        served_instead[:] = [request.body.decode()]
        return reply({"serving": "given"})

    @app.delete("/published-keys")
    async def serve_own(request: Request) -> HTTPResponse:
        served_instead.clear()
        return reply({"serving": "own"})

    @app.post("/verify-ours")
    async def verify_ours(request: Request) -> HTTPResponse:
        payload = (request.json or {}).get("payload")
        try:
            try:  # format errors first; an unknown kid (none fetched yet, or they rotated): fetch and look again
                prefix, claims = verify(payload, our_keys.get, time.time())
            except Refused as refused:
                if refused.code != "UNKNOWN_KID":
                    raise
                prefix, claims = verify(payload, (await fetch_our_keys()).get, time.time())
            if prefix == "GDBP1:" and claims.get(3) != partner_id:  # a border pass names the region it is for (aud)
                raise Refused("WRONG_AUDIENCE")
            result: dict[str, Any] = {"valid": True, "error": None, "format": prefix[:-1], "issuer": claims[1],
                                      "issued_at": rfc3339(claims[6]), "expires_at": rfc3339(claims[4])}
            if prefix == "GDHC1:":
                hc = claims["hc"]
                reasons = [code for code in range(64) if hc[3] >> code & 1] if isinstance(hc[3], int) else list(hc[3])
                result.update(colour=COLOURS[hc[2]], subject_masked=str(hc[4]), reasons=reasons, code_id=hc[1].hex(),
                              holder_tag=hc[6].hex() if isinstance(hc.get(6), bytes) else None)
            else:
                result["claims"] = jsonable(claims["bp"])
            return reply(result)
        except (Refused, httpx.HTTPError, KeyError, IndexError, TypeError, AttributeError) as failure:
            error = failure.code if isinstance(failure, Refused) else (
                "JWKS_UNAVAILABLE" if isinstance(failure, httpx.HTTPError) else "BAD_CLAIMS")
            return reply({"valid": False, "error": error, "colour": None, "issuer": None, "subject_masked": None,
                          "expires_at": None})

    async def call_ours(path: str, request: Request, field: str) -> HTTPResponse:
        """Our partner API, authenticated as a department client: an ES256 JWT signed with the API key."""
        body = request.json or {}
        jti = last_jti[-1] if body.get("reuse_jti") and last_jti else secrets.token_hex(16)
        last_jti.append(jti)
        claims = {"iss": partner_id, "aud": body.get("aud", f"{our_issuer}/partner"),
                  "iat": int(time.time()) + int(body.get("iat_offset", 0)), "jti": jti}
        token = jwt.encode(claims, keys.api, algorithm="ES256", headers={"kid": keys.api_kid})
        try:
            answer = await app.ctx.http.post(path, json={field: body.get(field, [])},
                                             headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as failure:
            return reply({"status": None, "body": None, "error": type(failure).__name__}, status=502)
        try:
            answer_body = answer.json()
        except ValueError:
            answer_body = answer.text
        return reply({"status": answer.status_code, "body": answer_body})

    @app.post("/call/verifications")
    async def call_verifications(request: Request) -> HTTPResponse:
        return await call_ours("/api/partner/v1/verifications", request, "codes")

    @app.post("/call/revocations")
    async def call_revocations(request: Request) -> HTTPResponse:
        return await call_ours("/api/partner/v1/revocations", request, "hashes")

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.partner_region", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--partner-id", default="MO", help="region code, the `iss` of its codes and JWTs")
    parser.add_argument("--our-url", required=True, help="base URL of our service")
    parser.add_argument("--our-issuer", default="https://gov-app.example.cn", help="our issuer; JWT aud = ISSUER/partner")
    parser.add_argument("--keys-dir", type=Path, help="keep keys in DIR/keys.json across restarts")
    args = parser.parse_args(argv)
    keys = Keys(args.partner_id, args.keys_dir / "keys.json" if args.keys_dir else None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    app = create_app(args.partner_id, args.our_url.rstrip("/"), args.our_issuer.rstrip("/"), keys)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
