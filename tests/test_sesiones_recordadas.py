"""Session rows remembered between requests (sesiones.SesionesRecordadas, CACHE_REDIS_URL).

Three apps on this run's database and one real redis-server stand for three processes of a
deployment: each keeps the session rows it read, and a write through any of them must be
seen by the very next request to every other one. Every revocation the API offers is tried
after each process has served (and remembered) the token; so are Redis failing, a write made
behind the API's back, and two doctors reading one patient alternately.
"""

import os
import sys
import time

import pytest
import redis

import app as app_module
from sesiones import SesionesRecordadas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = servers.start_redis(str(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


def redis_app(url):
    return app_module.create_app({"TESTING": True, "CACHE_REDIS_URL": url,
                                  "CACHE_TYPE": "SimpleCache"})


@pytest.fixture(scope="module")
def procesos(app, redis_server):
    """Three apps (three processes' state) sharing the database and the Redis."""
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    return [redis_app(url) for _ in range(3)]


def clients(procesos):
    return [p.test_client() for p in procesos]


def recordadas(proceso):
    return proceso.extensions["sesiones_recordadas"]


def warm(procesos, actor, path="/auth/me"):
    """Every process serves the token once, and so remembers its session."""
    sid = None
    for proceso, client in zip(procesos, clients(procesos)):
        r = client.get(path, headers=actor.headers)
        assert r.status_code == 200, r.get_json()
        remembered = recordadas(proceso).filas
        sid = sid or next(s for s, e in remembered.items()
                          if e[2]["id_usuario"] == actor.id_usuario)
        assert sid in remembered
    return sid


def assert_all(procesos, actor, status, path="/auth/me"):
    got = [c.get(path, headers=actor.headers).status_code for c in clients(procesos)]
    assert got == [status] * len(procesos), got


def test_without_redis_nothing_is_remembered(app, client, make_user):
    assert "sesiones_recordadas" not in app.extensions
    user = make_user("admin")
    assert client.get("/auth/me", headers=user.headers).status_code == 200


def test_a_remembered_row_is_used_until_the_generation_changes(procesos, database, make_user):
    """The row is not read again while the generation holds: a change made behind the API's
    back (plain SQL) is not seen by a process that remembers the row, until any write
    through the API sets a new generation."""
    user = make_user("admin")
    other = make_user("recepcionista")
    warm(procesos, user)
    database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Usuario = %s",
                     (user.id_usuario,))
    assert_all(procesos, user, 200)
    # Any API write to a session table (here another user's logout) renews the generation.
    assert clients(procesos)[0].post("/auth/logout", headers=other.headers).status_code == 204
    assert_all(procesos, user, 401)


def test_a_remembered_row_is_read_again_after_its_time(procesos, database, make_user):
    user = make_user("admin")
    warm(procesos, user)
    database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Usuario = %s",
                     (user.id_usuario,))
    for proceso in procesos:
        for entry_sid, entry in list(recordadas(proceso).filas.items()):
            # As if RECORDADA_S had passed since it was read.
            recordadas(proceso).filas[entry_sid] = (entry[0], time.monotonic() - 1, entry[2])
    assert_all(procesos, user, 401)


def test_logout_is_401_on_the_very_next_request_to_every_process(procesos, make_user):
    user = make_user("medico")
    warm(procesos, user)
    first, *others = clients(procesos)
    assert first.post("/auth/logout", headers=user.headers).status_code == 204
    for client in [*others, first]:
        r = client.get("/auth/me", headers=user.headers)
        assert r.status_code == 401 and r.get_json()["codigo"] == "no_autenticado"
    refresh = others[0].post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


def test_a_row_read_while_the_revocation_commits_is_not_used_after_it(procesos, make_user):
    """The race the second generation is for: another process reads the session after the
    first new generation and before the revoking statement runs (so it sees it valid and
    remembers it under that generation); the answer of the logout must still end it there."""
    from db import antes_de_escribir

    user = make_user("medico")
    warm(procesos, user)
    first, second = clients(procesos)[:2]
    seen = []

    def read_meanwhile(sql):
        if "Revocada = TRUE" in sql and not seen:
            seen.append(second.get("/auth/me", headers=user.headers).status_code)

    antes_de_escribir.connect(read_meanwhile)
    try:
        assert first.post("/auth/logout", headers=user.headers).status_code == 204
    finally:
        antes_de_escribir.disconnect(read_meanwhile)
    assert seen == [200]
    assert second.get("/auth/me", headers=user.headers).status_code == 401


def test_deactivation_holds_at_once_everywhere(procesos, make_user):
    admin = make_user("admin")
    user = make_user("recepcionista")
    warm(procesos, user)
    r = clients(procesos)[1].delete(f"/usuarios/{user.id_usuario}", headers=admin.headers)
    assert r.status_code == 204, r.get_json()
    assert_all(procesos, user, 401)


def test_a_role_change_holds_at_once_everywhere(procesos, make_user):
    admin = make_user("admin")
    user = make_user("recepcionista")
    warm(procesos, user, "/pacientes")
    r = clients(procesos)[2].patch(f"/usuarios/{user.id_usuario}", json={"rol": "admin"},
                                   headers=admin.headers)
    assert r.status_code == 200, r.get_json()
    # The token names the old role: every process refuses it at once.
    assert_all(procesos, user, 401, "/pacientes")


def test_a_permission_removed_from_a_role_holds_at_once_everywhere(procesos, make_user,
                                                                    make_role):
    admin = make_user("admin")
    id_rol = make_role("auditoria:leer", "usuarios:gestionar")
    user = make_user(id_rol)
    warm(procesos, user, "/auditoria")
    r = clients(procesos)[0].patch(f"/roles/{id_rol}", json={"permisos": ["usuarios:gestionar"]},
                                   headers=admin.headers)
    assert r.status_code == 200, r.get_json()
    assert_all(procesos, user, 403, "/auditoria")
    # A permission added shows at once too.
    r = clients(procesos)[1].patch(f"/roles/{id_rol}",
                                   json={"permisos": ["usuarios:gestionar", "auditoria:leer"]},
                                   headers=admin.headers)
    assert r.status_code == 200
    assert_all(procesos, user, 200, "/auditoria")


def test_a_password_change_ends_the_other_sessions_at_once_everywhere(procesos, make_user,
                                                                      app):
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
    assert_all(procesos, user, 200)


def test_a_reused_refresh_token_ends_the_session_at_once_everywhere(procesos, make_user):
    user = make_user("medico")
    warm(procesos, user)
    first = clients(procesos)[0]
    rotated = first.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert rotated.status_code == 200
    reused = first.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reused.status_code == 401
    assert_all(procesos, user, 401)
    new_headers = {"Authorization": f"Bearer {rotated.get_json()['token']}"}
    assert [c.get("/auth/me", headers=new_headers).status_code
            for c in clients(procesos)] == [401, 401, 401]


def test_a_renamed_user_is_audited_under_the_new_name_at_once(procesos, database, make_user,
                                                               make_paciente):
    """The row a process remembers is the actor of its audit rows: a rename is seen at once."""
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


def test_two_doctors_alternately_never_get_each_others_access(procesos, make_user,
                                                              make_paciente, make_cita):
    id_paciente = make_paciente()
    tratante = make_user("medico")
    ajeno = make_user("medico")
    make_cita(id_paciente, tratante.id_medico)
    statuses = []
    for i in range(12):
        client = clients(procesos)[i % 3]
        for actor in (tratante, ajeno):
            r = client.get(f"/pacientes/{id_paciente}/historial", headers=actor.headers)
            statuses.append((actor is tratante, r.status_code))
            if r.status_code == 403:
                assert "paciente" not in r.get_json()
    assert set(statuses) == {(True, 200), (False, 403)}


def test_without_redis_reads_query_and_revocations_are_refused_unchanged(
        app, database, make_user, tmp_path):
    """Redis dies: reads fall back to the query, without waiting on Redis; a write that can
    change a session is refused with 503 before it runs (nothing changes, so a retry works
    once Redis is back); a login, which changes no session, still works."""
    server = servers.start_redis(str(tmp_path))
    solos = [redis_app(f"redis://127.0.0.1:{server.port}/0") for _ in range(2)]
    user = make_user("admin")
    warm(solos, user)
    server.stop()
    started = time.monotonic()
    for client in (c for c in clients(solos) for _ in range(3)):
        assert client.get("/auth/me", headers=user.headers).status_code == 200
    assert all(recordadas(p).filas == {} for p in solos)
    r = solos[0].test_client().post("/auth/logout", headers=user.headers)
    assert r.status_code == 503 and r.get_json()["codigo"] == "servicio_no_disponible"
    assert "no se ha cambiado nada" in r.get_json()["error"]
    assert r.headers["Retry-After"] == "2"
    assert database.scalar("SELECT COUNT(*) FROM Sesion WHERE ID_Usuario = %s AND Revocada",
                           (user.id_usuario,)) == 0
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'logout'", (user.id_usuario,)) == 0
    r = solos[1].test_client().patch(f"/usuarios/{user.id_usuario}", headers=user.headers,
                                     json={"nombre": "No Cambia"})
    assert r.status_code == 503
    assert database.scalar("SELECT Nombre FROM Usuario WHERE ID_Usuario = %s",
                           (user.id_usuario,)) != "No Cambia"
    login = solos[1].test_client().post("/auth/login", json={"correo": user.correo,
                                                             "password": user.password})
    assert login.status_code == 200
    assert time.monotonic() - started < 5


def test_login_and_refresh_keep_the_generation(procesos, make_user, redis_server):
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    user = make_user("medico")
    warm(procesos, user)
    before = redis.Redis.from_url(url).get(SesionesRecordadas.KEY)
    client = clients(procesos)[0]
    assert client.post("/auth/login", json={"correo": user.correo,
                                            "password": user.password}).status_code == 200
    assert client.post("/auth/refresh",
                       json={"refresh_token": user.refresh_token}).status_code == 200
    assert redis.Redis.from_url(url).get(SesionesRecordadas.KEY) == before


@pytest.mark.parametrize("sql, cambia", [
    ("UPDATE Sesion SET Revocada = TRUE WHERE ID_Sesion = %s", True),
    ("update usuario set Activo = FALSE", True),
    ("UPDATE IGNORE Usuario SET Nombre = %s", True),
    ("DELETE s FROM Sesion s JOIN Usuario u ON u.ID_Usuario = s.ID_Usuario", True),
    ("/* a comment first */ DELETE FROM Rol_Permiso WHERE ID_Rol = %s", True),
    ("REPLACE INTO Rol (ID_Rol, Nombre) VALUES (%s, %s)", True),
    ("INSERT INTO Rol_Permiso (ID_Rol, Permiso) VALUES (%s, %s)", True),
    ("INSERT INTO Usuario (Correo) VALUES (%s) ON DUPLICATE KEY UPDATE Activo = TRUE", True),
    ("INSERT INTO Sesion (ID_Sesion, ID_Usuario) VALUES (%s, %s)", False),
    ("INSERT INTO Usuario (Nombre, Correo) VALUES (%s, %s)", False),
    ("INSERT INTO Rol (Nombre) VALUES (%s)", False),
    ("INSERT INTO Auditoria (ID_Usuario, Nombre_Usuario, Rol) VALUES (%s, %s, %s)", False),
    ("UPDATE Paciente SET Nombre = %s WHERE ID_Paciente = %s", False),
    ("UPDATE Cita SET Estado = %s", False),
])
def test_which_statements_change_a_session(sql, cambia):
    from sesiones import cambia_sesiones

    assert cambia_sesiones(sql) is cambia


def test_every_write_of_the_code_to_a_session_table_renews(app):
    """Every UPDATE, DELETE or REPLACE the code sends to a session table renews the
    generation (read from the source: a new statement is checked the day it is written)."""
    import ast
    import glob
    import re

    from sesiones import ROTAR_REFRESH, cambia_sesiones

    found = 0
    for path in glob.glob(os.path.join(ROOT, "*.py")):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                sql = node.value
                if re.match(r"\s*(UPDATE|DELETE|REPLACE)\b", sql) and re.search(
                        r"\b(Sesion|Usuario|Rol|Rol_Permiso)\b", sql) and sql != ROTAR_REFRESH:
                    found += 1
                    assert cambia_sesiones(sql), (path, sql)
    assert found >= 5
def test_a_new_generation_is_never_a_repeated_one(redis_server):
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    recordadas_ = SesionesRecordadas(url)
    seen = set()
    for _ in range(50):
        recordadas_.renovar()
        seen.add(recordadas_.generacion())
    assert len(seen) == 50
    # A Redis that lost the generation (restarted without persistence) gets a new one.
    redis.Redis.from_url(url).delete(SesionesRecordadas.KEY)
    assert recordadas_.generacion() not in seen | {None}
