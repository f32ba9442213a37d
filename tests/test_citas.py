"""Appointments through HTTP: booking rules, overlaps, the state machine, access and listings."""

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest

ESTADOS = ("Pendiente", "Confirmada", "Cancelada", "Completada", "No_Asistio")
PERMITIDAS = {("Pendiente", "Confirmada"), ("Pendiente", "Cancelada"),
              ("Confirmada", "Completada"), ("Confirmada", "Cancelada"),
              ("Confirmada", "No_Asistio")}
DIA = date.today() + timedelta(days=40)
ACTORES = ("anonimo", "paciente", "otro_paciente", "medico", "otro_medico", "recepcionista",
           "admin")


@pytest.fixture
def gente(make_user):
    """A patient and a doctor who share citas, one more of each, and two staff members."""
    return SimpleNamespace(
        anonimo=SimpleNamespace(headers={}), paciente=make_user("paciente"),
        otro_paciente=make_user("paciente"), medico=make_user("medico"),
        otro_medico=make_user("medico"), recepcionista=make_user("recepcionista"),
        admin=make_user("admin"))


def reservar(client, actor, id_paciente, id_medico, **campos):
    body = {"fecha": DIA.isoformat(), "hora": "10:00", "id_paciente": id_paciente,
            "id_medico": id_medico, **campos}
    return client.post("/citas", json=body, headers=actor.headers)


def fila(database, id_cita):
    return database.one("SELECT Estado AS estado, Version AS version, Fecha AS fecha, "
                        "Hora AS hora, Duracion_Min AS duracion, Motivo AS motivo "
                        "FROM Cita WHERE ID_Cita = %s", (id_cita,))


def historial(database, id_cita):
    return database.all("SELECT Estado AS estado, ID_Usuario AS id_usuario, Motivo AS motivo "
                        "FROM Cita_Estado WHERE ID_Cita = %s ORDER BY ID_Cita_Estado", (id_cita,))


def auditoria(database, id_cita, accion):
    return database.all("SELECT ID_Usuario AS id_usuario, ID_Paciente AS id_paciente FROM Auditoria"
                        " WHERE Recurso = 'cita' AND ID_Recurso = %s AND Accion = %s",
                        (str(id_cita), accion))


def citas_del_medico(database, id_medico):
    return database.all("SELECT ID_Cita AS id, Estado AS estado, Hora AS hora FROM Cita "
                        "WHERE `ID_Médico` = %s ORDER BY ID_Cita", (id_medico,))


# ---------------------------------------------------------------------------
# Booking
# ---------------------------------------------------------------------------

def test_create_answers_the_cita_with_history_and_writes_it(client, database, gente, app):
    r = reservar(client, gente.recepcionista, gente.paciente.id_paciente, gente.medico.id_medico,
                 hora="10:00:00", motivo="Dolor de cabeza")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    id_cita = body["id_cita"]
    assert r.headers["Location"] == f"/citas/{id_cita}"
    assert r.headers["ETag"] == f'"{id_cita}-1"'
    assert body["fecha"] == DIA.isoformat() and body["hora"] == "10:00"
    assert body["duracion_min"] == app.config["DURACION_CITA_MIN"]
    assert body["estado"] == "Pendiente" and body["motivo"] == "Dolor de cabeza"
    assert body["paciente"]["id_paciente"] == gente.paciente.id_paciente
    assert body["medico"]["id_medico"] == gente.medico.id_medico
    assert body["medico"]["especialidad"] == "Medicina General"
    assert body["creado_en"].endswith("Z")
    assert [h["estado"] for h in body["historial_estados"]] == ["Pendiente"]
    assert body["historial_estados"][0]["id_usuario"] == gente.recepcionista.id_usuario
    row = fila(database, id_cita)
    assert (row["estado"], str(row["hora"]), row["duracion"]) == ("Pendiente", "10:00:00", 30)
    assert historial(database, id_cita) == [
        {"estado": "Pendiente", "id_usuario": gente.recepcionista.id_usuario, "motivo": None}]
    assert auditoria(database, id_cita, "crear") == [
        {"id_usuario": gente.recepcionista.id_usuario, "id_paciente": gente.paciente.id_paciente}]


@pytest.mark.parametrize("actor, paciente, medico, cuidado, esperado", [
    ("anonimo", "paciente", "medico", False, 401),
    ("paciente", "paciente", "medico", False, 201),
    ("paciente", "otro_paciente", "medico", False, 403),
    # A doctor books only for a patient already under their care: booking a stranger would
    # grant the doctor access to the patient's record.
    ("medico", "paciente", "medico", False, 403),
    ("medico", "paciente", "medico", True, 201),
    ("medico", "paciente", "otro_medico", True, 403),
    ("recepcionista", "otro_paciente", "otro_medico", False, 201),
    ("admin", "paciente", "otro_medico", False, 201),
])
def test_create_who_may_book(client, database, gente, make_cita, actor, paciente, medico,
                             cuidado, esperado):
    id_medico = getattr(gente, medico).id_medico
    id_paciente = getattr(gente, paciente).id_paciente
    antes = 0
    if cuidado:
        make_cita(id_paciente, gente.medico.id_medico, fecha=date.today() - timedelta(days=30),
                  estado="Completada")
        antes = 1 if medico == "medico" else 0
    r = reservar(client, getattr(gente, actor), id_paciente, id_medico)
    assert r.status_code == esperado, r.get_json()
    assert len(citas_del_medico(database, id_medico)) == antes + (1 if esperado == 201 else 0)


def _ahora_local(app):
    from auth import ahora_local

    with app.app_context():
        return ahora_local()


@pytest.mark.parametrize("campos, campo", [
    ({"fecha": (date.today() - timedelta(days=2)).isoformat()}, "fecha"),
    ({"fecha": (date.today() + timedelta(days=800)).isoformat()}, "fecha"),
    ({"duracion_min": 4}, "duracion_min"),
    ({"duracion_min": 241}, "duracion_min"),
    ({"duracion_min": "30"}, "duracion_min"),
    ({"hora": "25:00"}, "hora"),
    ({"hora": "10:00:30"}, "hora"),
    ({"hora": "10"}, "hora"),
    ({"hora": "10:00Z"}, "hora"),
    ({"fecha": "2030-02-30"}, "fecha"),
    ({"id_medico": None}, "id_medico"),
    ({"estado": "Confirmada"}, "estado"),
    ({"motivo": "x" * 501}, "motivo"),
])
def test_create_validation(client, database, gente, campos, campo):
    body = {"fecha": DIA.isoformat(), "hora": "10:00", "id_paciente": gente.paciente.id_paciente,
            "id_medico": gente.medico.id_medico, **campos}
    r = client.post("/citas", json=body, headers=gente.recepcionista.headers)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["codigo"] == "validacion"
    assert campo in [d["campo"] for d in r.get_json()["detalles"]]
    assert citas_del_medico(database, gente.medico.id_medico) == []


def test_create_earlier_today_is_past(client, database, gente, app):
    ahora = _ahora_local(app)
    if ahora.hour == 0 and ahora.minute < 2:
        pytest.skip("no hay una hora anterior hoy")
    r = reservar(client, gente.recepcionista, gente.paciente.id_paciente, gente.medico.id_medico,
                 fecha=ahora.date().isoformat(), hora="00:00")
    assert r.status_code == 400
    assert r.get_json()["detalles"][0] == {"campo": "hora",
                                           "mensaje": "la cita no puede ser en el pasado"}
    assert citas_del_medico(database, gente.medico.id_medico) == []


@pytest.mark.parametrize("que", ["paciente_inexistente", "paciente_inactivo",
                                 "medico_inexistente", "medico_inactivo"])
def test_create_unknown_or_inactive_is_404(client, database, gente, make_paciente, make_medico,
                                           que):
    id_paciente, id_medico = gente.paciente.id_paciente, gente.medico.id_medico
    if que == "paciente_inexistente":
        id_paciente = 2_000_000_000
    elif que == "paciente_inactivo":
        id_paciente = make_paciente(activo=False)
    elif que == "medico_inexistente":
        id_medico = 2_000_000_000
    else:
        id_medico = make_medico(activo=False)
    r = reservar(client, gente.recepcionista, id_paciente, id_medico)
    assert r.status_code == 404
    assert r.get_json()["codigo"] == "no_encontrado"
    assert database.scalar("SELECT COUNT(*) FROM Cita WHERE ID_Paciente = %s OR `ID_Médico` = %s",
                           (id_paciente, id_medico)) == 0


# ---------------------------------------------------------------------------
# Overlaps
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("quien", ["medico", "paciente"])
@pytest.mark.parametrize("hora, duracion, libre", [
    ("10:30", 30, True),    # right after
    ("09:30", 30, True),    # right before
    ("09:00", 60, True),    # long, ends at the start
    ("10:30", 240, True),
    ("10:00", 30, False),   # same slot
    ("10:15", 30, False),   # overlaps the end
    ("09:45", 30, False),   # overlaps the start
    ("09:00", 61, False),   # one minute too long
    ("10:29", 5, False),    # short one inside the last minute
    ("10:05", 10, False),   # inside
    ("09:55", 90, False),   # around
])
def test_overlap_rules(client, database, gente, make_paciente, make_medico, quien, hora,
                       duracion, libre):
    """An existing 10:00–10:30 cita; the new one shares the doctor or the patient."""
    primera = reservar(client, gente.recepcionista, gente.paciente.id_paciente,
                       gente.medico.id_medico).get_json()["id_cita"]
    if quien == "medico":
        id_paciente, id_medico = make_paciente(), gente.medico.id_medico
    else:
        id_paciente, id_medico = gente.paciente.id_paciente, make_medico()
    r = reservar(client, gente.recepcionista, id_paciente, id_medico, hora=hora,
                 duracion_min=duracion)
    n = database.scalar("SELECT COUNT(*) FROM Cita WHERE ID_Paciente = %s AND `ID_Médico` = %s",
                        (id_paciente, id_medico))
    if libre:
        assert r.status_code == 201, r.get_json()
        assert n == 1
    else:
        assert r.status_code == 409
        body = r.get_json()
        assert body["codigo"] == "horario_ocupado"
        assert f"cita {primera} " in body["error"] and "de 10:00 a 10:30" in body["error"]
        assert ("el médico" if quien == "medico" else "el paciente") in body["error"]
        assert n == 0


def test_cancelling_frees_the_time(client, database, gente):
    primera = reservar(client, gente.paciente, gente.paciente.id_paciente,
                       gente.medico.id_medico).get_json()["id_cita"]
    ocupado = reservar(client, gente.recepcionista, gente.otro_paciente.id_paciente,
                       gente.medico.id_medico)
    assert ocupado.status_code == 409
    assert client.delete(f"/citas/{primera}", headers=gente.paciente.headers).status_code == 204
    r = reservar(client, gente.recepcionista, gente.otro_paciente.id_paciente,
                 gente.medico.id_medico)
    assert r.status_code == 201
    assert [(c["estado"], str(c["hora"])) for c in citas_del_medico(
        database, gente.medico.id_medico)] == [("Cancelada", "10:00:00"), ("Pendiente", "10:00:00")]
    # The patient's own time is free again too.
    again = reservar(client, gente.paciente, gente.paciente.id_paciente,
                     gente.otro_medico.id_medico)
    assert again.status_code == 201


def test_clash_ignores_other_days(client, gente, make_cita):
    make_cita(gente.paciente.id_paciente, gente.medico.id_medico, fecha=DIA - timedelta(days=1),
              hora="17:30", duracion_min=30)
    r = reservar(client, gente.recepcionista, gente.otro_paciente.id_paciente,
                 gente.medico.id_medico, hora="08:00")
    assert r.status_code == 201
    r = reservar(client, gente.recepcionista, gente.paciente.id_paciente,
                 gente.medico.id_medico, hora="08:00", duracion_min=10)
    assert r.status_code == 409


# ---------------------------------------------------------------------------
# State machine
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("desde", ESTADOS)
@pytest.mark.parametrize("hacia", ESTADOS)
def test_transition_table(client, database, gente, make_cita, desde, hacia):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico, estado=desde)
    antes, pasos = fila(database, id_cita), historial(database, id_cita)
    r = client.post(f"/citas/{id_cita}/estado", json={"estado": hacia, "motivo": "Por prueba"},
                    headers=gente.recepcionista.headers)
    if (desde, hacia) in PERMITIDAS:
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["estado"] == hacia
        assert r.get_json()["historial_estados"][-1]["estado"] == hacia
        assert r.headers["ETag"] == f'"{id_cita}-{antes["version"] + 1}"'
        assert fila(database, id_cita)["estado"] == hacia
        assert historial(database, id_cita) == pasos + [
            {"estado": hacia, "id_usuario": gente.recepcionista.id_usuario, "motivo": "Por prueba"}]
        accion = "anular" if hacia == "Cancelada" else "actualizar"
        assert len(auditoria(database, id_cita, accion)) == 1
    else:
        assert r.status_code == 409
        assert r.get_json()["codigo"] == "transicion_invalida"
        assert fila(database, id_cita) == antes
        assert historial(database, id_cita) == pasos


@pytest.mark.parametrize("actor, hacia, esperado", [
    ("paciente", "Cancelada", 200),
    ("paciente", "Confirmada", 403),
    ("otro_paciente", "Cancelada", 403),
    ("medico", "Confirmada", 200),
    ("medico", "Cancelada", 200),
    ("otro_medico", "Confirmada", 403),
    ("recepcionista", "Confirmada", 200),
    ("admin", "Cancelada", 200),
    ("anonimo", "Cancelada", 401),
])
def test_who_may_change_the_state(client, database, gente, make_cita, actor, hacia, esperado):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    antes = fila(database, id_cita)
    r = client.post(f"/citas/{id_cita}/estado", json={"estado": hacia},
                    headers=getattr(gente, actor).headers)
    assert r.status_code == esperado
    assert fila(database, id_cita)["estado"] == (hacia if esperado == 200 else "Pendiente")
    assert len(historial(database, id_cita)) == (2 if esperado == 200 else 1)
    if esperado != 200:
        assert fila(database, id_cita) == antes


def test_doctor_runs_a_cita_to_the_end(client, database, gente):
    id_cita = reservar(client, gente.paciente, gente.paciente.id_paciente,
                       gente.medico.id_medico).get_json()["id_cita"]
    for estado in ("Confirmada", "Completada"):
        r = client.post(f"/citas/{id_cita}/estado", json={"estado": estado},
                        headers=gente.medico.headers)
        assert r.status_code == 200
    r = client.get(f"/citas/{id_cita}", headers=gente.paciente.headers)
    pasos = r.get_json()["historial_estados"]
    assert [(p["estado"], p["id_usuario"]) for p in pasos] == [
        ("Pendiente", gente.paciente.id_usuario), ("Confirmada", gente.medico.id_usuario),
        ("Completada", gente.medico.id_usuario)]
    assert pasos[0]["fecha"] <= pasos[1]["fecha"] <= pasos[2]["fecha"]
    # A final state cannot be cancelled, by DELETE either.
    r = client.delete(f"/citas/{id_cita}", headers=gente.medico.headers)
    assert r.status_code == 409 and r.get_json()["codigo"] == "transicion_invalida"
    assert fila(database, id_cita)["estado"] == "Completada"


def test_state_change_validation_and_404(client, gente, make_cita):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    h = gente.recepcionista.headers
    assert client.post(f"/citas/{id_cita}/estado", json={"estado": "Borrada"},
                       headers=h).status_code == 400
    assert client.post(f"/citas/{id_cita}/estado", json={}, headers=h).status_code == 400
    assert client.post("/citas/999999999/estado", json={"estado": "Cancelada"},
                       headers=h).status_code == 404
    assert client.delete("/citas/999999999", headers=h).status_code == 404


def test_delete_honours_if_match(client, database, gente, make_cita):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    h = gente.recepcionista.headers
    r = client.delete(f"/citas/{id_cita}", headers={**h, "If-Match": f'"{id_cita}-7"'})
    assert r.status_code == 412
    assert fila(database, id_cita)["estado"] == "Pendiente"
    r = client.delete(f"/citas/{id_cita}", headers={**h, "If-Match": f'"{id_cita}-1"'})
    assert r.status_code == 204 and r.data == b""
    assert fila(database, id_cita)["estado"] == "Cancelada"
    assert [p["estado"] for p in historial(database, id_cita)] == ["Pendiente", "Cancelada"]
    assert len(auditoria(database, id_cita, "anular")) == 1


# ---------------------------------------------------------------------------
# Rescheduling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("metodo", ["patch", "put"])
def test_reschedule(client, database, gente, make_cita, metodo):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico, fecha=DIA)
    make_cita(gente.otro_paciente.id_paciente, gente.medico.id_medico, fecha=DIA, hora="11:00")
    send = getattr(client, metodo)
    url, h = f"/citas/{id_cita}", gente.recepcionista.headers
    # Moving within its own time does not clash with itself.
    r = send(url, json={"hora": "10:10"}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["hora"] == "10:10" and r.headers["ETag"] == f'"{id_cita}-2"'
    # Growing into the 11:00 cita does.
    r = send(url, json={"duracion_min": 60}, headers=h)
    assert r.status_code == 409 and r.get_json()["codigo"] == "horario_ocupado"
    r = send(url, json={"fecha": (DIA + timedelta(days=1)).isoformat(), "hora": "11:00",
                        "duracion_min": 60, "motivo": "Cambio"}, headers=h)
    assert r.status_code == 200
    row = fila(database, id_cita)
    assert (row["fecha"], str(row["hora"]), row["duracion"], row["motivo"], row["version"]) == (
        DIA + timedelta(days=1), "11:00:00", 60, "Cambio", 3)
    assert len(auditoria(database, id_cita, "actualizar")) == 2
    assert [p["estado"] for p in historial(database, id_cita)] == ["Pendiente"]


@pytest.mark.parametrize("body, status, codigo", [
    ({}, 400, "validacion"),
    ({"hora": None}, 400, "validacion"),
    ({"fecha": None, "motivo": "x"}, 400, "validacion"),
    ({"fecha": "2001-01-01"}, 400, "validacion"),
    ({"duracion_min": 500}, 400, "validacion"),
    ({"id_medico": 1}, 400, "validacion"),
])
def test_reschedule_validation(client, database, gente, make_cita, body, status, codigo):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    antes = fila(database, id_cita)
    r = client.patch(f"/citas/{id_cita}", json=body, headers=gente.recepcionista.headers)
    assert r.status_code == status and r.get_json()["codigo"] == codigo
    assert fila(database, id_cita) == antes


@pytest.mark.parametrize("estado", ["Completada", "Cancelada", "No_Asistio"])
def test_reschedule_final_state_is_409(client, database, gente, make_cita, estado):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico, estado=estado)
    antes = fila(database, id_cita)
    r = client.patch(f"/citas/{id_cita}", json={"hora": "12:00"},
                     headers=gente.recepcionista.headers)
    assert r.status_code == 409
    assert fila(database, id_cita) == antes


def test_reschedule_if_match(client, database, gente, make_cita):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    h = gente.recepcionista.headers
    etag = client.get(f"/citas/{id_cita}", headers=h).headers["ETag"]
    assert client.patch(f"/citas/{id_cita}", json={"motivo": "Uno"},
                        headers={**h, "If-Match": etag}).status_code == 200
    r = client.patch(f"/citas/{id_cita}", json={"motivo": "Dos"}, headers={**h, "If-Match": etag})
    assert r.status_code == 412
    assert fila(database, id_cita)["motivo"] == "Uno"


# ---------------------------------------------------------------------------
# Role × endpoint matrix on one cita of `paciente` with `medico`
# ---------------------------------------------------------------------------

MATRIZ = {
    # name: (method, path, body, expected per ACTORES, what a success changes)
    "leer": ("get", "/citas/{id}", None, (401, 200, 403, 200, 403, 200, 200)),
    "patch": ("patch", "/citas/{id}", {"motivo": "Nuevo"}, (401, 200, 403, 200, 403, 200, 200)),
    "put": ("put", "/citas/{id}", {"hora": "12:00"}, (401, 200, 403, 200, 403, 200, 200)),
    "cancelar": ("post", "/citas/{id}/estado", {"estado": "Cancelada"},
                 (401, 200, 403, 200, 403, 200, 200)),
    "confirmar": ("post", "/citas/{id}/estado", {"estado": "Confirmada"},
                  (401, 403, 403, 200, 403, 200, 200)),
    "delete": ("delete", "/citas/{id}", None, (401, 204, 403, 204, 403, 204, 204)),
    "listar_medico": ("get", "/citas/medico/{medico}", None, (401, 200, 200, 200, 403, 200, 200)),
    "listar_paciente": ("get", "/citas/paciente/{paciente}", None,
                        (401, 200, 403, 200, 200, 200, 200)),
    "listar_filtrando": ("get", "/citas?id_paciente={paciente}&id_medico={medico}", None,
                         (401, 200, 403, 200, 403, 200, 200)),
}
CASOS = [(nombre, actor, esperado[i]) for nombre, (_, _, _, esperado) in MATRIZ.items()
         for i, actor in enumerate(ACTORES)]


@pytest.mark.parametrize("nombre, actor, esperado", CASOS)
def test_role_matrix(client, database, gente, make_cita, nombre, actor, esperado):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    metodo, path, body, _ = MATRIZ[nombre]
    url = path.format(id=id_cita, medico=gente.medico.id_medico,
                      paciente=gente.paciente.id_paciente)
    antes = fila(database, id_cita)
    quien = getattr(gente, actor)
    kwargs = {"headers": quien.headers}
    if body is not None:
        kwargs["json"] = body
    r = getattr(client, metodo)(url, **kwargs)
    assert r.status_code == esperado, r.get_json()
    changed = fila(database, id_cita) != antes
    assert changed == (metodo != "get" and esperado < 300)
    if metodo == "get" and esperado == 200:
        visibles = ([r.get_json()["id_cita"]] if "datos" not in r.get_json()
                    else [c["id_cita"] for c in r.get_json()["datos"]])
        # Another patient or doctor may ask, but only sees their own citas (none here).
        assert visibles == ([] if actor in ("otro_paciente", "otro_medico") else [id_cita])
        assert len(auditoria(database, id_cita, "leer")) == len(visibles)
    if esperado == 403:
        assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'denegado' "
                               "AND ID_Usuario = %s", (quien.id_usuario,)) == 1


def test_get_unknown_is_404(client, gente):
    r = client.get("/citas/999999999", headers=gente.admin.headers)
    assert r.status_code == 404 and r.get_json()["codigo"] == "no_encontrado"


@pytest.mark.parametrize("url", ["/citas/medico/999999999", "/citas/paciente/999999999"])
def test_alias_unknown_owner_is_404(client, gente, url):
    assert client.get(url, headers=gente.recepcionista.headers).status_code == 404


def test_user_without_links_or_permission_is_403(client, make_user, make_role, make_cita, gente):
    sin_citas = make_user(make_role("pacientes:leer"))
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico)
    assert client.get("/citas", headers=sin_citas.headers).status_code == 403
    assert client.get(f"/citas/{id_cita}", headers=sin_citas.headers).status_code == 403
    r = reservar(client, sin_citas, gente.paciente.id_paciente, gente.medico.id_medico,
                 hora="15:00")
    assert r.status_code == 403


# ---------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------

@pytest.fixture
def agenda(gente, make_cita):
    """Seven citas over three days for two doctors and two patients, created out of order."""
    p, op = gente.paciente.id_paciente, gente.otro_paciente.id_paciente
    m, om = gente.medico.id_medico, gente.otro_medico.id_medico
    hechas = [
        make_cita(p, m, fecha=DIA + timedelta(days=2), hora="09:00"),
        make_cita(op, m, fecha=DIA, hora="12:00", estado="Confirmada"),
        make_cita(p, om, fecha=DIA, hora="08:00"),
        make_cita(op, m, fecha=DIA + timedelta(days=1), hora="16:30", estado="Cancelada"),
        make_cita(p, m, fecha=DIA, hora="10:00", estado="Confirmada"),
        make_cita(op, om, fecha=DIA + timedelta(days=2), hora="08:15"),
        make_cita(p, m, fecha=DIA - timedelta(days=1), hora="18:00", estado="Completada"),
    ]
    return hechas


def orden_bd(database, ids):
    rows = database.all("SELECT ID_Cita AS id FROM Cita WHERE ID_Cita IN (%s) ORDER BY Fecha, Hora,"
                        " ID_Cita" % ",".join(["%s"] * len(ids)), ids)
    return [r["id"] for r in rows]


def todas(client, url, headers):
    """Every page of a list, following `siguiente`; returns the items and the page count."""
    items, paginas, cursor = [], 0, None
    while True:
        r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        items += body["datos"]
        paginas += 1
        cursor = body["siguiente"]
        assert ("Link" in r.headers) == (cursor is not None)
        if cursor is None:
            return items, paginas


def test_list_pages_in_date_and_time_order(client, database, gente, agenda):
    m = gente.medico.id_medico
    items, paginas = todas(client, f"/citas?id_medico={m}&limite=2", gente.recepcionista.headers)
    mias = [c for c in agenda if database.scalar("SELECT `ID_Médico` FROM Cita WHERE ID_Cita = %s",
                                                 (c,)) == m]
    assert [c["id_cita"] for c in items] == orden_bd(database, mias)
    assert paginas == 3
    primero = items[0]
    assert set(primero) == {"id_cita", "fecha", "hora", "duracion_min", "estado", "motivo",
                            "id_paciente", "id_medico", "paciente", "medico", "creado_en"}
    assert primero["hora"] == "18:00" and primero["medico"]["id_medico"] == m
    r = client.get(f"/citas?id_medico={m}&total=1&limite=1", headers=gente.recepcionista.headers)
    assert r.get_json()["total"] == len(mias) == 5 and len(r.get_json()["datos"]) == 1


@pytest.mark.parametrize("filtro, esperado", [
    ("estado=Confirmada", {1, 4}),
    ("desde={d1}", {0, 3, 5}),
    ("hasta={d0}", {1, 2, 4, 6}),
    ("desde={d0}&hasta={d0}", {1, 2, 4}),
    ("id_paciente={p}", {0, 2, 4, 6}),
    ("id_paciente={p}&estado=Pendiente", {0, 2}),
])
def test_list_filters(client, gente, agenda, filtro, esperado):
    ids = {agenda[i] for i in range(7)}
    url = "/citas?limite=100&" + filtro.format(
        d0=DIA.isoformat(), d1=(DIA + timedelta(days=1)).isoformat(),
        p=gente.paciente.id_paciente)
    datos = client.get(url, headers=gente.admin.headers).get_json()["datos"]
    assert {c["id_cita"] for c in datos} & ids == {agenda[i] for i in esperado}


@pytest.mark.parametrize("actor, esperado", [
    ("paciente", {0, 2, 4, 6}),
    ("otro_paciente", {1, 3, 5}),
    ("medico", {0, 1, 3, 4, 6}),
    ("otro_medico", {2, 5}),
    ("recepcionista", {0, 1, 2, 3, 4, 5, 6}),
])
def test_list_is_scoped_to_the_caller(client, database, gente, agenda, actor, esperado):
    quien = getattr(gente, actor)
    datos, _ = todas(client, "/citas?limite=100", quien.headers)
    vistos = {c["id_cita"] for c in datos}
    if actor == "recepcionista":
        assert vistos >= set(agenda)
    else:
        assert vistos == {agenda[i] for i in esperado}
    for id_cita in agenda:
        leidas = [a for a in auditoria(database, id_cita, "leer")
                  if a["id_usuario"] == quien.id_usuario]
        assert len(leidas) == (1 if id_cita in vistos else 0)


@pytest.mark.parametrize("actor, url", [
    ("paciente", "/citas?id_paciente={op}"),
    ("medico", "/citas?id_medico={om}"),
    ("paciente", "/citas/paciente/{op}"),
    ("medico", "/citas/medico/{om}"),
])
def test_list_of_someone_else_is_403(client, gente, actor, url):
    url = url.format(op=gente.otro_paciente.id_paciente, om=gente.otro_medico.id_medico)
    r = client.get(url, headers=getattr(gente, actor).headers)
    assert r.status_code == 403 and r.get_json()["codigo"] == "prohibido"


def test_aliases_filter_like_the_list(client, gente, agenda):
    h = gente.recepcionista.headers
    m, p = gente.medico.id_medico, gente.paciente.id_paciente
    alias = client.get(f"/citas/medico/{m}?id_paciente={p}&estado=Pendiente", headers=h)
    lista = client.get(f"/citas?id_medico={m}&id_paciente={p}&estado=Pendiente", headers=h)
    assert alias.get_json() == lista.get_json()
    assert [c["id_cita"] for c in alias.get_json()["datos"]] == [agenda[0]]
    items, paginas = todas(client, f"/citas/paciente/{p}?limite=3", gente.paciente.headers)
    assert [c["id_cita"] for c in items] == [agenda[6], agenda[2], agenda[4], agenda[0]]
    assert paginas == 2


@pytest.mark.parametrize("query", ["limite=0", "limite=101", "estado=Borrada", "cursor=zzz",
                                   "desde=ayer", "id_medico=abc", "otro=1"])
def test_list_bad_query_is_400(client, gente, query):
    r = client.get(f"/citas?{query}", headers=gente.admin.headers)
    assert r.status_code == 400 and r.get_json()["codigo"] == "validacion"


def test_openapi_documents_the_citas_routes(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/citas"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/citas/{id_cita}"])
    assert "409" in paths["/citas"]["post"]["responses"]
    assert "409" in paths["/citas/{id_cita}/estado"]["post"]["responses"]
    assert set(paths["/citas/medico/{id_medico}"]) == {"get"}
    assert set(paths["/citas/paciente/{id_paciente}"]) == {"get"}


def test_hora_answers_without_seconds(client, gente, make_cita):
    id_cita = make_cita(gente.paciente.id_paciente, gente.medico.id_medico, hora="07:05:00")
    body = client.get(f"/citas/{id_cita}", headers=gente.paciente.headers).get_json()
    assert body["hora"] == "07:05"
    assert datetime.fromisoformat(body["creado_en"].replace("Z", "+00:00"))


def test_demo_citas_cover_every_state_without_overlaps(app, database, make_paciente, make_medico):
    import random

    from demo import demo_citas

    pacientes = [make_paciente() for _ in range(15)]
    medicos = [make_medico() for _ in range(3)]
    with app.app_context():
        n = demo_citas(pacientes, medicos, 200, random.Random(7))
        again = demo_citas(pacientes, medicos, 50, random.Random(8))
    marcas = ",".join(["%s"] * len(medicos))
    rows = database.all(f"SELECT Estado AS estado, COUNT(*) AS n FROM Cita WHERE `ID_Médico` IN "
                        f"({marcas}) GROUP BY Estado", medicos)
    assert sum(r["n"] for r in rows) == n + again and n >= 150
    assert {r["estado"] for r in rows} == set(ESTADOS)
    for id_medico in medicos:
        assert database.scalar(
            "SELECT COUNT(*) FROM Cita a JOIN Cita b ON a.`ID_Médico` = b.`ID_Médico` "
            "AND a.ID_Cita < b.ID_Cita AND a.Inicio < b.Fin AND a.Fin > b.Inicio "
            "WHERE a.`ID_Médico` = %s AND a.Estado <> 'Cancelada' AND b.Estado <> 'Cancelada'",
            (id_medico,)) == 0
    assert database.scalar(
        "SELECT COUNT(*) FROM Cita a JOIN Cita b ON a.ID_Paciente = b.ID_Paciente "
        "AND a.ID_Cita < b.ID_Cita AND a.Inicio < b.Fin AND a.Fin > b.Inicio "
        f"WHERE a.`ID_Médico` IN ({marcas}) AND a.Estado <> 'Cancelada' "
        "AND b.Estado <> 'Cancelada'", medicos) == 0
    # Every cita's history starts with Pendiente and ends in its current state.
    malas = database.scalar(
        "SELECT COUNT(*) FROM Cita c WHERE c.`ID_Médico` IN (%s) AND (c.Estado <> (SELECT e.Estado "
        "FROM Cita_Estado e WHERE e.ID_Cita = c.ID_Cita ORDER BY e.ID_Cita_Estado DESC LIMIT 1) "
        "OR 'Pendiente' <> (SELECT e.Estado FROM Cita_Estado e WHERE e.ID_Cita = c.ID_Cita "
        "ORDER BY e.ID_Cita_Estado LIMIT 1))" % marcas, medicos)
    assert malas == 0
