"""Prescriptions: structured fields, the allergy check and its audited override, access."""

import pytest

from clinico import alergia_que_choca
from test_diagnosticos import (ACTORES, LECTURA, LISTA, actor, clinica, escritura,  # noqa: F401
                               run_matrix)

RECETA = {"dosis": "500 mg", "frecuencia": "cada 8 horas", "via": "oral"}

ENDPOINTS = [
    ("GET", "/medicamentos", None, LISTA),
    ("GET", "/medicamentos?id_tratamiento={id_tratamiento}", None, LECTURA),
    ("GET", "/medicamentos?id_paciente={id_paciente}", None, LECTURA),
    ("GET", "/medicamentos/tratamiento/{id_tratamiento}", None, LECTURA),
    ("GET", "/medicamentos/{id_medicamento}", None, LECTURA),
    ("POST", "/medicamentos", lambda c: {"id_tratamiento": c.id_tratamiento,
                                         "nombre": "Omeprazol", **RECETA}, escritura(201)),
    # Only its author changes the dose or annuls it; another caring doctor may suspend it.
    ("PATCH", "/medicamentos/{id_medicamento}", {"dosis": "1000 mg"},
     escritura(200, quien=("medico_autor",))),
    ("PATCH", "/medicamentos/{id_medicamento}", {"estado": "suspendido", "motivo": "Exantema"},
     escritura(200)),
    ("DELETE", "/medicamentos/{id_medicamento}", None, escritura(204, quien=("medico_autor",))),
]


@pytest.mark.parametrize("nombre", ACTORES)
@pytest.mark.parametrize("metodo, url, body, esperado", ENDPOINTS,
                         ids=[f"{m} {u}" for m, u, _, _ in ENDPOINTS])
def test_matrix(client, database, clinica, actor, metodo, url, body, esperado, nombre):
    run_matrix(client, database, clinica, actor, metodo, url, body, "Medicamento", esperado,
               nombre)


def prescribir(client, clinica, nombre, **campos):
    body = {"id_tratamiento": clinica.id_tratamiento, "nombre": nombre, **RECETA, **campos}
    return client.post("/medicamentos", json=body, headers=clinica.medico.headers)


def contar(database, clinica, nombre):
    return database.scalar("SELECT COUNT(*) FROM Medicamento WHERE ID_Paciente = %s AND "
                           "Nombre = %s", (clinica.id_paciente, nombre))


def test_create(client, database, clinica):
    r = prescribir(client, clinica, "Amoxicilina", duracion_dias=7,
                   indicaciones="Tomar con alimentos", via="oral")
    assert r.status_code == 201
    body = r.get_json()
    assert body == {
        "id_medicamento": body["id_medicamento"], "nombre": "Amoxicilina", "dosis": "500 mg",
        "frecuencia": "cada 8 horas", "via": "oral", "duracion_dias": 7,
        "indicaciones": "Tomar con alimentos", "estado": "activo",
        "id_tratamiento": clinica.id_tratamiento, "id_paciente": clinica.id_paciente,
        "id_medico": clinica.medico.id_medico, "creado_en": body["creado_en"],
        "actualizado_en": body["actualizado_en"]}
    assert r.headers["Location"] == f"/medicamentos/{body['id_medicamento']}"
    assert contar(database, clinica, "Amoxicilina") == 1


def test_allergy_clash_is_409_and_confirmation_is_audited(client, database, clinica):
    r = prescribir(client, clinica, "Penicilina G")
    assert r.status_code == 409
    assert r.get_json()["codigo"] == "alergia"
    assert "penicilina" in r.get_json()["error"]
    assert contar(database, clinica, "Penicilina G") == 0

    r = prescribir(client, clinica, "Penicilina G", confirmar_alergia=True)
    assert r.status_code == 201
    id_medicamento = r.get_json()["id_medicamento"]
    assert contar(database, clinica, "Penicilina G") == 1
    rows = database.all("SELECT Accion, Motivo, ID_Paciente, ID_Usuario FROM Auditoria WHERE "
                        "Recurso = 'medicamento' AND ID_Recurso = %s ORDER BY ID_Auditoria",
                        (str(id_medicamento),))
    assert [r["Accion"] for r in rows] == ["crear", "crear"]
    assert rows[0]["Motivo"] is None
    assert "alergia" in rows[1]["Motivo"] and "penicilina" in rows[1]["Motivo"]
    assert {r["ID_Paciente"] for r in rows} == {clinica.id_paciente}
    assert {r["ID_Usuario"] for r in rows} == {clinica.medico.id_usuario}


def test_unrelated_drug_is_201_without_override_row(client, database, clinica):
    r = prescribir(client, clinica, "Amoxicilina", confirmar_alergia=True)
    assert r.status_code == 201
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Recurso = 'medicamento' AND "
                           "ID_Recurso = %s", (str(r.get_json()["id_medicamento"]),)) == 1


def test_patient_without_allergies(client, database, clinica):
    database.execute("UPDATE Paciente SET Alergias = NULL WHERE ID_Paciente = %s",
                     (clinica.id_paciente,))
    assert prescribir(client, clinica, "Penicilina G").status_code == 201


@pytest.mark.parametrize("alergias, farmaco, choca", [
    ("penicilina", "Penicilina G", "penicilina"),
    ("Penicilina", "PENICILINA BENZATÍNICA", "penicilina"),
    ("penicilina", "Amoxicilina", None),
    ("Alergia grave a la PENICILÍNA", "penicilina", "penicilina"),
    ("penicilin", "Penicilina V", "penicilin"),           # allergy word is a prefix
    ("Ácido acetilsalicílico", "acido acetilsalicilico 100 mg", "acido"),
    ("ibuprofeno, metamizol", "Metamizol magnésico", "metamizol"),
    ("AAS", "AAS 100 mg", None),                          # words under 4 letters are ignored
    ("leve", "Levetiracetam", None),                      # descriptive words are ignored
    ("polen; ácaros", "Paracetamol", None),
    (None, "Paracetamol", None),
    ("", "Paracetamol", None),
    ("sulfamidas", "Sulfametoxazol", None),               # a word match, not a drug class
])
def test_allergy_word_match(alergias, farmaco, choca):
    assert alergia_que_choca(alergias, farmaco) == choca


@pytest.mark.parametrize("campos, campo", [
    ({"via": "nasal"}, "via"),
    ({"duracion_dias": 0}, "duracion_dias"),
    ({"duracion_dias": 3651}, "duracion_dias"),
    ({"dosis": ""}, "dosis"),
    ({"nombre": "x" * 201}, "nombre"),
    ({"confirmar_alergia": "si"}, "confirmar_alergia"),
    ({"id_paciente": 1}, "id_paciente"),
])
def test_create_validation(client, database, clinica, campos, campo):
    r = prescribir(client, clinica, **{"nombre": "Omeprazol", **campos})
    assert r.status_code == 400
    assert campo in [d["campo"] for d in r.get_json()["detalles"]]
    assert contar(database, clinica, "Omeprazol") == 0


def test_missing_via_is_400(client, clinica):
    body = {"id_tratamiento": clinica.id_tratamiento, "nombre": "Omeprazol",
            "dosis": "20 mg", "frecuencia": "cada 24 horas"}
    r = client.post("/medicamentos", json=body, headers=clinica.medico.headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "via"


def test_unknown_treatment_is_404(client, clinica):
    assert prescribir(client, clinica, "Omeprazol", id_tratamiento=999999999).status_code == 404
    r = client.get("/medicamentos/tratamiento/999999999", headers=clinica.medico.headers)
    assert r.status_code == 404


def test_lists_and_alias(client, clinica):
    segundo = prescribir(client, clinica, "Omeprazol").get_json()["id_medicamento"]
    headers = clinica.medico.headers
    esperado = [segundo, clinica.id_medicamento]
    for url in (f"/medicamentos?id_tratamiento={clinica.id_tratamiento}",
                f"/medicamentos/tratamiento/{clinica.id_tratamiento}",
                f"/medicamentos?id_paciente={clinica.id_paciente}"):
        r = client.get(url, headers=headers)
        assert r.status_code == 200
        assert [m["id_medicamento"] for m in r.get_json()["datos"]] == esperado
    r = client.get(f"/medicamentos/tratamiento/{clinica.id_tratamiento}?limite=1",
                   headers=headers)
    assert r.get_json()["siguiente"] and 'rel="next"' in r.headers["Link"]
    client.delete(f"/medicamentos/{segundo}", headers=headers)
    r = client.get(f"/medicamentos?id_tratamiento={clinica.id_tratamiento}&estado=activo",
                   headers=headers)
    assert [m["id_medicamento"] for m in r.get_json()["datos"]] == [clinica.id_medicamento]


def test_patch(client, database, clinica):
    url, headers = f"/medicamentos/{clinica.id_medicamento}", clinica.medico.headers
    r = client.patch(url, json={"dosis": "1 g", "estado": "suspendido"},
                     headers={**headers, "If-Match": f'"{clinica.id_medicamento}-1"'})
    assert r.status_code == 200
    assert (r.get_json()["dosis"], r.get_json()["estado"]) == ("1 g", "suspendido")
    assert r.headers["ETag"] == f'"{clinica.id_medicamento}-2"'
    r = client.patch(url, json={"dosis": "2 g"}, headers={**headers, "If-Match": f'"{clinica.id_medicamento}-1"'})
    assert r.status_code == 412
    # Renaming goes through the allergy check again.
    r = client.patch(url, json={"nombre": "Penicilina V"}, headers=headers)
    assert r.status_code == 409 and r.get_json()["codigo"] == "alergia"
    assert database.scalar("SELECT Nombre FROM Medicamento WHERE ID_Medicamento = %s",
                           (clinica.id_medicamento,)) == "Metformina"
    r = client.patch(url, json={"nombre": "Penicilina V", "confirmar_alergia": True},
                     headers=headers)
    assert r.status_code == 200 and r.get_json()["nombre"] == "Penicilina V"
    assert "penicilina" in database.scalar(
        "SELECT Motivo FROM Auditoria WHERE Recurso = 'medicamento' AND Accion = 'actualizar' "
        "AND ID_Recurso = %s AND Motivo IS NOT NULL", (str(clinica.id_medicamento),))
    for body in ({}, {"confirmar_alergia": True}, {"estado": "anulado"}, {"via": None}):
        assert client.patch(url, json=body, headers=headers).status_code == 400


def test_delete_anuls_and_keeps_the_row(client, database, clinica, make_user):
    url, headers = f"/medicamentos/{clinica.id_medicamento}", clinica.medico.headers
    assert client.delete(url, headers=headers).status_code == 204
    assert database.scalar("SELECT Estado FROM Medicamento WHERE ID_Medicamento = %s",
                           (clinica.id_medicamento,)) == "anulado"
    paciente = make_user("paciente", id_paciente=clinica.id_paciente)
    r = client.get(url, headers=paciente.headers)
    assert r.status_code == 200 and r.get_json()["estado"] == "anulado"
    assert r.headers["ETag"] == f'"{clinica.id_medicamento}-2"'
    assert client.patch(url, json={"dosis": "1 g"}, headers=headers).status_code == 409
    assert client.delete(url, headers=headers).status_code == 204
