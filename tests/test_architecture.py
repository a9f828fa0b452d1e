"""The layers of gateway/ only import downward (docs/architecture.md):

    core  <-  devices  <-  ingest  <-  features (rules, tickets, patrol, timeseries, auth, reports)  <-  web, app

and FastAPI (with Starlette, sse-starlette and uvicorn) is imported only by `web/` and the
features' `api.py`. Imports under `if TYPE_CHECKING:` are annotations, not dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
FEATURES = {"rules", "tickets", "patrol", "timeseries", "auth", "reports", "maintenance", "fleet"}
RANK = {"core": 0, "devices": 1, "ingest": 2, **{f: 3 for f in FEATURES}, "web": 4, "app": 5}
HTTP = ("fastapi", "starlette", "sse_starlette", "uvicorn")


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import that runs when the module is imported or called."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


MODULES = sorted(p for p in GATEWAY.rglob("*.py"))


def name_of(path: Path) -> str:
    return ".".join(path.relative_to(GATEWAY.parent).with_suffix("").parts).removesuffix(".__init__")


def test_every_package_of_gateway_has_a_layer() -> None:
    packages = {p.parent.name for p in GATEWAY.glob("*/__init__.py")} - {"builtin"}
    assert packages == set(RANK)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(GATEWAY)))
def test_imports_only_go_down_the_layers(path: Path) -> None:
    me = layer(name_of(path))
    if me not in RANK:
        return  # gateway/__init__.py, __main__.py and the data packages
    upward = [f"line {line}: {module}" for line, module in runtime_imports(path)
              if module.startswith("gateway.") and layer(module) in RANK
              and (RANK[layer(module)] > RANK[me] or (me == "web" and layer(module) == "app"))]
    assert upward == [], f"{name_of(path)} ({me}) imports from a layer above it"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(GATEWAY)))
def test_only_the_web_layer_and_api_modules_import_fastapi(path: Path) -> None:
    if layer(name_of(path)) == "web" or path.name == "api.py":
        return
    http = [f"line {line}: {module}" for line, module in runtime_imports(path) if module.split(".")[0] in HTTP]
    assert http == [], f"{name_of(path)} imports the HTTP stack"


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from gateway.app.cli import main\nif TYPE_CHECKING:\n    from gateway.web.app import x\n")
    assert runtime_imports(bad) == [(1, "gateway.app.cli")]
