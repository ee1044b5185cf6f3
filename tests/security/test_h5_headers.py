"""The H5 page (/h5/, served to the mini-program web view) carries a strict CSP and names no third-party
origin."""

from __future__ import annotations

import re

from tests.security.routes import endpoints


async def test_the_h5_pages_have_a_strict_csp_and_no_third_party_origins(app, client):
    pages = [e for e in endpoints(app, ("public",)) if e.path.startswith("h5") and e.method == "GET" and not e.params]
    assert pages, "no /h5/ page is registered: the test would check nothing"
    for page in pages:
        reply = await client.get(page.url())
        assert reply.status_code == 200, page.path
        csp = reply.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp or "default-src 'none'" in csp, csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[-1].split(";")[0], csp
        assert "frame-ancestors" in csp, csp
        assert reply.headers.get("x-content-type-options") == "nosniff"
        origins = set(re.findall(r"https?://[^\s\"'<>;)]+", reply.text + " " + csp))
        assert not origins, f"third-party origins on {page.path}: {origins}"
