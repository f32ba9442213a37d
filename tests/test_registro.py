"""Patient-portal sign-up by one-time invitation code: issuing (POST /pacientes/<id>/invitacion),
redeeming (POST /auth/registro), identical answers without a valid code, the per-address
throttle, and one code = one user under real parallel requests against gunicorn."""

import hashlib
import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from conftest import ROOT, unique

sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402

_ips = itertools.count(1)
NACIMIENTO = date(1980, 5, 17)  # make_paciente's default


@pytest.fixture
def ip():
    n = next(_ips)
    return f"10.70.{n // 250}.{n % 250 + 1}"


@pytest.fixture
def recepcion(make_user):
    return make_user("recepcionista")


def invitar(client, actor, id_paciente):
    return client.post(f"/pacientes/{id_paciente}/invitacion", headers=actor.headers)


def registrar(client, ip, **body):
    return client.post("/auth/registro", json=body, environ_base={"REMOTE_ADDR": ip})


def cuerpo(codigo, **changes):
    body = {"codigo": codigo, "fecha_nacimiento": NACIMIENTO.isoformat(),
            "correo": f"{unique('portal')}@ejemplo.com", "password": "Portal-Clave-2025"}
    body.update(changes)
    return body


def sin_id(response):
    return {k: v for k, v in response.get_json().items() if k != "id_solicitud"}


# ---------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------

def test_staff_issue_a_code_stored_only_as_a_digest(client, database, recepcion, make_paciente):
    id_paciente = make_paciente()
    response = invitar(client, recepcion, id_paciente)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    assert set(out) == {"codigo", "expira"}
    simbolos = out["codigo"].replace("-", "")
    assert len(simbolos) == 16 and set(simbolos) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    expira = datetime.fromisoformat(out["expira"].replace("Z", "+00:00"))
    horas = (expira - datetime.now(timezone.utc)) / timedelta(hours=1)
    assert 71.9 < horas <= 72
    row = database.one("SELECT * FROM Invitacion WHERE ID_Paciente = %s", (id_paciente,))
    assert row["Codigo_Hash"] == hashlib.sha256(simbolos.encode()).hexdigest()
    assert out["codigo"] not in str(row) and simbolos not in str(row)
    assert row["ID_Usuario_Emisor"] == recepcion.id_usuario and row["Usada_En"] is None
    audit = database.one("SELECT * FROM Auditoria WHERE ID_Solicitud = %s",
                         (response.headers["X-Request-ID"],))
    assert (audit["Accion"], audit["Recurso"], audit["ID_Paciente"]) == (
        "crear", "invitacion", id_paciente)


def test_codes_are_random_and_a_new_one_voids_the_last(client, recepcion, make_paciente, ip):
    id_paciente = make_paciente()
    codigos = [invitar(client, recepcion, id_paciente).get_json()["codigo"] for _ in range(3)]
    assert len(set(codigos)) == 3
    for viejo in codigos[:2]:
        r = registrar(client, ip, **cuerpo(viejo))
        assert r.status_code == 400 and r.get_json()["codigo"] == "codigo_invalido"
    assert registrar(client, ip, **cuerpo(codigos[2])).status_code == 201


@pytest.mark.parametrize("quien, estado", [("medico", 403), ("paciente", 403),
                                          ("recepcionista", 201), ("admin", 201)])
def test_only_pacientes_escribir_issues(client, database, make_user, make_paciente, quien, estado):
    id_paciente = make_paciente()
    response = invitar(client, make_user(quien), id_paciente)
    assert response.status_code == estado
    assert database.scalar("SELECT COUNT(*) FROM Invitacion WHERE ID_Paciente = %s",
                           (id_paciente,)) == (1 if estado == 201 else 0)


def test_unknown_inactive_or_registered_patient(client, database, recepcion, make_paciente,
                                                make_user):
    assert invitar(client, recepcion, 99999999).status_code == 404
    assert invitar(client, recepcion, make_paciente(activo=False)).status_code == 404
    ya = make_user("paciente")
    response = invitar(client, recepcion, ya.id_paciente)
    assert response.status_code == 409 and response.get_json()["codigo"] == "conflicto"
    assert database.scalar("SELECT COUNT(*) FROM Invitacion WHERE ID_Paciente = %s",
                           (ya.id_paciente,)) == 0


def test_crear_invitacion_works_without_a_request(app, database, make_paciente):
    """The demo prints an invitation: invitaciones.crear_invitacion in a bare app context."""
    from invitaciones import crear_invitacion, hash_codigo

    id_paciente = make_paciente()
    with app.app_context():
        codigo, expira = crear_invitacion(id_paciente)
    assert database.scalar("SELECT ID_Paciente FROM Invitacion WHERE Codigo_Hash = %s",
                           (hash_codigo(codigo),)) == id_paciente
    assert expira > datetime.utcnow() + timedelta(hours=71)


# ---------------------------------------------------------------------------
# Redeeming
# ---------------------------------------------------------------------------

def test_code_registers_the_existing_patient_once(client, database, recepcion, make_paciente,
                                                  ip):
    id_paciente = make_paciente(nombre="Inés Invitada Ruiz")
    codigo = invitar(client, recepcion, id_paciente).get_json()["codigo"]
    pacientes = database.scalar("SELECT COUNT(*) FROM Paciente")
    # Typed in lower case with spaces instead of dashes: the same code.
    body = cuerpo(codigo.lower().replace("-", " "))
    response = registrar(client, ip, **body)
    assert response.status_code == 201, response.get_json()
    out = response.get_json()
    usuario = out["usuario"]
    assert usuario["id_paciente"] == id_paciente and usuario["rol"] == "paciente"
    assert usuario["nombre"] == "Inés Invitada Ruiz" and usuario["correo"] == body["correo"]
    assert response.headers["Location"] == f"/usuarios/{usuario['id_usuario']}"
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == pacientes
    row = database.one("SELECT * FROM Invitacion WHERE ID_Paciente = %s", (id_paciente,))
    assert row["Usada_En"] is not None and row["ID_Usuario"] == usuario["id_usuario"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {out['token']}"})
    assert me.status_code == 200 and me.get_json() == usuario
    # Shown in the patient's own access log.
    accesos = client.get(f"/pacientes/{id_paciente}/accesos",
                         headers={"Authorization": f"Bearer {out['token']}"}).get_json()
    assert any(a["accion"] == "crear" and a["recurso"] == "usuario"
               and a["id_recurso"] == str(usuario["id_usuario"]) for a in accesos["datos"])
    # Used: a second redemption is the invalid-code answer, and nothing is created.
    again = registrar(client, ip, **cuerpo(codigo))
    assert again.status_code == 400 and again.get_json()["codigo"] == "codigo_invalido"
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1


def test_invalid_code_answers_the_same_whatever_the_correo(client, database, recepcion,
                                                          make_paciente, make_user, ip):
    registrado = make_user("recepcionista").correo
    id_paciente = make_paciente()
    codigo = invitar(client, recepcion, id_paciente).get_json()["codigo"]
    caducado_pac = make_paciente()
    caducado = invitar(client, recepcion, caducado_pac).get_json()["codigo"]
    database.execute("UPDATE Invitacion SET Expira_En = UTC_TIMESTAMP() - INTERVAL 1 SECOND "
                     "WHERE ID_Paciente = %s", (caducado_pac,))
    casos = [
        cuerpo("0000-0000-0000-0000"),
        cuerpo("0000-0000-0000-0000", correo=registrado),
        cuerpo(caducado),
        cuerpo(caducado, correo=registrado),
        cuerpo(codigo, fecha_nacimiento="1980-05-18"),
        cuerpo(codigo, fecha_nacimiento="1980-05-18", correo=registrado),
    ]
    usuarios = database.scalar("SELECT COUNT(*) FROM Usuario")
    answers = [registrar(client, ip, **b) for b in casos]
    assert {r.status_code for r in answers} == {400}
    assert len({str(sin_id(r)) for r in answers}) == 1
    assert answers[0].get_json()["codigo"] == "codigo_invalido"
    assert "detalles" not in answers[0].get_json()
    assert database.scalar("SELECT COUNT(*) FROM Usuario") == usuarios
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE ID_Paciente IN (%s, %s)",
                           (id_paciente, caducado_pac)) == 0


def test_restore_style_voiding_ends_unused_codes(client, database, recepcion, make_paciente, ip):
    """The statement the restore command runs (API.md §11) makes every unused code invalid."""
    codigo = invitar(client, recepcion, make_paciente()).get_json()["codigo"]
    database.execute("UPDATE Invitacion SET Expira_En = UTC_TIMESTAMP() "
                     "WHERE Usada_En IS NULL AND Expira_En > UTC_TIMESTAMP()")
    assert registrar(client, ip, **cuerpo(codigo)).get_json()["codigo"] == "codigo_invalido"


def test_five_wrong_birth_dates_void_the_code(client, database, recepcion, make_paciente):
    id_paciente = make_paciente()
    codigo = invitar(client, recepcion, id_paciente).get_json()["codigo"]
    for n in range(5):
        # From five addresses: the code's own counter, not the address's, ends it.
        r = registrar(client, f"10.71.0.{n + 1}", **cuerpo(codigo, fecha_nacimiento="2000-01-01"))
        assert r.get_json()["codigo"] == "codigo_invalido"
    r = registrar(client, "10.71.0.9", **cuerpo(codigo))
    assert r.status_code == 400 and r.get_json()["codigo"] == "codigo_invalido"
    assert database.scalar("SELECT Intentos FROM Invitacion WHERE ID_Paciente = %s",
                           (id_paciente,)) == 5


def test_valid_code_with_a_registered_correo_is_409_and_keeps_the_code(
        client, database, recepcion, make_paciente, make_user, ip):
    """Only a holder of a valid code and the right birth date learns that a correo is taken."""
    registrado = make_user("recepcionista").correo
    id_paciente = make_paciente()
    codigo = invitar(client, recepcion, id_paciente).get_json()["codigo"]
    dup = registrar(client, ip, **cuerpo(codigo, correo=registrado.upper()))
    assert dup.status_code == 409 and dup.get_json()["codigo"] == "conflicto"
    assert database.scalar("SELECT Usada_En FROM Invitacion WHERE ID_Paciente = %s",
                           (id_paciente,)) is None
    assert registrar(client, ip, **cuerpo(codigo)).status_code == 201


@pytest.mark.parametrize("changes, campo", [
    ({"codigo": None}, "codigo"), ({"nombre": "Otro Nombre"}, "nombre"),
    ({"genero": "Otro"}, "genero"), ({"telefono": "+34 600 111 222"}, "telefono"),
    ({"documento": "12345678Z"}, "documento"), ({"password": "corta"}, "password"),
])
def test_invitation_mode_bodies(client, changes, campo, ip):
    body = {**cuerpo("0000-0000-0000-0000"), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = registrar(client, ip, **body)
    assert response.status_code == 400 and response.get_json()["codigo"] == "validacion"
    assert campo in [d["campo"] for d in response.get_json()["detalles"]]


def test_sign_up_attempts_are_throttled_per_address(client, recepcion, make_paciente, ip):
    """REGISTRO_MAX_IP (10) attempts per window, successful ones included; then 429 even with
    a valid code; another address still signs up."""
    codigos = [invitar(client, recepcion, make_paciente()).get_json()["codigo"]
               for _ in range(3)]
    statuses = [registrar(client, ip, **cuerpo(codigos[0])).status_code]
    statuses += [registrar(client, ip, **cuerpo("0000-0000-0000-0000")).status_code
                 for _ in range(9)]
    assert statuses == [201] + [400] * 9
    refused = registrar(client, ip, **cuerpo(codigos[1]))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["codigo"] == "demasiados_intentos"
    assert registrar(client, "10.72.0.1", **cuerpo(codigos[1])).status_code == 201


# ---------------------------------------------------------------------------
# Under real concurrency (gunicorn, several workers, one database)
# ---------------------------------------------------------------------------

def gunicorn_con(app, tmp_path_factory, modo):
    """A 3-worker gunicorn on this run's database in sign-up mode `modo` (the per-address
    limit raised: these tests are about concurrency, not throttling)."""
    return servers.start_gunicorn(str(tmp_path_factory.mktemp("gunicorn")),
                                  {"DB_NAME": app.config["DB_NAME"], "REGISTRO_MAX_IP": 1000,
                                   "REGISTRO_PACIENTES": modo}, workers=3, threads=4)


@pytest.fixture(scope="module")
def gunicorn_invitacion(app, tmp_path_factory):
    server = gunicorn_con(app, tmp_path_factory, "invitacion")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gunicorn_abierto(app, tmp_path_factory):
    server = gunicorn_con(app, tmp_path_factory, "abierto")
    yield server
    server.stop()


def parallel(fn, n):
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


def test_one_code_registers_one_user_under_15_parallel_requests(
        gunicorn_invitacion, client, database, recepcion, make_paciente):
    id_paciente = make_paciente()
    codigo = invitar(client, recepcion, id_paciente).get_json()["codigo"]
    answers = parallel(lambda i: requests.post(
        gunicorn_invitacion.url + "/auth/registro", timeout=30,
        json=cuerpo(codigo, correo=f"paralelo{i}{unique('x')}@ejemplo.com")), 15)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [400] * 14, [r.text for r in answers if r.status_code != 400]
    assert all(r.json()["codigo"] == "codigo_invalido" for r in answers if r.status_code == 400)
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1


def test_twenty_parallel_invitation_sign_ups_and_issues(gunicorn_invitacion, database,
                                                        recepcion, make_paciente):
    pacientes = [make_paciente() for _ in range(20)]
    base = gunicorn_invitacion.url
    issued = parallel(lambda i: requests.post(f"{base}/pacientes/{pacientes[i]}/invitacion",
                                              headers=recepcion.headers, timeout=30), 20)
    assert [r.status_code for r in issued] == [201] * 20, [r.text for r in issued]
    answers = parallel(lambda i: requests.post(
        base + "/auth/registro", timeout=30,
        json=cuerpo(issued[i].json()["codigo"])), 20)
    assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers]
    assert database.scalar(
        "SELECT COUNT(DISTINCT ID_Paciente) FROM Usuario WHERE ID_Paciente IN (%s)"
        % ",".join(["%s"] * 20), pacientes) == 20


def test_twenty_parallel_open_sign_ups_from_one_address(gunicorn_abierto, database):
    correo_dup = f"{unique('dup')}@ejemplo.com"

    def one(i):
        body = {"nombre": f"Paciente Paralelo {i}", "correo": correo_dup if i < 5 else
                f"{unique('abierto')}@ejemplo.com", "password": "Abierto-Clave-2025",
                "fecha_nacimiento": "1991-02-03", "genero": "Otro", "telefono": "+34 600 000 111"}
        return requests.post(gunicorn_abierto.url + "/auth/registro", json=body, timeout=30)

    answers = parallel(one, 20)
    statuses = sorted(r.status_code for r in answers)
    assert all(s < 500 for s in statuses), [r.text for r in answers if r.status_code >= 500]
    # The five with one correo: exactly one is created, the others are 409.
    assert statuses == [201] * 16 + [409] * 4, statuses
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE Correo = %s", (correo_dup,)) == 1
