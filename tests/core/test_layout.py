"""The shape of the code: small functions and files, no import cycles, plugins that do not lean on each other."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "benchhub"
PLUGINS = REPO / "plugins"
MAX_FUNCTION_LINES, MAX_FILE_LINES = 50, 350


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def core_files():
    return sorted(CORE.rglob("*.py"))


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_core_files_and_functions_are_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.name} has {len(text.splitlines())} lines"
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines in {path.name}: {long}"


def _cycle(graph: dict) -> list | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_core_has_no_import_cycle():
    modules = {_module_name(p, CORE, "benchhub"): p for p in core_files()}
    # `from benchhub import memory` names the package and the submodule: the submodule is the edge
    graph = {m: {t for t in _imports(p) if t in modules and t not in (m, "benchhub")} for m, p in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_cycle_detection_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("kind", ["methods", "models", "datasets", "metrics"])
def test_plugins_of_one_kind_never_import_plugins_of_another(kind):
    others = [f"benchhub_plugins.{k}" for k in ("methods", "models", "datasets", "metrics") if k != kind]
    for path in sorted((PLUGINS / kind).glob("*.py")):
        bad = sorted(i for i in _imports(path) if i.startswith(tuple(others)))
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_cli_only_parses_and_calls_the_core():
    """cli.py builds no tables, reads no records and runs no children itself: it calls modules that do."""
    imports = _imports(CORE / "cli.py")
    assert not {"rich.table", "glob", "benchhub.isolation.run_in_child", "benchhub.store.read_record"} & imports
    assert "def _find_record" not in (CORE / "cli.py").read_text()
