"""GET /pacientes/<id>/fhir: a FHIR R4 Bundle valid against the R4B models, codes mapped."""

from datetime import date, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from conftest import unique


@pytest.fixture
def record(client, make_user, make_paciente, make_cita):
    """A patient with two citas, a coded and an uncoded diagnosis, a treatment and a drug."""
    doctor = make_user("medico")
    documento = unique("DNI")
    id_paciente = make_paciente(nombre="José Pérez Gómez", genero="Masculino",
                                documento=documento, correo="jose@example.com",
                                fecha_nacimiento=date(1975, 3, 9))
    past = date.today() - timedelta(days=3)
    id_cita = make_cita(id_paciente, doctor.id_medico, fecha=past, estado="Completada")
    make_cita(id_paciente, doctor.id_medico, hora="12:00", estado="Cancelada")
    h = doctor.headers
    coded = client.post("/diagnosticos", headers=h, json={
        "id_cita": id_cita, "descripcion": "Diabetes tipo 2 sin complicaciones",
        "codigo_cie10": "E119", "fecha": past.isoformat()})
    assert coded.status_code == 201, coded.get_json()
    uncoded = client.post("/diagnosticos", headers=h, json={
        "id_cita": id_cita, "descripcion": "Cansancio persistente"})
    assert uncoded.status_code == 201, uncoded.get_json()
    tratamiento = client.post("/tratamientos", headers=h, json={
        "id_diagnostico": coded.get_json()["id_diagnostico"], "descripcion": "Control glucémico",
        "fecha_inicio": past.isoformat()})
    assert tratamiento.status_code == 201, tratamiento.get_json()
    medicamento = client.post("/medicamentos", headers=h, json={
        "id_tratamiento": tratamiento.get_json()["id_tratamiento"], "nombre": "Metformina",
        "dosis": "850 mg", "frecuencia": "cada 12 horas", "via": "oral", "duracion_dias": 90})
    assert medicamento.status_code == 201, medicamento.get_json()
    return {"doctor": doctor, "id_paciente": id_paciente, "documento": documento,
            "id_diagnostico": coded.get_json()["id_diagnostico"],
            "id_tratamiento": tratamiento.get_json()["id_tratamiento"],
            "id_medicamento": medicamento.get_json()["id_medicamento"]}


def resources(body, kind):
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_is_valid_r4_with_mapped_codes(client, record, database):
    response = client.get(f"/pacientes/{record['id_paciente']}/fhir",
                          headers={**record["doctor"].headers, "Accept": "application/fhir+json"})
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    body = response.get_json(force=True)
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"

    patient, = resources(body, "Patient")
    assert patient["gender"] == "male" and patient["birthDate"] == "1975-03-09"
    assert patient["identifier"][0]["value"] == record["documento"]
    assert patient["name"][0]["family"] == "Pérez Gómez"
    assert {"system": "email", "value": "jose@example.com"} in patient["telecom"]

    practitioner, = resources(body, "Practitioner")
    assert practitioner["id"] == str(record["doctor"].id_medico)
    assert sorted(a["status"] for a in resources(body, "Appointment")) == ["cancelled", "fulfilled"]

    conditions = {c["id"]: c for c in resources(body, "Condition")}
    coded = conditions[str(record["id_diagnostico"])]
    assert coded["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10", "code": "E11.9",
        "display": coded["code"]["coding"][0]["display"]}
    assert coded["clinicalStatus"]["coding"][0]["code"] == "active"
    uncoded, = [c for c in conditions.values() if c is not coded]
    assert "coding" not in uncoded["code"] and uncoded["code"]["text"] == "Cansancio persistente"

    plan, = resources(body, "CarePlan")
    assert plan["addresses"] == [{"reference": f"Condition/{record['id_diagnostico']}"}]
    request, = resources(body, "MedicationRequest")
    assert request["status"] == "active" and request["intent"] == "order"
    assert request["dosageInstruction"][0]["route"]["coding"][0]["code"] == "26643006"
    assert request["dosageInstruction"][0]["text"] == "850 mg cada 12 horas"
    assert request["basedOn"] == [{"reference": f"CarePlan/{record['id_tratamiento']}"}]

    # Every relative reference points at a resource of the bundle.
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["entry"]}
    text = response.get_data(as_text=True)
    import re
    for ref in re.findall(r'"reference": ?"([A-Za-z]+/\d+)"', text):
        assert ref in present

    audited = database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Recurso = 'fhir' "
                              "AND ID_Paciente = %s AND Accion = 'leer'", (record["id_paciente"],))
    assert audited == 1


def test_anulled_condition_is_entered_in_error(client, record):
    h = record["doctor"].headers
    assert client.delete(f"/diagnosticos/{record['id_diagnostico']}", headers=h).status_code == 204
    body = client.get(f"/pacientes/{record['id_paciente']}/fhir", headers=h).get_json()
    Bundle.model_validate(body)
    condition = next(c for c in resources(body, "Condition") if c["id"] == str(record["id_diagnostico"]))
    assert condition["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in condition


@pytest.mark.parametrize("who, status", [
    ("anonimo", 401), ("recepcionista", 403), ("otro_paciente", 403), ("otro_medico", 403),
    ("el_paciente", 200), ("admin", 200),
])
def test_fhir_access_follows_the_history_rules(client, record, make_user, database, who, status):
    if who == "anonimo":
        headers = {}
    elif who == "el_paciente":
        headers = make_user("paciente", id_paciente=record["id_paciente"]).headers
    else:
        headers = make_user({"otro_paciente": "paciente", "otro_medico": "medico"}.get(who, who)).headers
    response = client.get(f"/pacientes/{record['id_paciente']}/fhir", headers=headers)
    assert response.status_code == status
    if status == 200:
        assert Bundle.model_validate(response.get_json()).entry
    else:
        assert "entry" not in response.get_json()
