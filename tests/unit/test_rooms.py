"""The folders say where things live, and the imports keep to them: the swarm core knows nothing of
the web, no module imports itself round a cycle, and no module is too long to read in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "dashboard" / "core"
WEB = ("django", "channels", "daphne", "asgiref", "dashboard.live", "dashboard.pages", "dashboard.access")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """What a module imports at run time, relative imports resolved."""
    return _imports(path, module_name(path))


def _imports(path: Path, name: str) -> set[str]:
    """What a module imports at run time (``if TYPE_CHECKING:`` blocks are for the type checker only)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            package = name.split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def product_modules() -> list[Path]:
    return sorted(
        p for d in ("dashboard", "visualizer") for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts
    )


def test_the_swarm_core_imports_nothing_of_the_web() -> None:
    leaks = {
        module_name(path): sorted(i for i in imports(path) if i.split(".")[0] in WEB or i.startswith(WEB))
        for path in CORE.rglob("*.py")
    }
    assert not {m: i for m, i in leaks.items() if i}, leaks


def test_the_swarm_core_loads_without_django_settings() -> None:
    probe = (
        "import sys, dashboard.core.docker, dashboard.core.watch, dashboard.core.model, dashboard.core.details,"
        " dashboard.core.registry;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'channels', 'daphne')))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_no_module_imports_itself_round_a_cycle() -> None:
    names = {module_name(p): p for p in product_modules()}
    graph = {name: {i for i in imports(path) if i in names and i != name} for name, path in names.items()}
    # a package's __init__ that re-exports its modules is not a cycle with them
    graph = {
        n: {d for d in deps if not (n.startswith(d + ".") and names[d].name == "__init__.py")}
        for n, deps in graph.items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " -> ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_every_module_reads_in_one_sitting() -> None:
    long = {module_name(p): n for p in product_modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
