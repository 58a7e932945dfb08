"""The house rules of docs/ARCHITECTURE.md, read from the source: the import graph of
`engine/` and `ui/` (every import, function-level ones included, `TYPE_CHECKING` blocks
excluded) has no cycle, `engine` never imports `ui`, nothing below the Editor imports it,
the click path never reaches fitting or evaluation code, and heavy libraries stay lazy."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Modules that may import project modules inside functions, and why (the comment at each
# such import says the same): the command modules are imported to build the parser, so a
# handler's engine imports would cost every command (`framewise --help` too) ~0.2 s;
# `ui.cli` is the console script and must not import Tk for a headless command; SAM needs
# torch (seconds to import, an optional extra), so do the SAM rows of the click benchmark.
LAZY_ALLOWED = {
    "engine.evaluation.bench_click",
    "engine.cli.main",
    "engine.cli.commands",
    "engine.cli.export",
    "engine.cli.prelabel",
    "engine.cli.propagate",
    "engine.cli.session",
    "engine.segment",
    "ui.cli",
}

# Who may import the Editor: the editing package and the drivers above it.
EDITOR_USERS_ALLOWED = ("engine.editing.", "engine.cli.", "engine.demo.", "engine.sessions.replay",
                        "engine.batch.prelabel", "ui.")


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("ui/**/*.py")]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported project module, inside a function) for every import of ``name``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in child.names]
            elif isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            out.extend((t, in_function) for t in targets if t in MODULES and t != name)
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, imports in GRAPH.items():
        edges[name].update(target for target, _ in imports)
    return edges


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for target in edges[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def test_the_graph_reader_sees_the_modules():
    assert len(MODULES) > 60
    assert ("engine.editing.editor", False) in GRAPH["engine.sessions.replay"] or any(
        t == "engine.editing.editor" for t, _ in GRAPH["engine.batch.prelabel"]
    )


def test_no_import_cycles():
    edges = _edges()
    cycles = []
    for name in MODULES:
        for target in edges[name]:
            if name in _reachable(target, edges):
                cycles.append(f"{name} -> {target}")
    assert not cycles, "import cycles through: " + ", ".join(sorted(cycles))


def test_engine_never_imports_ui():
    offenders = [(name, t) for name, imports in GRAPH.items() if name.startswith("engine")
                 for t, _ in imports if t == "ui" or t.startswith("ui.")]
    assert not offenders


def test_nothing_below_the_editor_imports_it():
    offenders = [name for name, imports in GRAPH.items()
                 if any(t == "engine.editing.editor" for t, _ in imports)
                 and not name.startswith(EDITOR_USERS_ALLOWED)]
    assert not offenders, f"import the Editor from below it: {offenders}"


def test_nothing_below_the_editor_receives_it():
    """Propagation and the store take plain values: outside the Editor's users no function
    has an ``editor`` parameter (``run_propagation(editor, ...)``, ``Project.attach(editor)``)."""
    offenders = []
    for name, path in MODULES.items():
        if name.startswith(EDITOR_USERS_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if any(a.arg == "editor" for a in arguments):
                    offenders.append(f"{name}.{node.name}")
    assert not offenders, f"receive the Editor from below it: {offenders}"


@pytest.mark.parametrize("start", ["engine.editing.editor", "engine.segment.classic.segmenter",
                                   "engine.frames.server", "engine.propagation.propagator"])
def test_the_click_path_never_reaches_fitting_or_evaluation(start):
    reached = _reachable(start, _edges())
    assert not [m for m in reached if m.startswith(("engine.evaluation", "engine.cli", "engine.demo"))]


def test_own_module_imports_sit_at_module_top():
    lazy = {name for name, imports in GRAPH.items() if any(in_function for _, in_function in imports)}
    assert lazy <= LAZY_ALLOWED, f"function-level project imports in {sorted(lazy - LAZY_ALLOWED)}"


def test_at_most_ten_loose_modules_at_engine_top():
    loose = sorted(p.name for p in (ROOT / "engine").glob("*.py"))
    assert len(loose) <= 10, loose


def test_heavy_libraries_stay_lazy():
    """Every module except the SAM backend imports without torch, segment_anything or Ray."""
    names = sorted(n for n in MODULES if not n.startswith("engine.segment.sam") and n != "engine.cli.__main__")
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'segment_anything', 'ray', 'sam2') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
