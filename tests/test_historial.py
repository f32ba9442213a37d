"""The nested medical history: content, a fixed number of SQL statements, access and audit."""

from datetime import date, timedelta

import pytest
from flask import g

import db


@pytest.fixture
def sql_count(app, monkeypatch):
    """Count the SQL statements of each request and answer them in `X-SQL-Count` (tests only):
    every statement of db.py's helpers goes through db._cursor."""
    cursor = db._cursor

    def counting_cursor(sql, params):
        g.sql_count = g.get("sql_count", 0) + 1
        return cursor(sql, params)

    def start():
        g.sql_count = 0

    def finish(response):
        response.headers["X-SQL-Count"] = str(g.get("sql_count", -1))
        return response

    monkeypatch.setattr(db, "_cursor", counting_cursor)
    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request_funcs.setdefault(None, []).insert(0, finish)
    yield
    app.before_request_funcs[None].remove(start)
    app.after_request_funcs[None].remove(finish)


@pytest.fixture
def registros(database, make_cita):
    """Create `n` citas, each with a diagnosis, a treatment and a prescription; returns ids."""
    def make(id_paciente, id_medico, n, desde=400):
        id_historial = database.scalar(
            "SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s", (id_paciente,))
        hechos = []
        for i in range(n):
            fecha = date.today() - timedelta(days=desde - i)
            id_cita = make_cita(id_paciente, id_medico, fecha=fecha, estado="Completada")
            id_diagnostico = database.execute(
                "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, ID_Historial, "
                "ID_Cita, ID_Paciente, `ID_Médico`) VALUES (%s, 'I10', %s, %s, %s, %s, %s)",
                (f"Hipertensión {i}", fecha, id_historial, id_cita, id_paciente, id_medico))
            id_tratamiento = database.execute(
                "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, `ID_Diagnóstico`, "
                "ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s)",
                (f"Control {i}", fecha, id_diagnostico, id_paciente, id_medico))
            id_medicamento = database.execute(
                "INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, ID_Tratamiento, "
                "ID_Paciente, `ID_Médico`) VALUES ('Enalapril', '10 mg', 'cada 24 horas', 'oral', "
                "%s, %s, %s)", (id_tratamiento, id_paciente, id_medico))
            hechos.append((id_cita, id_diagnostico, id_tratamiento, id_medicamento))
        return hechos
    return make


def test_nested_timeline_newest_first(client, database, make_user, registros):
    yo = make_user("paciente")
    medico = make_user("medico")
    hechos = registros(yo.id_paciente, medico.id_medico, 3)
    id_diagnostico = hechos[2][1]
    segundo = database.execute(
        "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, Estado, `ID_Diagnóstico`, "
        "ID_Paciente, `ID_Médico`) VALUES ('Dieta', %s, 'suspendido', %s, %s, %s)",
        (date.today(), id_diagnostico, yo.id_paciente, medico.id_medico))
    r = client.get(f"/historial/paciente/{yo.id_paciente}", headers=yo.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["paciente"]["id_paciente"] == yo.id_paciente and "edad" in body["paciente"]
    historial = body["historial"]
    assert set(historial) == {"id_historial", "id_paciente", "fecha_creacion", "antecedentes"}
    assert r.headers["ETag"] == f'"{historial["id_historial"]}-1"'
    assert [c["id_cita"] for c in body["citas"]] == [h[0] for h in reversed(hechos)]
    assert body["citas"][0]["medico"]["id_medico"] == medico.id_medico
    assert [d["id_diagnostico"] for d in body["diagnosticos"]] == [h[1] for h in reversed(hechos)]
    primero = body["diagnosticos"][0]
    assert primero["codigo_cie10"] == "I10" and primero["descripcion"] == "Hipertensión 2"
    assert {"estado", "fecha", "id_cita", "id_historial", "id_medico", "creado_en",
            "descripcion_cie10"} <= set(primero)
    assert [t["id_tratamiento"] for t in primero["tratamientos"]] == [segundo, hechos[2][2]]
    assert primero["tratamientos"][0]["medicamentos"] == []
    medicamento = primero["tratamientos"][1]["medicamentos"][0]
    assert medicamento["id_medicamento"] == hechos[2][3] and medicamento["dosis"] == "10 mg"
    assert medicamento["via"] == "oral" and "_version" not in medicamento
    alias = client.get(f"/pacientes/{yo.id_paciente}/historial", headers=yo.headers)
    assert alias.status_code == 200 and alias.get_json() == body


def test_statement_count_does_not_grow_with_the_record(client, make_user, make_paciente,
                                                       make_cita, registros, sql_count):
    medico = make_user("medico")
    pequeño, grande = make_paciente(), make_paciente()
    registros(pequeño, medico.id_medico, 2)
    registros(grande, medico.id_medico, 50, desde=800)
    for id_paciente, hora in ((pequeño, "10:00"), (grande, "11:00")):
        make_cita(id_paciente, medico.id_medico, hora=hora)  # the next visit: under care
    cuentas = {}
    # Another history read first: the session is remembered and the cache generation checked
    # (once a second) before the two measured requests.
    otro = make_paciente()
    make_cita(otro, medico.id_medico, hora="12:00")
    assert client.get(f"/historial/paciente/{otro}", headers=medico.headers).status_code == 200
    for id_paciente, n in ((pequeño, 2), (grande, 50)):
        r = client.get(f"/historial/paciente/{id_paciente}", headers=medico.headers)
        assert r.status_code == 200
        assert len(r.get_json()["diagnosticos"]) == n
        cuentas[n] = int(r.headers["X-SQL-Count"])
    assert cuentas[2] == cuentas[50] > 0


# ---------------------------------------------------------------------------
# Access rules and audit
# ---------------------------------------------------------------------------

def ultima_auditoria(database, id_usuario):
    return database.one("SELECT Accion, Recurso, ID_Paciente, Motivo FROM Auditoria "
                        "WHERE ID_Usuario = %s ORDER BY ID_Auditoria DESC LIMIT 1", (id_usuario,))


@pytest.mark.parametrize("ruta", ["/historial/paciente/{id}", "/pacientes/{id}/historial"])
def test_clinical_read_rules(client, database, make_user, make_paciente, make_cita, ruta):
    id_paciente = make_paciente()
    url = ruta.format(id=id_paciente)
    assert client.get(url).status_code == 401

    for rol in ("recepcionista", "paciente", "medico"):
        actor = make_user(rol)
        r = client.get(url, headers=actor.headers)
        assert r.status_code == 403, rol
        assert ultima_auditoria(database, actor.id_usuario)["Accion"] == "denegado"

    admin = make_user("admin")
    assert client.get(url, headers=admin.headers).status_code == 200
    assert ultima_auditoria(database, admin.id_usuario) == {
        "Accion": "leer", "Recurso": "historial", "ID_Paciente": id_paciente, "Motivo": None}

    tratante = make_user("medico")
    make_cita(id_paciente, tratante.id_medico)
    assert client.get(url, headers=tratante.headers).status_code == 200

    cancelado = make_user("medico")
    make_cita(id_paciente, cancelado.id_medico, hora="12:00", estado="Cancelada")
    assert client.get(url, headers=cancelado.headers).status_code == 403


def test_break_the_glass_needs_a_reason_and_is_audited(client, database, make_user,
                                                       make_paciente):
    id_paciente = make_paciente()
    medico = make_user("medico")
    url = f"/historial/paciente/{id_paciente}"
    for motivo in ("", "urgente", " " * 12 + "corto"):
        r = client.get(url, headers={**medico.headers, "X-Motivo-Acceso": motivo})
        assert r.status_code == 403, motivo
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'acceso_emergencia'", (medico.id_usuario,)) == 0
    motivo = "Parada cardiaca en urgencias"
    r = client.get(url, headers={**medico.headers, "X-Motivo-Acceso": motivo})
    assert r.status_code == 200
    rows = database.all("SELECT Accion, Recurso, ID_Paciente, Motivo FROM Auditoria "
                        "WHERE ID_Usuario = %s AND ID_Solicitud = %s ORDER BY ID_Auditoria",
                        (medico.id_usuario, r.headers["X-Request-ID"]))
    assert [(a["Accion"], a["ID_Paciente"]) for a in rows] == [
        ("acceso_emergencia", id_paciente), ("leer", id_paciente)]
    assert rows[0]["Motivo"] == motivo
    # Break-the-glass reads, it never writes.
    id_historial = r.get_json()["historial"]["id_historial"]
    r = client.patch(f"/historial/{id_historial}", json={"antecedentes": "x"},
                     headers={**medico.headers, "X-Motivo-Acceso": motivo})
    assert r.status_code == 403


def test_missing_patient_is_404(client, make_user):
    admin = make_user("admin")
    assert client.get("/historial/paciente/2000000000", headers=admin.headers).status_code == 404
    assert client.get("/historial/2000000000", headers=admin.headers).status_code == 404


# ---------------------------------------------------------------------------
# POST and PATCH
# ---------------------------------------------------------------------------

def test_post_is_idempotent(client, database, make_user, make_paciente):
    recepcion = make_user("recepcionista")
    id_paciente = make_paciente()
    existente = database.scalar(
        "SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s", (id_paciente,))
    r = client.post("/historial", json={"id_paciente": id_paciente}, headers=recepcion.headers)
    assert r.status_code == 200 and r.get_json()["id_historial"] == existente
    database.execute("DELETE FROM `Historial_Médico` WHERE ID_Paciente = %s", (id_paciente,))
    r = client.post("/historial", json={"id_paciente": id_paciente}, headers=recepcion.headers)
    assert r.status_code == 201
    nuevo = r.get_json()["id_historial"]
    assert r.headers["Location"] == f"/historial/{nuevo}"
    assert r.get_json()["fecha_creacion"] == date.today().isoformat()
    r = client.post("/historial", json={"id_paciente": id_paciente}, headers=recepcion.headers)
    assert r.status_code == 200 and r.get_json()["id_historial"] == nuevo
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1


@pytest.mark.parametrize("rol, status", [("paciente", 403), ("medico", 403), ("admin", 200),
                                         ("recepcionista", 200)])
def test_post_roles(client, make_user, make_paciente, rol, status):
    r = client.post("/historial", json={"id_paciente": make_paciente()},
                    headers=make_user(rol).headers)
    assert r.status_code == status


def test_post_unknown_patient_and_bad_body(client, make_user):
    admin = make_user("admin")
    assert client.post("/historial", json={"id_paciente": 2000000000},
                       headers=admin.headers).status_code == 404
    r = client.post("/historial", json={"id_paciente": "1"}, headers=admin.headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "id_paciente"
    assert client.post("/historial", json={}, headers={}).status_code == 401


def test_patch_antecedentes_by_the_treating_doctor(client, database, make_user, make_paciente,
                                                   make_cita):
    id_paciente = make_paciente()
    tratante = make_user("medico")
    make_cita(id_paciente, tratante.id_medico)
    id_historial = database.scalar(
        "SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s", (id_paciente,))
    r = client.get(f"/historial/{id_historial}", headers=tratante.headers)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    r = client.patch(f"/historial/{id_historial}", json={"antecedentes": "Padre diabético"},
                     headers={**tratante.headers, "If-Match": etag})
    assert r.status_code == 200 and r.get_json()["antecedentes"] == "Padre diabético"
    assert r.headers["ETag"] == f'"{id_historial}-2"'
    r = client.patch(f"/historial/{id_historial}", json={"antecedentes": "Otra cosa"},
                     headers={**tratante.headers, "If-Match": etag})
    assert r.status_code == 412
    assert database.one("SELECT Antecedentes, Version FROM `Historial_Médico` "
                        "WHERE ID_Historial = %s", (id_historial,)) == {
        "Antecedentes": "Padre diabético", "Version": 2}
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'actualizar' AND Recurso = 'historial'",
                           (tratante.id_usuario,)) == 1
    for rol in ("medico", "admin", "recepcionista", "paciente"):
        r = client.patch(f"/historial/{id_historial}", json={"antecedentes": "no"},
                         headers=make_user(rol).headers)
        assert r.status_code == 403, rol
    propio = make_user("paciente", id_paciente=id_paciente)
    assert client.patch(f"/historial/{id_historial}", json={"antecedentes": "no"},
                        headers=propio.headers).status_code == 403
    assert client.get(f"/historial/{id_historial}", headers=propio.headers).status_code == 200
    assert database.scalar("SELECT Version FROM `Historial_Médico` WHERE ID_Historial = %s",
                           (id_historial,)) == 2
    r = client.patch(f"/historial/{id_historial}", json={"antecedentes": "x" * 16001},
                     headers=tratante.headers)
    assert r.status_code == 400
