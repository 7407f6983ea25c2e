"""The package as a whole: its import graph has no cycle and the CLI layer sits on top (no library module imports it),
counting the imports inside functions too."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nucleotide_transformer_hf"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Package modules that `path` imports anywhere (module level or inside functions)."""
    name = module_name(path)
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                prefix = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                origin = f"{prefix}.{node.module}" if node.module else prefix
            # `from . import x` imports the submodule x; `from .m import y` imports m
            candidates = [f"{origin}.{alias.name}" for alias in node.names] if not node.module else [origin]
            found |= {c for c in candidates if c in modules}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def test_the_import_graph_is_what_the_files_say_on_a_hand_worked_case():
    graph = import_graph()
    assert "nucleotide_transformer_hf.inference" in graph["nucleotide_transformer_hf.pipelines"]
    assert "nucleotide_transformer_hf.dna" in graph["nucleotide_transformer_hf.inference"]
    assert "nucleotide_transformer_hf.errors" in graph["nucleotide_transformer_hf.cli"]


def test_no_import_cycle():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for child in sorted(graph[module]):
            assert state.get(child) != "open", "import cycle: " + " -> ".join([*path, child])
            if child not in state:
                visit(child, [*path, child])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_only_the_command_line_layer_imports_the_cli():
    graph = import_graph()
    importers = sorted(m for m, children in graph.items() if "nucleotide_transformer_hf.cli" in children)
    assert importers == ["nucleotide_transformer_hf.__main__"]
    argparse_users = sorted(
        module_name(path) for path in PACKAGE.rglob("*.py") if "import argparse" in path.read_text()
    )
    assert argparse_users == ["nucleotide_transformer_hf.cli"]
