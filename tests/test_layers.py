"""The import graph keeps its floors: the facts (prototxt_gen/spec) import only
the standard library, the shared plumbing imports only the facts, and no module
imports a command (a command line: its parser and run) except that command's
own `__main__`."""
import ast
import sys

import pytest

from helpers import REPO

COMMANDS = {"prototxt_gen.cli", "tools.predict", "tools.features", "tools.evaluate.__main__",
            "tools.data.cli", "tools.weights.cli", "tools.train.__main__", "tools.reproduce.cli"}
SOURCES = sorted(p for folder in ("prototxt_gen", "tools") for p in (REPO / folder).rglob("*.py")
                 if "_pb2" not in p.name)


def module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """Absolute names of every module `path` imports (at any depth of its code)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            found.add(stem)
            found.update("%s.%s" % (stem, alias.name) for alias in node.names)
    return found


def ours(names):
    return {n for n in names if n.split(".")[0] in ("prototxt_gen", "tools")}


def test_the_walker_sees_relative_and_absolute_imports():
    names = imports(REPO / "tools" / "predict.py")
    assert {"tools.inference", "tools.palettes", "prototxt_gen.cli_common"} <= names


@pytest.mark.parametrize("path", [p for p in SOURCES if "spec" in p.parts], ids=str)
def test_facts_import_only_the_standard_library(path):
    outside = {n for n in imports(path) if not n.startswith("prototxt_gen.spec")
               and n.split(".")[0] not in sys.stdlib_module_names}
    assert not outside, "%s imports %s" % (path, sorted(outside))


def test_plumbing_imports_only_the_facts():
    assert {n for n in ours(imports(REPO / "prototxt_gen" / "cli_common.py"))
            if not n.startswith("prototxt_gen.spec")} == set()


@pytest.mark.parametrize("path", SOURCES, ids=str)
def test_no_module_imports_a_command(path):
    own = module_name(path).rsplit(".", 1)[0] if path.name == "__main__.py" else None
    bad = {n for n in ours(imports(path)) if n in COMMANDS and not n.startswith(str(own) + ".")
           and n != module_name(path)}
    assert not bad, "%s imports the command(s) %s" % (path, sorted(bad))


@pytest.mark.parametrize("path", sorted((REPO / "tests").glob("*.py")), ids=lambda p: p.name)
def test_no_test_module_imports_a_test_module_or_conftest(path):
    """Shared test code lives in helpers.py and the *_fixtures.py modules."""
    bad = {n for n in imports(path) if n.split(".")[0].startswith("test_") or n == "conftest"}
    assert not bad, "%s imports %s" % (path.name, sorted(bad))
