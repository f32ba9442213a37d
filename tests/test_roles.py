"""/roles and /permisos: the catalogue, custom roles, and the protected built-in roles."""

import pytest

from conftest import unique

CATALOGO = ["pacientes:leer", "pacientes:escribir", "medicos:escribir", "citas:gestionar",
            "clinico:leer", "clinico:escribir", "usuarios:gestionar", "roles:gestionar",
            "auditoria:leer"]


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_permisos_is_the_catalogue(client, make_user):
    body = client.get("/permisos", headers=make_user("paciente").headers).get_json()
    assert [p["permiso"] for p in body] == CATALOGO
    assert all(p["descripcion"] for p in body)


def test_builtin_roles_are_listed_with_their_permissions(client, make_user):
    body = client.get("/roles?total=1&limite=100", headers=make_user("medico").headers).get_json()
    roles = {r["nombre"]: r for r in body["datos"]}
    assert roles["medico"]["permisos"] == ["clinico:escribir", "clinico:leer", "pacientes:leer"]
    assert roles["admin"]["sistema"] is True and "auditoria:leer" in roles["admin"]["permisos"]
    assert roles["paciente"]["permisos"] == []
    assert body["total"] >= 4
    one = client.get("/roles/3", headers=make_user("paciente").headers)
    assert one.status_code == 200 and one.get_json()["nombre"] == "recepcionista"
    assert one.headers["ETag"].startswith('"3-')


def test_create_custom_role_and_use_it_at_once(client, database, admin, make_user):
    nombre = unique("auditor")
    r = client.post("/roles", json={"nombre": nombre, "descripcion": "Auditoría externa",
                                    "permisos": ["auditoria:leer", "auditoria:leer"]},
                    headers=admin.headers)
    assert r.status_code == 201, r.get_json()
    rol = r.get_json()
    assert rol["permisos"] == ["auditoria:leer"] and rol["sistema"] is False
    assert r.headers["Location"] == f"/roles/{rol['id_rol']}"
    user = make_user(rol["id_rol"])
    assert client.get("/auditoria", headers=user.headers).status_code == 200
    assert client.get("/usuarios", headers=user.headers).status_code == 403
    # Permissions are read on every request: a change applies to live sessions at once.
    patched = client.patch(f"/roles/{rol['id_rol']}",
                           json={"permisos": ["usuarios:gestionar"]}, headers=admin.headers)
    assert patched.status_code == 200 and patched.get_json()["nombre"] == nombre
    assert client.get("/auditoria", headers=user.headers).status_code == 403
    assert client.get("/usuarios", headers=user.headers).status_code == 200
    assert database.all("SELECT Permiso FROM Rol_Permiso WHERE ID_Rol = %s",
                        (rol["id_rol"],)) == [{"Permiso": "usuarios:gestionar"}]


@pytest.mark.parametrize("body, campo", [
    ({"nombre": "x", "permisos": ["borrar:todo"]}, "permisos.0"),
    ({"nombre": "", "permisos": []}, "nombre"),
    ({"nombre": "x" * 51, "permisos": []}, "nombre"),
    ({"permisos": []}, "nombre"),
    ({"nombre": "x"}, "permisos"),
    ({"nombre": "x", "permisos": [], "sistema": True}, "sistema"),
])
def test_create_rejects_bad_bodies(client, admin, body, campo):
    r = client.post("/roles", json=body, headers=admin.headers)
    assert r.status_code == 400
    assert campo in [d["campo"] for d in r.get_json()["detalles"]]


def test_duplicate_name_is_409(client, admin):
    body = {"nombre": unique("dup"), "permisos": []}
    assert client.post("/roles", json=body, headers=admin.headers).status_code == 201
    assert client.post("/roles", json=body, headers=admin.headers).status_code == 409
    assert client.post("/roles", json={"nombre": "medico", "permisos": []},
                       headers=admin.headers).status_code == 409


@pytest.mark.parametrize("id_rol", [1, 2, 3, 4])
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_system_roles_cannot_change(client, database, admin, id_rol, method):
    before = database.all("SELECT Permiso FROM Rol_Permiso WHERE ID_Rol = %s ORDER BY Permiso",
                          (id_rol,))
    kwargs = {} if method == "delete" else {"json": {"nombre": "hack", "permisos": CATALOGO}}
    r = getattr(client, method)(f"/roles/{id_rol}", headers=admin.headers, **kwargs)
    assert r.status_code == 409 and r.get_json()["codigo"] == "conflicto"
    assert database.all("SELECT Permiso FROM Rol_Permiso WHERE ID_Rol = %s ORDER BY Permiso",
                        (id_rol,)) == before
    assert database.scalar("SELECT Sistema FROM Rol WHERE ID_Rol = %s", (id_rol,)) == 1


def test_put_replaces_and_if_match_is_checked(client, admin, make_role):
    id_rol = make_role("pacientes:leer")
    url = f"/roles/{id_rol}"
    etag = client.get(url, headers=admin.headers).headers["ETag"]
    body = {"nombre": unique("nuevo"), "permisos": ["citas:gestionar"]}
    r = client.put(url, json=body, headers={**admin.headers, "If-Match": etag})
    assert r.status_code == 200 and r.get_json()["permisos"] == ["citas:gestionar"]
    assert r.get_json()["descripcion"] == "" and r.headers["ETag"] != etag
    stale = client.put(url, json={**body, "permisos": []}, headers={**admin.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert client.patch(url, json={"nombre": None}, headers=admin.headers).status_code == 400
    assert client.patch(url, json={}, headers=admin.headers).status_code == 400


def test_delete_role_with_users_is_409_then_204(client, database, admin, make_role, make_user):
    id_rol = make_role("auditoria:leer")
    user = make_user(id_rol)
    database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Usuario = %s", (user.id_usuario,))
    assert client.delete(f"/roles/{id_rol}", headers=admin.headers).status_code == 409
    database.execute("UPDATE Usuario SET ID_Rol = 3 WHERE ID_Usuario = %s", (user.id_usuario,))
    assert client.delete(f"/roles/{id_rol}", headers=admin.headers).status_code == 204
    assert database.scalar("SELECT COUNT(*) FROM Rol WHERE ID_Rol = %s", (id_rol,)) == 0
    assert database.scalar("SELECT COUNT(*) FROM Rol_Permiso WHERE ID_Rol = %s", (id_rol,)) == 0
    assert client.delete(f"/roles/{id_rol}", headers=admin.headers).status_code == 404
    assert client.get(f"/roles/{id_rol}", headers=admin.headers).status_code == 404
