"""The citizen's 社保: insured status, contributions by year, the personal rights record and its printable proof."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("citizen_social_insurance", url_prefix="/api/v1/social-insurance", audience="citizen")
