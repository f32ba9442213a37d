"""/usuarios: create (linking or creating a patient/doctor atomically), list, read, update,
deactivate, the self and last-admin guards, and session revocation on sensitive changes."""

import pytest

from conftest import PASSWORD, unique

PACIENTE = {"nombre": "Ramón Núñez", "fecha_nacimiento": "1970-01-02", "genero": "Masculino",
            "telefono": "+34 611 222 333"}
MEDICO = {"nombre": "Dra. Elena Ruiz", "especialidad": "Cardiología", "telefono": "+34 622 333 444"}


def nuevo(**changes):
    body = {"nombre": "Rosa Recepción", "correo": f"{unique('rosa')}@clinica.example",
            "password": "Nueva-Clave-2024", "rol": "recepcionista"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def login_ok(client, correo, password):
    return client.post("/auth/login", json={"correo": correo, "password": password},
                       environ_base={"REMOTE_ADDR": "10.3.0.1"}).status_code == 200


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def superadmin(make_user, make_role):
    """A custom role holding the whole catalogue: the built-in admin lacks `clinico:escribir`,
    so only such a role may create or change `medico` users (tests/test_privilegios.py)."""
    from auth import PERMISOS

    return make_user(make_role(*PERMISOS))


def test_create_with_role_name_and_login(client, database, admin):
    body = nuevo()
    response = client.post("/usuarios", json=body, headers=admin.headers)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    assert out["rol"] == "recepcionista" and out["id_rol"] == 3 and out["activo"] is True
    assert out["correo"] == body["correo"].lower()
    assert response.headers["Location"] == f"/usuarios/{out['id_usuario']}"
    assert response.headers["ETag"] == f'"{out["id_usuario"]}-1"'
    assert "password" not in out and body["password"] not in response.get_data(as_text=True)
    row = database.one("SELECT * FROM Usuario WHERE ID_Usuario = %s", (out["id_usuario"],))
    assert row["Password_Hash"].startswith("$2b$") and row["ID_Rol"] == 3
    assert login_ok(client, body["correo"], body["password"])
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'crear' AND "
                           "Recurso = 'usuario' AND ID_Recurso = %s", (str(out["id_usuario"]),)) == 1


def test_create_with_nested_paciente_and_medico(client, database, admin, superadmin):
    paciente = client.post("/usuarios", json=nuevo(rol=None, id_rol=4, paciente=PACIENTE),
                           headers=admin.headers)
    assert paciente.status_code == 201, paciente.get_json()
    id_paciente = paciente.get_json()["id_paciente"]
    assert database.scalar("SELECT Nombre_Normalizado FROM Paciente WHERE ID_Paciente = %s",
                           (id_paciente,)) == "ramon nunez"
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1
    medicos = database.scalar("SELECT COUNT(*) FROM `Médico`")
    refused = client.post("/usuarios", json=nuevo(rol="medico", medico=MEDICO),
                          headers=admin.headers)
    assert refused.status_code == 403 and "clinico:escribir" in refused.get_json()["error"]
    assert database.scalar("SELECT COUNT(*) FROM `Médico`") == medicos
    medico = client.post("/usuarios", json=nuevo(rol="medico", medico=MEDICO),
                         headers=superadmin.headers)
    assert medico.status_code == 201, medico.get_json()
    id_medico = medico.get_json()["id_medico"]
    assert database.scalar("SELECT Especialidad FROM `Médico` WHERE `ID_Médico` = %s",
                           (id_medico,)) == "Cardiología"


def test_create_links_existing_records(client, admin, superadmin, make_paciente, make_medico):
    id_paciente, id_medico = make_paciente(), make_medico()
    r = client.post("/usuarios", json=nuevo(rol="paciente", id_paciente=id_paciente),
                    headers=admin.headers)
    assert r.status_code == 201 and r.get_json()["id_paciente"] == id_paciente
    again = client.post("/usuarios", json=nuevo(rol="paciente", id_paciente=id_paciente),
                        headers=admin.headers)
    assert again.status_code == 409
    r = client.post("/usuarios", json=nuevo(rol="medico", id_medico=id_medico),
                    headers=superadmin.headers)
    assert r.status_code == 201 and r.get_json()["id_medico"] == id_medico


def test_duplicate_correo_is_409_and_nested_patient_is_rolled_back(client, database, admin):
    body = nuevo()
    assert client.post("/usuarios", json=body, headers=admin.headers).status_code == 201
    before = database.scalar("SELECT COUNT(*) FROM Paciente")
    dup = client.post("/usuarios", json=nuevo(correo=body["correo"].upper(), rol="paciente",
                                              paciente=PACIENTE), headers=admin.headers)
    assert dup.status_code == 409 and "correo" in dup.get_json()["error"]
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == before


@pytest.mark.parametrize("changes, campo", [
    ({"rol": "no-existe"}, "rol"), ({"rol": None, "id_rol": 999}, "id_rol"),
    ({"rol": None}, "rol"), ({"id_rol": 1}, "rol"),
    ({"rol": "paciente"}, "id_paciente"), ({"rol": "medico"}, "id_medico"),
    ({"id_paciente": 99999999}, "id_paciente"), ({"password": "corta"}, "password"),
    ({"password": "x" * 73}, "password"), ({"correo": "sin-arroba"}, "correo"),
    ({"id_paciente": 1, "paciente": PACIENTE}, "paciente"), ({"activo": False}, "activo"),
    ({"medico": {**MEDICO, "telefono": "x"}}, "medico.telefono"),
])
def test_create_rejects_bad_bodies(client, database, admin, changes, campo):
    before = database.scalar("SELECT COUNT(*) FROM Usuario")
    response = client.post("/usuarios", json=nuevo(**changes), headers=admin.headers)
    assert response.status_code == 400, response.get_json()
    assert campo in [d["campo"] for d in response.get_json()["detalles"]]
    assert database.scalar("SELECT COUNT(*) FROM Usuario") == before


def test_list_filters_and_pages(client, admin, make_user):
    marca = unique("marca")
    ids = []
    for _ in range(3):
        r = client.post("/usuarios", json=nuevo(nombre=f"Filtro {marca}"), headers=admin.headers)
        ids.append(r.get_json()["id_usuario"])
    client.delete(f"/usuarios/{ids[2]}", headers=admin.headers)
    page1 = client.get(f"/usuarios?q={marca}&limite=1&total=1", headers=admin.headers)
    body = page1.get_json()
    assert [u["id_usuario"] for u in body["datos"]] == ids[:1] and body["total"] == 3
    assert 'rel="next"' in page1.headers["Link"]
    page2 = client.get(f"/usuarios?q={marca}&limite=5&cursor={body['siguiente']}",
                       headers=admin.headers).get_json()
    assert [u["id_usuario"] for u in page2["datos"]] == ids[1:] and page2["siguiente"] is None
    activos = client.get(f"/usuarios?q={marca}&activo=false", headers=admin.headers).get_json()
    assert [u["id_usuario"] for u in activos["datos"]] == ids[2:]
    medicos = client.get(f"/usuarios?q={marca}&rol=medico", headers=admin.headers).get_json()
    assert medicos["datos"] == []
    assert client.get("/usuarios?q=%25", headers=admin.headers).status_code == 200
    for bad in ("limite=0", "limite=101", "cursor=xx", "activo=quizas"):
        assert client.get(f"/usuarios?{bad}", headers=admin.headers).status_code == 400


def test_user_reads_and_renames_only_themself(client, database, make_user):
    user, other = make_user("paciente"), make_user("paciente")
    mine = client.get(f"/usuarios/{user.id_usuario}", headers=user.headers)
    assert mine.status_code == 200 and mine.get_json()["id_paciente"] == user.id_paciente
    assert client.get(f"/usuarios/{other.id_usuario}", headers=user.headers).status_code == 403
    renamed = client.patch(f"/usuarios/{user.id_usuario}", json={"nombre": "Nuevo Nombre"},
                           headers=user.headers)
    assert renamed.status_code == 200 and renamed.get_json()["nombre"] == "Nuevo Nombre"
    for change in ({"id_rol": 1}, {"rol": "admin"}, {"activo": False}, {"correo": "a@b.com"},
                   {"password": "Otra-Clave-123"}):
        r = client.patch(f"/usuarios/{user.id_usuario}", json=change, headers=user.headers)
        assert r.status_code == 403, change
    assert database.scalar("SELECT ID_Rol FROM Usuario WHERE ID_Usuario = %s",
                           (user.id_usuario,)) == 4
    assert client.patch(f"/usuarios/{other.id_usuario}", json={"nombre": "X"},
                        headers=user.headers).status_code == 403


def test_admin_cannot_change_own_role_or_deactivate_self(client, database, admin):
    for change in ({"rol": "recepcionista"}, {"activo": False}):
        r = client.patch(f"/usuarios/{admin.id_usuario}", json=change, headers=admin.headers)
        assert r.status_code == 409, change
    assert client.delete(f"/usuarios/{admin.id_usuario}", headers=admin.headers).status_code == 409
    row = database.one("SELECT ID_Rol, Activo FROM Usuario WHERE ID_Usuario = %s",
                       (admin.id_usuario,))
    assert row == {"ID_Rol": 1, "Activo": 1}
    assert client.get("/auth/me", headers=admin.headers).status_code == 200


def test_last_active_admin_is_kept(client, database, make_user, make_role):
    # Not an admin itself, but holding every admin permission (it may change admins at all).
    gestor = make_user(make_role(*database.scalar(
        "SELECT GROUP_CONCAT(Permiso) FROM Rol_Permiso WHERE ID_Rol = 1").split(",")))
    ultimo = make_user("admin")
    database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Rol = 1 AND ID_Usuario <> %s",
                     (ultimo.id_usuario,))
    for change in ({"rol": "recepcionista"}, {"activo": False}):
        r = client.patch(f"/usuarios/{ultimo.id_usuario}", json=change, headers=gestor.headers)
        assert r.status_code == 409 and "administrador" in r.get_json()["error"]
    assert client.delete(f"/usuarios/{ultimo.id_usuario}", headers=gestor.headers).status_code == 409
    assert database.scalar("SELECT Activo FROM Usuario WHERE ID_Usuario = %s",
                           (ultimo.id_usuario,)) == 1
    segundo = make_user("admin")
    assert client.delete(f"/usuarios/{ultimo.id_usuario}", headers=gestor.headers).status_code == 204
    assert client.delete(f"/usuarios/{segundo.id_usuario}", headers=gestor.headers).status_code == 409


@pytest.mark.parametrize("change", [{"rol": "recepcionista"}, {"activo": False},
                                    {"password": "Cambiada-2024!"}, "delete"])
def test_sensitive_changes_revoke_sessions(client, database, admin, make_user, change):
    user = make_user("paciente") if change != {"rol": "recepcionista"} else make_user("admin")
    assert client.get("/auth/me", headers=user.headers).status_code == 200
    url = f"/usuarios/{user.id_usuario}"
    if change == "delete":
        response = client.delete(url, headers=admin.headers)
        assert response.status_code == 204
    else:
        response = client.patch(url, json=change, headers=admin.headers)
        assert response.status_code == 200, response.get_json()
    assert client.get("/auth/me", headers=user.headers).status_code == 401
    assert client.post("/auth/refresh",
                       json={"refresh_token": user.refresh_token}).status_code == 401
    assert database.scalar("SELECT COUNT(*) FROM Sesion WHERE ID_Usuario = %s AND Revocada = 0",
                           (user.id_usuario,)) == 0


def test_rename_keeps_sessions_and_etag_is_checked(client, database, admin, make_user):
    user = make_user("recepcionista")
    url = f"/usuarios/{user.id_usuario}"
    etag = client.get(url, headers=admin.headers).headers["ETag"]
    ok = client.patch(url, json={"nombre": "Otro"}, headers={**admin.headers, "If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] != etag
    stale = client.patch(url, json={"nombre": "Otro más"},
                         headers={**admin.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert database.scalar("SELECT Nombre FROM Usuario WHERE ID_Usuario = %s",
                           (user.id_usuario,)) == "Otro"
    assert client.get("/auth/me", headers=user.headers).status_code == 200


def test_admin_changes_role_email_and_password(client, database, admin, superadmin, make_user,
                                               make_medico):
    user = make_user("recepcionista")
    url = f"/usuarios/{user.id_usuario}"
    nuevo_correo = f"{unique('cambio')}@clinica.example"
    id_medico = make_medico()
    r = client.patch(url, json={"rol": "medico", "id_medico": id_medico, "correo": nuevo_correo,
                                "password": "Cambiada-2024!"}, headers=superadmin.headers)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert (out["rol"], out["id_medico"], out["correo"]) == ("medico", id_medico, nuevo_correo)
    assert login_ok(client, nuevo_correo, "Cambiada-2024!")
    assert not login_ok(client, user.correo, PASSWORD)
    assert client.patch(url, json={"id_medico": None}, headers=superadmin.headers).status_code == 400
    assert client.patch(url, json={}, headers=superadmin.headers).status_code == 400
    taken = client.patch(url, json={"correo": admin.correo}, headers=superadmin.headers)
    assert taken.status_code == 409
    # The user is a doctor now: an admin (without clinico:escribir) no longer changes them.
    assert client.patch(url, json={"password": "Otra-Cambiada-1"},
                        headers=admin.headers).status_code == 403
    assert login_ok(client, nuevo_correo, "Cambiada-2024!")


def test_missing_user_is_404_for_admins(client, admin):
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"nombre": "x"}} if method == "patch" else {}
        r = getattr(client, method)("/usuarios/99999999", headers=admin.headers, **kwargs)
        assert r.status_code == 404
