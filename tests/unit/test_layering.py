"""The layering rule of DESIGN.md, checked on the source: lower folders never import higher ones.

    api → services → media, grounding, engine;  storage beside;  the ground floor
    (prompt, errors, settings) imports no sightd package.

Imports are read with `ast` (including those inside functions and under TYPE_CHECKING), so
a lazy import cannot sneak a dependency past the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sightd"

# folder (or ground-floor module) → sightd packages it must not import
FORBIDDEN: dict[str, set[str]] = {
    "media": {"engine", "services", "api", "storage", "grounding", "testing", "app", "cli"},
    "grounding": {"engine", "services", "api", "storage", "testing", "app", "cli"},
    "storage": {"engine", "services", "api", "media", "grounding", "testing", "app", "cli"},
    "engine": {"services", "api", "storage", "testing", "app", "cli"},
    "services": {"api", "testing", "app", "cli"},
    # the playground's static files: served by api/web.py, importing nothing of sightd
    "web": {"api", "services", "engine", "storage", "media", "grounding", "testing", "app", "cli"},
    "prompt.py": {"engine", "services", "api", "storage", "media", "grounding", "testing"},
    "errors.py": {"engine", "services", "api", "storage", "media", "grounding", "testing"},
    "settings.py": {"engine", "services", "api", "storage", "media", "grounding", "testing"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level sightd package, line) for every `sightd.X` import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "sightd":
                names = [f"sightd.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sightd" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def violations(layer: str) -> list[str]:
    root = SRC / layer
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    bad = []
    for path in files:
        for package, line in sorted(imported_packages(path)):
            if package.removesuffix(".py") in {p.removesuffix(".py") for p in FORBIDDEN[layer]}:
                bad.append(f"{path.relative_to(SRC)}:{line} imports sightd.{package}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_catches_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sightd.engine.base import Backend\n"
        "def f():\n    import sightd.services.generate\n    from sightd import api\n"
    )
    assert {p for p, _ in imported_packages(module)} == {"engine", "services", "api"}
