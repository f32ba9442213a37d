"""Patients through HTTP: validation, search and keyset pages, ETags, access rules, audit."""

import random
import string
from datetime import date, timedelta

import pytest

from conftest import unique
from texto import normalize


def alfa(n=8):
    """Random lower-case letters: a word no other test's patient has."""
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def cuerpo(**cambios):
    """A valid POST /pacientes body, with `cambios` applied (None removes a key)."""
    body = {"nombre": f"Lucía Fernández {alfa()}", "fecha_nacimiento": "1990-03-15",
            "genero": "Femenino", "telefono": "+34 611 222 333", "documento": unique("D"),
            "correo": "lucia@ejemplo.com", "direccion": "Calle Mayor 1, Madrid",
            "tipo_sangre": "A+", "alergias": "penicilina"}
    body.update(cambios)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def recepcion(make_user):
    return make_user("recepcionista")


def crear(client, actor, **cambios):
    r = client.post("/pacientes", json=cuerpo(**cambios), headers=actor.headers)
    assert r.status_code == 201, r.get_json()
    return r


# ---------------------------------------------------------------------------
# Create and validation
# ---------------------------------------------------------------------------

def test_create_writes_patient_prefixes_historial_and_audit(client, database, recepcion):
    nombre = f"José Pérez {alfa()}"
    r = crear(client, recepcion, nombre=nombre, fecha_nacimiento="2000-01-01")
    body = r.get_json()
    id_paciente = body["id_paciente"]
    assert r.headers["Location"] == f"/pacientes/{id_paciente}"
    assert r.headers["ETag"] == f'"{id_paciente}-1"'
    assert r.headers["Cache-Control"] == "no-store"
    hoy = date.today()
    assert body["edad"] == hoy.year - 2000 - ((hoy.month, hoy.day) < (1, 1))
    assert body["nombre"] == nombre and body["activo"] is True and body["genero"] == "Femenino"
    assert body["creado_en"].endswith("Z") and body["actualizado_en"].endswith("Z")
    row = database.one("SELECT Nombre_Normalizado, Documento FROM Paciente WHERE ID_Paciente = %s",
                       (id_paciente,))
    assert row["Nombre_Normalizado"] == normalize(nombre)
    prefijos = {r["Prefijo"] for r in database.all(
        "SELECT Prefijo FROM Paciente_Prefijo WHERE ID_Paciente = %s", (id_paciente,))}
    assert {"j", "jo", "jos", "jose", "p", "pe", "per", "pere"} <= prefijos
    assert "perez" not in prefijos
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente = %s",
                           (id_paciente,)) == 1
    audit = database.one("SELECT Accion, Recurso, ID_Usuario FROM Auditoria WHERE ID_Paciente = %s "
                         "ORDER BY ID_Auditoria DESC LIMIT 1", (id_paciente,))
    assert audit == {"Accion": "crear", "Recurso": "paciente", "ID_Usuario": recepcion.id_usuario}


# Two days ahead: still in the future if the run crosses midnight after collecting this table.
PASADO_MANANA = (date.today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize("cambios, campos", [
    ({"nombre": ""}, ["nombre"]),
    ({"nombre": "   "}, ["nombre"]),
    ({"nombre": "x" * 101}, ["nombre"]),
    ({"nombre": None}, ["nombre"]),
    ({"fecha_nacimiento": "1899-12-31"}, ["fecha_nacimiento"]),
    ({"fecha_nacimiento": PASADO_MANANA}, ["fecha_nacimiento"]),
    ({"fecha_nacimiento": "15/03/1990"}, ["fecha_nacimiento"]),
    ({"genero": "masculino"}, ["genero"]),
    ({"telefono": "123456"}, ["telefono"]),
    ({"telefono": "1" * 21}, ["telefono"]),
    ({"telefono": "600-abc-123"}, ["telefono"]),
    ({"telefono": 600111222}, ["telefono"]),
    ({"documento": ""}, ["documento"]),
    ({"correo": "no-es-un-correo"}, ["correo"]),
    ({"correo": "a@b"}, ["correo"]),
    ({"tipo_sangre": "C+"}, ["tipo_sangre"]),
    ({"alergias": 3}, ["alergias"]),
    ({"activo": False}, ["activo"]),
    ({"nombre": "", "genero": "X", "telefono": "1"}, ["nombre", "genero", "telefono"]),
])
def test_validation_names_each_bad_field(client, database, admin, cambios, campos):
    antes = database.scalar("SELECT COUNT(*) FROM Paciente")
    r = client.post("/pacientes", json=cuerpo(**cambios), headers=admin.headers)
    assert r.status_code == 400
    body = r.get_json()
    assert body["codigo"] == "validacion"
    assert sorted({d["campo"] for d in body["detalles"]}) == sorted(campos)
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == antes


def test_optional_fields_may_be_left_out(client, admin):
    r = crear(client, admin, documento=None, correo=None, direccion=None, tipo_sangre=None,
              alergias=None)
    body = r.get_json()
    assert body["documento"] is None and body["correo"] is None and body["tipo_sangre"] is None


def test_duplicate_documento_is_409_on_create_put_and_patch(client, database, admin):
    documento = unique("DNI")
    crear(client, admin, documento=documento)
    antes = database.scalar("SELECT COUNT(*) FROM Paciente")
    r = client.post("/pacientes", json=cuerpo(documento=documento), headers=admin.headers)
    assert r.status_code == 409 and r.get_json()["codigo"] == "conflicto"
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == antes
    otro = crear(client, admin).get_json()["id_paciente"]
    r = client.patch(f"/pacientes/{otro}", json={"documento": documento}, headers=admin.headers)
    assert r.status_code == 409
    r = client.put(f"/pacientes/{otro}", json=cuerpo(documento=documento), headers=admin.headers)
    assert r.status_code == 409
    assert database.one("SELECT Version FROM Paciente WHERE ID_Paciente = %s", (otro,)) == {
        "Version": 1}


# ---------------------------------------------------------------------------
# Read, PUT, PATCH, DELETE, ETags
# ---------------------------------------------------------------------------

def test_get_has_etag_and_is_audited(client, database, make_paciente, make_user):
    id_paciente = make_paciente(fecha_nacimiento=date(1980, 5, 17))
    medico = make_user("medico")
    r = client.get(f"/pacientes/{id_paciente}", headers=medico.headers)
    assert r.status_code == 200
    assert r.headers["ETag"] == f'"{id_paciente}-1"'
    assert r.headers["Cache-Control"] == "no-store"
    assert r.get_json()["fecha_nacimiento"] == "1980-05-17"
    audit = database.one("SELECT Accion, Recurso, ID_Recurso, Rol FROM Auditoria "
                         "WHERE ID_Paciente = %s ORDER BY ID_Auditoria DESC LIMIT 1",
                         (id_paciente,))
    assert audit == {"Accion": "leer", "Recurso": "paciente", "ID_Recurso": str(id_paciente),
                     "Rol": "medico"}


def test_a_read_and_its_audit_row_go_together(client, database, make_paciente, make_user):
    """The audit row and the read travel in one round trip (auditoria.leer_auditado): a
    patient that does not exist is 404 with no audit row, one that does is read once and
    audited once, through the REST and the FHIR reads alike, 20 times in a row."""
    medico = make_user("medico")
    missing = database.scalar("SELECT COALESCE(MAX(ID_Paciente), 0) + 1000 FROM Paciente")
    for path in (f"/pacientes/{missing}", f"/fhir/Patient/{missing}"):
        assert client.get(path, headers=medico.headers).status_code == 404
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Paciente = %s",
                           (missing,)) == 0
    id_paciente = make_paciente()
    for i in range(20):
        path = f"/pacientes/{id_paciente}" if i % 2 else f"/fhir/Patient/{id_paciente}"
        r = client.get(path, headers=medico.headers)
        assert r.status_code == 200 and str(r.get_json()["id" if i % 2 == 0 else "id_paciente"]) \
            == str(id_paciente)
    rows = database.all("SELECT Accion, Recurso, ID_Recurso, ID_Usuario FROM Auditoria "
                        "WHERE ID_Paciente = %s AND Accion = 'leer'", (id_paciente,))
    assert rows == [{"Accion": "leer", "Recurso": "paciente", "ID_Recurso": str(id_paciente),
                     "ID_Usuario": medico.id_usuario}] * 20


def test_put_replaces_everything_and_resyncs_prefixes(client, database, admin):
    viejo, nuevo = alfa(), alfa()
    r = crear(client, admin, nombre=f"Marta {viejo}")
    id_paciente = r.get_json()["id_paciente"]
    r = client.put(f"/pacientes/{id_paciente}", json=cuerpo(nombre=f"Marta {nuevo}", correo=None,
                                                            alergias=None),
                   headers={**admin.headers, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.get_json()
    assert r.headers["ETag"] == f'"{id_paciente}-2"'
    assert r.get_json()["correo"] is None and r.get_json()["alergias"] is None
    prefijos = database.all("SELECT Prefijo, Nombre_Normalizado FROM Paciente_Prefijo "
                            "WHERE ID_Paciente = %s", (id_paciente,))
    assert {p["Prefijo"] for p in prefijos} == {"m", "ma", "mar", "mart"} | {
        nuevo[:n] for n in range(1, 5)}
    assert {p["Nombre_Normalizado"] for p in prefijos} == {f"marta {nuevo}"}
    assert buscar(client, admin, nuevo) == [id_paciente]
    assert buscar(client, admin, viejo) == []


def test_patch_changes_only_what_is_sent(client, database, admin):
    id_paciente = crear(client, admin, tipo_sangre="O-").get_json()["id_paciente"]
    r = client.patch(f"/pacientes/{id_paciente}", json={"telefono": "600 999 888"},
                     headers=admin.headers)
    assert r.status_code == 200
    assert r.get_json()["telefono"] == "600 999 888" and r.get_json()["tipo_sangre"] == "O-"
    row = database.one("SELECT `Teléfono` AS t, Tipo_Sangre AS s, Version AS v FROM Paciente "
                       "WHERE ID_Paciente = %s", (id_paciente,))
    assert row == {"t": "600 999 888", "s": "O-", "v": 2}


@pytest.mark.parametrize("body", [{}, {"nombre": None}, {"genero": None}, {"edad": 3}])
def test_bad_patch_is_400(client, admin, make_paciente, body):
    r = client.patch(f"/pacientes/{make_paciente()}", json=body, headers=admin.headers)
    assert r.status_code == 400


@pytest.mark.parametrize("metodo", ["put", "patch", "delete"])
def test_stale_if_match_is_412_and_row_unchanged(client, database, admin, metodo):
    r = crear(client, admin, telefono="611 000 000")
    id_paciente, etag = r.get_json()["id_paciente"], r.headers["ETag"]
    assert client.patch(f"/pacientes/{id_paciente}", json={"direccion": "Otra calle 2"},
                        headers={**admin.headers, "If-Match": etag}).status_code == 200
    antes = database.one("SELECT * FROM Paciente WHERE ID_Paciente = %s", (id_paciente,))
    kwargs = {"json": cuerpo(telefono="699 999 999")} if metodo == "put" else (
        {"json": {"telefono": "699 999 999"}} if metodo == "patch" else {})
    r = getattr(client, metodo)(f"/pacientes/{id_paciente}",
                                headers={**admin.headers, "If-Match": etag}, **kwargs)
    assert r.status_code == 412 and r.get_json()["codigo"] == "version_obsoleta"
    assert database.one("SELECT * FROM Paciente WHERE ID_Paciente = %s", (id_paciente,)) == antes
    fresh = client.get(f"/pacientes/{id_paciente}", headers=admin.headers).headers["ETag"]
    assert fresh == f'"{id_paciente}-2"'
    r = getattr(client, metodo)(f"/pacientes/{id_paciente}",
                                headers={**admin.headers, "If-Match": fresh}, **kwargs)
    assert r.status_code in (200, 204)


def test_delete_deactivates_and_stays_readable(client, database, recepcion):
    id_paciente = crear(client, recepcion).get_json()["id_paciente"]
    r = client.delete(f"/pacientes/{id_paciente}", headers=recepcion.headers)
    assert r.status_code == 204 and r.data == b""
    assert database.scalar("SELECT Activo FROM Paciente WHERE ID_Paciente = %s",
                           (id_paciente,)) == 0
    r = client.get(f"/pacientes/{id_paciente}", headers=recepcion.headers)
    assert r.status_code == 200 and r.get_json()["activo"] is False
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Paciente = %s "
                           "AND Accion = 'anular'", (id_paciente,)) == 1


def test_patient_edits_only_contact_fields(client, database, make_user):
    yo = make_user("paciente")
    r = client.patch(f"/pacientes/{yo.id_paciente}",
                     json={"telefono": "600 123 123", "correo": "yo@ejemplo.com",
                           "direccion": "Calle Luna 3"}, headers=yo.headers)
    assert r.status_code == 200 and r.get_json()["correo"] == "yo@ejemplo.com"
    antes = database.one("SELECT * FROM Paciente WHERE ID_Paciente = %s", (yo.id_paciente,))
    for body in ({"nombre": "Otro Nombre"}, {"telefono": "600 000 111", "alergias": "ninguna"},
                 {"fecha_nacimiento": "1970-01-01"}):
        r = client.patch(f"/pacientes/{yo.id_paciente}", json=body, headers=yo.headers)
        assert r.status_code == 403, body
    r = client.put(f"/pacientes/{yo.id_paciente}", json=cuerpo(), headers=yo.headers)
    assert r.status_code == 403
    assert database.one("SELECT * FROM Paciente WHERE ID_Paciente = %s", (yo.id_paciente,)) == antes


# ---------------------------------------------------------------------------
# Search and keyset pages
# ---------------------------------------------------------------------------

def buscar(client, actor, q, **params):
    """Ids of the first page of GET /pacientes?q=."""
    r = client.get("/pacientes", query_string={"q": q, "limite": 100, **params},
                   headers=actor.headers)
    assert r.status_code == 200, r.get_json()
    return [p["id_paciente"] for p in r.get_json()["datos"]]


def test_search_ignores_case_and_accents_and_matches_word_starts(client, admin, make_paciente):
    a, b = alfa(), alfa()
    unico = a[:3] + "é" + a[3:]
    jose = make_paciente(nombre=f"José {unico.capitalize()} Pérez{b}", documento=unique("X"))
    ana = make_paciente(nombre=f"Ana {unico.capitalize()} García")
    for q in (a[:3] + "e", unico.upper(), a[:3] + "e" + a[3:]):
        assert buscar(client, admin, q) == [ana, jose], q
    for q in (f"jose {a[:3]}", f"JOSÉ {a[:2]} pér", f"perez{b}", f"pérez{b[:3]}",
              f"{a[:3]}e{a[3]} pere"):
        assert buscar(client, admin, q) == [jose], q
    for q in (a[1:5], f"{a[:4]} maria", f"{unico}x", f"erez{b}"):
        assert buscar(client, admin, q) == [], q
    assert buscar(client, admin, a[:4], genero="Masculino") == []
    assert buscar(client, admin, a[:4], activo="false") == []


def test_search_finds_exact_documento(client, admin, make_paciente):
    documento = "DOC" + alfa(10).upper()
    id_paciente = make_paciente(documento=documento)
    assert buscar(client, admin, documento) == [id_paciente]
    assert buscar(client, admin, documento[:-1]) == []


def test_search_takes_like_wildcards_literally(client, admin, make_paciente):
    palabra = "ana" + alfa()
    id_paciente = make_paciente(nombre=f"{palabra.capitalize()} Ruiz")
    assert buscar(client, admin, palabra[:5]) == [id_paciente]
    assert buscar(client, admin, palabra[:4] + "_") == []
    assert buscar(client, admin, palabra[:4] + "%") == []
    assert buscar(client, admin, "%") == []


NOMBRES = ["Álvaro", "Ana", "Ana", "Beatriz", "Carmen", "Ángel", "Óscar", "Íñigo", "Zoe", "Luis",
           "Lucía", "Javier", "Elena", "Diego", "Sofía", "Pablo", "Raúl", "Nuria", "Marta", "Irene",
           "Hugo", "Gonzalo", "Eva", "Fátima", "Teresa", "Víctor", "Ana"]


@pytest.fixture
def veintisiete(make_paciente):
    """27 patients sharing one rare surname (two of them named the same, to tie on name)."""
    apellido = alfa()
    ids = {make_paciente(nombre=f"{n} {apellido.capitalize()}"): f"{normalize(n)} {apellido}"
           for n in NOMBRES}
    return apellido, ids


@pytest.mark.parametrize("orden", ["nombre", "-nombre", "id", "-id"])
def test_keyset_pages_visit_each_match_once_in_order(client, admin, veintisiete, orden):
    apellido, ids = veintisiete
    vistos, cursor, paginas = [], None, 0
    while True:
        params = {"q": apellido[:6], "orden": orden, "limite": 4, "total": 1}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/pacientes", query_string=params, headers=admin.headers)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert body["total"] == len(ids)
        vistos += [p["id_paciente"] for p in body["datos"]]
        paginas += 1
        cursor = body["siguiente"]
        if not cursor:
            assert "Link" not in r.headers
            break
        assert 'rel="next"' in r.headers["Link"]
    clave = (lambda i: (ids[i], i)) if "nombre" in orden else (lambda i: i)
    assert vistos == sorted(ids, key=clave, reverse=orden.startswith("-"))
    assert paginas == 7


@pytest.mark.parametrize("orden, sql", [
    ("nombre", "ORDER BY Nombre_Normalizado, ID_Paciente"),
    ("-id", "ORDER BY ID_Paciente DESC"),
])
def test_keyset_pages_without_q_cover_the_table(client, database, admin, make_paciente, orden, sql):
    make_paciente(), make_paciente(activo=False)
    esperado = [r["ID_Paciente"] for r in database.all(
        f"SELECT ID_Paciente FROM Paciente WHERE Activo = FALSE {sql}")]
    vistos, cursor = [], None
    while True:
        params = {"orden": orden, "limite": 100, "activo": "false", **({"cursor": cursor}
                                                                        if cursor else {})}
        body = client.get("/pacientes", query_string=params, headers=admin.headers).get_json()
        vistos += [p["id_paciente"] for p in body["datos"]]
        assert all(p["activo"] is False for p in body["datos"])
        cursor = body["siguiente"]
        if not cursor:
            break
    assert vistos == esperado


def test_list_audits_each_patient_shown(client, database, admin, veintisiete):
    apellido, ids = veintisiete
    r = client.get("/pacientes", query_string={"q": apellido, "limite": 5},
                   headers={**admin.headers, "X-Request-ID": "lista-" + apellido})
    shown = {p["id_paciente"] for p in r.get_json()["datos"]}
    rows = database.all("SELECT ID_Paciente, Accion, Recurso FROM Auditoria "
                        "WHERE ID_Solicitud = %s",
                        ("lista-" + apellido,))
    assert {r["ID_Paciente"] for r in rows} == shown and len(rows) == 5
    assert {(r["Accion"], r["Recurso"]) for r in rows} == {("leer", "paciente")}


@pytest.mark.parametrize("params, campo", [
    ({"limite": 0}, "limite"), ({"limite": 101}, "limite"), ({"limite": "diez"}, "limite"),
    ({"cursor": "no-es-un-cursor"}, "cursor"), ({"cursor": "WzFd", "orden": "nombre"}, "cursor"),
    ({"orden": "edad"}, "orden"), ({"genero": "M"}, "genero"), ({"activo": "quizá"}, "activo"),
    ({"desconocido": 1}, "desconocido"),
])
def test_bad_list_parameters_are_400(client, admin, params, campo):
    r = client.get("/pacientes", query_string=params, headers=admin.headers)
    assert r.status_code == 400
    assert [d["campo"] for d in r.get_json()["detalles"]] == [campo]


# ---------------------------------------------------------------------------
# Access matrix
# ---------------------------------------------------------------------------

@pytest.fixture
def actores(make_user):
    """One user per role, the patient user linked to their own record."""
    return {rol: make_user(rol) for rol in ("admin", "medico", "recepcionista", "paciente")}


RUTAS = [
    ("get", "/pacientes", None),
    ("post", "/pacientes", "cuerpo"),
    ("get", "/pacientes/{id}", None),
    ("put", "/pacientes/{id}", "cuerpo"),
    ("patch", "/pacientes/{id}", {"direccion": "Calle Sol 9"}),
    ("delete", "/pacientes/{id}", None),
    ("get", "/pacientes/{id}/citas", None),
    ("get", "/pacientes/{id}/historial", None),
    ("get", "/pacientes/{id}/accesos", None),
]

# (route index) → status per role for ANOTHER patient's record.
ESPERADO_OTRO = {
    0: {"admin": 200, "medico": 200, "recepcionista": 200, "paciente": 403},
    1: {"admin": 201, "medico": 403, "recepcionista": 201, "paciente": 403},
    2: {"admin": 200, "medico": 200, "recepcionista": 200, "paciente": 403},
    3: {"admin": 200, "medico": 403, "recepcionista": 200, "paciente": 403},
    4: {"admin": 200, "medico": 403, "recepcionista": 200, "paciente": 403},
    5: {"admin": 204, "medico": 403, "recepcionista": 204, "paciente": 403},
    6: {"admin": 200, "medico": 200, "recepcionista": 200, "paciente": 403},
    7: {"admin": 200, "medico": 403, "recepcionista": 403, "paciente": 403},
    8: {"admin": 200, "medico": 403, "recepcionista": 403, "paciente": 403},
}
# The patient on their own record.
ESPERADO_PROPIO = {2: 200, 3: 403, 4: 200, 5: 403, 6: 200, 7: 200, 8: 200}


def llamar(client, metodo, ruta, body, id_paciente, headers):
    kwargs = {"headers": headers}
    if body is not None:
        kwargs["json"] = cuerpo() if body == "cuerpo" else body
    return getattr(client, metodo)(ruta.format(id=id_paciente), **kwargs)


@pytest.mark.parametrize("i", range(len(RUTAS)))
def test_anonymous_is_401(client, make_paciente, i):
    metodo, ruta, body = RUTAS[i]
    r = llamar(client, metodo, ruta, body, make_paciente(), {})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("rol", ["admin", "medico", "recepcionista", "paciente"])
@pytest.mark.parametrize("i", range(len(RUTAS)))
def test_role_matrix_on_another_patient(client, database, make_paciente, actores, rol, i):
    metodo, ruta, body = RUTAS[i]
    otro = make_paciente()
    r = llamar(client, metodo, ruta, body, otro, actores[rol].headers)
    assert r.status_code == ESPERADO_OTRO[i][rol], r.get_json()
    if r.status_code == 403:
        assert r.get_json()["codigo"] == "prohibido"
        assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s "
                               "AND Accion = 'denegado'", (actores[rol].id_usuario,)) == 1


@pytest.mark.parametrize("i", sorted(ESPERADO_PROPIO))
def test_patient_on_own_record(client, actores, i):
    metodo, ruta, body = RUTAS[i]
    yo = actores["paciente"]
    r = llamar(client, metodo, ruta, body, yo.id_paciente, yo.headers)
    assert r.status_code == ESPERADO_PROPIO[i], r.get_json()


@pytest.mark.parametrize("ruta", ["/pacientes/{id}", "/pacientes/{id}/citas",
                                  "/pacientes/{id}/historial", "/pacientes/{id}/accesos"])
def test_missing_patient_is_404_for_staff(client, admin, ruta):
    r = client.get(ruta.format(id=2_000_000_000), headers=admin.headers)
    assert r.status_code == 404 and r.get_json()["codigo"] == "no_encontrado"


# ---------------------------------------------------------------------------
# The patient's citas and access log
# ---------------------------------------------------------------------------

def test_citas_of_a_patient_ordered_and_paged(client, make_user, make_medico, make_cita):
    yo = make_user("paciente")
    medico = make_user("medico")
    otro_medico = make_medico()
    base = date.today() + timedelta(days=400)
    mias = [make_cita(yo.id_paciente, medico.id_medico, fecha=base + timedelta(days=d), hora=h)
            for d, h in ((2, "09:00"), (0, "12:00"), (0, "08:30"), (1, "10:00"))]
    ajena = make_cita(yo.id_paciente, otro_medico, fecha=base + timedelta(days=5))
    vistos, cursor = [], None
    while True:
        params = {"limite": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/pacientes/{yo.id_paciente}/citas", query_string=params,
                       headers=yo.headers)
        assert r.status_code == 200
        vistos += r.get_json()["datos"]
        cursor = r.get_json()["siguiente"]
        if not cursor:
            break
    assert [c["id_cita"] for c in vistos] == [mias[2], mias[1], mias[3], mias[0], ajena]
    assert vistos[0]["hora"] == "08:30" and vistos[0]["paciente"]["id_paciente"] == yo.id_paciente
    r = client.get(f"/pacientes/{yo.id_paciente}/citas", headers=medico.headers)
    assert [c["id_cita"] for c in r.get_json()["datos"]] == [mias[2], mias[1], mias[3], mias[0]]


def test_access_log_shows_who_read_and_why(client, database, make_user, make_paciente):
    yo = make_user("paciente")
    medico = make_user("medico")
    auditor = make_user("admin")
    client.get(f"/pacientes/{yo.id_paciente}", headers=medico.headers)
    motivo = "Urgencias: paciente inconsciente"
    r = client.get(f"/historial/paciente/{yo.id_paciente}",
                   headers={**medico.headers, "X-Motivo-Acceso": motivo})
    assert r.status_code == 200
    r = client.get(f"/pacientes/{yo.id_paciente}/accesos", headers=yo.headers)
    assert r.status_code == 200
    datos = r.get_json()["datos"]
    ids = [a["id_auditoria"] for a in datos]
    assert ids == sorted(ids, reverse=True)
    de_medico = [a for a in datos if a["id_usuario"] == medico.id_usuario]
    assert [a["accion"] for a in de_medico] == ["leer", "acceso_emergencia", "leer"]
    emergencia = de_medico[1]
    assert emergencia["motivo"] == motivo and emergencia["emergencia"] is True
    assert emergencia["usuario"] == f"Usuario {medico.correo}" and emergencia["rol"] == "medico"
    assert emergencia["fecha"].endswith("Z")
    assert de_medico[0]["recurso"] == "historial" and de_medico[2]["recurso"] == "paciente"
    r = client.get(f"/pacientes/{yo.id_paciente}/accesos", query_string={"limite": 1},
                   headers=auditor.headers)
    assert r.status_code == 200 and r.get_json()["siguiente"]
    assert r.get_json()["datos"][0]["accion"] == "leer"
    assert r.get_json()["datos"][0]["recurso"] == "accesos"


# ---------------------------------------------------------------------------
# Query plans and demo data
# ---------------------------------------------------------------------------

def test_demo_batches_and_every_search_plan_uses_an_index(app, database):
    """3,000 demo patients (the demo's batch path), then EXPLAIN of every q/orden/filter."""
    import demo
    from bench.explain_busqueda import problemas

    with app.app_context():
        antes = database.scalar("SELECT COUNT(*) FROM Paciente")
        ids = demo.crear_pacientes(3000, random.Random(7), demo.Pools(7))
    assert len(ids) == 3000
    assert database.scalar("SELECT COUNT(*) FROM Paciente") == antes + 3000
    muestra = database.one("SELECT Nombre_Normalizado AS n, ID_Paciente AS id FROM Paciente "
                           "WHERE ID_Paciente = %s", (ids[-1],))
    prefijos = {r["Prefijo"] for r in database.all(
        "SELECT Prefijo FROM Paciente_Prefijo WHERE ID_Paciente = %s", (ids[-1],))}
    assert prefijos == {w[:k] for w in muestra["n"].split() for k in range(1, min(4, len(w)) + 1)}
    assert database.scalar("SELECT COUNT(*) FROM `Historial_Médico` WHERE ID_Paciente IN "
                           "(%s, %s)", (ids[0], ids[-1])) == 2
    database.all("ANALYZE TABLE Paciente, Paciente_Prefijo")
    assert problemas(database.all) == []
