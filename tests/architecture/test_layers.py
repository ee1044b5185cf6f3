"""The import contracts `make lint` checks name every core module, so a new one is held to them too."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_CORE = {"__init__", "__main__", "server"}  # the entry point and the composition root wire every layer


def contract(name: str) -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    return config[f"importlinter:contract:{name}"]


def listed(section: configparser.SectionProxy, option: str) -> set[str]:
    return {line.strip() for line in section[option].splitlines() if line.strip()}


def test_every_core_module_is_held_to_the_core_contract():
    modules = {f"app.{path.stem}" for path in (ROOT / "app").glob("*.py") if path.stem not in NOT_CORE}
    core = listed(contract("core"), "source_modules")

    assert modules - core == set(), "add the module to the core contract in .importlinter"


def test_every_domain_package_is_a_domain_of_the_boundary_contract():
    packages = {f"app.{path.parent.name}" for path in (ROOT / "app").glob("*/__init__.py")}
    packages |= {f"app.services.{path.parent.name}" for path in (ROOT / "app" / "services").glob("*/__init__.py")}
    core_packages = {"app.security", "app.integrations", "app.migrations", "app.services"}

    domains = listed(contract("domains"), "domains")

    assert packages - core_packages - domains == set()
    assert {"health_code", "elderly_mode"} <= domains


def test_no_two_domains_use_each_other():
    """Domains form layers, not a web: following the imports from one domain never leads back to it."""
    import grimp

    domains = sorted(listed(contract("domains"), "domains"), key=len, reverse=True)

    def domain_of(module: str) -> str | None:
        return next((d for d in domains if module == d or module.startswith(d + ".")), None)

    graph = grimp.build_graph("app", "api", "health_code", "elderly_mode", cache_dir=None)
    uses: dict[str, set[str]] = {d: set() for d in domains}
    for module in graph.modules:
        own = domain_of(module)
        for imported in graph.find_modules_directly_imported_by(module) if own else ():
            other = domain_of(imported)
            if other and other != own:
                uses[own].add(other)

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for other in uses[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        return seen

    assert [d for d in domains if d in reachable(d)] == []
