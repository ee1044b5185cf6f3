"""Sanic's routers for the tests' apps: each route table's lookup function compiled once per test process.

Every test starts an app of its own, and at each start Sanic's two routers (HTTP routes, signals) write
the source of a lookup function for their table, parse it, print it back for debugging, and compile it:
about 50 ms of each test's set-up, for the same few tables again and again. These routers write the
source as Sanic does, then compile it only the first time that exact source is seen. The function is
the one Sanic would build, run in sanic_routing's module namespace as Sanic runs it. Installed by
tests/conftest.py; the served processes use Sanic's own.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

import sanic.app
import sanic_routing.router
from sanic.router import Router
from sanic.signals import SignalRouter

_COMPILED: dict[str, CodeType] = {}


class _CompiledOnce:
    find_route_src: str
    _find_route: Any
    _matchers: Any

    def _render(self, do_compile: bool = True, do_optimize: bool = False) -> None:
        super()._render(do_compile=False, do_optimize=do_optimize)  # type: ignore[misc]  # writes the source only
        if not do_compile:
            return
        code = _COMPILED.get(self.find_route_src)
        if code is None:
            code = _COMPILED[self.find_route_src] = compile(self.find_route_src, "", "exec")
        names: dict[str, Any] = {}
        exec(code, vars(sanic_routing.router), names)
        self._find_route = names["find_route"]
        self._matchers = names.get("matchers")


class CompiledOnceRouter(_CompiledOnce, Router):
    pass


class CompiledOnceSignalRouter(_CompiledOnce, SignalRouter):
    pass


def install() -> None:
    """Every app built in this process from now on gets these routers."""
    sanic.app.Router = CompiledOnceRouter  # type: ignore[misc]
    sanic.app.SignalRouter = CompiledOnceSignalRouter  # type: ignore[misc]
