"""The import rules that hold so far (issue 16): errors.py stands alone, no hidden imports in
the shared helpers. The full cycle check is still to come (auth.py is not split yet)."""

import ast
from pathlib import Path

import pytest

RAIZ = Path(__file__).resolve().parent.parent
PROYECTO = {p.stem for p in RAIZ.glob("*.py")}


def imports(path, inside_functions):
    """Project modules `path` imports anywhere, or (inside_functions) only inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) != inside_functions:
            continue
        nodes = ast.walk(fn) if inside_functions else [fn]
        for node in nodes:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found & PROYECTO


def test_errors_no_importa_db_ni_auditoria():
    assert imports(RAIZ / "errors.py", inside_functions=False) == set()
    assert imports(RAIZ / "errors.py", inside_functions=True) == set()


@pytest.mark.parametrize("modulo", ["errors", "db", "auditoria", "consulta_auditoria"])
def test_sin_imports_escondidos_en_funciones(modulo):
    assert imports(RAIZ / f"{modulo}.py", inside_functions=True) == set()


def test_la_deteccion_ve_un_import_escondido(tmp_path):
    falso = tmp_path / "m.py"
    falso.write_text("def f():\n    from db import query_one\n", encoding="utf-8")
    assert imports(falso, inside_functions=True) == {"db"}
