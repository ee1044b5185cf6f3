"""Benchmark: ID-voucher presentation redemption by a relying party, as a ratio to a bare Sanic
handler in the same run (one worker each, embedded default).

A redemption is the relying party's JWT (ES256 verify, single-use jti), the QR token's COSE
signature, a single-use update of the presentation, the attributes and an access-log entry.
Every request redeems a new token, made beforehand from the citizen's phone.
Run: `.venv/bin/python -m bench.voucher_redemption [seconds]`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bench._load import add_client, bare_sanic, free_port, measure, our_service, post_rate, sign_in, verify_identity
from bench.partner_verification import ISSUER

TOKENS_PER_SECOND = 1500  # more than one worker redeems here; a run that uses them all says so


def _call(port: int, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def register_hotel(env: dict[str, str], data_dir: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    return add_client(env, data_dir, "示例大酒店（基准）", "relying_party", "age_over_18")


def make_tokens(port: int, citizen_token: str, count: int) -> list[str]:
    phone = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(phone.public_key(), as_dict=True)
    voucher = _call(port, "/api/v1/vouchers", citizen_token, {"device_id": "bench-phone-01", "device_key": jwk})
    tokens = []
    for _ in range(count):
        proof = jwt.encode({"sub": voucher["id"], "iat": int(time.time()), "jti": secrets.token_hex(8)}, phone,
                           algorithm="ES256")
        tokens.append(_call(port, "/api/v1/vouchers/current/presentations", citizen_token,
                            {"device_proof": proof, "attributes": ["age_over_18"]})["token"])
    return tokens


def main(seconds: float = 4.0) -> None:
    base_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir, bare_sanic(base_port), \
            our_service(port, data_dir, APP_ACCESS_LOG="false", APP_VOUCHER_PRESENTATIONS_PER_MINUTE="100000"):
        env = {**os.environ, "APP_DATA_DIR": data_dir, "APP_DATABASE_URL": "", "APP_REDIS_URL": ""}
        hotel_id, hotel_key = register_hotel(env, data_dir)
        citizen = sign_in(port)
        verify_identity(port, citizen)
        _call(port, "/api/v1/me/identity/face", citizen, {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
        made = make_tokens(port, citizen, int((seconds + 0.5) * TOKENS_PER_SECOND))
        tokens = iter(made)
        used = 0

        def next_redemption() -> tuple[str, dict]:
            nonlocal used
            used += 1
            claims = {"iss": hotel_id, "aud": f"{ISSUER}/relying_party", "iat": int(time.time()),
                      "jti": secrets.token_hex(12)}
            body = {"token": next(tokens), "attributes": ["age_over_18"], "purpose": "入住登记（基准）"}
            return jwt.encode(claims, hotel_key, algorithm="ES256", headers={"kid": "1"}), body

        base_rps = asyncio.run(measure(base_port, "/ping", {}, seconds))
        rate = asyncio.run(post_rate(port, "/api/rp/v1/redemptions", next_redemption, seconds))
    if used > len(made):
        raise SystemExit(f"the {len(made)} one-time tokens ran out before the measurement ended: raise TOKENS_PER_SECOND")
    print(f"baseline bare Sanic handler: {base_rps:8.0f} req/s")
    print(f"POST /api/rp/v1/redemptions (each a new one-time token): {rate:8.0f} req/s   ratio {rate / base_rps:.3f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
