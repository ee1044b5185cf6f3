"""Each request and reply model has a name of its own in the API document: the document names its
schemas by class name, so two models called alike were documented with one shape for both."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

OURS = ("api.", "app.", "health_code.", "elderly_mode.", "miniprogram_mock.")


def subclasses(base: type) -> set[type]:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub, *subclasses(sub)}
    return found


async def test_no_two_models_of_ours_share_a_name(app):  # the app fixture has imported every route module
    modules_by_name: dict[str, set[str]] = defaultdict(set)
    for model in subclasses(BaseModel):
        if model.__module__.startswith(OURS) and "[" not in model.__name__:  # not a generic's parametrisation
            modules_by_name[model.__name__].add(model.__module__)
    assert len(modules_by_name) > 50, "too few models found: the walk is broken"
    shared = {name: sorted(modules) for name, modules in modules_by_name.items() if len(modules) > 1}
    assert not shared, f"models with the same name, documented as one schema: {shared}"


async def test_the_document_names_each_component_once(client):
    document = (await client.get("/docs/openapi.json")).json()
    names = list(document["components"]["schemas"])
    assert len(names) == len(set(names)) and "ItemMaterialIn" in names and "MpApplicationOut" in names
