"""Peer row: checking one of our signed health codes with our codec against pycose, what a Python
user would otherwise reach for, on the same code with the same key in the same run.

Both do the whole check of a code's text: base45 (ours: `app.base45_decoder`; the peer: the `base45`
package), the COSE_Sign1 taken apart, its ES256 signature checked with the key its `kid` names, and
the CWT claims read and held to their time. Ours is `health_code.codec.verify_payload`; the peer is
`pycose_check` below (pycose's `Sign1Message.decode` and `verify_signature`, cbor2 for the claims).
`tests/health_code/test_cose_peer.py` shows that pycose accepts our codes and gives the same claims,
and refuses one with a changed signature, so the row compares like with like.
Run: `.venv/bin/python -m bench.cose_peer [seconds]`.
"""

from __future__ import annotations

import sys
import time
from importlib.metadata import version
from typing import Any, Callable, Mapping

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from pycose.keys import EC2Key
from pycose.headers import KID
from pycose.keys.curves import P256
from pycose.messages import Sign1Message

from health_code import codec


PYCOSE_VERSION = version("pycose")


class PeerRefused(ValueError):
    """pycose (or the time check around it) did not accept the code."""


def pycose_key(public: ec.EllipticCurvePublicKey) -> EC2Key:
    """The same public key as pycose holds it (made once, as a verifier keeps its trust list)."""
    numbers = public.public_numbers()
    return EC2Key(crv=P256, x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))


def pycose_check(payload: str, keys: Mapping[bytes, EC2Key], now: float) -> Mapping[Any, Any]:
    """A code's text checked with pycose: its CWT claims, or PeerRefused."""
    if not payload.startswith(codec.PREFIX):
        raise PeerRefused("prefix")
    # pycose 1.1's Sign1Message.decode wants the tag's array as a list and its header map as a dict, and
    # cbor2 6 gives a tag's contents immutable (a tuple, a frozen map: "Bytes cannot be decoded as COSE
    # message" for any message): the tag is read here and its array, thawed, handed to pycose's
    # from_cose_obj, the rest of what decode does.
    tagged = cbor2.loads(base45.b45decode(payload[len(codec.PREFIX):]))
    if not isinstance(tagged, cbor2.CBORTag) or tagged.tag != Sign1Message.cbor_tag:
        raise PeerRefused("not a tagged COSE_Sign1")
    message = Sign1Message.from_cose_obj([dict(item) if isinstance(item, Mapping) else item
                                          for item in tagged.value], True)
    kid = message.phdr.get(KID)
    key = keys.get(kid) if isinstance(kid, bytes) else None
    if key is None:
        raise PeerRefused("unknown kid")
    message.key = key
    if not message.verify_signature():
        raise PeerRefused("signature")
    claims = cbor2.loads(message.payload)
    if not isinstance(claims, dict) or not claims.get(codec.CWT_IAT, now + 1) <= now < claims.get(codec.CWT_EXP, 0):
        raise PeerRefused("time")
    return claims


def _kid_of(payload: str) -> bytes:
    kid: bytes = codec.unpack(payload)[0][codec.HEADER_KID]
    return kid


def per_second(check: Callable[[], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        check()
        count += 1
    return count / (time.perf_counter() - started)


def rates(payload: str, public: ec.EllipticCurvePublicKey, seconds: float = 1.0) -> tuple[float, float]:
    """Codes checked per second by our codec and by pycose, on this core, one after the other."""
    kid = _kid_of(payload)
    find = {kid: public}.get
    peer_keys = {kid: pycose_key(public)}
    now = float(codec.unpack(payload)[1][codec.CWT_IAT] + 1)
    codec.verify_payload(payload, find, now)  # both accept it before either is timed
    pycose_check(payload, peer_keys, now)
    ours = per_second(lambda: codec.verify_payload(payload, find, now), seconds)
    theirs = per_second(lambda: pycose_check(payload, peer_keys, now), seconds)
    return ours, theirs


def sample_code() -> tuple[str, ec.EllipticCurvePublicKey]:
    """A code shaped as the service issues them (the `hc` claims of a green code), signed with a fresh key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    cwt = {codec.CWT_ISS: "CN-GD", codec.CWT_IAT: now, codec.CWT_EXP: now + 180,
           codec.CLAIMS_KEY: {1: b"\x01\x02\x03\x04\x05\x06", 2: 0, 3: 0, 4: "*三"}}
    return codec.sign_cwt(cwt, key, b"\x11" * 8, codec.PREFIX), key.public_key()


def main(seconds: float = 2.0) -> None:
    payload, public = sample_code()
    ours, theirs = rates(payload, public, seconds)
    print(f"our codec (codec.verify_payload): {ours:8.0f} codes/s")
    print(f"pycose {PYCOSE_VERSION} (+ base45, cbor2):   {theirs:8.0f} codes/s   ours / pycose {ours / theirs:.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
