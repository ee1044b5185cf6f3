"""The citizen's 电子社保卡: the card and its dynamic QR."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("citizen_social_security_card", url_prefix="/api/v1/social-security-card", audience="citizen")
