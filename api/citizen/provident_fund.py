"""The citizen's 住房公积金: account, deposits by year, withdrawal (提取) eligibility."""

from __future__ import annotations

from api.http import audience_blueprint

bp = audience_blueprint("citizen_provident_fund", url_prefix="/api/v1/provident-fund", audience="citizen")
