"""Signing keys on disk and PII at rest: what an operator and an auditor would check."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag

from app.clock import MovableClock
from app.config import Settings
from app.platform import build_platform, load_pii_key
from app.security.keys import KeyStoreError, SigningKeyStore
from app.security.pii import PiiCipher, mask_id_number, mask_name, mask_phone
from app.security.tokens import TokenIssuer

GRACE = timedelta(hours=24)
KID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def store(directory, clock, create=True) -> SigningKeyStore:
    keys = SigningKeyStore(directory, clock, grace=GRACE, create_if_missing=create)
    keys.load()
    return keys


# -- signing keys --------------------------------------------------------------------------

def test_first_start_creates_a_private_key_only_the_owner_can_read(tmp_path):
    keys = store(tmp_path / "keys", MovableClock())
    pems = list((tmp_path / "keys").glob("*.pem"))
    assert len(pems) == 1
    assert mode(pems[0]) == 0o600
    assert mode(tmp_path / "keys" / "index.json") == 0o600
    assert mode(tmp_path / "keys") & 0o077 == 0
    assert KID.match(keys.current.kid)
    assert len(keys.current.kid_bytes) == 8


def test_the_jwks_publishes_the_public_key_only(tmp_path):
    keys = store(tmp_path / "keys", MovableClock())
    (jwk,) = keys.jwks()["keys"]
    assert jwk["kid"] == keys.current.kid
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in jwk  # no private part
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32


def test_without_keys_and_without_permission_to_create_them_the_store_says_what_to_run(tmp_path):
    with pytest.raises(KeyStoreError, match="keys rotate"):
        store(tmp_path / "empty", MovableClock(), create=False)


def test_rotation_keeps_the_old_key_published_until_the_grace_period_ends(tmp_path):
    clock = MovableClock()
    keys = store(tmp_path / "keys", clock)
    old = keys.current
    new = keys.rotate()
    assert new.kid != old.kid and KID.match(new.kid)
    assert keys.current.kid == new.kid
    assert [k["kid"] for k in keys.jwks()["keys"]] == [old.kid, new.kid]
    assert keys.find(old.kid) is not None
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 2
    assert all(mode(p) == 0o600 for p in (tmp_path / "keys").glob("*.pem"))

    clock.advance((GRACE - timedelta(minutes=1)).total_seconds())
    assert keys.find(old.kid) is not None

    # How codes signed before the rotation verify (the store reloaded its keys: compare the numbers).
    assert keys.public_key_for(old.kid_bytes).public_numbers() == old.public_key.public_numbers()

    clock.advance(120)
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new.kid]
    assert keys.find(old.kid) is None
    assert keys.public_key_for(old.kid_bytes) is None
    assert keys.find(new.kid) is not None
    assert keys.public_key_for(new.kid_bytes).public_numbers() == new.public_key.public_numbers()


def test_a_replaced_key_is_found_for_our_own_records_longer_but_never_published_longer(tmp_path):
    clock = MovableClock()
    keys = store(tmp_path / "keys", clock)
    old = keys.current
    keys.rotate()
    clock.advance((GRACE + timedelta(days=30)).total_seconds())

    assert keys.find(old.kid) is None and old.kid not in [k["kid"] for k in keys.jwks()["keys"]]
    assert keys.find_signed_within(old.kid, timedelta(days=91)).kid == old.kid  # a printed proof still checks
    clock.advance(timedelta(days=61).total_seconds())
    assert keys.find_signed_within(old.kid, timedelta(days=91)) is None
    assert keys.find_signed_within("no-such-kid", timedelta(days=91)) is None


def test_a_token_signed_before_a_rotation_still_verifies(tmp_path):
    clock = MovableClock()
    keys = store(tmp_path / "keys", clock)
    tokens = TokenIssuer(keys, clock, "https://gov.test", ttl=900)
    before = tokens.issue("c_1", "ses_1", "citizen-app")
    keys.rotate()
    fresh = TokenIssuer(keys, clock, "https://gov.test", ttl=900)  # another worker, nothing remembered
    assert fresh.verify(before, "citizen-app").subject == "c_1"


def test_a_second_store_on_the_same_directory_loads_the_same_keys(tmp_path):
    first = store(tmp_path / "keys", MovableClock())
    first.rotate()
    second = store(tmp_path / "keys", MovableClock())
    assert second.jwks() == first.jwks()
    assert second.current.kid == first.current.kid
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 2  # nothing new created


def test_a_rotation_by_another_process_is_picked_up_when_its_kid_is_seen(tmp_path):
    worker_a = store(tmp_path / "keys", MovableClock())
    worker_b = store(tmp_path / "keys", MovableClock())
    rotated = worker_a.rotate()
    found = worker_b.find(rotated.kid)
    assert found is not None and found.kid == rotated.kid


def test_a_code_signed_after_a_rotation_by_another_process_finds_its_key(tmp_path):
    worker_a = store(tmp_path / "keys", MovableClock())
    worker_b = store(tmp_path / "keys", MovableClock())
    assert worker_b.public_key_for(worker_a.current.kid_bytes) is not None  # worker B has checked codes before
    rotated = worker_a.rotate()
    key = worker_b.public_key_for(rotated.kid_bytes)
    assert key is not None and key.public_numbers() == rotated.public_key.public_numbers()


def test_an_unknown_kid_is_not_found(tmp_path):
    keys = store(tmp_path / "keys", MovableClock())
    assert keys.find("AAAAAAAAAAA") is None
    assert keys.public_key_for(b"\x00" * 8) is None


def test_a_tampered_index_is_refused(tmp_path):
    store(tmp_path / "keys", MovableClock())
    index = tmp_path / "keys" / "index.json"
    entries = json.loads(index.read_text())
    entries[0]["kid"] = "AAAAAAAAAAA"
    index.write_text(json.dumps(entries))
    with pytest.raises(KeyStoreError, match="kid does not match"):
        store(tmp_path / "keys", MovableClock(), create=False)


# -- PII at rest ---------------------------------------------------------------------------

@pytest.fixture
def cipher() -> PiiCipher:
    return PiiCipher(os.urandom(32))


def test_pii_round_trips_and_the_ciphertext_hides_it(cipher):
    sealed = cipher.encrypt("440106199003071234", "id_number")
    assert sealed.startswith("v1:")
    assert "440106199003071234" not in sealed
    assert cipher.decrypt(sealed, "id_number") == "440106199003071234"
    name = cipher.encrypt("欧阳娜娜", "name")
    assert cipher.decrypt(name, "name") == "欧阳娜娜"


def test_the_same_value_encrypts_differently_each_time(cipher):
    assert cipher.encrypt("13800138000", "phone") != cipher.encrypt("13800138000", "phone")


def test_a_ciphertext_cannot_be_moved_to_another_field(cipher):
    sealed = cipher.encrypt("13800138000", "phone")
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed, "id_number")


def test_another_key_cannot_decrypt(cipher):
    sealed = cipher.encrypt("13800138000", "phone")
    with pytest.raises(InvalidTag):
        PiiCipher(os.urandom(32)).decrypt(sealed, "phone")


def test_a_changed_ciphertext_is_detected(cipher):
    sealed = cipher.encrypt("13800138000", "phone")
    version, body = sealed.split(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        cipher.decrypt(f"{version}:{base64.b64encode(bytes(raw)).decode()}", "phone")
    with pytest.raises(ValueError, match="version"):
        cipher.decrypt("v0:" + body, "phone")


def test_lookup_hash_is_deterministic_per_key_and_context(cipher):
    same = cipher.lookup_hash("13800138000", "phone")
    assert same == cipher.lookup_hash("13800138000", "phone")
    assert re.fullmatch(r"[0-9a-f]{64}", same)
    assert "13800138000" not in same
    assert same != cipher.lookup_hash("13800138001", "phone")
    assert same != cipher.lookup_hash("13800138000", "id_number")
    assert same != PiiCipher(os.urandom(32)).lookup_hash("13800138000", "phone")


def test_the_generated_pii_key_is_private_and_stable(tmp_path, database_url):
    settings = Settings(env="test", data_dir=tmp_path, database_url=database_url)
    first = load_pii_key(settings)
    path = tmp_path / "keys" / "pii.key"
    assert mode(path) == 0o600
    assert load_pii_key(settings) == first
    # Data encrypted by one start is readable after a restart.
    sealed = build_platform(settings).pii.encrypt("13800138000", "phone")
    assert build_platform(settings).pii.decrypt(sealed, "phone") == "13800138000"


# -- masking -------------------------------------------------------------------------------

@pytest.mark.parametrize("phone, masked", [("13812345678", "138****5678"), ("12345", "*****")])
def test_phone_numbers_show_the_first_three_and_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("id_number, masked", [
    ("440106199001011234", "4401**********1234"),
    ("44010619900101123X", "4401**********123X"),
    ("12345678", "********"),
])
def test_id_numbers_show_the_first_and_last_four(id_number, masked):
    assert mask_id_number(id_number) == masked


@pytest.mark.parametrize("name, masked", [("张三", "*三"), ("欧阳娜娜", "***娜"), ("李", "李"), ("", "")])
def test_names_show_only_the_last_character(name, masked):
    assert mask_name(name) == masked
