"""The departments the health-code stories meet: a lab, the city's health administrator, a metro gate."""

from __future__ import annotations

import pytest

from tests.factories import make_department


@pytest.fixture
async def lab(app, clock):
    return await make_department(clock, "示例检验所", ["lab"])


@pytest.fixture
async def cdc(app, clock):
    return await make_department(clock, "示例市疾控中心", ["health_admin"])


@pytest.fixture
async def gate(app, clock):
    return await make_department(clock, "示例地铁站闸机", ["verifier"])
