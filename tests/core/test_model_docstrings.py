"""Tortoise 1.1.9 writes model docstrings unescaped into DDL comments: guard against ' and ;."""

from tortoise import Tortoise


async def test_model_docstrings_are_safe_in_ddl(app):
    for model in Tortoise.apps["models"].values():
        doc = model.__doc__ or ""
        assert "'" not in doc and ";" not in doc, f"{model.__name__} docstring breaks DDL"
