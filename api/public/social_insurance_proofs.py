"""Public verification of a 社保 proof (个人权益记录) by its QR: anyone holding the paper checks it, no sign-in."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("public_social_insurance_proofs", url_prefix="/api/v1/social-insurance-proofs", audience="public")
