"""The rule that apps depend one way, made executable beside the import-linter contracts.

`lint-imports` (pyproject.toml, run by .ci/run and `make lint`) holds the layers: the project's
wiring, then integrations, feedback, chat, then the shared kit; within each app the edges, then
services and selectors, then models. These tests hold what import-linter does not see: no name
starting with `_` is imported from another app, and no import inside a function crosses an app
(a hidden import is a dependency nobody reads), but for `AppConfig.ready`, where an app registers
its drains, timers and hooks with chat once the models are loaded.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("cxhub", "chat", "feedback", "integrations")


def modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield app, path, ast.parse(path.read_text(), filename=str(path))


def imported(node) -> list[tuple[str, str | None]]:
    """(module, name) pairs an import statement brings in (name None for `import x.y`)."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [(node.module, alias.name) for alias in node.names]
    return []


def is_private(module: str, name: str | None) -> bool:
    return any(part.startswith("_") for part in [*module.split("."), name or ""])


def other_app(own: str, module: str) -> bool:
    top = module.split(".")[0]
    return top in APPS and top != own


def test_no_private_name_is_imported_from_another_app():
    private = [
        f"{path.relative_to(ROOT)}:{node.lineno} imports {module}.{name}"
        for app, path, tree in modules()
        for node in ast.walk(tree)
        for module, name in imported(node)
        if other_app(app, module)
        and ((name or "").startswith("_") or any(p.startswith("_") for p in module.split(".")))
    ]
    assert private == []


def test_no_import_inside_a_function_crosses_an_app_but_in_app_config_ready():
    hidden = []
    for app, path, tree in modules():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if path.name == "apps.py" and function.name == "ready":
                continue
            for node in ast.walk(function):
                for module, _ in imported(node):
                    if other_app(app, module):
                        hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module} in {function.name}()")
    assert hidden == []
