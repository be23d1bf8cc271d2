"""The import graph of protocol/ and server/: no cycle, and each layer imports
only the layers below it (docs/architecture.md). Run by ``make lint``.

    python scripts/check_imports.py [--graph]

Every import counts: top level, inside a function, under ``TYPE_CHECKING``
(a cycle there still means two modules cannot be read one without the other).
Exit status 1, with the offending edges, when a rule is broken.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "server")
SKIPPED = ("server/storage/migrations",)  # alembic's scripts, loaded by alembic

# A module (or package, with everything in it) -> the project modules it may import.
# The most specific entry that names a module applies.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "protocol": ("protocol",),
    "server.storage": ("protocol", "server.storage"),
    "server.proxyheader": (),  # sans-IO, pure: nothing of the project
    "server.rules": ("protocol", "server.storage"),
    "server.session": ("protocol", "server.push", "server.security", "server.storage"),
    "server.dispatch": ("protocol", "server.session", "server.table"),
    "server.commands": (
        "protocol",
        "server.rules",
        "server.security",
        "server.session",
        "server.storage",
        "server.table",
    ),
}


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package's __init__)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if any(str(relative).startswith(skipped) for skipped in SKIPPED):
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                # "from .storage import queries" imports the module storage.queries.
                targets = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbidden(edges: dict[str, set[str]]) -> list[str]:
    """Edges that break ``MAY_IMPORT``."""
    broken = []
    for source, targets in sorted(edges.items()):
        rules = [prefix for prefix in MAY_IMPORT if _within(source, prefix)]
        if not rules:
            continue
        allowed = MAY_IMPORT[max(rules, key=len)]
        for target in sorted(targets):
            if not any(_within(target, prefix) for prefix in allowed):
                broken.append(f"{source} imports {target} (it may import: {', '.join(allowed)})")
    return broken


def main(argv: list[str]) -> int:
    edges = graph()
    if "--graph" in argv:
        for name in sorted(edges):
            print(f"{name} -> {', '.join(sorted(edges[name])) or '-'}")
    problems = [f"import cycle: {' <-> '.join(cycle)}" for cycle in cycles(edges)]
    problems += forbidden(edges)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"imports: {len(edges)} modules, no cycle, every layer within its rules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
