"""Sessions remembered between requests (sesiones.SesionesRecordadas, migration 0005).

Several apps on this run's database stand for several processes of a deployment: each keeps
the session rows it read with the session generation of that moment, and uses them on
condition that the generation has not changed, checked with the request's first query. Every
way to end or change a session is tried after each process has served (and remembered) the
token, through the API and behind its back; so are the races the condition is for, the
requests that make no query, and the audited read of one patient, which carries the condition
in its own round trip. Three one-worker gunicorns show the same for real processes.
"""

import os
import sys

import mysql.connector
import pytest
import requests

import app as app_module
from db import NoConfirmado

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402


@pytest.fixture(scope="module")
def procesos(app):
    """Three apps (three processes' state) sharing the database."""
    return [app_module.create_app({"TESTING": True}) for _ in range(3)]


def clients(procesos):
    return [p.test_client() for p in procesos]


def recordadas(proceso):
    return proceso.extensions["sesiones_recordadas"]


def sid_of(proceso, actor):
    return next(s for s, (_, row) in recordadas(proceso).filas.items()
                if row["id_usuario"] == actor.id_usuario)


def warm(procesos, actor, path="/auth/me"):
    """Every process serves the token once, and so remembers its session."""
    for proceso, client in zip(procesos, clients(procesos)):
        r = client.get(path, headers=actor.headers)
        assert r.status_code == 200, r.get_json()
        assert sid_of(proceso, actor)


def statuses(procesos, actor, path="/auth/me"):
    return [c.get(path, headers=actor.headers).status_code for c in clients(procesos)]


def generacion(database):
    return database.scalar("SELECT Generacion FROM Generacion_Sesion WHERE ID = 1")


def test_a_remembered_session_costs_no_round_trip_of_its_own(procesos, database, make_user,
                                                            make_paciente):
    """What the server receives for GET /pacientes/<id> (its general log, each round trip one
    entry): with the session remembered, one round trip (the condition, the audit INSERT and
    the SELECT together) and no session query; read afresh, the session query and that one."""
    user = make_user("admin")
    id_paciente = make_paciente()
    proceso = procesos[0]
    client = proceso.test_client()
    assert client.get(f"/pacientes/{id_paciente}", headers=user.headers).status_code == 200

    def logged(request):
        database.execute("TRUNCATE TABLE mysql.general_log")
        database.execute("SET GLOBAL log_output = 'TABLE', general_log = 1")
        try:
            assert request().status_code == 200
        finally:
            database.execute("SET GLOBAL general_log = 0")
        rows = database.all("SELECT CONVERT(argument USING utf8mb4) AS sql_text "
                            "FROM mysql.general_log WHERE command_type = 'Query'")
        return [r["sql_text"] for r in rows if "general_log" not in r["sql_text"]]

    remembered = logged(lambda: client.get(f"/pacientes/{id_paciente}", headers=user.headers))
    assert len(remembered) == 1, remembered
    assert "Generacion_Sesion" in remembered[0] and "INSERT INTO Auditoria" in remembered[0]
    assert "FROM Sesion" not in remembered[0]
    recordadas(proceso).filas.clear()
    fresh = logged(lambda: client.get(f"/pacientes/{id_paciente}", headers=user.headers))
    assert len(fresh) == 2 and "FROM Sesion" in fresh[0], fresh


@pytest.mark.parametrize("how", ["api", "sql"])
def test_logout_is_401_on_the_very_next_request_to_every_process(procesos, database, make_user,
                                                                 how):
    user = make_user("medico")
    warm(procesos, user)
    first, *others = clients(procesos)
    if how == "api":
        assert first.post("/auth/logout", headers=user.headers).status_code == 204
    else:
        database.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                         (user.id_usuario,))
    for client in [*others, first]:
        r = client.get("/auth/me", headers=user.headers)
        assert r.status_code == 401 and r.get_json()["codigo"] == "no_autenticado"
    refresh = others[0].post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


@pytest.mark.parametrize("how", ["api", "sql"])
def test_deactivation_holds_at_once_everywhere(procesos, database, make_user, how):
    admin = make_user("admin")
    user = make_user("recepcionista")
    warm(procesos, user, "/pacientes")
    if how == "api":
        r = clients(procesos)[1].delete(f"/usuarios/{user.id_usuario}", headers=admin.headers)
        assert r.status_code == 204, r.get_json()
    else:
        database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Usuario = %s",
                         (user.id_usuario,))
    assert statuses(procesos, user, "/pacientes") == [401, 401, 401]


def test_a_role_change_holds_at_once_everywhere(procesos, make_user):
    admin = make_user("admin")
    user = make_user("recepcionista")
    warm(procesos, user, "/pacientes")
    r = clients(procesos)[2].patch(f"/usuarios/{user.id_usuario}", json={"rol": "admin"},
                                   headers=admin.headers)
    assert r.status_code == 200, r.get_json()
    assert statuses(procesos, user, "/pacientes") == [401, 401, 401]


@pytest.mark.parametrize("how", ["api", "sql"])
def test_a_permission_removed_or_added_holds_at_once_everywhere(procesos, database, make_user,
                                                               make_role, how):
    admin = make_user("admin")
    id_rol = make_role("auditoria:leer", "usuarios:gestionar")
    user = make_user(id_rol)
    warm(procesos, user, "/auditoria")
    if how == "api":
        r = clients(procesos)[0].patch(f"/roles/{id_rol}",
                                       json={"permisos": ["usuarios:gestionar"]},
                                       headers=admin.headers)
        assert r.status_code == 200, r.get_json()
    else:
        database.execute("DELETE FROM Rol_Permiso WHERE ID_Rol = %s AND Permiso = %s",
                         (id_rol, "auditoria:leer"))
    # Decided on the remembered permissions, the 200 is not confirmed: decided again, 403.
    assert statuses(procesos, user, "/auditoria") == [403, 403, 403]
    database.execute("INSERT INTO Rol_Permiso (ID_Rol, Permiso) VALUES (%s, %s)",
                     (id_rol, "auditoria:leer"))
    assert statuses(procesos, user, "/auditoria") == [200, 200, 200]


def test_a_password_change_ends_the_other_sessions_at_once_everywhere(procesos, make_user, app):
    from sesiones import issue_tokens

    user = make_user("paciente")
    with app.app_context():
        other = issue_tokens({"id_usuario": user.id_usuario, "rol": user.rol})
    other_headers = {"Authorization": f"Bearer {other['token']}"}
    for client in clients(procesos):
        assert client.get("/auth/me", headers=other_headers).status_code == 200
    r = clients(procesos)[0].put("/auth/password", headers=user.headers, json={
        "password_actual": user.password, "password_nueva": "Prueba2025!distinta"})
    assert r.status_code == 204, r.get_json()
    assert [c.get("/auth/me", headers=other_headers).status_code
            for c in clients(procesos)] == [401, 401, 401]
    assert statuses(procesos, user) == [200, 200, 200]


def test_a_reused_refresh_token_ends_the_session_at_once_everywhere(procesos, make_user):
    user = make_user("medico")
    warm(procesos, user)
    first = clients(procesos)[0]
    rotated = first.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert rotated.status_code == 200
    reused = first.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reused.status_code == 401
    assert statuses(procesos, user) == [401, 401, 401]
    new_headers = {"Authorization": f"Bearer {rotated.get_json()['token']}"}
    assert [c.get("/auth/me", headers=new_headers).status_code
            for c in clients(procesos)] == [401, 401, 401]


def test_only_what_can_change_a_session_moves_the_generation(procesos, database, make_user):
    """A login, a refresh (rotation) and a new user keep the generation: every process keeps
    what it remembers. A logout, a role's rename, a user's rename move it."""
    user = make_user("medico")
    client = clients(procesos)[0]
    before = generacion(database)
    login = client.post("/auth/login", json={"correo": user.correo, "password": user.password})
    assert login.status_code == 200
    assert client.post("/auth/refresh",
                       json={"refresh_token": user.refresh_token}).status_code == 200
    make_user("recepcionista")
    assert generacion(database) == before
    database.execute("UPDATE Usuario SET Nombre = Nombre WHERE ID_Usuario = %s",
                     (user.id_usuario,))
    assert generacion(database) > before


def test_a_renamed_user_is_audited_under_the_new_name_at_once(procesos, database, make_user,
                                                               make_paciente):
    admin = make_user("admin")
    user = make_user("recepcionista")
    id_paciente = make_paciente()
    warm(procesos, user)
    r = clients(procesos)[0].patch(f"/usuarios/{user.id_usuario}",
                                   json={"nombre": "Nombre Nuevo Recordado"},
                                   headers=admin.headers)
    assert r.status_code == 200
    assert clients(procesos)[2].get(f"/pacientes/{id_paciente}",
                                    headers=user.headers).status_code == 200
    assert database.scalar("SELECT Nombre_Usuario FROM Auditoria WHERE ID_Paciente = %s "
                           "AND Accion = 'leer' ORDER BY ID_Auditoria DESC LIMIT 1",
                           (id_paciente,)) == "Nombre Nuevo Recordado"


def test_a_revoked_session_reads_nothing_and_leaves_no_audit_row(procesos, database, make_user,
                                                                  make_paciente):
    """The audited read of one patient carries the condition in its INSERT: revoked behind
    the process' back, the read is refused with no row audited under the revoked session."""
    user = make_user("admin")
    id_paciente = make_paciente()
    warm(procesos, user)
    database.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                     (user.id_usuario,))
    for path in (f"/pacientes/{id_paciente}", f"/fhir/Patient/{id_paciente}"):
        r = clients(procesos)[1].get(path, headers=user.headers)
        assert r.status_code == 401 and "nombre" not in r.get_data(as_text=True)
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Paciente = %s AND "
                           "ID_Usuario = %s AND Accion = 'leer'",
                           (id_paciente, user.id_usuario)) == 0


def test_no_write_of_a_revoked_session_is_kept(procesos, database, make_user):
    """A write whose session was revoked in between is refused before it runs (401)."""
    user = make_user("recepcionista")
    warm(procesos, user, "/pacientes")
    database.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                     (user.id_usuario,))
    body = {"nombre": "No Debe Existir Recordada", "fecha_nacimiento": "1990-01-01",
            "genero": "Femenino", "telefono": "+34 600 111 222", "documento": "RECORDADA-1"}
    r = clients(procesos)[0].post("/pacientes", json=body, headers=user.headers)
    assert r.status_code == 401
    assert database.scalar("SELECT COUNT(*) FROM Paciente WHERE Nombre = %s",
                           (body["nombre"],)) == 0


def test_a_row_read_while_the_revocation_commits_is_not_used_after_it(procesos, database,
                                                                      make_user):
    """Another process reads the session while the revoking transaction is open (so it sees
    it valid, with the old generation); after the revocation's answer, that row is refused."""
    import db as db_module

    user = make_user("medico")
    warm(procesos, user)
    first, second = procesos[:2]
    seen = []
    with first.test_request_context():
        with db_module.transaction():
            db_module.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                              (user.id_usuario,))
            recordadas(second).filas.clear()
            seen.append(second.test_client().get("/auth/me", headers=user.headers).status_code)
        db_module.close_db()
    assert seen == [200]
    assert second.test_client().get("/auth/me", headers=user.headers).status_code == 401


def test_a_pending_condition_holds_back_every_result(app):
    """db.confirmar_antes: the next read's rows are not given while the condition fails, and
    `confirmar` checks it on its own (what `requiere` does before an answer made without a
    query, such as GET /auth/me or a 403 decided on the remembered permissions)."""
    with app.test_request_context():
        import db as db_module

        db_module.confirmar_antes("SELECT 1", 2)
        with pytest.raises(NoConfirmado):
            db_module.query_one("SELECT 3 AS tres")
        db_module.confirmar_antes("SELECT 1", 1)
        assert db_module.query_one("SELECT 3 AS tres") == {"tres": 3}
        db_module.confirmar_antes("SELECT 1", 2)
        with pytest.raises(NoConfirmado):
            db_module.confirmar()
        # Fails closed: a condition that could not be checked (an error, even one a caller
        # catches) stays pending for every later statement and for `confirmar`.
        db_module.confirmar_antes("SELECT Generacion FROM Tabla_Que_No_Existe", 1)
        for _ in range(2):
            with pytest.raises(mysql.connector.ProgrammingError):
                db_module.query_one("SELECT 3 AS tres")
        with pytest.raises(mysql.connector.ProgrammingError):
            db_module.execute("DO 1")
        with pytest.raises(mysql.connector.ProgrammingError):
            db_module.confirmar()
        db_module.close_db()


def test_a_session_without_a_generation_row_is_never_remembered(procesos, database, make_user):
    """With the generation row gone (a broken restore, a hand-made database), triggers have
    nothing to raise: the session is then read on every request, never remembered."""
    user = make_user("admin")
    valor = generacion(database)
    database.execute("DELETE FROM Generacion_Sesion")
    try:
        for proceso in procesos:
            recordadas(proceso).filas.clear()
        assert statuses(procesos, user) == [200, 200, 200]
        assert all(not recordadas(p).filas for p in procesos)
        database.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                         (user.id_usuario,))
        assert statuses(procesos, user) == [401, 401, 401]
    finally:
        database.execute("INSERT INTO Generacion_Sesion (ID, Generacion) VALUES (1, %s)",
                         (valor + 1,))


def test_a_refresh_takes_no_lock_on_the_generation(procesos, database, make_user, app):
    """Rotating a refresh token fires the Sesion trigger, which must then touch no row:
    a transaction holding the generation row does not make a refresh wait (a trigger that
    raised the generation on every update of Sesion would serialise every refresh)."""
    import mysql.connector as connector

    user = make_user("medico")
    holder = connector.connect(**{**database.args, "autocommit": False})
    try:
        cur = holder.cursor()
        cur.execute("SELECT Generacion FROM Generacion_Sesion WHERE ID = 1 FOR UPDATE")
        cur.fetchall()
        other = connector.connect(**database.args)
        try:
            ocur = other.cursor()
            ocur.execute("SET SESSION innodb_lock_wait_timeout = 1")
            ocur.execute("UPDATE Sesion SET Refresh_JTI = REPEAT('b', 32), "
                         "Expira_En = Expira_En + INTERVAL 1 MINUTE WHERE ID_Usuario = %s",
                         (user.id_usuario,))
            assert ocur.rowcount == 1
        finally:
            other.close()
    finally:
        holder.rollback()
        holder.close()


def test_two_doctors_alternately_never_get_each_others_access(procesos, make_user,
                                                              make_paciente, make_cita):
    id_paciente = make_paciente()
    tratante = make_user("medico")
    ajeno = make_user("medico")
    make_cita(id_paciente, tratante.id_medico)
    seen = []
    for i in range(12):
        client = clients(procesos)[i % 3]
        for actor in (tratante, ajeno):
            r = client.get(f"/pacientes/{id_paciente}/historial", headers=actor.headers)
            seen.append((actor is tratante, r.status_code))
            if r.status_code == 403:
                assert "paciente" not in r.get_json()
    assert set(seen) == {(True, 200), (False, 403)}


@pytest.fixture(scope="module")
def three_workers(app, tmp_path_factory):
    """Three gunicorns of one worker each: a request can be sent to a chosen worker."""
    started = []
    try:
        for _ in range(3):
            started.append(servers.start_gunicorn(str(tmp_path_factory.mktemp("uno")),
                                                  {"DB_NAME": app.config["DB_NAME"]},
                                                  workers=1))
        yield started
    finally:
        for server in started:
            server.stop()


def test_logout_is_401_on_the_very_next_request_to_each_worker(three_workers, make_user):
    user = make_user("medico")
    for server in three_workers * 3:
        assert requests.get(server.url + "/auth/me", headers=user.headers,
                            timeout=10).status_code == 200
    assert len({server.workers()[0] for server in three_workers}) == 3
    out = requests.post(three_workers[1].url + "/auth/logout", headers=user.headers, timeout=10)
    assert out.status_code == 204
    for server in three_workers:
        r = requests.get(server.url + "/auth/me", headers=user.headers, timeout=10)
        assert r.status_code == 401 and r.json()["codigo"] == "no_autenticado", server.url


def test_deactivation_is_401_on_the_very_next_request_to_each_worker(three_workers, make_user):
    admin = make_user("admin")
    user = make_user("recepcionista")
    for server in three_workers * 2:
        assert requests.get(server.url + "/pacientes", headers=user.headers,
                            timeout=10).status_code == 200
    r = requests.delete(three_workers[2].url + f"/usuarios/{user.id_usuario}",
                        headers=admin.headers, timeout=10)
    assert r.status_code == 204
    assert [requests.get(server.url + "/pacientes", headers=user.headers, timeout=10).status_code
            for server in three_workers] == [401, 401, 401]


def test_twenty_parallel_reads_around_a_logout(three_workers, database, make_user,
                                               make_paciente):
    """20 reads of one patient in parallel over three workers (each remembering the
    session), a logout, 20 more: before it all 200 and 20 audit rows; after its answer all
    401, and not one more row audited under the closed session."""
    from concurrent.futures import ThreadPoolExecutor

    user = make_user("recepcionista")
    id_paciente = make_paciente()

    def read(i):
        server = three_workers[i % 3]
        return requests.get(f"{server.url}/pacientes/{id_paciente}", headers=user.headers,
                            timeout=10)

    def audited():
        return database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Paciente = %s AND "
                               "ID_Usuario = %s AND Accion = 'leer'",
                               (id_paciente, user.id_usuario))

    with ThreadPoolExecutor(10) as pool:
        before = list(pool.map(read, range(20)))
    assert [r.status_code for r in before] == [200] * 20
    assert {r.json()["id_paciente"] for r in before} == {id_paciente}
    assert audited() == 20
    out = requests.post(three_workers[0].url + "/auth/logout", headers=user.headers, timeout=10)
    assert out.status_code == 204
    with ThreadPoolExecutor(10) as pool:
        after = list(pool.map(read, range(20)))
    assert [r.status_code for r in after] == [401] * 20
    assert all("id_paciente" not in r.text for r in after)
    assert audited() == 20
