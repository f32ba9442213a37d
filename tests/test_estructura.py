"""The import rules of the project (issue 16, STYLE.md "Shape"), read from the source with ast:
imports flow one way (no cycle between project modules), no project import hides inside a
function (except the app factory and the CLI commands), no blueprint module imports another
blueprint module (what two blueprints share lives in a module that owns the data), and no module
is over 600 lines.
The table of README «Cómo está organizado» names every module, its layer and its tables."""

import ast
import re
from pathlib import Path

import pytest

RAIZ = Path(__file__).resolve().parent.parent

# Where a function may import project modules: the app factory wires every blueprint, and a
# CLI command loads only what it runs (`cli.py`, functions named *_command).
IMPORTS_EN_FUNCION_PERMITIDOS = {("app", "create_app")}


def modulos(raiz):
    """{module name: parsed tree} of every top-level .py file of `raiz`."""
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(raiz.glob("*.py"))}


def nombres_importados(node):
    """The top-level module names an import statement names (relative imports: none)."""
    if isinstance(node, ast.Import):
        return {a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return {node.module.split(".")[0]}
    return set()


def imports_por_funcion(tree):
    """[(innermost enclosing function name or None, imported module names)] of a module."""
    found = []

    def visit(node, funcion):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            nombres = nombres_importados(child)
            if nombres:
                found.append((funcion, nombres))
            visit(child, funcion)

    visit(tree, None)
    return found


def grafo(arboles):
    """{module: project modules it imports anywhere in its file}."""
    proyecto = set(arboles)
    return {m: set().union(*(n for _, n in imports_por_funcion(t))) & proyecto - {m}
            for m, t in arboles.items()}


def ciclos(g):
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def strongconnect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            strongconnect(v)
    return found


def imports_escondidos(arboles):
    """['module.function imports x'] for project imports inside functions not allowed."""
    proyecto = set(arboles)
    found = []
    for m, tree in arboles.items():
        for funcion, nombres in imports_por_funcion(tree):
            escondidos = nombres & proyecto
            if funcion is None or not escondidos or (m, funcion) in IMPORTS_EN_FUNCION_PERMITIDOS:
                continue
            if m == "cli" and funcion.endswith("_command"):
                continue
            found.append(f"{m}.{funcion} importa {', '.join(sorted(escondidos))}")
    return found


def es_blueprint(tree):
    """The module creates a Blueprint at module level."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "Blueprint"
               for stmt in tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
               for node in ast.walk(stmt))


def blueprint_a_blueprint(arboles):
    """['a → b'] for every blueprint module importing another blueprint module."""
    blueprints = {m for m, t in arboles.items() if es_blueprint(t)}
    g = grafo(arboles)
    return [f"{m} → {o}" for m in sorted(blueprints) for o in sorted(g[m] & blueprints)]


@pytest.fixture(scope="module")
def arboles():
    return modulos(RAIZ)


def test_sin_ciclos_de_imports(arboles):
    assert ciclos(grafo(arboles)) == []


def test_sin_imports_escondidos_en_funciones(arboles):
    assert imports_escondidos(arboles) == []


def test_ningun_blueprint_importa_otro_blueprint(arboles):
    assert blueprint_a_blueprint(arboles) == []


def test_errors_no_importa_nada_del_proyecto(arboles):
    assert grafo(arboles)["errors"] == set()


def test_db_solo_importa_config_errors_y_conexion(arboles):
    assert grafo(arboles)["db"] <= {"config", "errors", "conexion"}
    assert grafo(arboles)["conexion"] == set()


def test_ningun_modulo_pasa_de_600_lineas():
    """Each module reads in one sitting; a longer one is split by concern (fhir_api.py was 888)."""
    largos = {p.name: n for p in sorted(RAIZ.glob("*.py"))
              if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert largos == {}


def test_los_blueprints_son_los_esperados(arboles):
    """The detector sees the resource modules (a typo in es_blueprint would pass every rule)."""
    blueprints = {m for m, t in arboles.items() if es_blueprint(t)}
    assert {"paciente", "citas", "cuentas", "usuarios", "fhir_api"} <= blueprints
    assert not blueprints & {"auth", "db", "api", "clinico", "datos_paciente", "fhir_export"}


def escribir(raiz, archivos):
    for nombre, texto in archivos.items():
        (raiz / nombre).write_text(texto, encoding="utf-8")
    return modulos(raiz)


def test_la_deteccion_ve_un_ciclo(tmp_path):
    arboles = escribir(tmp_path, {"a.py": "import b\n", "b.py": "from c import x\n",
                                  "c.py": "def f():\n    import a\n", "d.py": "import a\n"})
    assert ciclos(grafo(arboles)) == [["a", "b", "c"]]


def test_la_deteccion_ve_un_import_escondido(tmp_path):
    arboles = escribir(tmp_path, {"m.py": "def f():\n    from db import query_one\n",
                                  "db.py": "", "cli.py": "def x_command():\n    import db\n"})
    assert imports_escondidos(arboles) == ["m.f importa db"]


def test_la_deteccion_ve_un_blueprint_que_importa_otro(tmp_path):
    arboles = escribir(tmp_path, {
        "a.py": "from flask import Blueprint\nimport b\nbp = Blueprint('a', __name__)\n",
        "b.py": "from flask import Blueprint\nbp = Blueprint('b', __name__)\n",
        "c.py": "import a\n"})
    assert blueprint_a_blueprint(arboles) == ["a → b"]


def tabla_del_readme():
    """{module: (layer, owned tables)} from the table of README «Cómo está organizado»."""
    texto = (RAIZ / "README.md").read_text(encoding="utf-8")
    seccion = texto.split("## Cómo está organizado", 1)[1].split("\n## ", 1)[0]
    filas = {}
    for linea in seccion.splitlines():
        celdas = [c.strip() for c in linea.strip().strip("|").split("|")]
        if len(celdas) != 4 or not celdas[0].startswith("`"):
            continue
        for nombre in re.findall(r"`([\w.]+)\.py`", celdas[0]):
            filas[nombre] = (celdas[1], set(re.findall(r"`([^`]+)`", celdas[2])))
    return filas


def test_el_readme_nombra_cada_modulo(arboles):
    assert set(tabla_del_readme()) == set(arboles)


def test_el_readme_dice_que_modulos_son_blueprints(arboles):
    blueprints = {m for m, t in arboles.items() if es_blueprint(t)}
    assert {m for m, (capa, _) in tabla_del_readme().items() if capa == "blueprint"} == blueprints


def test_cada_tabla_tiene_un_solo_dueno_en_el_readme():
    esquema = (RAIZ / "Base de Datos Final.sql").read_text(encoding="utf-8")
    tablas = set(re.findall(r"CREATE TABLE IF NOT EXISTS `?(\w+)`?", esquema))
    duenos = [t for _, (_, propias) in tabla_del_readme().items() for t in propias]
    assert sorted(duenos) == sorted(tablas)
