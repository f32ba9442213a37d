"""Doctors through HTTP: directory, writes, their patients and their free slots."""

import random
import string
from datetime import date, datetime, timedelta

import pytest

from conftest import unique


def alfa(n=8):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def cuerpo(**cambios):
    body = {"nombre": f"Dra. Inés Gómez {alfa()}", "especialidad": "Cardiología",
            "telefono": "+34 910 000 111", "correo": "ines@clinica.es", "licencia": unique("L")}
    body.update(cambios)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_create_read_update_delete(client, database, admin):
    r = client.post("/medicos", json=cuerpo(), headers=admin.headers)
    assert r.status_code == 201, r.get_json()
    id_medico = r.get_json()["id_medico"]
    assert r.headers["Location"] == f"/medicos/{id_medico}"
    assert r.headers["ETag"] == f'"{id_medico}-1"' and r.get_json()["activo"] is True
    r = client.get(f"/medicos/{id_medico}", headers=admin.headers)
    assert r.status_code == 200 and r.headers["ETag"] == f'"{id_medico}-1"'
    r = client.patch(f"/medicos/{id_medico}", json={"especialidad": "Pediatría"},
                     headers={**admin.headers, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.get_json()["especialidad"] == "Pediatría"
    r = client.put(f"/medicos/{id_medico}", json=cuerpo(nombre="Juan Ñúñez", correo=None),
                   headers={**admin.headers, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.get_json()["correo"] is None
    assert database.one("SELECT Nombre_Normalizado, Version FROM `Médico` WHERE `ID_Médico` = %s",
                        (id_medico,)) == {"Nombre_Normalizado": "juan nunez", "Version": 3}
    r = client.delete(f"/medicos/{id_medico}", headers=admin.headers)
    assert r.status_code == 204
    assert client.get(f"/medicos/{id_medico}", headers=admin.headers).get_json()["activo"] is False


@pytest.mark.parametrize("cambios, campo", [
    ({"nombre": ""}, "nombre"), ({"nombre": "x" * 101}, "nombre"), ({"especialidad": None},
                                                                    "especialidad"),
    ({"telefono": "12"}, "telefono"), ({"correo": "sin-arroba"}, "correo"),
    ({"licencia": ""}, "licencia"), ({"licencia": "x" * 51}, "licencia"),
    ({"id_medico": 3}, "id_medico"),
])
def test_validation(client, database, admin, cambios, campo):
    antes = database.scalar("SELECT COUNT(*) FROM `Médico`")
    r = client.post("/medicos", json=cuerpo(**cambios), headers=admin.headers)
    assert r.status_code == 400
    assert [d["campo"] for d in r.get_json()["detalles"]] == [campo]
    assert database.scalar("SELECT COUNT(*) FROM `Médico`") == antes


def test_duplicate_licencia_is_409(client, database, admin):
    licencia = unique("COL")
    assert client.post("/medicos", json=cuerpo(licencia=licencia),
                       headers=admin.headers).status_code == 201
    r = client.post("/medicos", json=cuerpo(licencia=licencia), headers=admin.headers)
    assert r.status_code == 409 and r.get_json()["codigo"] == "conflicto"
    otro = client.post("/medicos", json=cuerpo(), headers=admin.headers).get_json()["id_medico"]
    r = client.patch(f"/medicos/{otro}", json={"licencia": licencia}, headers=admin.headers)
    assert r.status_code == 409
    assert database.scalar("SELECT COUNT(*) FROM `Médico` WHERE Licencia = %s", (licencia,)) == 1


@pytest.mark.parametrize("metodo", ["put", "patch", "delete"])
def test_stale_if_match_is_412(client, database, admin, make_medico, metodo):
    id_medico = make_medico()
    antes = database.one("SELECT * FROM `Médico` WHERE `ID_Médico` = %s", (id_medico,))
    kwargs = {"json": cuerpo()} if metodo == "put" else (
        {"json": {"telefono": "600 600 600"}} if metodo == "patch" else {})
    r = getattr(client, metodo)(f"/medicos/{id_medico}",
                                headers={**admin.headers, "If-Match": f'"{id_medico}-7"'}, **kwargs)
    assert r.status_code == 412
    assert database.one("SELECT * FROM `Médico` WHERE `ID_Médico` = %s", (id_medico,)) == antes


def test_list_filters_and_pages(client, admin, make_medico):
    apellido = alfa()
    ids = [make_medico(nombre=f"{n} {apellido.capitalize()}", especialidad=e)
           for n, e in (("Ángela", "Neurología"), ("Bruno", "Neurología"), ("Carla", "Pediatría"),
                        ("Álex", "Neurología"))]
    r = client.get("/medicos", query_string={"q": apellido[:5], "especialidad": "neurología"},
                   headers=admin.headers)
    assert [m["id_medico"] for m in r.get_json()["datos"]] == [ids[3], ids[0], ids[1]]
    r = client.get("/medicos", query_string={"q": f"ANGE {apellido}"}, headers=admin.headers)
    assert [m["id_medico"] for m in r.get_json()["datos"]] == [ids[0]]
    vistos, cursor = [], None
    while True:
        params = {"q": apellido, "limite": 1, "total": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get("/medicos", query_string=params, headers=admin.headers).get_json()
        assert body["total"] == 4
        vistos += [m["id_medico"] for m in body["datos"]]
        cursor = body["siguiente"]
        if not cursor:
            break
    assert vistos == [ids[3], ids[0], ids[1], ids[2]]
    assert client.get("/medicos", query_string={"limite": 0},
                      headers=admin.headers).status_code == 400


# ---------------------------------------------------------------------------
# Access matrix
# ---------------------------------------------------------------------------

RUTAS = [
    ("get", "/medicos", None, {"admin": 200, "medico": 200, "recepcionista": 200, "paciente": 200}),
    ("get", "/medicos/{id}", None, {"admin": 200, "medico": 200, "recepcionista": 200,
                                    "paciente": 200}),
    ("post", "/medicos", "cuerpo", {"admin": 201, "medico": 403, "recepcionista": 403,
                                    "paciente": 403}),
    ("put", "/medicos/{id}", "cuerpo", {"admin": 200, "medico": 403, "recepcionista": 403,
                                        "paciente": 403}),
    ("patch", "/medicos/{id}", {"telefono": "600 100 200"},
     {"admin": 200, "medico": 403, "recepcionista": 403, "paciente": 403}),
    ("delete", "/medicos/{id}", None, {"admin": 204, "medico": 403, "recepcionista": 403,
                                       "paciente": 403}),
    ("get", "/medicos/{id}/pacientes", None, {"admin": 200, "medico": 403, "recepcionista": 200,
                                              "paciente": 403}),
    ("get", "/medicos/{id}/disponibilidad?fecha=2030-01-07", None,
     {"admin": 200, "medico": 200, "recepcionista": 200, "paciente": 200}),
]


@pytest.mark.parametrize("rol", [None, "admin", "medico", "recepcionista", "paciente"])
@pytest.mark.parametrize("i", range(len(RUTAS)))
def test_role_matrix(client, make_user, make_medico, rol, i):
    metodo, ruta, body, esperado = RUTAS[i]
    kwargs = {"headers": make_user(rol).headers if rol else {}}
    if body is not None:
        kwargs["json"] = cuerpo() if body == "cuerpo" else body
    r = getattr(client, metodo)(ruta.format(id=make_medico()), **kwargs)
    assert r.status_code == (esperado[rol] if rol else 401), r.get_json()


# ---------------------------------------------------------------------------
# A doctor's patients
# ---------------------------------------------------------------------------

def test_patients_of_a_doctor(client, database, make_user, make_paciente, make_cita):
    medico = make_user("medico")
    apellido = alfa().capitalize()
    zoe, ana, solo_cancelada = (make_paciente(nombre=f"{n} {apellido}")
                                for n in ("Zoe", "Ana", "Luis"))
    base = date.today() + timedelta(days=500)
    make_cita(zoe, medico.id_medico, fecha=base)
    make_cita(ana, medico.id_medico, fecha=base, hora="11:00")
    make_cita(ana, medico.id_medico, fecha=base + timedelta(days=1), estado="Confirmada")
    make_cita(solo_cancelada, medico.id_medico, fecha=base, hora="12:00", estado="Cancelada")
    r = client.get(f"/medicos/{medico.id_medico}/pacientes", query_string={"total": 1},
                   headers=medico.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert [(p["id_paciente"], p["total_citas"]) for p in body["datos"]] == [(ana, 2), (zoe, 1)]
    assert body["total"] == 2 and body["datos"][0]["edad"] >= 0
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Solicitud = %s "
                           "AND Accion = 'leer'", (r.headers["X-Request-ID"],)) == 2
    r = client.get(f"/medicos/{medico.id_medico}/pacientes", query_string={"limite": 1},
                   headers=make_user("recepcionista").headers)
    siguiente = r.get_json()["siguiente"]
    r = client.get(f"/medicos/{medico.id_medico}/pacientes",
                   query_string={"limite": 1, "cursor": siguiente}, headers=medico.headers)
    assert [p["id_paciente"] for p in r.get_json()["datos"]] == [zoe]
    assert client.get("/medicos/2000000000/pacientes",
                      headers=make_user("admin").headers).status_code == 404


# ---------------------------------------------------------------------------
# Free slots
# ---------------------------------------------------------------------------

def franjas(app, duracion=None):
    """Every slot start of a clinic day, as the endpoint builds them."""
    cfg = app.config
    paso = timedelta(minutes=cfg["DURACION_CITA_MIN"])
    largo = timedelta(minutes=duracion or cfg["DURACION_CITA_MIN"])
    dia = date(2030, 1, 1)
    t, fin, horas = (datetime.combine(dia, cfg["HORARIO_INICIO"]),
                     datetime.combine(dia, cfg["HORARIO_FIN"]), [])
    while t + largo <= fin:
        horas.append(t)
        t += paso
    return horas, largo


@pytest.mark.parametrize("duracion", [None, 60])
def test_disponibilidad_removes_booked_time(app, client, make_user, make_medico, make_paciente,
                                            make_cita, duracion):
    id_medico = make_medico()
    fecha = date.today() + timedelta(days=600)
    ocupadas = [("10:00", 30, "Pendiente"), ("11:15", 60, "Confirmada"),
                ("14:00", 30, "Cancelada")]
    for hora, minutos, estado in ocupadas:
        make_cita(make_paciente(), id_medico, fecha=fecha, hora=hora, duracion_min=minutos,
                  estado=estado)
    params = {"fecha": fecha.isoformat(), **({"duracion_min": duracion} if duracion else {})}
    r = client.get(f"/medicos/{id_medico}/disponibilidad", query_string=params,
                   headers=make_user("paciente").headers)
    assert r.status_code == 200
    body = r.get_json()
    horas, largo = franjas(app, duracion)
    bloques = [(datetime.combine(h.date(), datetime.strptime(hh, "%H:%M").time()), m)
               for h in horas[:1] for hh, m, e in ocupadas if e != "Cancelada"]
    esperado = [h.strftime("%H:%M") for h in horas
                if not any(i < h + largo and i + timedelta(minutes=m) > h for i, m in bloques)]
    assert body == {"fecha": fecha.isoformat(),
                    "duracion_min": duracion or app.config["DURACION_CITA_MIN"],
                    "libres": esperado}
    assert "10:00" not in body["libres"] and "11:30" not in body["libres"]


def test_disponibilidad_past_and_today(app, client, make_user, make_medico):
    from auth import ahora_local

    id_medico = make_medico()
    admin = make_user("admin")
    with app.app_context():
        ahora = ahora_local()
    r = client.get(f"/medicos/{id_medico}/disponibilidad",
                   query_string={"fecha": (ahora.date() - timedelta(days=1)).isoformat()},
                   headers=admin.headers)
    assert r.status_code == 200 and r.get_json()["libres"] == []
    r = client.get(f"/medicos/{id_medico}/disponibilidad",
                   query_string={"fecha": ahora.date().isoformat()}, headers=admin.headers)
    horas, _ = franjas(app)
    esperado = [h.strftime("%H:%M") for h in horas if h.time() >= ahora.time()]
    assert r.get_json()["libres"] in (esperado, esperado[1:])


@pytest.mark.parametrize("params, status", [({}, 400), ({"fecha": "07/01/2030"}, 400),
                                            ({"fecha": "2030-01-07", "duracion_min": 3}, 400)])
def test_disponibilidad_bad_query(client, make_user, make_medico, params, status):
    r = client.get(f"/medicos/{make_medico()}/disponibilidad", query_string=params,
                   headers=make_user("admin").headers)
    assert r.status_code == status


def test_disponibilidad_unknown_or_inactive_doctor_is_404(client, make_user, make_medico):
    admin = make_user("admin")
    for id_medico in (2000000000, make_medico(activo=False)):
        r = client.get(f"/medicos/{id_medico}/disponibilidad",
                       query_string={"fecha": "2030-01-07"}, headers=admin.headers)
        assert r.status_code == 404
