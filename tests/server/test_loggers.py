"""Every logger in the engine and the server is named by its module (logging.getLogger(__name__))."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted([*ROOT.glob("engine/**/*.py"), *ROOT.glob("server/**/*.py")])


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_loggers_are_named_by_their_module(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger":
            assert [ast.unparse(arg) for arg in node.args] == ["__name__"], f"line {node.lineno}"
