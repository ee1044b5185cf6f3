"""The contract `make lint` keeps domains apart with: another domain's service is fine, its models are not."""

from __future__ import annotations

import grimp

from tests.architecture.domain_boundaries import DomainBoundaryContract


def contract(**options: object) -> DomainBoundaryContract:
    return DomainBoundaryContract("domains", session_options={},
                                  contract_options={"domains": ["app.accounts", "app.payments"], **options})


def graph_with(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=3, line_contents=f"import {imported}")
    return graph


def test_a_domain_may_use_another_through_its_service_and_itself_freely():
    graph = graph_with(("app.payments.service", "app.accounts.service"), ("app.payments.jobs", "app.accounts"),
                       ("app.payments.service", "app.payments.models"), ("app.payments.service", "app.clock"))

    assert contract().check(graph, verbose=False).kept


def test_reaching_into_another_domains_models_breaks_it_and_says_where():
    graph = graph_with(("app.payments.service", "app.accounts.models"))

    check = contract().check(graph, verbose=False)

    assert not check.kept
    assert check.metadata["broken"] == [{"importer": "app.payments.service", "imported": "app.accounts.models",
                                         "lines": [3]}]


def test_a_named_exception_is_kept_and_counted():
    graph = graph_with(("app.payments.service", "app.accounts.models"))

    check = contract(ignore_imports=["app.payments.service -> app.accounts.models"]).check(graph, verbose=False)

    assert check.kept and check.ignored_import_count == 1
