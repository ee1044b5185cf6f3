"""Relying parties (pharmacies, hospitals) check a 电子社保卡 QR; each check is in the holder's access log."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("rp_social_security_card", url_prefix="/api/rp/v1/social-security-card", audience="relying_party")
