"""The worked example in the README verifies with the key printed beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from health_code import codec
from health_code.holder import holds

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_verifies_with_its_published_key():
    text = README.read_text("utf-8")
    payload = re.search(r"^(GDHC1:.+)$", text, re.M).group(1)  # base45 has spaces
    jwk = re.search(r'verified with the key `(\{.*?\})`', text).group(1)


    claims = codec.verify_payload(payload, codec.keys_from_jwks({"keys": [{**json.loads(jwk)}]}), now=1795615300)
    assert claims.colour == "green" and claims.subject_masked == "*三" and claims.issuer == "CN-GD"
    assert claims.reasons == (1,) and claims.code_id.hex() == "a1b2c3d4e5f6"
    assert holds(claims.holder, claims.code_id, "张三", "440106199003074150")  # the sample holder, born 1990-03-07
