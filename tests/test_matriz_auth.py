"""Role × endpoint matrix for /auth, /usuarios, /roles, /permisos and /auditoria.

Each cell acts as one caller (anonymous, the four built-in roles, and a custom role holding
`auditoria:leer` + `roles:gestionar`) and asserts the status; refused cells must leave the
database unchanged, and every 403 leaves a `denegado` audit row. Later issues add rows.
"""

import pytest

from conftest import unique

ROLES = ["anonimo", "paciente", "medico", "recepcionista", "admin", "custom"]


def only(*allowed, ok=200, otherwise=403):
    """Expected status per role: `ok` for `allowed`, 401 anonymous, `otherwise` for the rest."""
    return {r: 401 if r == "anonimo" else ok if r in allowed else otherwise for r in ROLES}


EVERYONE = ("paciente", "medico", "recepcionista", "admin", "custom")

# (method, path, body, expected): `{self}`, `{otro}` and `{rol}` are filled per cell.
MATRIX = [
    ("get", "/auth/me", None, only(*EVERYONE)),
    ("post", "/auth/logout", None, only(*EVERYONE, ok=204)),
    ("put", "/auth/password", "password", only(*EVERYONE, ok=204)),
    ("get", "/usuarios", None, only("admin")),
    ("get", "/usuarios/{self}", None, only(*EVERYONE)),
    ("get", "/usuarios/{otro}", None, only("admin")),
    ("post", "/usuarios", "usuario", only("admin", ok=201)),
    ("patch", "/usuarios/{self}", {"nombre": "Nombre Cambiado"}, only(*EVERYONE)),
    ("patch", "/usuarios/{otro}", {"nombre": "Nombre Cambiado"}, only("admin")),
    ("delete", "/usuarios/{otro}", None, only("admin", ok=204)),
    ("get", "/roles", None, only(*EVERYONE)),
    ("get", "/roles/1", None, only(*EVERYONE)),
    ("get", "/roles/{rol}", None, only(*EVERYONE)),
    ("post", "/roles", "rol", only("admin", "custom", ok=201)),
    ("put", "/roles/{rol}", "rol", only("admin", "custom")),
    ("patch", "/roles/{rol}", {"descripcion": "cambiada"}, only("admin", "custom")),
    ("delete", "/roles/{rol}", None, only("admin", "custom", ok=204)),
    ("get", "/permisos", None, only(*EVERYONE)),
    ("get", "/auditoria", None, only("admin", "custom")),
    ("get", "/auditoria?accion=denegado&limite=5", None, only("admin", "custom")),
]

SNAPSHOT = """
    SELECT (SELECT SUM(Version) FROM Usuario) AS versiones,
           (SELECT COUNT(*) FROM Usuario WHERE Activo) AS activos,
           (SELECT COUNT(*) FROM Usuario) AS usuarios,
           (SELECT COUNT(*) FROM Rol) AS roles,
           (SELECT COUNT(*) FROM Rol_Permiso) AS permisos,
           (SELECT COUNT(*) FROM Rol WHERE Descripcion = 'cambiada') AS cambiados,
           (SELECT COUNT(*) FROM Sesion WHERE Revocada) AS revocadas
"""


def body_for(kind, actor):
    if kind == "password":
        return {"password_actual": actor.password, "password_nueva": "Nueva-Clave-2024"}
    if kind == "usuario":
        return {"nombre": "Matriz", "correo": f"{unique('m')}@clinica.example",
                "password": "Matriz-Clave-1", "rol": "recepcionista"}
    if kind == "rol":
        # A permission both admin and the custom role hold: giving one you lack is 403
        # (tests/test_privilegios.py).
        return {"nombre": unique("rolm"), "permisos": ["auditoria:leer"]}
    return kind


@pytest.mark.parametrize("rol", ROLES)
@pytest.mark.parametrize("method, path, body, expected", MATRIX,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in MATRIX])
def test_matrix(client, database, make_user, make_role, rol, method, path, body, expected):
    custom = make_role("auditoria:leer", "roles:gestionar")
    actor = make_user(custom if rol == "custom" else "admin" if rol == "anonimo" else rol)
    otro = make_user("recepcionista")
    target_role = make_role("clinico:leer")
    url = path.format(self=actor.id_usuario, otro=otro.id_usuario, rol=target_role)
    headers = {} if rol == "anonimo" else actor.headers
    kwargs = {"headers": headers}
    if body is not None:
        kwargs["json"] = body_for(body, actor)
    before = database.one(SNAPSHOT)

    response = getattr(client, method)(url, **kwargs)

    assert response.status_code == expected[rol], response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["codigo"] == {401: "no_autenticado", 403: "prohibido"}[
            response.status_code]
        assert database.one(SNAPSHOT) == before
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if response.status_code == 403:
        audit = database.one("SELECT Accion, ID_Usuario FROM Auditoria WHERE ID_Solicitud = %s",
                             (response.headers["X-Request-ID"],))
        assert audit == {"Accion": "denegado", "ID_Usuario": actor.id_usuario}


@pytest.mark.parametrize("method, path", [("post", "/auth/login"), ("post", "/auth/refresh"),
                                          ("post", "/auth/registro")])
def test_public_endpoints_need_no_token(client, method, path):
    response = getattr(client, method)(path, json={})
    assert response.status_code == 400 and response.get_json()["codigo"] == "validacion"


def test_every_auth_route_is_in_the_matrix(app):
    covered = {(m.upper(), p.split("?")[0].replace("{self}", "<int>").replace("{otro}", "<int>")
                .replace("{rol}", "<int>").replace("/roles/1", "/roles/<int>")) for m, p, _, _ in MATRIX}
    covered |= {("POST", "/auth/login"), ("POST", "/auth/refresh"), ("POST", "/auth/registro")}
    mine = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.split("/")[1] in ("auth", "usuarios", "roles", "permisos", "auditoria"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                mine.add((method, rule.rule.replace("<int:id_usuario>", "<int>")
                          .replace("<int:id_rol>", "<int>")))
    assert mine <= covered, mine - covered
