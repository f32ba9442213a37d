"""No permission grants more than its holder has (API.md §3): through users, roles, links or
passwords; one's own password or e-mail only with the current password (§4); role names
unique in their canonical form, also under parallel requests."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import PASSWORD, ROOT, unique

sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402

CATALOGO = ["pacientes:leer", "pacientes:escribir", "medicos:escribir", "citas:gestionar",
            "clinico:leer", "clinico:escribir", "usuarios:gestionar", "roles:gestionar",
            "auditoria:leer"]
GESTION = {"usuarios:gestionar", "roles:gestionar"}
OTRA = "Otra-Clave-2025!x"


def permisos_de(database, id_rol):
    return {r["Permiso"] for r in database.all(
        "SELECT Permiso FROM Rol_Permiso WHERE ID_Rol = %s", (id_rol,))}


def estado(database):
    """What an escalation would change: every user's role, hash, e-mail, links and state,
    and every role's permissions."""
    return (database.all("SELECT ID_Usuario, ID_Rol, Password_Hash, Correo, ID_Paciente, "
                         "`ID_Médico`, Activo FROM Usuario ORDER BY ID_Usuario"),
            database.all("SELECT ID_Rol, Nombre, Permiso FROM Rol LEFT JOIN Rol_Permiso "
                         "USING (ID_Rol) ORDER BY ID_Rol, Permiso"))


def nuevo_usuario(**changes):
    body = {"nombre": "Escalada", "correo": f"{unique('esc')}@clinica.example",
            "password": "Escalada-Clave-1"}
    body.update(changes)
    return body


@pytest.mark.parametrize("permiso", CATALOGO)
def test_no_path_to_a_permission_one_lacks(client, database, make_user, make_role,
                                           make_paciente, make_medico, permiso):
    """A custom role with `permiso` plus both management permissions tries every way up."""
    mios = {permiso} | GESTION
    id_rol = make_role(*sorted(mios))
    actor = make_user(id_rol)
    admin = make_user("admin")
    faltan = sorted(set(CATALOGO) - mios)
    mas_fuerte = make_role(*sorted(mios | {faltan[0]}))
    victima = make_user(mas_fuerte)
    id_paciente, id_medico = make_paciente(), make_medico()
    before = estado(database)
    h = actor.headers

    intentos = [
        # Users: create an admin, a doctor, a stronger custom role's user, a patient's user.
        client.post("/usuarios", json=nuevo_usuario(rol="admin"), headers=h),
        client.post("/usuarios", json=nuevo_usuario(rol="medico", id_medico=id_medico),
                    headers=h),
        client.post("/usuarios", json=nuevo_usuario(id_rol=mas_fuerte), headers=h),
        client.post("/usuarios", json=nuevo_usuario(rol="paciente", id_paciente=id_paciente),
                    headers=h),
        # Passwords, e-mails, state and links of stronger users.
        client.patch(f"/usuarios/{admin.id_usuario}", json={"password": OTRA}, headers=h),
        client.patch(f"/usuarios/{admin.id_usuario}",
                     json={"correo": f"{unique('robo')}@x.example"}, headers=h),
        client.patch(f"/usuarios/{admin.id_usuario}", json={"activo": False}, headers=h),
        client.delete(f"/usuarios/{admin.id_usuario}", headers=h),
        client.patch(f"/usuarios/{victima.id_usuario}", json={"password": OTRA}, headers=h),
        # Links: oneself to a patient or a doctor.
        client.patch(f"/usuarios/{actor.id_usuario}", json={"id_paciente": id_paciente},
                     headers=h),
        client.patch(f"/usuarios/{actor.id_usuario}", json={"id_medico": id_medico}, headers=h),
        # Roles: one's own, a new one with more, another one given more.
        client.patch(f"/roles/{id_rol}", json={"permisos": CATALOGO}, headers=h),
        client.put(f"/roles/{id_rol}", json={"nombre": unique("r"), "permisos": sorted(mios)},
                   headers=h),
        client.delete(f"/roles/{id_rol}", headers=h),
        client.post("/roles", json={"nombre": unique("mas"), "permisos": CATALOGO}, headers=h),
        client.post("/roles", json={"nombre": unique("mas"), "permisos": [faltan[-1]]},
                    headers=h),
        client.patch(f"/roles/{make_role(permiso)}", json={"permisos": [permiso, faltan[0]]},
                     headers=h),
    ]
    if "pacientes:escribir" not in mios:
        intentos.append(client.post("/usuarios", json=nuevo_usuario(
            rol="paciente", paciente={"nombre": "Nuevo Paciente", "genero": "Otro",
                                      "fecha_nacimiento": "1990-01-01",
                                      "telefono": "+34 600 000 000"}), headers=h))
    assert [r.status_code for r in intentos] == [403] * len(intentos), \
        [(i, r.status_code, r.get_json()) for i, r in enumerate(intentos) if r.status_code != 403]
    assert all(r.get_json()["codigo"] == "prohibido" for r in intentos)
    for r in intentos:
        audit = database.one("SELECT Accion FROM Auditoria WHERE ID_Solicitud = %s",
                             (r.headers["X-Request-ID"],))
        assert audit == {"Accion": "denegado"}
    after = estado(database)
    assert after[0] == before[0]
    # Only the throwaway role made above for the last attempt is new; nothing else changed.
    assert [r for r in after[1] if r["ID_Rol"] <= mas_fuerte] == \
        [r for r in before[1] if r["ID_Rol"] <= mas_fuerte]
    me = client.get("/auth/me", headers=h).get_json()
    assert set(me["permisos"]) == mios and me["id_paciente"] is None and me["id_medico"] is None

    # What stays allowed: a user of one's own strength or weaker, a role within one's own.
    ok = client.post("/usuarios", json=nuevo_usuario(id_rol=id_rol), headers=h)
    assert ok.status_code == 201, ok.get_json()
    menor = client.post("/roles", json={"nombre": unique("menor"), "permisos": [permiso]},
                        headers=h)
    assert menor.status_code == 201
    assert client.patch(f"/usuarios/{ok.get_json()['id_usuario']}", json={"password": OTRA},
                        headers=h).status_code == 200


def test_admin_cannot_create_or_take_over_doctors(client, database, make_user, make_medico):
    """The built-in admin lacks clinico:escribir: a medico account it made (and knew the
    password of) would be that permission."""
    admin, medico = make_user("admin"), make_user("medico")
    before = estado(database)
    for r in (client.post("/usuarios", json=nuevo_usuario(rol="medico", id_medico=make_medico()),
                          headers=admin.headers),
              client.patch(f"/usuarios/{medico.id_usuario}", json={"password": OTRA},
                           headers=admin.headers),
              client.patch(f"/usuarios/{make_user('recepcionista').id_usuario}",
                           json={"rol": "medico", "id_medico": make_medico()},
                           headers=admin.headers)):
        assert r.status_code == 403, r.get_json()
    assert estado(database)[0][:len(before[0])] == before[0]
    # Renaming is not a grant.
    assert client.patch(f"/usuarios/{medico.id_usuario}", json={"nombre": "Dra. Renombrada"},
                        headers=admin.headers).status_code == 200


def test_equal_strength_is_allowed(client, make_user):
    """An admin may still reset another admin's password and manage recepción users."""
    admin, otro = make_user("admin"), make_user("admin")
    assert client.patch(f"/usuarios/{otro.id_usuario}", json={"password": OTRA},
                        headers=admin.headers).status_code == 200
    recepcion = make_user("recepcionista")
    assert client.delete(f"/usuarios/{recepcion.id_usuario}",
                         headers=admin.headers).status_code == 204


# ---------------------------------------------------------------------------
# One's own account: a stolen token alone cannot take it over
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rol", ["admin", "medico", "recepcionista", "paciente"])
def test_stolen_token_cannot_change_own_password_or_email(client, database, make_user, rol):
    user = make_user(rol)
    url = f"/usuarios/{user.id_usuario}"
    before = database.one("SELECT Password_Hash, Correo FROM Usuario WHERE ID_Usuario = %s",
                          (user.id_usuario,))
    nuevo_correo = f"{unique('ladron')}@x.example"
    for change in ({"password": OTRA}, {"correo": nuevo_correo},
                   {"password": OTRA, "correo": nuevo_correo}):
        assert client.patch(url, json=change, headers=user.headers).status_code == 403
        wrong = client.patch(url, json={**change, "password_actual": "adivinada-1"},
                             headers=user.headers, environ_base={"REMOTE_ADDR": "10.80.0.1"})
        assert wrong.status_code == 400
        assert wrong.get_json()["detalles"][0]["campo"] == "password_actual"
    assert database.one("SELECT Password_Hash, Correo FROM Usuario WHERE ID_Usuario = %s",
                        (user.id_usuario,)) == before
    # Wrong current passwords are failed attempts: the token holder is throttled (5 per pair).
    for n in range(2):
        r = client.patch(url, json={"password": OTRA, "password_actual": f"adivinada-{n}"},
                         headers=user.headers, environ_base={"REMOTE_ADDR": "10.80.0.1"})
        assert r.status_code == 400
    r = client.patch(url, json={"password": OTRA, "password_actual": user.password},
                     headers=user.headers, environ_base={"REMOTE_ADDR": "10.80.0.1"})
    assert r.status_code == 429
    # The owner, from elsewhere, with the current password: allowed.
    ok = client.patch(url, json={"password": OTRA, "correo": nuevo_correo,
                                 "password_actual": user.password},
                      headers=user.headers, environ_base={"REMOTE_ADDR": "10.80.0.2"})
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["correo"] == nuevo_correo
    login = client.post("/auth/login", json={"correo": nuevo_correo, "password": OTRA},
                        environ_base={"REMOTE_ADDR": "10.80.0.3"})
    assert login.status_code == 200
    # The session that changed the password goes on.
    assert client.get("/auth/me", headers=user.headers).status_code == 200


def test_own_name_needs_no_password_and_own_links_never_change(client, make_user,
                                                               make_paciente):
    admin = make_user("admin")
    url = f"/usuarios/{admin.id_usuario}"
    assert client.patch(url, json={"nombre": "Yo Mismo"}, headers=admin.headers).status_code == 200
    r = client.patch(url, json={"id_paciente": make_paciente(), "password_actual": PASSWORD},
                     headers=admin.headers)
    assert r.status_code == 403
    assert client.get("/auth/me", headers=admin.headers).get_json()["id_paciente"] is None


# ---------------------------------------------------------------------------
# Role names in canonical form
# ---------------------------------------------------------------------------

# Visible lookalikes fold into the canonical name and collide (409); a name with an invisible
# character (soft hyphen, zero-width space) never gets that far: §1 refuses the text (400).
LOOKALIKES = ["\u0430dmin", " Admin ", "ADMIN", "\u00e1dmin", "\uff41dmin", "adm\u0131n",
              "admin\ufe0f", "adrnin", "\u0430dm\u0456n"]
INVISIBLES = ["admin\u00ad", "a\u200bdmin"]


@pytest.mark.parametrize("nombre", LOOKALIKES)
def test_lookalike_role_names_are_409(client, database, make_user, make_role, nombre):
    admin = make_user("admin")
    roles = database.scalar("SELECT COUNT(*) FROM Rol")
    r = client.post("/roles", json={"nombre": nombre, "permisos": []}, headers=admin.headers)
    assert r.status_code == 409, r.get_json()
    id_rol = make_role()
    for method, body in (("put", {"nombre": nombre, "permisos": []}), ("patch", {"nombre": nombre})):
        r = getattr(client, method)(f"/roles/{id_rol}", json=body, headers=admin.headers)
        assert r.status_code == 409, (method, r.get_json())
    assert database.scalar("SELECT COUNT(*) FROM Rol") == roles + 1
    assert database.scalar("SELECT COUNT(*) FROM Rol WHERE Nombre_Canonico = 'admin'") == 1


@pytest.mark.parametrize("nombre", ["\u200b\u00ad", "rol\x00", "rol\nadmin"] + INVISIBLES)
def test_invisible_only_or_control_role_name_is_400(client, database, make_user, nombre):
    roles = database.scalar("SELECT COUNT(*) FROM Rol")
    r = client.post("/roles", json={"nombre": nombre, "permisos": []},
                    headers=make_user("admin").headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "nombre"
    assert database.scalar("SELECT COUNT(*) FROM Rol") == roles


@pytest.mark.parametrize("correo", ["a\x00b@ejemplo.com", "a\u200bb@ejemplo.com",
                                    "ab\x7f@ejemplo.com"])
def test_control_or_invisible_characters_in_a_new_correo_are_400(client, database, make_user,
                                                                 correo):
    r = client.post("/usuarios", json=nuevo_usuario(rol="recepcionista", correo=correo),
                    headers=make_user("admin").headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "correo"


def test_canonical_names_are_unique_in_the_database(database):
    """The UNIQUE index holds even for a writer that skips the API's check."""
    import mysql.connector

    with pytest.raises(mysql.connector.errors.IntegrityError):
        database.execute("INSERT INTO Rol (Nombre, Nombre_Canonico) VALUES (%s, 'admin')",
                         ("\u0430dmin",))


# ---------------------------------------------------------------------------
# Under real concurrency
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gunicorn(app, tmp_path_factory):
    server = servers.start_gunicorn(str(tmp_path_factory.mktemp("gunicorn")),
                                    {"DB_NAME": app.config["DB_NAME"]}, workers=3, threads=4)
    yield server
    server.stop()


def parallel(fn, n, server):
    """fn(0..n-1) at once; a request the server dropped fails with the end of gunicorn's log,
    which says why (a worker that died, timed out or hit a socket error)."""
    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(fn, range(n)))
    except requests.ConnectionError as e:
        pytest.fail(f"{e}\n{server.log_text()[-4000:]}")


def test_twenty_parallel_user_creates(gunicorn, database, make_user):
    admin = make_user("admin")
    dup = f"{unique('dup')}@clinica.example"
    paciente = {"nombre": "Paciente Paralelo", "genero": "Otro",
                "fecha_nacimiento": "1990-01-01", "telefono": "+34 600 000 000"}

    def one(i):
        body = nuevo_usuario(correo=dup if i < 5 else f"{unique('par')}@clinica.example",
                             rol="paciente" if i % 2 else "recepcionista")
        if i % 2:
            body["paciente"] = paciente
        return requests.post(gunicorn.url + "/usuarios", json=body, headers=admin.headers,
                             timeout=30)

    answers = parallel(one, 20, gunicorn)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 16 + [409] * 4, [r.text for r in answers if r.status_code > 409]
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE Correo = %s", (dup,)) == 1


def test_twenty_parallel_lookalike_roles(gunicorn, database, make_user):
    admin = make_user("admin")
    base = unique("paralelo")
    variantes = [base, base.upper(), f" {base} ", base + "\u00ad", "\u200b" + base,
                 base.replace("a", "\u0430"), base.replace("o", "\u03bf")]
    answers = parallel(lambda i: requests.post(
        gunicorn.url + "/roles", json={"nombre": variantes[i % len(variantes)], "permisos": []},
        headers=admin.headers, timeout=30), 20, gunicorn)
    codes = [r.status_code for r in answers]
    # Only one of the twenty creates the role; the visible lookalikes collide (409) and those
    # with an invisible character are refused as text (400).
    assert codes.count(201) == 1 and set(codes) <= {201, 400, 409}, \
        [r.text for r in answers if r.status_code not in (201, 400, 409)]
    for i, r in enumerate(answers):
        if r.status_code == 400:
            assert variantes[i % len(variantes)] in (base + "\u00ad", "\u200b" + base)
    from roles import nombre_canonico

    assert database.scalar("SELECT COUNT(*) FROM Rol WHERE Nombre_Canonico = %s",
                           (nombre_canonico(base),)) == 1
