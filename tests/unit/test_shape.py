"""The package's shape (issue 12), read from the source with ``ast``, so a change that tangles it
fails here and not months later in a merge: the CLI speaks only the public library, no module
grows past 800 lines, and no two modules import each other round a circle — counting imports
inside functions, which hide a circle without removing it (TYPE_CHECKING-only imports excluded:
they never run).

The allow-lists below are what is still left to untangle. They only shrink: an entry that is no
longer needed fails the test too, so whoever removes an import removes its line."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pybuild"
MAX_LINES = 800

# What pybuild/cli/ may import: the curated API, the errors, the events and its own modules.
CLI_MAY_IMPORT = ("pybuild", "pybuild.errors", "pybuild.events")

# cli module -> pybuild modules it still imports past the public API (to be moved into the library)
CLI_ALLOWED: dict[str, set[str]] = {
}

# import circles still standing, each as the set of modules it joins (to be broken)
CIRCLES_ALLOWED: list[set[str]] = []

# modules still over MAX_LINES (to be split by job)
LONG_ALLOWED: set[str] = set()


def _module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


MODULES = _module_files()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes under an ``if TYPE_CHECKING:`` (the imports there never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skipped.update(id(n) for n in ast.walk(stmt))
    return skipped


def _imports(module: str) -> set[str]:
    """The pybuild modules (or ``pybuild`` itself, for its lazy names) that ``module`` imports anywhere."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pybuild")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "pybuild":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    found.discard(module)
    return found


def _cli_violations() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module in MODULES:
        if module == "pybuild.cli" or module.startswith("pybuild.cli."):
            bad = {t for t in _imports(module) if t not in CLI_MAY_IMPORT and not t.startswith("pybuild.cli")}
            if bad:
                out[module] = bad
    return out


def _circles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's, iteratively)."""
    graph = {m: sorted(t for t in _imports(m) if t in MODULES) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_scanner_sees_imports_inside_functions_and_skips_type_checking() -> None:
    # the scanner itself must be right, or the checks below pass by seeing nothing
    assert "pybuild.builder.leases" in _imports("pybuild.builder.recovery")  # imported inside a function
    assert "pybuild.errors" in _imports("pybuild.builder.store")
    assert "pybuild.api" not in _imports("pybuild")  # pybuild/__init__ names it only under TYPE_CHECKING


def test_cli_imports_only_the_public_library() -> None:
    found = _cli_violations()
    new = {m: sorted(t - CLI_ALLOWED.get(m, set())) for m, t in found.items() if t - CLI_ALLOWED.get(m, set())}
    assert not new, f"pybuild/cli/ may import only pybuild, pybuild.errors, pybuild.events: {new}"
    stale = {m: sorted(t - found.get(m, set())) for m, t in CLI_ALLOWED.items() if t - found.get(m, set())}
    assert not stale, f"no longer imported: remove from CLI_ALLOWED: {stale}"


def test_no_module_is_over_800_lines() -> None:
    long = {m for m, p in MODULES.items() if len(p.read_text().splitlines()) > MAX_LINES}
    assert long <= LONG_ALLOWED, f"over {MAX_LINES} lines: split by job: {sorted(long - LONG_ALLOWED)}"
    assert LONG_ALLOWED <= long, f"no longer long: remove from LONG_ALLOWED: {sorted(LONG_ALLOWED - long)}"


def test_no_import_circles() -> None:
    found = _circles()
    new = [sorted(c) for c in found if not any(c <= allowed for allowed in CIRCLES_ALLOWED)]
    assert not new, f"import circles (counting imports inside functions): {new}"
    stale = [sorted(a) for a in CIRCLES_ALLOWED if a not in found]
    assert not stale, f"these circles shrank or went: update CIRCLES_ALLOWED to what is left: {stale}"
