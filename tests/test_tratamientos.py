"""Treatments: dates, states, the diagnosis they hang from, access and audit."""

from datetime import date

import pytest

from test_diagnosticos import (ACTORES, LECTURA, LISTA, actor, clinica, escritura,  # noqa: F401
                               run_matrix)

ENDPOINTS = [
    ("GET", "/tratamientos", None, LISTA),
    ("GET", "/tratamientos?id_diagnostico={id_diagnostico}", None, LECTURA),
    ("GET", "/tratamientos?id_paciente={id_paciente}", None, LECTURA),
    ("GET", "/tratamientos/{id_tratamiento}", None, LECTURA),
    ("POST", "/tratamientos", lambda c: {"id_diagnostico": c.id_diagnostico,
                                         "descripcion": "Ejercicio aeróbico",
                                         "fecha_inicio": "2024-05-01"}, escritura(201)),
    # Only its author changes or annuls a treatment; another caring doctor may suspend it.
    ("PATCH", "/tratamientos/{id_tratamiento}", {"descripcion": "Otra pauta"},
     escritura(200, quien=("medico_autor",))),
    ("PATCH", "/tratamientos/{id_tratamiento}", {"estado": "suspendido", "motivo": "Hipoglucemias"},
     escritura(200)),
    ("DELETE", "/tratamientos/{id_tratamiento}", None, escritura(204, quien=("medico_autor",))),
]


@pytest.mark.parametrize("nombre", ACTORES)
@pytest.mark.parametrize("metodo, url, body, esperado", ENDPOINTS,
                         ids=[f"{m} {u}" for m, u, _, _ in ENDPOINTS])
def test_matrix(client, database, clinica, actor, metodo, url, body, esperado, nombre):
    run_matrix(client, database, clinica, actor, metodo, url, body, "Tratamiento", esperado,
               nombre)


def nuevo(client, clinica, **campos):
    body = {"id_diagnostico": clinica.id_diagnostico, "descripcion": "Insulina basal",
            "fecha_inicio": "2024-05-01", **campos}
    return client.post("/tratamientos", json=body, headers=clinica.medico.headers)


def test_create(client, database, clinica):
    r = nuevo(client, clinica, fecha_fin="2024-08-01", estado="finalizado")
    assert r.status_code == 201
    body = r.get_json()
    assert body == {
        "id_tratamiento": body["id_tratamiento"], "descripcion": "Insulina basal",
        "fecha_inicio": "2024-05-01", "fecha_fin": "2024-08-01", "estado": "finalizado",
        "id_diagnostico": clinica.id_diagnostico, "id_paciente": clinica.id_paciente,
        "id_medico": clinica.medico.id_medico, "creado_en": body["creado_en"],
        "actualizado_en": body["actualizado_en"]}
    assert r.headers["Location"] == f"/tratamientos/{body['id_tratamiento']}"
    assert r.headers["ETag"] == f'"{body["id_tratamiento"]}-1"'
    assert database.one("SELECT ID_Paciente, Fecha_Fin, Estado FROM Tratamiento WHERE "
                        "ID_Tratamiento = %s", (body["id_tratamiento"],)) == {
        "ID_Paciente": clinica.id_paciente, "Fecha_Fin": date(2024, 8, 1), "Estado": "finalizado"}
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion = 'crear' AND Recurso = "
                           "'tratamiento' AND ID_Recurso = %s AND ID_Paciente = %s",
                           (str(body["id_tratamiento"]), clinica.id_paciente)) == 1


@pytest.mark.parametrize("campos, campo", [
    ({"fecha_fin": "2024-04-30"}, "fecha_fin"),        # before fecha_inicio
    ({"fecha_inicio": None}, "fecha_inicio"),
    ({"estado": "anulado"}, "estado"),
    ({"descripcion": ""}, "descripcion"),
    ({"id_paciente": 1}, "id_paciente"),
])
def test_create_validation(client, database, clinica, campos, campo):
    antes = database.scalar("SELECT COUNT(*) FROM Tratamiento WHERE ID_Paciente = %s",
                            (clinica.id_paciente,))
    r = nuevo(client, clinica, **campos)
    assert r.status_code == 400
    assert campo in [d["campo"] for d in r.get_json()["detalles"]]
    assert database.scalar("SELECT COUNT(*) FROM Tratamiento WHERE ID_Paciente = %s",
                           (clinica.id_paciente,)) == antes


def test_same_day_end_is_fine(client, clinica):
    assert nuevo(client, clinica, fecha_fin="2024-05-01").status_code == 201


def test_unknown_diagnosis_is_404(client, clinica):
    assert nuevo(client, clinica, id_diagnostico=999999999).status_code == 404


def test_get_includes_medicamentos(client, clinica):
    r = client.get(f"/tratamientos/{clinica.id_tratamiento}", headers=clinica.medico.headers)
    assert r.status_code == 200
    assert r.headers["ETag"] == f'"{clinica.id_tratamiento}-1"'
    assert [m["nombre"] for m in r.get_json()["medicamentos"]] == ["Metformina"]


def test_patch_dates_and_if_match(client, database, clinica):
    url, headers = f"/tratamientos/{clinica.id_tratamiento}", clinica.medico.headers
    inicio = date.today().isoformat()
    r = client.patch(url, json={"fecha_fin": "2000-01-01"}, headers=headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "fecha_fin"
    r = client.patch(url, json={"fecha_inicio": "2999-01-01", "fecha_fin": "2999-01-02"},
                     headers={**headers, "If-Match": '"0-0"'})
    assert r.status_code == 412
    r = client.patch(url, json={"fecha_fin": inicio, "estado": "finalizado"},
                     headers={**headers, "If-Match": f'"{clinica.id_tratamiento}-1"'})
    assert r.status_code == 200
    assert (r.get_json()["fecha_fin"], r.get_json()["estado"]) == (inicio, "finalizado")
    assert r.headers["ETag"] == f'"{clinica.id_tratamiento}-2"'
    assert database.scalar("SELECT Version FROM Tratamiento WHERE ID_Tratamiento = %s",
                           (clinica.id_tratamiento,)) == 2
    r = client.patch(url, json={"fecha_fin": None}, headers=headers)
    assert r.status_code == 200 and r.get_json()["fecha_fin"] is None


def test_list_filters(client, clinica):
    otro = nuevo(client, clinica, estado="suspendido").get_json()["id_tratamiento"]
    headers = clinica.medico.headers
    r = client.get("/tratamientos", query_string={"id_diagnostico": clinica.id_diagnostico},
                   headers=headers)
    assert [t["id_tratamiento"] for t in r.get_json()["datos"]] == [otro, clinica.id_tratamiento]
    r = client.get("/tratamientos", query_string={"id_paciente": clinica.id_paciente,
                                                  "estado": "suspendido", "total": 1},
                   headers=headers)
    assert [t["id_tratamiento"] for t in r.get_json()["datos"]] == [otro]
    assert r.get_json()["total"] == 1
    r = client.get("/tratamientos", query_string={"id_diagnostico": clinica.id_diagnostico,
                                                  "limite": 1}, headers=headers)
    r2 = client.get("/tratamientos", headers=headers, query_string={
        "id_diagnostico": clinica.id_diagnostico, "limite": 1,
        "cursor": r.get_json()["siguiente"]})
    assert [t["id_tratamiento"] for t in r2.get_json()["datos"]] == [clinica.id_tratamiento]


def test_delete_anuls_and_keeps_the_row(client, database, clinica):
    url, headers = f"/tratamientos/{clinica.id_tratamiento}", clinica.medico.headers
    assert client.delete(url, headers=headers).status_code == 204
    r = client.get(url, headers=headers)
    assert r.status_code == 200 and r.get_json()["estado"] == "anulado"
    assert database.scalar("SELECT Estado FROM Tratamiento WHERE ID_Tratamiento = %s",
                           (clinica.id_tratamiento,)) == "anulado"
    assert client.patch(url, json={"estado": "activo"}, headers=headers).status_code == 409
    r = client.post("/medicamentos", headers=headers, json={
        "id_tratamiento": clinica.id_tratamiento, "nombre": "Ibuprofeno", "dosis": "400 mg",
        "frecuencia": "cada 8 horas", "via": "oral"})
    assert r.status_code == 409
