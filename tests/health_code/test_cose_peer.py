"""The peer row of `make bench` (bench/cose_peer.py) compares like with like: pycose accepts the health codes
our codec accepts, reads the same claims from them, and refuses what our codec refuses."""

from __future__ import annotations

import base45
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.base45_decoder import b45decode
from bench.cose_peer import PeerRefused, pycose_check, pycose_key, rates, sample_code
from health_code import codec


def keys_for(payload: str, public: ec.EllipticCurvePublicKey) -> tuple[bytes, dict]:
    kid = codec.unpack(payload)[0][codec.HEADER_KID]
    return kid, {kid: pycose_key(public)}


def test_pycose_accepts_our_code_and_reads_the_claims_our_codec_reads():
    payload, public = sample_code()
    kid, peer_keys = keys_for(payload, public)
    now = codec.unpack(payload)[1][codec.CWT_IAT] + 1
    ours = codec.verify_payload(payload, {kid: public}.get, now)
    theirs = pycose_check(payload, peer_keys, now)
    assert theirs == dict(codec.unpack(payload)[1])
    assert codec.read_claims(theirs, now) == ours
    assert ours.colour == "green" and ours.subject_masked == "*三"


def test_pycose_refuses_what_our_codec_refuses():
    payload, public = sample_code()
    kid, peer_keys = keys_for(payload, public)
    now = codec.unpack(payload)[1][codec.CWT_IAT] + 1
    raw = bytearray(b45decode(payload[len(codec.PREFIX):]))
    raw[-1] ^= 1  # the signature's last byte
    forged = codec.PREFIX + base45.b45encode(bytes(raw)).decode()
    with pytest.raises(codec.CodeError):
        codec.verify_payload(forged, {kid: public}.get, now)
    with pytest.raises(PeerRefused):
        pycose_check(forged, peer_keys, now)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(codec.CodeError):
        codec.verify_payload(payload, {kid: other}.get, now)
    with pytest.raises(PeerRefused):
        pycose_check(payload, {kid: pycose_key(other)}, now)
    expired = codec.unpack(payload)[1][codec.CWT_EXP] + 1
    with pytest.raises(codec.CodeError):
        codec.verify_payload(payload, {kid: public}.get, expired)
    with pytest.raises(PeerRefused):
        pycose_check(payload, peer_keys, expired)


def test_the_row_measures_both_on_the_same_code():
    payload, public = sample_code()
    ours, theirs = rates(payload, public, seconds=0.05)
    assert ours > 0 and theirs > 0
