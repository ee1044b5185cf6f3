"""The H5 page's files are served by the app at /h5/ with a strict policy, and nothing else is."""

from __future__ import annotations

import re


async def test_the_page_files_have_a_strict_policy(client):
    reply = await client.get("/h5/")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy and "unsafe-inline" not in policy
    assert not re.search(r"""(src|href)=["']https?:""", reply.text)  # no asset from the internet
    for name in ("common.js", "app.js", "style.css"):
        assert (await client.get(f"/h5/{name}")).status_code == 200
        assert f'"/h5/{name}"' in reply.text  # the page loads it
    assert (await client.get("/h5/../app/config.py")).status_code == 404
    assert (await client.get("/h5/secrets.txt")).status_code == 404
