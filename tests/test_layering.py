"""Dependencies run one way: index <- retriever <- service, and eval on top of all three; cluster
(the sharded index and Ray) sits on all four, and nothing imports it (the command line reaches
it through an entry point).

An AST scan (nothing is imported but ``retriever`` itself): every import statement in the
packages, module level or inside a function, is checked against the layer it lands in. eval uses
the retriever through ``retriever.__all__`` only, so the retriever's internals stay free to change.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("index", "retriever", "service", "eval", "cluster")
# What each package may import of the others (eval's retriever imports are checked by name below).
ALLOWED = {
    "index": set(),
    "retriever": {"index"},
    "service": {"index", "retriever"},
    "eval": {"index", "retriever", "service"},
    "cluster": {"index", "retriever", "service", "eval"},
}
def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((REPO / package).rglob("*.py")):
        if ".venv" in path.parts or "results" in path.relative_to(REPO).parts:
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """(imported module, names taken from it, line) for each import in the file, relative ones
    resolved; a literal ``import_module("...")`` counts as an import too."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".")
            if node.level:
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, tuple(a.name for a in node.names), node.lineno
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None))
              in {"import_module", "__import__"}):
            yield node.args[0].value, (), node.lineno


def _all_imports() -> Iterator[tuple[str, str, str, tuple[str, ...], int]]:
    for package in LAYERS:
        for module, path in _modules(package):
            rel = path.relative_to(REPO).as_posix()
            for target, names, line in _imports(module, path):
                yield package, rel, target, names, line


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    wrong = [
        f"{rel}:{line} imports {target}"
        for layer, rel, target, _names, line in _all_imports()
        if layer == package
        and (top := target.split(".")[0]) in LAYERS and top != package
        and top not in ALLOWED[package]
    ]
    assert wrong == []


def test_eval_uses_the_retriever_public_api_only() -> None:
    import retriever

    public = set(retriever.__all__)
    assert all(hasattr(retriever, name) for name in public)
    wrong = []
    for layer, rel, target, names, line in _all_imports():
        if layer != "eval" or target.split(".")[0] != "retriever":
            continue
        if target != "retriever":
            wrong.append(f"{rel}:{line} imports {target} (use `from retriever import ...`)")
        elif not names or not set(names) <= public:
            wrong.append(f"{rel}:{line} takes {sorted(set(names) - public) or 'the package'} "
                         "from retriever, outside retriever.__all__")
    assert wrong == []


def test_the_scan_sees_the_imports_it_checks(tmp_path: Path) -> None:
    """The scanner itself: relative imports resolve, and imports inside functions count."""
    path = tmp_path / "x.py"
    path.write_text("from ..store import load\n"
                    "def f():\n    from eval.cli import register\n"
                    "    import_module('eval.bench_cli')\n")
    found = {target for target, _names, _line in _imports("index.sub.x", path)}
    assert found == {"index.store", "eval.cli", "eval.bench_cli"}
