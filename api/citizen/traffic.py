"""The citizen's 交管 records: vehicles, driving licence and points, violations in detail."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("citizen_traffic", url_prefix="/api/v1/traffic", audience="citizen")
