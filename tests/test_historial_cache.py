"""The nested history served from the cache under the patient's Version_Historia: every write
that changes the body shows on the next read, in every process, whoever wrote it; the access
check and the audit row come before any cached byte."""

import threading
from datetime import date, timedelta

import pytest

import app as app_module
import cache as cache_module

MOTIVO = {"X-Motivo-Acceso": "Urgencia en guardia, sin tratante"}


@pytest.fixture
def historia(database, make_user, make_cita):
    """A patient with two recent citas of one doctor (under care), each with a diagnosis, a
    treatment and a prescription; returns (paciente, medico, ids)."""
    yo = make_user("paciente")
    medico = make_user("medico")
    id_historial = database.scalar(
        "SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s", (yo.id_paciente,))
    ids = []
    for i in range(2):
        fecha = date.today() - timedelta(days=10 - i)
        id_cita = make_cita(yo.id_paciente, medico.id_medico, fecha=fecha, estado="Completada")
        id_diagnostico = database.execute(
            "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, ID_Historial, ID_Cita, "
            "ID_Paciente, `ID_Médico`) VALUES (%s, 'I10', %s, %s, %s, %s, %s)",
            (f"Hipertensión {i}", fecha, id_historial, id_cita, yo.id_paciente, medico.id_medico))
        id_tratamiento = database.execute(
            "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, `ID_Diagnóstico`, ID_Paciente, "
            "`ID_Médico`) VALUES (%s, %s, %s, %s, %s)",
            (f"Control {i}", fecha, id_diagnostico, yo.id_paciente, medico.id_medico))
        id_medicamento = database.execute(
            "INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, ID_Tratamiento, ID_Paciente, "
            "`ID_Médico`) VALUES ('Enalapril', '10 mg', 'cada 24 horas', 'oral', %s, %s, %s)",
            (id_tratamiento, yo.id_paciente, medico.id_medico))
        ids.append({"cita": id_cita, "diagnostico": id_diagnostico,
                    "tratamiento": id_tratamiento, "medicamento": id_medicamento})
    return yo, medico, ids


@pytest.fixture(scope="module")
def otro_worker():
    """A second app in this process: its own SimpleCache, as another gunicorn worker has."""
    return app_module.create_app({"TESTING": True})


def leer(client, yo, headers=None):
    r = client.get(f"/historial/paciente/{yo.id_paciente}", headers=headers or yo.headers)
    assert r.status_code == 200, r.get_json()
    return r


def audit_count(database, id_paciente):
    return database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Recurso = 'historial' "
                           "AND Accion = 'leer' AND ID_Paciente = %s", (id_paciente,))


def test_a_cached_read_is_the_same_bytes_audited_again(app, client, database, historia):
    yo, _, _ = historia
    antes = audit_count(database, yo.id_paciente)
    first, second = leer(client, yo), leer(client, yo)
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    version = database.scalar("SELECT Version FROM Version_Historia WHERE ID_Paciente = %s",
                              (yo.id_paciente,))
    assert version >= 8  # two each of cita, diagnosis, treatment, prescription
    with app.app_context():
        assert cache_module.cache.get(f"historia:{yo.id_paciente}:{version}") is not None
    # Every read leaves its audit row, the cached one too.
    assert audit_count(database, yo.id_paciente) == antes + 2
    body = second.get_json()
    assert len(body["citas"]) == 2 and len(body["diagnosticos"]) == 2
    assert body["diagnosticos"][0]["tratamientos"][0]["medicamentos"][0]["dosis"] == "10 mg"


# Each write changes the body; none goes through the API, so only the triggers can tell.
CAMBIOS = {
    "motivo de una cita": ("UPDATE Cita SET Motivo = 'Cambiado' WHERE ID_Cita = {cita}",
                           lambda b: b["citas"][0]["motivo"] == "Cambiado"),
    "estado de una cita": ("UPDATE Cita SET Estado = 'Cancelada' WHERE ID_Cita = {cita}",
                           lambda b: b["citas"][0]["estado"] == "Cancelada"),
    "cita borrada con lo suyo": ("DELETE FROM Medicamento WHERE ID_Medicamento = {medicamento0}; "
                                 "DELETE FROM Tratamiento WHERE ID_Tratamiento = {tratamiento0}; "
                                 "DELETE FROM `Diagnóstico` WHERE `ID_Diagnóstico` = "
                                 "{diagnostico0}; "
                                 "DELETE FROM Cita_Estado WHERE ID_Cita = {cita0}; "
                                 "DELETE FROM Cita WHERE ID_Cita = {cita0}",
                                 lambda b: len(b["citas"]) == len(b["diagnosticos"]) == 1),
    "diagnóstico": ("UPDATE `Diagnóstico` SET `Descripción` = 'Cambiado' "
                    "WHERE `ID_Diagnóstico` = {diagnostico}",
                    lambda b: b["diagnosticos"][0]["descripcion"] == "Cambiado"),
    "tratamiento": ("UPDATE Tratamiento SET Estado = 'suspendido' "
                    "WHERE ID_Tratamiento = {tratamiento}",
                    lambda b: b["diagnosticos"][0]["tratamientos"][0]["estado"] == "suspendido"),
    "receta nueva": ("INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, ID_Tratamiento, "
                     "ID_Paciente, `ID_Médico`) SELECT 'Losartán', '50 mg', 'cada 24 horas', "
                     "'oral', ID_Tratamiento, ID_Paciente, `ID_Médico` FROM Tratamiento "
                     "WHERE ID_Tratamiento = {tratamiento}",
                     lambda b: len(b["diagnosticos"][0]["tratamientos"][0]["medicamentos"]) == 2),
    "receta borrada": ("DELETE FROM Medicamento WHERE ID_Medicamento = {medicamento}",
                       lambda b: b["diagnosticos"][0]["tratamientos"][0]["medicamentos"] == []),
    "nombre del paciente": ("UPDATE Paciente SET Nombre = 'Nombre Nuevo' "
                            "WHERE ID_Paciente = {paciente}",
                            lambda b: b["citas"][0]["paciente"]["nombre"] == "Nombre Nuevo"),
    "nombre del médico": ("UPDATE `Médico` SET Nombre = 'Doctora Nueva' "
                          "WHERE `ID_Médico` = {medico}",
                          lambda b: b["citas"][1]["medico"]["nombre"] == "Doctora Nueva"),
    "especialidad del médico": ("UPDATE `Médico` SET Especialidad = 'Cardiología' "
                                "WHERE `ID_Médico` = {medico}",
                                lambda b: b["citas"][0]["medico"]["especialidad"]
                                == "Cardiología"),
}


@pytest.mark.parametrize("cambio", CAMBIOS)
def test_every_write_shows_on_the_next_read_of_every_worker(client, database, otro_worker,
                                                             historia, cambio):
    yo, medico, ids = historia
    sql, shows = CAMBIOS[cambio]
    otro = otro_worker.test_client()
    assert not shows(leer(client, yo).get_json())
    assert not shows(leer(otro, yo).get_json())  # both workers hold the body now
    values = {**ids[1], **{f"{k}0": v for k, v in ids[0].items()},
              "paciente": yo.id_paciente, "medico": medico.id_medico}
    for statement in sql.split("; "):
        database.execute(statement.format(**values))
    assert shows(leer(client, yo).get_json()), cambio
    assert shows(leer(otro, yo).get_json()), cambio


def test_a_write_through_the_api_shows_in_the_other_worker(client, otro_worker, make_user,
                                                             historia):
    yo, medico, ids = historia
    otro = otro_worker.test_client()
    assert leer(otro, yo).get_json()["citas"][0]["estado"] == "Completada"
    admin = make_user("admin")
    etag = client.get(f"/pacientes/{yo.id_paciente}", headers=admin.headers).headers["ETag"]
    r = client.patch(f"/pacientes/{yo.id_paciente}", json={"nombre": "Otra Persona"},
                     headers={**admin.headers, "If-Match": etag})
    assert r.status_code == 200, r.get_json()
    body = leer(otro, yo).get_json()
    assert body["paciente"]["nombre"] == "Otra Persona"
    assert {c["paciente"]["nombre"] for c in body["citas"]} == {"Otra Persona"}


def test_a_cached_body_never_reaches_a_doctor_who_fails_the_access_check(client, database,
                                                                        make_user, historia):
    yo, tratante, _ = historia
    ajeno = make_user("medico")
    otro_paciente = make_user("paciente")
    negados = database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'denegado' "
                              "AND ID_Paciente = %s", (yo.id_paciente,))
    for _ in range(5):
        assert leer(client, yo, tratante.headers).get_json()["citas"]
        for intruso in (ajeno, otro_paciente):
            r = client.get(f"/historial/paciente/{yo.id_paciente}", headers=intruso.headers)
            assert r.status_code == 403, r.get_json()
            assert "citas" not in r.get_json() and b"Hipertensi" not in r.data
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'denegado' "
                           "AND ID_Paciente = %s", (yo.id_paciente,)) == negados + 10
    # The doctor with a stated reason reads it (audited as an emergency access), like today.
    r = leer(client, yo, {**ajeno.headers, **MOTIVO})
    assert r.data == leer(client, yo, tratante.headers).data
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'acceso_emergencia' "
                           "AND ID_Paciente = %s AND ID_Usuario = %s",
                           (yo.id_paciente, ajeno.id_usuario)) == 1


def test_reads_racing_writes_end_on_every_write(app, database, historia):
    yo, medico, ids = historia
    id_historial = database.scalar(
        "SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s", (yo.id_paciente,))
    failures = []

    def reader():
        client = app.test_client()
        for _ in range(10):
            r = client.get(f"/historial/paciente/{yo.id_paciente}", headers=yo.headers)
            if r.status_code != 200:
                failures.append(r.status_code)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        database.execute(
            "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, ID_Historial, "
            "ID_Cita, ID_Paciente, `ID_Médico`) VALUES (%s, 'I10', %s, %s, %s, %s, %s)",
            (f"Carrera {i}", date.today(), id_historial, ids[0]["cita"], yo.id_paciente,
             medico.id_medico))
    for t in threads:
        t.join()
    assert failures == []
    body = leer(app.test_client(), yo).get_json()
    assert sum(d["descripcion"].startswith("Carrera") for d in body["diagnosticos"]) == 20
