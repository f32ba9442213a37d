"""Diagnoses: creation from the cita, CIE-10 codes, lists, PATCH/DELETE, access and audit.

Also holds the clinical scenario and the role × endpoint matrix helpers that
test_tratamientos.py and test_medicamentos.py import.
"""

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

ACTORES = ("anonimo", "paciente_propio", "paciente_otro", "medico_autor", "medico_tratante",
           "medico_ajeno", "recepcionista", "admin")
# Who finds the scenario's rows in an unfiltered list (the others get an empty page).
VEN_LISTA = {"paciente_propio", "medico_autor", "medico_tratante", "admin"}
LECTURA = dict(anonimo=401, paciente_propio=200, paciente_otro=403, medico_autor=200,
               medico_tratante=200, medico_ajeno=403, recepcionista=403, admin=200)
LISTA = dict(LECTURA, paciente_otro=200, medico_ajeno=200)


def escritura(ok, quien=("medico_autor", "medico_tratante")):
    """Expected statuses of a write: `ok` for the doctors in `quien`, 403 for the rest."""
    return {a: 401 if a == "anonimo" else ok if a in quien else 403 for a in ACTORES}


@pytest.fixture
def clinica(client, make_paciente, make_user, make_cita):
    """A patient allergic to penicillin, their doctor, a cita, a diagnosis, a treatment and a
    prescription, all created through the API by that doctor."""
    id_paciente = make_paciente(alergias="Penicilina; polen de gramíneas")
    medico = make_user("medico")
    id_cita = make_cita(id_paciente, medico.id_medico)
    r = client.post("/diagnosticos", headers=medico.headers, json={
        "id_cita": id_cita, "descripcion": "Diabetes tipo 2 de reciente diagnóstico",
        "codigo_cie10": "E119"})
    assert r.status_code == 201, r.get_json()
    id_diagnostico = r.get_json()["id_diagnostico"]
    r = client.post("/tratamientos", headers=medico.headers, json={
        "id_diagnostico": id_diagnostico, "descripcion": "Dieta y antidiabético oral",
        "fecha_inicio": date.today().isoformat()})
    assert r.status_code == 201, r.get_json()
    id_tratamiento = r.get_json()["id_tratamiento"]
    r = client.post("/medicamentos", headers=medico.headers, json={
        "id_tratamiento": id_tratamiento, "nombre": "Metformina", "dosis": "850 mg",
        "frecuencia": "cada 12 horas", "via": "oral", "duracion_dias": 90})
    assert r.status_code == 201, r.get_json()
    return SimpleNamespace(id_paciente=id_paciente, medico=medico, id_cita=id_cita,
                           id_diagnostico=id_diagnostico, id_tratamiento=id_tratamiento,
                           id_medicamento=r.get_json()["id_medicamento"])


@pytest.fixture
def actor(clinica, make_user, make_cita):
    """The headers and user of each role of the matrix, relative to the scenario."""
    def make(nombre):
        if nombre == "anonimo":
            return SimpleNamespace(headers={}, id_usuario=None)
        if nombre == "medico_autor":
            return clinica.medico
        if nombre == "paciente_propio":
            return make_user("paciente", id_paciente=clinica.id_paciente)
        if nombre == "paciente_otro":
            return make_user("paciente")
        if nombre == "medico_tratante":
            user = make_user("medico")
            make_cita(clinica.id_paciente, user.id_medico, hora="12:00")
            return user
        if nombre == "medico_ajeno":
            return make_user("medico")
        return make_user(nombre)
    return make


def foto(database, tabla, id_paciente):
    """What a refused request must leave untouched: rows, versions and states of a table."""
    return database.one(f"SELECT COUNT(*) AS n, SUM(Version) AS versiones, "
                        f"GROUP_CONCAT(Estado ORDER BY 1) AS estados FROM {tabla} "
                        f"WHERE ID_Paciente = %s", (id_paciente,))


def run_matrix(client, database, clinica, actor, metodo, url, body, tabla, esperado, nombre):
    """Send one request as `nombre` and check status, body shape, table state and audit."""
    who = actor(nombre)
    antes = foto(database, tabla, clinica.id_paciente)
    url = url.format(**vars(clinica))
    body = body(clinica) if callable(body) else body
    r = client.open(url, method=metodo, json=body, headers=who.headers)
    assert r.status_code == esperado[nombre], (nombre, r.get_json())
    despues = foto(database, tabla, clinica.id_paciente)
    if r.status_code >= 400 or metodo == "GET":
        assert despues == antes
    else:
        assert despues != antes
    if r.status_code == 403:
        assert r.get_json()["codigo"] == "prohibido"
        assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s "
                               "AND Accion = 'denegado'", (who.id_usuario,)) == 1
    if r.status_code == 401:
        assert r.get_json()["codigo"] == "no_autenticado"
    if metodo == "GET" and r.status_code == 200:
        datos = r.get_json().get("datos")
        if datos is not None and "?" not in url:
            assert bool(datos) == (nombre in VEN_LISTA)
        leidos = database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                                 "Accion = 'leer' AND ID_Paciente = %s",
                                 (who.id_usuario, clinica.id_paciente))
        assert leidos >= (1 if datos is None or datos else 0)
        assert leidos == 0 or datos is None or datos
    return r


ENDPOINTS = [
    ("GET", "/diagnosticos", None, LISTA),
    ("GET", "/diagnosticos?id_paciente={id_paciente}", None, LECTURA),
    ("GET", "/diagnosticos/{id_diagnostico}", None, LECTURA),
    ("POST", "/diagnosticos", lambda c: {"id_cita": c.id_cita, "descripcion": "Control",
                                         "codigo_cie10": "I10"},
     escritura(201, quien=("medico_autor",))),
    ("POST", "/diagnosticos/crear", lambda c: {"id_cita": c.id_cita, "descripcion": "Control",
                                               "id_paciente": c.id_paciente},
     escritura(201, quien=("medico_autor",))),
    ("PATCH", "/diagnosticos/{id_diagnostico}", {"estado": "resuelto"},
     escritura(200, quien=("medico_autor",))),
    ("DELETE", "/diagnosticos/{id_diagnostico}", None, escritura(204, quien=("medico_autor",))),
]


@pytest.mark.parametrize("nombre", ACTORES)
@pytest.mark.parametrize("metodo, url, body, esperado", ENDPOINTS,
                         ids=[f"{m} {u}" for m, u, _, _ in ENDPOINTS])
def test_matrix(client, database, clinica, actor, metodo, url, body, esperado, nombre):
    run_matrix(client, database, clinica, actor, metodo, url, body, "`Diagnóstico`", esperado,
               nombre)


# ---------------------------------------------------------------------------
# Creation
# ---------------------------------------------------------------------------

@pytest.fixture
def consulta(make_paciente, make_user, make_cita):
    """A patient and a doctor with a cita together (no clinical rows yet)."""
    id_paciente = make_paciente()
    medico = make_user("medico")
    return SimpleNamespace(id_paciente=id_paciente, medico=medico,
                           id_cita=make_cita(id_paciente, medico.id_medico))


def crear(client, consulta, **campos):
    body = {"id_cita": consulta.id_cita, "descripcion": "Hipertensión arterial", **campos}
    return client.post("/diagnosticos", json=body, headers=consulta.medico.headers)


def test_create_derives_everything_from_the_cita(client, database, consulta):
    r = crear(client, consulta, codigo_cie10="I10")
    assert r.status_code == 201
    body = r.get_json()
    id_historial = database.scalar("SELECT ID_Historial FROM `Historial_Médico` "
                                   "WHERE ID_Paciente = %s", (consulta.id_paciente,))
    assert body == {
        "id_diagnostico": body["id_diagnostico"], "descripcion": "Hipertensión arterial",
        "codigo_cie10": "I10", "descripcion_cie10": "Hipertensión esencial (primaria)",
        "fecha": date.today().isoformat(), "estado": "activo", "id_cita": consulta.id_cita,
        "id_historial": id_historial, "id_paciente": consulta.id_paciente,
        "id_medico": consulta.medico.id_medico, "creado_en": body["creado_en"],
        "actualizado_en": body["actualizado_en"]}
    assert body["creado_en"].endswith("Z")
    assert r.headers["Location"] == f"/diagnosticos/{body['id_diagnostico']}"
    assert r.headers["ETag"] == f'"{body["id_diagnostico"]}-1"'
    row = database.one("SELECT ID_Paciente, `ID_Médico` AS m, ID_Historial, Codigo_CIE10, Estado "
                       "FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s", (body["id_diagnostico"],))
    assert row == {"ID_Paciente": consulta.id_paciente, "m": consulta.medico.id_medico,
                   "ID_Historial": id_historial, "Codigo_CIE10": "I10", "Estado": "activo"}
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'crear' AND "
                           "Recurso = 'diagnostico' AND ID_Recurso = %s AND ID_Paciente = %s",
                           (str(body["id_diagnostico"]), consulta.id_paciente)) == 1


@pytest.mark.parametrize("codigo, guardado", [("E11.9", "E11.9"), ("E119", "E11.9"),
                                              ("e11.9", "E11.9"), ("E11", "E11"), (None, None)])
def test_create_accepts_codes_with_or_without_dot(client, database, consulta, codigo, guardado):
    r = crear(client, consulta, codigo_cie10=codigo)
    assert r.status_code == 201
    assert r.get_json()["codigo_cie10"] == guardado
    assert database.scalar("SELECT Codigo_CIE10 FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s",
                           (r.get_json()["id_diagnostico"],)) == guardado


@pytest.mark.parametrize("codigo", ["E11.99", "XYZ", "A00-B99", "", "E1"])
def test_create_unknown_cie10_is_400(client, database, consulta, codigo):
    r = crear(client, consulta, codigo_cie10=codigo)
    if codigo == "":
        # An empty code means "no code".
        assert r.status_code == 201
        return
    assert r.status_code == 400
    assert r.get_json()["detalles"] == [{"campo": "codigo_cie10",
                                         "mensaje": "no existe en el catálogo CIE-10"}]
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` WHERE ID_Cita = %s",
                           (consulta.id_cita,)) == 0


@pytest.mark.parametrize("body, campo", [
    ({"descripcion": ""}, "descripcion"),
    ({"descripcion": "x" * 2001}, "descripcion"),
    ({"fecha": "2020-02-30"}, "fecha"),
    ({"id_paciente": 1}, "id_paciente"),          # never taken from the body
    ({"id_medico": 1}, "id_medico"),
    ({"id_cita": "1"}, "id_cita"),
])
def test_create_validation(client, database, consulta, body, campo):
    r = client.post("/diagnosticos", headers=consulta.medico.headers,
                    json={"id_cita": consulta.id_cita, "descripcion": "x", **body})
    assert r.status_code == 400
    assert campo in [d["campo"] for d in r.get_json()["detalles"]]
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` WHERE ID_Cita = %s",
                           (consulta.id_cita,)) == 0


def test_create_fecha_rules(client, database, consulta):
    manana = (date.today() + timedelta(days=1)).isoformat()
    r = crear(client, consulta, fecha=manana)
    assert r.status_code == 400
    assert r.get_json()["detalles"][0]["campo"] == "fecha"
    r = crear(client, consulta, fecha="2023-03-01")
    assert r.status_code == 201
    assert r.get_json()["fecha"] == "2023-03-01"


@pytest.mark.parametrize("estado, status", [("Cancelada", 409), ("Completada", 201),
                                            ("Confirmada", 201), ("No_Asistio", 201)])
def test_create_by_cita_state(client, database, make_cita, consulta, estado, status):
    id_cita = make_cita(consulta.id_paciente, consulta.medico.id_medico, hora="16:00",
                        fecha=date.today() - timedelta(days=3), estado=estado)
    r = client.post("/diagnosticos", headers=consulta.medico.headers,
                    json={"id_cita": id_cita, "descripcion": "Revisión"})
    assert r.status_code == status
    if status == 409:
        assert r.get_json()["codigo"] == "conflicto"
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` WHERE ID_Cita = %s",
                           (id_cita,)) == (1 if status == 201 else 0)


def test_create_unknown_cita_is_404(client, consulta):
    r = client.post("/diagnosticos", headers=consulta.medico.headers,
                    json={"id_cita": 999999999, "descripcion": "x"})
    assert r.status_code == 404


def test_create_alias_checks_the_patient(client, database, make_paciente, consulta):
    r = client.post("/diagnosticos/crear", headers=consulta.medico.headers, json={
        "id_cita": consulta.id_cita, "descripcion": "x", "id_paciente": make_paciente()})
    assert r.status_code == 400
    assert r.get_json()["detalles"][0]["campo"] == "id_paciente"
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` WHERE ID_Cita = %s",
                           (consulta.id_cita,)) == 0
    r = client.post("/diagnosticos/crear", headers=consulta.medico.headers, json={
        "id_cita": consulta.id_cita, "descripcion": "x", "id_paciente": consulta.id_paciente,
        "codigo_cie10": "J459"})
    assert r.status_code == 201
    assert r.get_json()["id_paciente"] == consulta.id_paciente
    assert r.get_json()["codigo_cie10"] == "J45.9"


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def test_get_includes_tratamientos_and_etag(client, clinica):
    r = client.get(f"/diagnosticos/{clinica.id_diagnostico}", headers=clinica.medico.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert r.headers["ETag"] == f'"{clinica.id_diagnostico}-1"'
    assert r.headers["Cache-Control"] == "no-store"
    assert body["codigo_cie10"] == "E11.9"
    assert [t["id_tratamiento"] for t in body["tratamientos"]] == [clinica.id_tratamiento]
    assert body["tratamientos"][0]["descripcion"] == "Dieta y antidiabético oral"


def test_get_unknown_is_404(client, clinica):
    assert client.get("/diagnosticos/999999999", headers=clinica.medico.headers).status_code == 404


def test_break_the_glass(client, database, clinica, make_user):
    ajeno = make_user("medico")
    url = f"/diagnosticos/{clinica.id_diagnostico}"
    assert client.get(url, headers={**ajeno.headers, "X-Motivo-Acceso": "corto"}).status_code == 403
    r = client.get(url, headers={**ajeno.headers, "X-Motivo-Acceso": "Urgencias: paciente inconsciente"})
    assert r.status_code == 200
    assert database.scalar("SELECT Motivo FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'acceso_emergencia'", (ajeno.id_usuario,)) == \
        "Urgencias: paciente inconsciente"
    # Reading is not writing: break-the-glass never allows a change.
    r = client.patch(url, json={"descripcion": "x"},
                     headers={**ajeno.headers, "X-Motivo-Acceso": "Urgencias: paciente inconsciente"})
    assert r.status_code == 403


def test_list_filters_and_pages(client, database, consulta, make_user, make_cita):
    fechas = ["2024-01-10", "2024-02-10", "2024-03-10"]
    ids = [crear(client, consulta, fecha=f, codigo_cie10=c).get_json()["id_diagnostico"]
           for f, c in zip(fechas, ["E11.9", "E10.9", "I10"])]
    headers = consulta.medico.headers
    base = {"id_paciente": consulta.id_paciente}

    def listar(**params):
        r = client.get("/diagnosticos", query_string={**base, **params}, headers=headers)
        assert r.status_code == 200, r.get_json()
        return r

    assert [d["id_diagnostico"] for d in listar().get_json()["datos"]] == ids[::-1]
    assert [d["id_diagnostico"] for d in listar(codigo_cie10="E11").get_json()["datos"]] == [ids[0]]
    assert [d["id_diagnostico"] for d in listar(codigo_cie10="E109").get_json()["datos"]] == [ids[1]]
    assert [d["id_diagnostico"] for d in listar(desde="2024-02-01", hasta="2024-02-28")
            .get_json()["datos"]] == [ids[1]]
    assert listar(id_medico=consulta.medico.id_medico + 100000).get_json()["datos"] == []
    first = listar(limite=2, total=1)
    assert first.get_json()["total"] == 3
    assert [d["id_diagnostico"] for d in first.get_json()["datos"]] == [ids[2], ids[1]]
    assert 'rel="next"' in first.headers["Link"]
    second = listar(limite=2, cursor=first.get_json()["siguiente"])
    assert [d["id_diagnostico"] for d in second.get_json()["datos"]] == [ids[0]]
    assert second.get_json()["siguiente"] is None
    client.delete(f"/diagnosticos/{ids[0]}", headers=headers)
    assert [d["id_diagnostico"] for d in listar(estado="anulado").get_json()["datos"]] == [ids[0]]
    # One audit row per diagnosis shown.
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Recurso = 'diagnostico' AND "
                           "Accion = 'leer' AND ID_Recurso = %s", (str(ids[1]),)) >= 4


@pytest.mark.parametrize("params", [{"limite": 0}, {"limite": 101}, {"cursor": "nope"},
                                    {"estado": "borrado"}, {"codigo_cie10": "XX"},
                                    {"desde": "2024-13-01"}, {"id_paciente": "abc"}])
def test_list_bad_query_is_400(client, clinica, params):
    r = client.get("/diagnosticos", query_string=params, headers=clinica.medico.headers)
    assert r.status_code == 400


@pytest.mark.parametrize("fin", ["cita cancelada", "cita antigua", "médico de baja"])
def test_authorship_gives_no_access_once_care_ends(client, database, clinica, app, fin):
    """Having written a diagnosis is no right to read it: the care relation is what counts,
    and it ends with the last cita's cancellation, after CUIDADO_DIAS, or with the doctor's
    deactivation."""
    if fin == "cita cancelada":
        database.execute("UPDATE Cita SET Estado = 'Cancelada' WHERE ID_Cita = %s",
                         (clinica.id_cita,))
    elif fin == "cita antigua":
        dias = app.config["CUIDADO_DIAS"] + 1
        database.execute("UPDATE Cita SET Fecha = CURRENT_DATE - INTERVAL %s DAY "
                         "WHERE ID_Cita = %s", (dias, clinica.id_cita))
    else:
        database.execute("UPDATE `Médico` SET Activo = FALSE WHERE `ID_Médico` = %s",
                         (clinica.medico.id_medico,))
    headers = clinica.medico.headers
    assert client.get("/diagnosticos", headers=headers).get_json()["datos"] == []
    for url in (f"/diagnosticos/{clinica.id_diagnostico}", f"/historial/paciente/"
                f"{clinica.id_paciente}", f"/diagnosticos?id_paciente={clinica.id_paciente}"):
        r = client.get(url, headers=headers)
        assert r.status_code == 403, url
    r = client.patch(f"/diagnosticos/{clinica.id_diagnostico}", json={"descripcion": "x"},
                     headers=headers)
    assert r.status_code == 403
    assert database.scalar("SELECT `Descripción` FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s",
                           (clinica.id_diagnostico,)) != "x"
    # One day inside the window is still care.
    if fin == "cita antigua":
        database.execute("UPDATE Cita SET Fecha = CURRENT_DATE - INTERVAL %s DAY "
                         "WHERE ID_Cita = %s", (app.config["CUIDADO_DIAS"] - 1, clinica.id_cita))
        assert client.get(f"/diagnosticos/{clinica.id_diagnostico}",
                          headers=headers).status_code == 200


# ---------------------------------------------------------------------------
# Changes
# ---------------------------------------------------------------------------

def test_patch(client, database, clinica):
    url, headers = f"/diagnosticos/{clinica.id_diagnostico}", clinica.medico.headers
    r = client.patch(url, json={"descripcion": "x"}, headers={**headers, "If-Match": '"1-99"'})
    assert r.status_code == 412
    r = client.patch(url, json={"estado": "resuelto", "codigo_cie10": "E118"},
                     headers={**headers, "If-Match": f'"{clinica.id_diagnostico}-1"'})
    assert r.status_code == 200
    assert r.headers["ETag"] == f'"{clinica.id_diagnostico}-2"'
    assert (r.get_json()["estado"], r.get_json()["codigo_cie10"]) == ("resuelto", "E11.8")
    assert database.one("SELECT Estado, Codigo_CIE10, Version FROM `Diagnóstico` WHERE "
                        "`ID_Diagnóstico` = %s", (clinica.id_diagnostico,)) == {
        "Estado": "resuelto", "Codigo_CIE10": "E11.8", "Version": 2}
    for vacio in (None, ""):
        r = client.patch(url, json={"codigo_cie10": vacio}, headers=headers)
        assert r.status_code == 200 and r.get_json()["codigo_cie10"] is None


@pytest.mark.parametrize("body, campo", [
    ({}, "cuerpo"), ({"estado": "anulado"}, "estado"), ({"codigo_cie10": "Q99.99"}, "codigo_cie10"),
    ({"fecha": "2999-01-01"}, "fecha"), ({"descripcion": None}, "descripcion"),
    ({"id_paciente": 3}, "id_paciente"),
])
def test_patch_validation(client, database, clinica, body, campo):
    r = client.patch(f"/diagnosticos/{clinica.id_diagnostico}", json=body,
                     headers=clinica.medico.headers)
    assert r.status_code == 400
    assert r.get_json()["detalles"][0]["campo"] == campo
    assert database.scalar("SELECT Version FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s",
                           (clinica.id_diagnostico,)) == 1


def test_delete_anuls_and_keeps_the_row(client, database, clinica, make_user):
    url, headers = f"/diagnosticos/{clinica.id_diagnostico}", clinica.medico.headers
    r = client.delete(url, headers=headers)
    assert r.status_code == 204 and r.data == b""
    assert database.scalar("SELECT Estado FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s",
                           (clinica.id_diagnostico,)) == "anulado"
    for who in (clinica.medico, make_user("paciente", id_paciente=clinica.id_paciente)):
        r = client.get(url, headers=who.headers)
        assert r.status_code == 200 and r.get_json()["estado"] == "anulado"
    assert client.delete(url, headers=headers).status_code == 204
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'anular' AND "
                           "Recurso = 'diagnostico' AND ID_Recurso = %s",
                           (str(clinica.id_diagnostico),)) == 1
    r = client.patch(url, json={"descripcion": "x"}, headers=headers)
    assert r.status_code == 409
    r = client.post("/tratamientos", headers=headers, json={
        "id_diagnostico": clinica.id_diagnostico, "descripcion": "x", "fecha_inicio": "2024-01-01"})
    assert r.status_code == 409


def test_demo_clinico(app, database, make_paciente, make_medico, make_cita):
    import random

    from demo import CASOS_DEMO, demo_clinico

    id_paciente, id_medico = make_paciente(alergias="amoxicilina"), make_medico()
    citas = []
    for i in range(30):
        fecha = date.today() - timedelta(days=10 + i)
        estado = "Cancelada" if i % 5 == 0 else "Completada"
        citas.append({"id_cita": make_cita(id_paciente, id_medico, fecha=fecha, estado=estado),
                      "id_paciente": id_paciente, "id_medico": id_medico, "fecha": fecha,
                      "estado": estado})
    with app.app_context():
        creados = demo_clinico(random.Random(7), citas, proporcion=1)
        assert demo_clinico(random.Random(7), citas, proporcion=1) == 0
    assert creados == 24
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` WHERE ID_Paciente = %s",
                           (id_paciente,)) == 24
    codigos = {r["Codigo_CIE10"] for r in database.all(
        "SELECT d.Codigo_CIE10 FROM `Diagnóstico` d JOIN CIE10 c ON c.Codigo = d.Codigo_CIE10 "
        "WHERE d.ID_Paciente = %s", (id_paciente,))}
    assert codigos and codigos <= {c[0] for c in CASOS_DEMO}
    assert database.scalar("SELECT COUNT(*) FROM Tratamiento WHERE ID_Paciente = %s",
                           (id_paciente,)) == 24
    assert database.scalar("SELECT COUNT(*) FROM Medicamento WHERE ID_Paciente = %s AND "
                           "Nombre = 'Amoxicilina'", (id_paciente,)) == 0
    assert database.scalar("SELECT COUNT(*) FROM `Diagnóstico` d JOIN Cita c ON "
                           "c.ID_Cita = d.ID_Cita WHERE d.ID_Paciente = %s AND "
                           "c.Estado = 'Cancelada'", (id_paciente,)) == 0
