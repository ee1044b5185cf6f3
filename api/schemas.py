"""Request and reply schemas shared across blueprints (shapes fixed by ../shared/API.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CitizenSummary(BaseModel):
    id: str
    level: int
    elderly_mode: bool


class TokenReply(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    citizen: CitizenSummary
