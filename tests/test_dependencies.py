"""What the serving packages import is what pyproject.toml declares at runtime.

An AST scan (no imports executed) of index/, retriever/ and service/: every third-party module is
either a runtime dependency or imported lazily (inside a function) and declared in an extra, and
the heavy libraries serving never needs are not imported at module level by service/ or
retriever/.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SERVING = ("index", "retriever", "service", "cluster")
FIRST_PARTY = {"index", "retriever", "service", "eval", "cluster", "tests"}

# Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "Stemmer": "pystemmer", "bs4": "beautifulsoup4", "docx": "python-docx",
    "faiss": "faiss-cpu", "sklearn": "scikit-learn", "yaml": "pyyaml",
    "frontmatter": "python-frontmatter",
}
# Modules that come with a declared distribution (starlette with fastapi).
PROVIDED_BY = {"starlette": "fastapi"}
# Imported lazily by serving code for an optional path: module -> the extra that declares it.
OPTIONAL = {"sentence_transformers": "export", "ray": "cluster", "psutil": "cluster"}
NOT_AT_MODULE_LEVEL = ("torch", "matplotlib", "scipy")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _imports(package: str) -> Iterator[tuple[str, str, bool]]:
    """(top-level module, file, at module level) for every absolute import in ``package``;
    imports under ``if TYPE_CHECKING:`` are left out (never run)."""
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped: set[int] = set()
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(n) for n in ast.walk(node)}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root not in sys.stdlib_module_names and root not in FIRST_PARTY:
                    yield root, str(path.relative_to(REPO)), id(node) in top


def _distribution(module: str) -> str:
    module = PROVIDED_BY.get(module, module)
    return DISTRIBUTION.get(module, module).lower().replace("_", "-")


def test_every_serving_import_is_declared() -> None:
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    problems = []
    for package in SERVING:
        for module, file, module_level in _imports(package):
            dist = _distribution(module)
            if dist in runtime:
                continue
            extra = OPTIONAL.get(module)
            if extra is None:
                problems.append(f"{file}: {module} ({dist}) is not a runtime dependency")
            elif module_level:
                problems.append(f"{file}: optional {module} imported at module level")
            elif dist not in extras.get(extra, set()):
                problems.append(f"{file}: {module} ({dist}) is not in the {extra!r} extra")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("package", ["service", "retriever"])
def test_heavy_libraries_are_not_imported_at_module_level(package: str) -> None:
    found = [f"{file}: {module}" for module, file, module_level in _imports(package)
             if module_level and module in NOT_AT_MODULE_LEVEL]
    assert not found, "\n".join(found)


def test_development_installs_every_extra() -> None:
    # `make` installs what the whole suite needs; a plain install serves without the extras.
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    line = next(ln for ln in makefile.splitlines() if "pip install" in ln and "-e '.[dev" in ln)
    for extra in ("dev", "export", "eval", "train", "cluster"):
        assert extra in line.split("[", 1)[1].split("]", 1)[0].split(","), line
    runtime = {_name(r) for r in _project()["dependencies"]}
    assert not runtime & {"sentence-transformers", "matplotlib", "psutil"}
