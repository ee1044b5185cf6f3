"""The H5 page (`/h5/`): a mobile web front-end of the citizen API, plain HTML/CSS/JS from this repo.

Only the page's own files are served, with a strict Content-Security-Policy: scripts, styles and
images from this origin only (QR images come as blob: URLs fetched with the bearer token), no
inline script, no third-party origin, no framing.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint
from app.errors import NotFound

bp = audience_blueprint("h5", url_prefix="", audience="public")
PAGE_DIR = Path(__file__).resolve().parents[2] / "miniprogram_mock" / "h5"
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8",
         # What both pages share (the SMS login form, the status line, the API call): loaded before each page's own script.
         "common.js": "text/javascript; charset=utf-8",
         # The consent page of "sign in with this account elsewhere", served at /oidc/authorize.
         "consent.html": "text/html; charset=utf-8", "consent.js": "text/javascript; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def served_file(name: str) -> HTTPResponse:
    """One of the page's files, with its headers (the OpenID Connect consent page is one)."""
    return _file(name)


def _file(name: str) -> HTTPResponse:
    if name not in FILES:
        raise NotFound()
    return response.raw((PAGE_DIR / name).read_bytes(), content_type=FILES[name], headers={
        "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache"})


@bp.get("/h5/", strict_slashes=True)
async def page(request: Request) -> HTTPResponse:
    """The H5 page (public: it holds no data; everything it shows comes from the API with the user's token)."""
    return _file("index.html")


@bp.get("/h5/<name:str>")
async def asset(request: Request, name: str) -> HTTPResponse:
    return _file(name)
