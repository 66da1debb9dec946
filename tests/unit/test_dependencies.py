"""What the product imports, the product's own dependencies install: the tests run with the dev
extra, so a module that only the dev extra brings would pass every test and break `make demo`."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from tests.helpers import ROOT

PRODUCT_PACKAGES = ("nrt", "training", "producer", "functions")
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def product_closure() -> set[str]:
    """Every distribution `uv sync` installs without extras: the project's dependencies, theirs
    (with the extras asked for), and so on, as uv.lock resolved them (markers ignored: a superset)."""
    packages = {canonical(p["name"]): p for p in LOCK["package"]}
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(canonical(PROJECT["name"]), ())]
    while todo:
        name, extras = todo.pop()
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        package = packages[name]
        wanted = list(package.get("dependencies", []))
        for extra in extras:
            wanted += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(canonical(d["name"]), tuple(d.get("extra", ()))) for d in wanted]
    return {key.split("[", 1)[0] for key in seen}


def optional(block: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (never run), or `try: ... except ImportError:` (may be absent)."""
    if isinstance(block, ast.If):
        return isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
    if isinstance(block, ast.Try):
        caught = [h.type for h in block.handlers]
        return any(isinstance(t, ast.Name) and t.id in ("ImportError", "ModuleNotFoundError") for t in caught)
    return False


def imported_modules(path: Path) -> set[str]:
    """Top-level modules a file imports, leaving out the optional ones (see optional)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if optional(block)
        for statement in block.body  # type: ignore[attr-defined]
        for node in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, set[str]]:
    """module -> the product files that import it, for every module neither stdlib nor ours."""
    out: dict[str, set[str]] = {}
    for package in PRODUCT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for module in imported_modules(path) - set(sys.stdlib_module_names) - set(PRODUCT_PACKAGES):
                out.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_module_the_product_imports_comes_with_the_products_own_dependencies():
    closure = product_closure()
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not {canonical(d) for d in providers.get(module, [])} & closure
    }
    assert missing == {}, "imported by the product, installed only by the dev extra (or not at all)"


def test_the_product_closure_leaves_out_the_dev_extra():
    # The check above means something only if the closure is not everything installed.
    closure = product_closure()
    assert {"pytest", "hypothesis", "sagemaker-core", "awscli"}.isdisjoint(closure)
    assert {"moto", "scikit-learn", "duckdb", "pytz", "flask"} <= closure


def test_a_product_import_that_only_the_dev_extra_brings_is_caught(tmp_path):
    module = tmp_path / "uses_the_sdk.py"
    module.write_text("from sagemaker_core.resources import Endpoint\nimport pytest\n")
    providers = importlib.metadata.packages_distributions()
    found = {canonical(d) for m in imported_modules(module) for d in providers.get(m, [])}
    assert found and found.isdisjoint(product_closure())


def test_type_checking_and_guarded_imports_are_not_product_imports(tmp_path):
    module = tmp_path / "typed.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pytest\n"
        "try:\n    import sagemaker_containers\nexcept ImportError:\n    pass\n"
        "try:\n    import numpy\nexcept ValueError:\n    pass\nimport yaml\n"
    )
    assert imported_modules(module) == {"typing", "numpy", "yaml"}


def test_every_dependency_is_pinned_in_the_lock_the_makefile_installs_from():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"sync .*--locked", makefile), "make installs from uv.lock, refusing a stale lock"
    locked = {canonical(p["name"]) for p in LOCK["package"]}
    declared = {canonical(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in PROJECT["dependencies"]}
    declared |= {canonical(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in PROJECT["optional-dependencies"]["dev"]}
    assert declared <= locked
