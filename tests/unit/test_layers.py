"""nrt/'s imports go down the layers docs/architecture.md draws, never back up, with no cycle:
the folder list is the process diagram."""

from __future__ import annotations

import ast

from tests.helpers import ROOT

# Higher imports lower; the same layer may not import across (its parts are siblings).
LAYERS = [
    {"cli"},
    {"runtime"},
    {"apigateway", "default_model"},
    {"ops"},
    {"lake", "hosts"},
    {"state"},
    {"emulator"},
]
# The ground floor: small modules anything may import; they import only each other.
GROUND = {"template", "statedir", "children", "clients", "names", "signals", "stats", "health", "http11"}


def rank(part: str) -> int:
    if part in GROUND:
        return 0
    return len(LAYERS) - next(i for i, layer in enumerate(LAYERS) if part in layer)


def imports() -> list[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import of one nrt part by another."""
    found = []
    for path in sorted((ROOT / "nrt").rglob("*.py")):
        module = path.relative_to(ROOT).with_suffix("").parts
        source = module[1] if len(module) > 1 else "nrt"
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nrt"):
                continue
            names = [f"nrt.{a.name}" for a in node.names] if node.module == "nrt" else [node.module]
            for name in names:
                target = name.split(".")[1]
                if target != source:
                    found.append((source, target, str(path.relative_to(ROOT))))
    return found


def test_every_part_of_nrt_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in (ROOT / "nrt").iterdir() if not p.name.startswith("__")}
    placed = GROUND.union(*LAYERS)
    assert parts <= placed, f"place these in a layer: {sorted(parts - placed)}"


def test_imports_go_down_never_up_or_across():
    wrong = [
        f"{where}: {source} imports {target}"
        for source, target, where in imports()
        if rank(source) <= rank(target) and not (rank(source) == rank(target) == 0)
    ]
    assert wrong == []
