"""webmail.mime is pure: it imports no Django and nothing else from the project."""

from __future__ import annotations

import ast
from pathlib import Path

import webmail.mime

PACKAGE = Path(webmail.mime.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_it_imports_neither_django_nor_the_rest_of_the_project() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in ("django", "celery", "accounts"), (path.name, module)
            if top == "webmail":
                assert module.startswith("webmail.mime"), (path.name, module)
