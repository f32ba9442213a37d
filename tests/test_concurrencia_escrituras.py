"""Every create (and a few updates) 20 times at once against a 4-worker gunicorn: zero 5xx.

Deadlocks between parallel transactions are a normal event for InnoDB; the API retries the
whole transaction and, if the retries run out, answers 409 with Retry-After, never 500. The
checks count the rows too: every 201 is in the database, nothing else is.
"""

import uuid
from datetime import date, timedelta

import pytest
import requests

from test_citas_concurrencia import at_once, server  # noqa: F401

N = 20
DIA = date.today() + timedelta(days=120)


def post(server, path, headers):
    return lambda body: requests.post(server + path, json=body, headers=headers, timeout=60)


def sin_5xx(answers):
    errores = [a for a in answers if a[0] >= 500]
    assert not errores, errores[:3]
    conflictos = [a for a in answers if a[0] == 409]
    assert all(a[1]["codigo"] == "conflicto" for a in conflictos), conflictos[:3]
    return [a[1] for a in answers if a[0] == 201]


def paciente(nombre, **campos):
    return {"nombre": nombre, "fecha_nacimiento": "1980-01-01", "genero": "Otro",
            "telefono": "+34 600 000 000", **campos}


def test_parallel_patient_creates(server, database, make_user):
    recepcion = make_user("recepcionista")
    marca = uuid.uuid4().hex[:8]
    # Similar names share search prefixes: the rows parallel inserts fight over.
    bodies = [paciente(f"María José Pérez {marca} {i}") for i in range(N)]
    creados = sin_5xx(at_once(post(server, "/pacientes", recepcion.headers), bodies))
    assert len(creados) == N
    assert database.scalar("SELECT COUNT(*) FROM Paciente WHERE Nombre LIKE %s",
                           (f"%{marca}%",)) == N
    assert database.scalar(
        "SELECT COUNT(*) FROM `Historial_Médico` h JOIN Paciente p USING (ID_Paciente) "
        "WHERE p.Nombre LIKE %s", (f"%{marca}%",)) == N


def test_parallel_creates_of_one_document_give_one_patient(server, database, make_user):
    recepcion = make_user("recepcionista")
    documento = f"D{uuid.uuid4().hex[:10]}"
    bodies = [paciente(f"Ana Ruiz {i}", documento=documento) for i in range(N)]
    answers = at_once(post(server, "/pacientes", recepcion.headers), bodies)
    assert sorted({a[0] for a in answers}) == [201, 409]
    assert [a[0] for a in answers].count(201) == 1
    assert database.scalar("SELECT COUNT(*) FROM Paciente WHERE Documento = %s",
                           (documento,)) == 1


def test_parallel_user_creates(server, database, make_user):
    admin = make_user("admin")
    marca = uuid.uuid4().hex[:8]
    bodies = [{"nombre": f"Usuaria {i}", "correo": f"u{i}.{marca}@prueba.local",
               "password": "Prueba2024!segura", "rol": "paciente",
               "paciente": paciente(f"Lucía Gómez {marca} {i}")} for i in range(N)]
    creados = sin_5xx(at_once(post(server, "/usuarios", admin.headers), bodies))
    assert len(creados) == N
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE Correo LIKE %s",
                           (f"%.{marca}@prueba.local",)) == N


def test_parallel_citas_of_one_doctor(server, database, make_user, make_paciente):
    recepcion, medico = make_user("recepcionista"), make_user("medico")
    pacientes = [make_paciente() for _ in range(N)]
    bodies = [{"fecha": DIA.isoformat(), "hora": f"{8 + i // 4:02d}:{i % 4 * 15:02d}",
               "duracion_min": 15, "id_paciente": p, "id_medico": medico.id_medico}
              for i, p in enumerate(pacientes)]
    creados = sin_5xx(at_once(post(server, "/citas", recepcion.headers), bodies))
    assert len(creados) == N
    assert database.scalar("SELECT COUNT(*) FROM Cita WHERE `ID_Médico` = %s",
                           (medico.id_medico,)) == N


@pytest.fixture
def consulta(client, make_user, make_paciente, make_cita):
    """A doctor, their patient, a cita, a diagnosis and a treatment (through the API)."""
    medico = make_user("medico")
    id_paciente = make_paciente()
    id_cita = make_cita(id_paciente, medico.id_medico, fecha=date.today(), hora="09:00")
    d = client.post("/diagnosticos", headers=medico.headers,
                    json={"id_cita": id_cita, "descripcion": "Hipertensión"}).get_json()
    t = client.post("/tratamientos", headers=medico.headers, json={
        "id_diagnostico": d["id_diagnostico"], "descripcion": "Control",
        "fecha_inicio": date.today().isoformat()}).get_json()
    return medico, id_paciente, id_cita, d["id_diagnostico"], t["id_tratamiento"]


def test_parallel_clinical_creates(server, database, consulta):
    medico, id_paciente, id_cita, id_diagnostico, id_tratamiento = consulta
    casos = (
        ("/diagnosticos", [{"id_cita": id_cita, "descripcion": f"Nota {i}"} for i in range(N)],
         "`Diagnóstico`", 1),
        ("/tratamientos", [{"id_diagnostico": id_diagnostico, "descripcion": f"Pauta {i}",
                            "fecha_inicio": date.today().isoformat()} for i in range(N)],
         "Tratamiento", 1),
        ("/medicamentos", [{"id_tratamiento": id_tratamiento, "nombre": f"Enalapril {i}",
                            "dosis": "10 mg", "frecuencia": "cada 24 horas", "via": "oral"}
                           for i in range(N)], "Medicamento", 0),
    )
    for path, bodies, tabla, antes in casos:
        creados = sin_5xx(at_once(post(server, path, medico.headers), bodies))
        assert len(creados) == N, path
        assert database.scalar(f"SELECT COUNT(*) FROM {tabla} WHERE ID_Paciente = %s",
                               (id_paciente,)) == N + antes, path


def test_parallel_updates_of_one_patient(server, database, make_user, make_paciente):
    recepcion = make_user("recepcionista")
    id_paciente = make_paciente()

    def patch(body):
        return requests.patch(f"{server}/pacientes/{id_paciente}", json=body,
                              headers=recepcion.headers, timeout=60)

    answers = at_once(patch, [{"nombre": f"Nombre Cambiado {i}"} for i in range(N)])
    assert not [a for a in answers if a[0] >= 500]
    assert [a[0] for a in answers].count(200) >= 1
    version = database.scalar("SELECT Version FROM Paciente WHERE ID_Paciente = %s",
                              (id_paciente,))
    assert version == 1 + [a[0] for a in answers].count(200)


def test_parallel_self_bookings_respect_the_cap(server, database, app, make_user):
    """The cap is counted under the patient's row lock: 20 bookings at once with 20 doctors
    give exactly CITAS_MAX_PACIENTE citas, the rest 409."""
    paciente = make_user("paciente")
    medicos = [make_user("medico") for _ in range(N)]
    bodies = [{"fecha": DIA.isoformat(), "hora": f"{8 + i // 2:02d}:{i % 2 * 30:02d}",
               "id_paciente": paciente.id_paciente, "id_medico": m.id_medico}
              for i, m in enumerate(medicos)]
    answers = at_once(post(server, "/citas", paciente.headers), bodies)
    assert not [a for a in answers if a[0] >= 500]
    tope = app.config["CITAS_MAX_PACIENTE"]
    assert [a[0] for a in answers].count(201) == tope
    assert database.scalar("SELECT COUNT(*) FROM Cita WHERE ID_Paciente = %s",
                           (paciente.id_paciente,)) == tope
