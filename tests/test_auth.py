"""/auth: login, throttling, tokens and their attacks, refresh rotation, logout across
gunicorn workers, password change, self sign-up, and no secrets in answers or logs."""

import base64
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import jwt
import pytest
import requests

from conftest import PASSWORD, ROOT, unique

_ips = itertools.count(1)
OTRA_PASSWORD = "Otra-clave-2025!x"


@pytest.fixture
def ip():
    """A client address of its own, so that no other test's failures throttle this one."""
    n = next(_ips)
    return f"10.1.{n // 250}.{n % 250 + 1}"


def login(client, correo, password, ip, campo="correo"):
    return client.post("/auth/login", json={campo: correo, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def digest(database, correo):
    """The account key credenciales.clave_cuenta stores for `correo`, worked out by the same SQL."""
    from credenciales import CLAVE_CUENTA, correo_canonico

    return database.scalar(CLAVE_CUENTA, (correo_canonico(correo),))


def assert_401(response, codigo="no_autenticado"):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["codigo"] == codigo
    assert response.headers["WWW-Authenticate"] == "Bearer"


# ---------------------------------------------------------------------------
# Login
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("campo", ["correo", "username"])
def test_login_returns_tokens_and_the_user(client, database, make_user, ip, campo):
    user = make_user("medico")
    response = login(client, user.correo.upper(), user.password, ip, campo)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["tipo"] == "Bearer" and body["expira_en"] == 15 * 60
    assert body["usuario"] == {
        "id_usuario": user.id_usuario, "nombre": f"Usuario {user.correo}", "correo": user.correo,
        "rol": "medico", "id_rol": 2, "permisos": ["clinico:escribir", "clinico:leer",
                                                   "pacientes:leer"],
        "id_paciente": None, "id_medico": user.id_medico, "activo": True,
        "creado_en": body["usuario"]["creado_en"]}
    assert body["usuario"]["creado_en"].endswith("Z")
    assert client.get("/auth/me", headers=bearer(body["token"])).get_json() == body["usuario"]
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert {"sub", "rol", "iat", "exp", "jti", "typ"} <= set(claims) and claims["typ"] == "access"
    assert database.scalar("SELECT COUNT(*) FROM Sesion WHERE ID_Sesion = %s AND Revocada = 0",
                           (claims["sid"],)) == 1
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP = %s", (ip,)) == 0
    audit = database.one("SELECT * FROM Auditoria WHERE Accion = 'login_ok' AND ID_Usuario = %s",
                         (user.id_usuario,))
    assert audit["Rol"] == "medico" and audit["IP"] == ip
    assert audit["ID_Solicitud"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("caso", ["desconocido", "password_erronea", "inactivo"])
def test_failed_logins_all_answer_the_same(client, database, make_user, ip, caso):
    user = make_user("recepcionista", activo=(caso != "inactivo"))
    correo = f"{unique('nadie')}@prueba.local" if caso == "desconocido" else user.correo
    password = OTRA_PASSWORD if caso == "password_erronea" else PASSWORD
    response = login(client, correo, password, ip)
    assert_401(response, "credenciales_invalidas")
    body = response.get_json()
    assert body == {"error": "Correo o contraseña incorrectos", "codigo": "credenciales_invalidas",
                    "id_solicitud": response.headers["X-Request-ID"]}
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP = %s AND Correo = %s",
                           (ip, digest(database, correo))) == 1
    audit = database.one("SELECT * FROM Auditoria WHERE ID_Solicitud = %s",
                         (response.headers["X-Request-ID"],))
    assert audit["Accion"] == "login_fallido" and audit["Motivo"] == correo
    assert password not in json.dumps(audit, default=str)
    assert database.scalar("SELECT COUNT(*) FROM Sesion WHERE ID_Usuario = %s",
                           (user.id_usuario,)) == 1  # only the fixture's


def test_password_typed_as_correo_is_not_kept(client, database, ip):
    response = login(client, "MiClaveSecreta2024", "x" * 8, ip)
    assert_401(response, "credenciales_invalidas")
    audit = database.one("SELECT Motivo FROM Auditoria WHERE ID_Solicitud = %s",
                         (response.headers["X-Request-ID"],))
    assert audit["Motivo"] == "correo no válido"
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE Correo LIKE %s",
                           ("%MiClave%",)) == 0


def test_missing_correo_is_400(client, ip):
    response = client.post("/auth/login", json={"password": "x" * 8},
                           environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 400
    assert response.get_json()["detalles"][0]["campo"] == "correo"


def test_unknown_user_takes_as_long_as_a_wrong_password(app, database):
    import app as app_module

    slow = app_module.create_app({"TESTING": True, "BCRYPT_ROUNDS": 10})
    client = slow.test_client()
    correo = f"{unique('lento')}@prueba.local"
    with slow.app_context():
        from credenciales import hash_password

        hashed = hash_password(PASSWORD)
    database.execute("INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) "
                     "VALUES ('Lento', %s, %s, 3)", (correo, hashed))

    def duration(who, n):
        started = time.perf_counter()
        assert login(client, who, OTRA_PASSWORD, f"10.9.9.{n}").status_code == 401
        return time.perf_counter() - started

    login(client, "calentar@prueba.local", OTRA_PASSWORD, "10.9.8.1")
    known = statistics.median(duration(correo, i) for i in range(1, 5))
    unknown = statistics.median(duration(f"{unique('x')}@prueba.local", i) for i in range(5, 9))
    assert unknown > 0.6 * known, (unknown, known)


# ---------------------------------------------------------------------------
# Throttling
# ---------------------------------------------------------------------------

def test_sixth_failure_is_429_even_with_the_right_password(client, database, make_user, ip):
    user = make_user("paciente")
    for _ in range(5):
        assert_401(login(client, user.correo, OTRA_PASSWORD, ip), "credenciales_invalidas")
    for password in (OTRA_PASSWORD, user.password):
        response = login(client, user.correo, password, ip)
        assert response.status_code == 429
        assert response.get_json()["codigo"] == "demasiados_intentos"
        assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
        assert "token" not in response.get_json()
    # Refused attempts do not extend the lock-out.
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE Correo = %s",
                           (digest(database, user.correo),)) == 5
    # Only this pair (account, address) is throttled: a stranger's five guesses from one
    # address do not lock the owner out elsewhere (API.md §2).
    assert login(client, user.correo, user.password, "10.200.0.1").status_code == 200
    assert login(client, user.correo, user.password, ip).status_code == 429
    # When the window has passed, the right password works again.
    database.execute("UPDATE Intento_Login SET Fecha = Fecha - INTERVAL 16 MINUTE "
                     "WHERE Correo = %s", (digest(database, user.correo),))
    assert login(client, user.correo, user.password, ip).status_code == 200


def test_successful_logins_neither_count_nor_reset(client, make_user, ip):
    user = make_user("recepcionista")
    for _ in range(4):
        assert login(client, user.correo, OTRA_PASSWORD, ip).status_code == 401
    for _ in range(3):
        assert login(client, user.correo, user.password, ip).status_code == 200
    assert login(client, user.correo, OTRA_PASSWORD, ip).status_code == 401
    assert login(client, user.correo, OTRA_PASSWORD, ip).status_code == 429


def test_twenty_failures_from_one_address_throttle_it(client, make_user, ip):
    user = make_user("recepcionista")
    for _ in range(20):
        assert login(client, f"{unique('n')}@prueba.local", OTRA_PASSWORD, ip).status_code == 401
    response = login(client, user.correo, user.password, ip)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert login(client, user.correo, user.password, "10.200.0.2").status_code == 200


def test_failures_recorded_by_another_process_count(client, database, make_user, ip):
    user = make_user("recepcionista")
    for _ in range(5):
        database.execute("INSERT INTO Intento_Login (Correo, IP) VALUES (%s, %s)",
                         (digest(database, user.correo), ip))
    assert login(client, user.correo, user.password, ip).status_code == 429
    assert login(client, user.correo, user.password, "10.250.1.1").status_code == 200


# ---------------------------------------------------------------------------
# Token attacks
# ---------------------------------------------------------------------------

def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forge(user, app, case):
    real = jwt.decode(user.token, options={"verify_signature": False})
    key = app.config["SECRET_KEY"]
    now = int(time.time())
    if case == "alg_none":
        return _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({**real, "rol": "admin"}) + "."
    if case == "clave_erronea":
        return jwt.encode(real, "otra-clave-de-al-menos-32-bytes-xxxxxxxx", algorithm="HS256")
    if case == "hs512_clave_correcta":
        return jwt.encode(real, key, algorithm="HS512")
    if case == "caducado":
        return jwt.encode({**real, "iat": now - 3600, "exp": now - 60}, key, algorithm="HS256")
    if case == "sin_exp":
        return jwt.encode({k: v for k, v in real.items() if k != "exp"}, key, algorithm="HS256")
    if case == "payload_manipulado":
        header, _, signature = user.token.split(".")
        return f"{header}.{_b64({**real, 'rol': 'admin', 'sub': '1'})}.{signature}"
    if case == "refresh_como_access":
        return user.refresh_token
    if case == "revocado":
        return user.token
    if case == "basura":
        return "no.es.un-jwt"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["alg_none", "clave_erronea", "hs512_clave_correcta", "caducado",
                                  "sin_exp", "payload_manipulado", "refresh_como_access",
                                  "revocado", "basura"])
def test_token_attacks_are_401(app, client, database, make_user, case):
    user = make_user("paciente")
    token = _forge(user, app, case)
    if case == "revocado":
        database.execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                         (user.id_usuario,))
    assert_401(client.get("/auth/me", headers=bearer(token)))
    assert client.get("/auth/me", headers=user.headers).status_code == (
        401 if case == "revocado" else 200)


def test_a_verified_token_still_expires(app, client, make_user, monkeypatch):
    """Verification is kept per token (sesiones._verified_claims); its expiry is not."""
    user = make_user("paciente")
    real = jwt.decode(user.token, options={"verify_signature": False})
    now = int(time.time())
    token = jwt.encode({**real, "exp": now + 60}, app.config["SECRET_KEY"], algorithm="HS256")
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200
    monkeypatch.setattr(time, "time", lambda: now + 60)
    assert_401(client.get("/auth/me", headers=bearer(token)))
    monkeypatch.undo()
    assert client.get("/auth/me", headers=user.headers).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_missing_token_is_401(client, headers):
    assert_401(client.get("/auth/me", headers=headers))


def test_access_token_is_not_a_refresh_token(client, make_user):
    user = make_user("paciente")
    assert_401(client.post("/auth/refresh", json={"refresh_token": user.token}))


# ---------------------------------------------------------------------------
# Refresh rotation, logout, password change
# ---------------------------------------------------------------------------

def test_refresh_rotates_and_reuse_revokes_the_family(client, database, make_user):
    user = make_user("medico")
    first = client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200
    rotated = first.get_json()
    assert rotated["usuario"]["id_usuario"] == user.id_usuario
    assert rotated["refresh_token"] != user.refresh_token
    assert client.get("/auth/me", headers=bearer(rotated["token"])).status_code == 200
    second = client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert second.status_code == 200
    latest = second.get_json()

    # The spent first token is presented again: theft assumed, the whole family dies.
    assert_401(client.post("/auth/refresh", json={"refresh_token": user.refresh_token}))
    assert_401(client.post("/auth/refresh", json={"refresh_token": latest["refresh_token"]}))
    for token in (latest["token"], rotated["token"], user.token):
        assert_401(client.get("/auth/me", headers=bearer(token)))
    sid = jwt.decode(user.token, options={"verify_signature": False})["sid"]
    assert database.scalar("SELECT Revocada FROM Sesion WHERE ID_Sesion = %s", (sid,)) == 1


def test_refresh_of_deactivated_user_is_401(client, database, make_user):
    user = make_user("recepcionista")
    database.execute("UPDATE Usuario SET Activo = FALSE WHERE ID_Usuario = %s", (user.id_usuario,))
    assert_401(client.post("/auth/refresh", json={"refresh_token": user.refresh_token}))


def test_logout_revokes_access_and_refresh(client, database, make_user):
    user = make_user("recepcionista")
    other = client.post("/auth/refresh", json={"refresh_token": make_user("admin").refresh_token})
    response = client.post("/auth/logout", headers=user.headers)
    assert response.status_code == 204 and response.data == b""
    assert_401(client.get("/auth/me", headers=user.headers))
    assert_401(client.post("/auth/refresh", json={"refresh_token": user.refresh_token}))
    assert_401(client.post("/auth/logout", headers=user.headers))
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'logout' "
                           "AND ID_Usuario = %s", (user.id_usuario,)) == 1
    assert client.get("/auth/me", headers=bearer(other.get_json()["token"])).status_code == 200


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    """A real 3-worker gunicorn on this test run's database; yields (base url, access log)."""
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", "3",
         "-b", f"127.0.0.1:{port}", "--access-logfile", str(access_log),
         "--access-logformat", "%(p)s %(s)s %(U)s", "app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
        yield base, access_log
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_logout_holds_in_every_gunicorn_worker(gunicorn, make_user):
    base, access_log = gunicorn
    user = make_user("admin")
    # Warm every worker with the token (a per-process cache would now hold it as valid).
    for _ in range(12):
        assert requests.get(base + "/auth/me", headers=user.headers, timeout=10).status_code == 200
    assert requests.post(base + "/auth/logout", headers=user.headers, timeout=10).status_code == 204

    results = []

    def hit():
        for _ in range(4):
            r = requests.get(base + "/auth/me", headers=user.headers, timeout=10)
            results.append((r.status_code, r.json()["codigo"]))

    def refusing_pids():
        lines = [line.split() for line in access_log.read_text().splitlines()]
        return {pid for pid, status, path in lines if status == "401" and path == "/auth/me"}

    # Which worker takes a request is the kernel's choice: on a busy machine one worker may
    # take a whole burst, so burst again (up to 5 times) until two workers have refused.
    for _ in range(5):
        threads = [threading.Thread(target=hit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.3)
        if len(refusing_pids()) >= 2:
            break
    assert results and set(results) == {(401, "no_autenticado")}
    assert len(refusing_pids()) >= 2, access_log.read_text()
    refresh = requests.post(base + "/auth/refresh", json={"refresh_token": user.refresh_token},
                            timeout=10)
    assert refresh.status_code == 401


def test_password_change_revokes_the_other_sessions(client, database, make_user, ip):
    user = make_user("paciente")
    other = login(client, user.correo, user.password, ip).get_json()
    url = "/auth/password"
    wrong = client.put(url, headers=user.headers,
                       json={"password_actual": OTRA_PASSWORD, "password_nueva": OTRA_PASSWORD})
    assert wrong.status_code == 400 and wrong.get_json()["detalles"][0]["campo"] == "password_actual"
    for nueva in ("corta", "ñ" * 37):
        r = client.put(url, headers=user.headers,
                       json={"password_actual": user.password, "password_nueva": nueva})
        assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "password_nueva"
    version = database.scalar("SELECT Version FROM Usuario WHERE ID_Usuario = %s",
                              (user.id_usuario,))
    ok = client.put(url, headers=user.headers,
                    json={"password_actual": user.password, "password_nueva": OTRA_PASSWORD})
    assert ok.status_code == 204
    assert client.get("/auth/me", headers=user.headers).status_code == 200
    assert_401(client.get("/auth/me", headers=bearer(other["token"])))
    assert_401(client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}))
    assert database.scalar("SELECT Version FROM Usuario WHERE ID_Usuario = %s",
                           (user.id_usuario,)) == version + 1
    assert login(client, user.correo, user.password, "10.201.0.1").status_code == 401
    assert login(client, user.correo, OTRA_PASSWORD, "10.201.0.2").status_code == 200


def test_wrong_current_password_is_throttled(client, make_user):
    user = make_user("paciente")
    body = {"password_actual": OTRA_PASSWORD, "password_nueva": OTRA_PASSWORD}
    statuses = [client.put("/auth/password", headers=user.headers, json=body,
                           environ_base={"REMOTE_ADDR": "10.202.0.1"}).status_code
                for _ in range(6)]
    assert statuses == [400] * 5 + [429]


# ---------------------------------------------------------------------------
# Self sign-up, open mode (invitations: tests/test_registro.py)
# ---------------------------------------------------------------------------

@pytest.fixture
def abierto(app):
    """A client of an app with REGISTRO_PACIENTES=abierto, on this run's database."""
    import app as app_module

    return app_module.create_app({"TESTING": True, "REGISTRO_PACIENTES": "abierto"}).test_client()


def registro_body(**changes):
    body = {"nombre": "Lucía Pérez Gómez", "correo": f"{unique('lucia')}@Ejemplo.com",
            "password": "Registro-2024!", "fecha_nacimiento": "1990-03-04", "genero": "Femenino",
            "telefono": "+34 600 555 666"}
    body.update(changes)
    return body


def test_registro_creates_user_patient_and_history(abierto, database):
    body = registro_body()
    response = abierto.post("/auth/registro", json=body)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    usuario = out["usuario"]
    assert usuario["rol"] == "paciente" and usuario["id_rol"] == 4
    assert usuario["correo"] == body["correo"].lower()
    assert response.headers["Location"] == f"/usuarios/{usuario['id_usuario']}"
    assert abierto.get("/auth/me", headers=bearer(out["token"])).get_json() == usuario
    id_paciente = usuario["id_paciente"]
    paciente = database.one("SELECT * FROM Paciente WHERE ID_Paciente = %s", (id_paciente,))
    assert paciente["Nombre_Normalizado"] == "lucia perez gomez"
    prefijos = {r["Prefijo"] for r in database.all(
        "SELECT Prefijo FROM Paciente_Prefijo WHERE ID_Paciente = %s", (id_paciente,))}
    assert {"l", "lu", "luc", "luci", "p", "pe", "per", "pere", "g", "go", "gom", "gome"} == prefijos
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1
    assert body["password"] not in response.get_data(as_text=True)
    audit = database.one("SELECT * FROM Auditoria WHERE Accion = 'crear' AND Recurso = 'usuario' "
                         "AND ID_Recurso = %s", (str(usuario["id_usuario"]),))
    assert audit["ID_Paciente"] == id_paciente and audit["ID_Usuario"] == usuario["id_usuario"]


def test_registro_duplicate_correo_is_409_and_creates_nothing(abierto, database):
    body = registro_body()
    assert abierto.post("/auth/registro", json=body).status_code == 201
    pacientes = database.scalar("SELECT COUNT(*) FROM Paciente")
    again = abierto.post("/auth/registro", json=registro_body(correo=body["correo"].upper()))
    assert again.status_code == 409 and again.get_json()["codigo"] == "conflicto"
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == pacientes


@pytest.mark.parametrize("changes, campo", [
    ({"rol": "admin"}, "rol"), ({"id_rol": 1}, "id_rol"), ({"password": "corta"}, "password"),
    ({"password": "x" * 73}, "password"), ({"correo": "no-es-correo"}, "correo"),
    ({"telefono": "abc"}, "telefono"), ({"fecha_nacimiento": "2999-01-01"}, "fecha_nacimiento"),
    # A stranger must not probe which national ids the clinic has on file.
    ({"documento": "12345678Z"}, "documento"), ({"codigo": "ABCD-EFGH"}, "codigo"),
    ({"nombre": None}, "nombre"), ({"genero": None}, "genero"), ({"telefono": None}, "telefono"),
])
def test_registro_rejects_bad_bodies(abierto, database, changes, campo):
    before = database.scalar("SELECT COUNT(*) FROM Paciente")
    body = {k: v for k, v in registro_body(**changes).items() if v is not None}
    response = abierto.post("/auth/registro", json=body)
    assert response.status_code == 400
    assert campo in [d["campo"] for d in response.get_json()["detalles"]]
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == before


@pytest.mark.parametrize("valor", [False, ""])
def test_registro_can_be_switched_off(database, valor):
    import app as app_module

    closed = app_module.create_app({"TESTING": True, "REGISTRO_PACIENTES": valor}).test_client()
    body = registro_body()
    response = closed.post("/auth/registro", json=body)
    assert response.status_code == 404 and response.get_json()["codigo"] == "no_encontrado"
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE Correo = %s",
                           (body["correo"].lower(),)) == 0


# ---------------------------------------------------------------------------
# Secrets never leak
# ---------------------------------------------------------------------------

def test_no_password_or_hash_in_answers_or_logs(client, database, make_user, log_file, ip):
    secreto = "Secreto-Unico-" + unique("pw")
    user = make_user("admin", password=secreto)
    hashed = database.scalar("SELECT Password_Hash FROM Usuario WHERE ID_Usuario = %s",
                             (user.id_usuario,))
    answers = [
        login(client, user.correo, secreto, ip),
        login(client, user.correo, secreto + "x", ip),
        login(client, secreto, secreto, ip),
        client.get(f"/usuarios/{user.id_usuario}", headers=user.headers),
        client.get("/usuarios?limite=100", headers=user.headers),
        client.put("/auth/password", headers=user.headers,
                   json={"password_actual": secreto + "y", "password_nueva": "z" * 8}),
        client.post("/auth/login", json={"correo": user.correo, "password": secreto, "x": 1}),
    ]
    for response in answers:
        text = response.get_data(as_text=True)
        assert secreto not in text and hashed not in text and "$2b$" not in text
    with open(log_file, encoding="utf-8") as f:
        log = f.read()
    assert user.correo in log or "/auth/login" in log
    assert secreto not in log and "$2b$" not in log and hashed not in log
