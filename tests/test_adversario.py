"""Every write route of the URL map, as every kind of caller, against one marked patient.

The patient's record carries a unique marker in every field. Whatever a write answers — a
201, a 409 listing a clash, a 403 — must not contain a marker its caller may not read, and
any answer that does carry patient data must have written an audit row under that patient.
A doctor with no relation to the patient tries every write too: afterwards their access to
the patient is exactly what it was (nothing a caller does grants them access).

A new write route fails `test_every_write_route_is_attacked` until it gets a body here.
"""

import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from sesiones import issue_tokens

DIA = date.today() + timedelta(days=45)

# Who may read which marker: demographics (`pacientes:leer` or the patient), the clinical
# record (the patient, admin, a doctor under care) and the cita's reason (its parties, staff).
DEMOGRAFIA = ("NOMBRE", "DIRECCION", "ALERGIA")
CLINICO = ("ANTECEDENTE", "DIAGNOSTICO", "TRATAMIENTO", "FARMACO", "INDICACION")
LEE = {
    "admin": DEMOGRAFIA + CLINICO + ("MOTIVO",),
    "recepcionista": DEMOGRAFIA + ("MOTIVO",),
    "medico_tratante": DEMOGRAFIA + CLINICO + ("MOTIVO",),
    "medico_ajeno": DEMOGRAFIA,
    "paciente_propio": DEMOGRAFIA + CLINICO + ("MOTIVO",),
    "paciente_otro": (),
    # A custom role with write permissions only: its `citas:gestionar` reads citas, which
    # name their patient; the other two do nothing without their read permissions.
    "solo_escribe": ("NOMBRE", "MOTIVO"),
}
ACTORES = tuple(LEE)


@pytest.fixture
def escena(client, database, make_user, make_paciente, make_role, make_cita):
    """The marked patient with a full record written by their doctor, and one of each caller."""
    # Digits only after the word: the allergy check compares words of letters, and a shared
    # suffix would make the drug marker clash with the allergy marker.
    marca = str(uuid.uuid4().int)[:12]
    m = {k: f"{k}{marca}" for k in DEMOGRAFIA + CLINICO + ("MOTIVO",)}
    id_paciente = make_paciente(nombre=f"Marta {m['NOMBRE']}", direccion=m["DIRECCION"],
                                alergias=m["ALERGIA"], documento=f"X{marca}")
    database.execute("UPDATE `Historial_Médico` SET Antecedentes = %s WHERE ID_Paciente = %s",
                     (m["ANTECEDENTE"], id_paciente))
    tratante = make_user("medico")
    id_cita = make_cita(id_paciente, tratante.id_medico, fecha=date.today(), hora="09:00",
                        motivo=m["MOTIVO"])
    id_futura = make_cita(id_paciente, tratante.id_medico, fecha=DIA, hora="12:00",
                          motivo=m["MOTIVO"])
    h = tratante.headers
    d = client.post("/diagnosticos", headers=h, json={"id_cita": id_cita,
                                                      "descripcion": m["DIAGNOSTICO"]}).get_json()
    t = client.post("/tratamientos", headers=h, json={
        "id_diagnostico": d["id_diagnostico"], "descripcion": m["TRATAMIENTO"],
        "fecha_inicio": date.today().isoformat()}).get_json()
    f = client.post("/medicamentos", headers=h, json={
        "id_tratamiento": t["id_tratamiento"], "nombre": m["FARMACO"], "dosis": "10 mg",
        "frecuencia": "cada 24 horas", "via": "oral", "indicaciones": m["INDICACION"]}).get_json()
    propio = make_user("paciente", id_paciente=id_paciente)
    actores = {"admin": make_user("admin"), "recepcionista": make_user("recepcionista"),
               "medico_tratante": tratante, "medico_ajeno": make_user("medico"),
               "paciente_propio": propio, "paciente_otro": make_user("paciente"),
               "solo_escribe": make_user(make_role("pacientes:escribir", "clinico:escribir",
                                                   "citas:gestionar"))}
    return SimpleNamespace(
        marcas=m, id_paciente=id_paciente, id_cita=id_cita, id_futura=id_futura,
        id_diagnostico=d["id_diagnostico"], id_tratamiento=t["id_tratamiento"],
        id_medicamento=f["id_medicamento"], id_medico=tratante.id_medico,
        id_historial=database.scalar("SELECT ID_Historial FROM `Historial_Médico` "
                                     "WHERE ID_Paciente = %s", (id_paciente,)),
        id_usuario=propio.id_usuario, actores=actores, database=database)


def paciente_nuevo(e):
    return {"nombre": "Nuevo Paciente", "fecha_nacimiento": "1990-02-02", "genero": "Otro",
            "telefono": "600 000 000"}


# One body per write route (method, rule), built from the scene. Bodies aim at the marked
# patient wherever the route takes one: those are the writes that could leak or grant.
CUERPOS = {
    ("POST", "/auth/login"): lambda e: {"correo": "nadie@prueba.local", "password": "x"},
    ("POST", "/auth/logout"): None,
    ("PUT", "/auth/password"): lambda e: {"password_actual": "mala", "password_nueva": "x" * 12},
    ("POST", "/auth/refresh"): lambda e: {"refresh_token": "no-es-un-token"},
    ("POST", "/auth/registro"): lambda e: {"nombre": "Alguien", "correo": f"r{uuid.uuid4().hex}"
                                           "@prueba.local", "password": "Prueba2024!segura",
                                           "fecha_nacimiento": "1990-01-01", "genero": "Otro",
                                           "telefono": "600000000"},
    ("POST", "/citas"): lambda e: {"fecha": DIA.isoformat(), "hora": "12:00",
                                   "id_paciente": e.id_paciente, "id_medico": e.id_medico},
    ("PUT", "/citas/<int:id_cita>"): lambda e: {"motivo": "Cambio"},
    ("PATCH", "/citas/<int:id_cita>"): lambda e: {"fecha": DIA.isoformat(), "hora": "12:00"},
    ("DELETE", "/citas/<int:id_cita>"): None,
    ("POST", "/citas/<int:id_cita>/estado"): lambda e: {"estado": "Confirmada"},
    ("POST", "/diagnosticos"): lambda e: {"id_cita": e.id_cita, "descripcion": "Nuevo"},
    ("POST", "/diagnosticos/crear"): lambda e: {"id_cita": e.id_cita, "descripcion": "Nuevo",
                                                "id_paciente": e.id_paciente},
    ("PATCH", "/diagnosticos/<int:id_diagnostico>"): lambda e: {"estado": "resuelto"},
    ("DELETE", "/diagnosticos/<int:id_diagnostico>"): None,
    ("POST", "/historial"): lambda e: {"id_paciente": e.id_paciente},
    ("PATCH", "/historial/<int:id_historial>"): lambda e: {"antecedentes": "Cambiado"},
    ("POST", "/medicamentos"): lambda e: {"id_tratamiento": e.id_tratamiento,
                                          "nombre": e.marcas["ALERGIA"], "dosis": "1 g",
                                          "frecuencia": "cada 8 horas", "via": "oral"},
    ("PATCH", "/medicamentos/<int:id_medicamento>"): lambda e: {"dosis": "80 mg"},
    ("DELETE", "/medicamentos/<int:id_medicamento>"): None,
    ("POST", "/medicos"): lambda e: {"nombre": "Dra. Nueva", "especialidad": "Pediatría",
                                     "telefono": "600000000"},
    ("PUT", "/medicos/<int:id_medico>"): lambda e: {"nombre": "Dr. Otro", "especialidad": "X",
                                                    "telefono": "600000000"},
    ("PATCH", "/medicos/<int:id_medico>"): lambda e: {"especialidad": "Cardiología"},
    # The doctor has a future cita with the patient: the 409 lists it (without PHI).
    ("DELETE", "/medicos/<int:id_medico>"): None,
    ("POST", "/pacientes"): paciente_nuevo,
    ("POST", "/fhir/Patient"): lambda e: {
        "resourceType": "Patient", "name": [{"text": "Nuevo Paciente"}], "gender": "other",
        "birthDate": "1990-02-02", "telecom": [{"system": "phone", "value": "600 000 000"}]},
    ("PUT", "/pacientes/<int:id_paciente>"): lambda e: {
        **paciente_nuevo(e), "nombre": f"Marta {e.marcas['NOMBRE']}",
        "direccion": e.marcas["DIRECCION"], "alergias": e.marcas["ALERGIA"]},
    ("PATCH", "/pacientes/<int:id_paciente>"): lambda e: {"telefono": "600 111 111"},
    ("DELETE", "/pacientes/<int:id_paciente>"): None,
    # An invitation answers only a code and its expiry, never the patient's data.
    ("POST", "/pacientes/<int:id_paciente>/invitacion"): None,
    ("POST", "/roles"): lambda e: {"nombre": f"rol{uuid.uuid4().hex[:8]}", "descripcion": "x",
                                   "permisos": ["clinico:leer"]},
    ("PUT", "/roles/<int:id_rol>"): lambda e: {"nombre": "medico", "descripcion": "x",
                                               "permisos": ["clinico:leer"]},
    ("PATCH", "/roles/<int:id_rol>"): lambda e: {"permisos": ["clinico:leer", "clinico:escribir"]},
    ("DELETE", "/roles/<int:id_rol>"): None,
    ("POST", "/tratamientos"): lambda e: {"id_diagnostico": e.id_diagnostico,
                                          "descripcion": "Otra pauta",
                                          "fecha_inicio": date.today().isoformat()},
    ("PATCH", "/tratamientos/<int:id_tratamiento>"): lambda e: {"descripcion": "Cambiada"},
    ("DELETE", "/tratamientos/<int:id_tratamiento>"): None,
    ("POST", "/usuarios"): lambda e: {"nombre": "Vínculo", "correo": f"v{uuid.uuid4().hex}"
                                      "@prueba.local", "password": "Prueba2024!segura",
                                      "rol": "paciente", "id_paciente": e.id_paciente},
    ("PATCH", "/usuarios/<int:id_usuario>"): lambda e: {"nombre": "Otro Nombre"},
    ("DELETE", "/usuarios/<int:id_usuario>"): None,
}

PARAMS = {"id_cita": "id_futura", "id_diagnostico": "id_diagnostico",
          "id_tratamiento": "id_tratamiento", "id_medicamento": "id_medicamento",
          "id_historial": "id_historial", "id_medico": "id_medico", "id_paciente": "id_paciente",
          "id_usuario": "id_usuario", "id_rol": None}


def write_routes(app):
    """(method, rule) of every route that changes something, from the URL map; the logout
    last, since it ends the caller's session."""
    return sorted(((m, r.rule) for r in app.url_map.iter_rules()
                   for m in r.methods - {"GET", "HEAD", "OPTIONS"}),
                  key=lambda route: (route == ("POST", "/auth/logout"), route))


def url_of(rule, e):
    url = rule
    for name, attr in PARAMS.items():
        valor = getattr(e, attr) if attr else 2  # the built-in role `medico`
        url = url.replace(f"<int:{name}>", str(valor))
    return url


def test_every_write_route_is_attacked(app):
    faltan = [r for r in write_routes(app) if r not in CUERPOS]
    assert not faltan, f"rutas de escritura sin cuerpo en test_adversario: {faltan}"


def acceso_clinico(client, e, headers):
    return tuple(client.get(url, headers=headers).status_code for url in (
        f"/historial/paciente/{e.id_paciente}", f"/diagnosticos?id_paciente={e.id_paciente}",
        f"/diagnosticos/{e.id_diagnostico}", f"/medicamentos/{e.id_medicamento}"))


@pytest.mark.parametrize("actor", ACTORES)
def test_no_write_leaks_or_grants(app, client, escena, actor):
    e = escena
    who = e.actores[actor]
    prohibidas = [v for k, v in e.marcas.items() if k not in LEE[actor]]
    ajeno_antes = acceso_clinico(client, e, e.actores["medico_ajeno"].headers)
    assert ajeno_antes == (403, 403, 403, 403)
    fallos = []
    for metodo, rule in write_routes(app):
        cuerpo = CUERPOS[(metodo, rule)]
        r = client.open(url_of(rule, e), method=metodo, headers=who.headers,
                        json=cuerpo(e) if cuerpo else None)
        texto = r.get_data(as_text=True)
        if r.status_code >= 500:
            fallos.append(f"{metodo} {rule}: {r.status_code}")
        fugas = [p for p in prohibidas if p in texto]
        if fugas:
            fallos.append(f"{metodo} {rule} → {r.status_code} muestra {fugas}")
        if any(v in texto for v in e.marcas.values()):
            rid = r.headers["X-Request-ID"]
            if not e.database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Solicitud = %s "
                                     "AND ID_Paciente = %s", (rid, e.id_paciente)):
                fallos.append(f"{metodo} {rule} → {r.status_code} muestra datos sin auditarlo")
    assert not fallos, "\n".join(fallos)
    # Whatever was tried, the unrelated doctor reaches the record exactly as before (with a
    # new session: the sequence ended with their logout).
    ajeno = e.actores["medico_ajeno"]
    with app.app_context():
        token = issue_tokens({"id_usuario": ajeno.id_usuario, "rol": "medico"})["token"]
    assert acceso_clinico(client, e, {"Authorization": f"Bearer {token}"}) == ajeno_antes
