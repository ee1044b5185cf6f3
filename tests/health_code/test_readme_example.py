"""The worked example in the README verifies with the key printed beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from health_code import codec
from health_code.holder import holder_tag

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_verifies_with_its_published_key():
    text = README.read_text("utf-8")
    payload = re.search(r"^(GDHC1:.+)$", text, re.M).group(1)  # base45 has spaces
    jwk = re.search(r'verified with the key `(\{.*?\})`', text).group(1)


    claims = codec.verify_payload(payload, codec.keys_from_jwks({"keys": [{**json.loads(jwk)}]}), now=1795615300)
    assert claims.colour == "green" and claims.subject_masked == "*三" and claims.issuer == "CN-GD"
    assert claims.reasons == (1,) and claims.code_id.hex() == "a1b2c3d4e5f6"
    assert claims.holder is None  # our own codes carry no holder tag


def test_the_readme_holder_tag_example_is_what_a_partner_computes():
    text = README.read_text("utf-8")
    tag = re.search(r"`1990-03-07` give the tag `([0-9a-f]{12})`", text).group(1)
    assert holder_tag(bytes(range(32)), bytes.fromhex("a1b2c3d4e5f6"), "ZHANGSAN", "1990-03-07").hex() == tag
