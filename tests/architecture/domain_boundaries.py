"""An import-linter contract: domains use one another only through the other's `service` module.

    [importlinter:contract:domains]
    type = tests.architecture.domain_boundaries.DomainBoundaryContract
    domains = app.accounts, health_code, ...
    ignore_imports = app.payments.jobs -> app.jobs   # each with its reason

A domain is a package; any module inside it may import anything of its own domain, and of another
domain only that domain's package itself or its `service` module (its public operations). Models,
rules and other internals stay behind it, so a domain can change them without breaking another.
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils


class DomainBoundaryContract(Contract):
    type_name = "domain_boundaries"

    domains = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR)

    def _domain_of(self, module: str) -> str | None:
        for domain in self.domains:  # type: ignore[attr-defined]
            if module == domain or module.startswith(domain + "."):
                return domain
        return None

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph, ignore_imports=self.ignore_imports or [],  # type: ignore[attr-defined]
            unmatched_alerting=self.unmatched_ignore_imports_alerting)  # type: ignore[attr-defined]
        broken: list[dict[str, Any]] = []
        for importer in sorted(graph.modules):
            own = self._domain_of(importer)
            if own is None:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                other = self._domain_of(imported)
                if other is None or other == own or imported in (other, f"{other}.service"):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                broken.append({"importer": importer, "imported": imported,
                               "lines": sorted(d["line_number"] for d in details)})
        return ContractCheck(kept=not broken, metadata={"broken": broken}, warnings=list(removal.warnings),
                             ignored_import_count=removal.ignored_import_count)

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            lines = ", ".join(f"l.{n}" for n in item["lines"])
            output.print_error(f"{item['importer']} -> {item['imported']} ({lines}): "
                               f"use {self._domain_of(item['imported'])}.service")
            output.new_line()
