"""The paths between the rules: writes that would leak, access a doctor could grant themself,
an agenda anyone could fill, state left in limbo, authorship and an audit that keeps its word.
"""

from datetime import date, datetime, timedelta

import pytest

DIA = date.today() + timedelta(days=30)


def reservar(client, actor, id_paciente, id_medico, **campos):
    body = {"fecha": DIA.isoformat(), "hora": "10:00", "id_paciente": id_paciente,
            "id_medico": id_medico, **campos}
    return client.post("/citas", json=body, headers=actor.headers)


def citas_de(database, id_paciente):
    return database.scalar("SELECT COUNT(*) FROM Cita WHERE ID_Paciente = %s", (id_paciente,))


# ---------------------------------------------------------------------------
# A write answers only with what the caller may read
# ---------------------------------------------------------------------------

def test_reception_creating_a_history_never_sees_antecedentes(client, database, make_user,
                                                              make_paciente):
    id_paciente = make_paciente()
    database.execute("UPDATE `Historial_Médico` SET Antecedentes = 'VIH positivo' "
                     "WHERE ID_Paciente = %s", (id_paciente,))
    recepcion = make_user("recepcionista")
    r = client.post("/historial", json={"id_paciente": id_paciente}, headers=recepcion.headers)
    assert r.status_code == 200
    assert "antecedentes" not in r.get_json() and "VIH" not in r.get_data(as_text=True)
    assert r.get_json()["id_paciente"] == id_paciente


def test_a_doctor_under_care_gets_the_history_and_the_read_is_audited(client, database,
                                                                      make_user, make_paciente,
                                                                      make_cita):
    id_paciente = make_paciente()
    database.execute("UPDATE `Historial_Médico` SET Antecedentes = 'Asma' WHERE ID_Paciente = %s",
                     (id_paciente,))
    medico = make_user("medico")
    make_cita(id_paciente, medico.id_medico)
    r = client.post("/historial", json={"id_paciente": id_paciente}, headers=medico.headers)
    assert r.status_code == 200 and r.get_json()["antecedentes"] == "Asma"
    rid = r.headers["X-Request-ID"]
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Solicitud = %s AND "
                           "Accion = 'leer' AND ID_Paciente = %s", (rid, id_paciente)) == 1


@pytest.mark.parametrize("permiso, metodo, url, body", [
    ("pacientes:escribir", "post", "/pacientes", {
        "nombre": "Sin Lectura", "fecha_nacimiento": "1990-01-01", "genero": "Otro",
        "telefono": "600000000"}),
    ("pacientes:escribir", "patch", "/pacientes/{id_paciente}", {"telefono": "600000001"}),
])
def test_a_write_permission_without_its_read_permission_does_nothing(
        client, database, make_user, make_role, make_paciente, permiso, metodo, url, body):
    """A role holding only a write permission cannot use it: the write would answer with the
    record, which its holder may not read."""
    id_paciente = make_paciente()
    actor = make_user(make_role(permiso))
    antes = database.one("SELECT COUNT(*) AS n, MAX(Version) AS v FROM Paciente")
    r = client.open(url.format(id_paciente=id_paciente), method=metodo.upper(), json=body,
                    headers=actor.headers)
    assert r.status_code == 403
    assert database.one("SELECT COUNT(*) AS n, MAX(Version) AS v FROM Paciente") == antes


# ---------------------------------------------------------------------------
# No access a doctor grants themself
# ---------------------------------------------------------------------------

def test_a_doctor_cannot_book_a_stranger_and_so_never_reaches_their_record(
        client, database, make_user, make_paciente):
    id_paciente = make_paciente()
    medico = make_user("medico")
    r = reservar(client, medico, id_paciente, medico.id_medico)
    assert r.status_code == 403 and citas_de(database, id_paciente) == 0
    for url in (f"/historial/paciente/{id_paciente}", f"/pacientes/{id_paciente}/fhir",
                f"/diagnosticos?id_paciente={id_paciente}"):
        assert client.get(url, headers=medico.headers).status_code == 403, url


def test_booking_by_reception_or_the_patient_opens_the_care_relation(client, make_user):
    paciente, medico = make_user("paciente"), make_user("medico")
    url = f"/historial/paciente/{paciente.id_paciente}"
    assert client.get(url, headers=medico.headers).status_code == 403
    assert reservar(client, paciente, paciente.id_paciente, medico.id_medico).status_code == 201
    assert client.get(url, headers=medico.headers).status_code == 200
    # Now under care, the doctor books the follow-up visit themself.
    r = reservar(client, medico, paciente.id_paciente, medico.id_medico, hora="11:00")
    assert r.status_code == 201


def test_a_doctor_cannot_move_an_old_cita_into_the_future_to_renew_care(
        client, database, app, make_user, make_paciente, make_cita):
    id_paciente = make_paciente()
    medico = make_user("medico")
    antigua = date.today() - timedelta(days=app.config["CUIDADO_DIAS"] + 10)
    id_cita = make_cita(id_paciente, medico.id_medico, fecha=antigua)  # still Pendiente
    r = client.patch(f"/citas/{id_cita}", json={"fecha": DIA.isoformat()},
                     headers=medico.headers)
    assert r.status_code == 403
    assert database.scalar("SELECT Fecha FROM Cita WHERE ID_Cita = %s", (id_cita,)) == antigua
    assert client.get(f"/historial/paciente/{id_paciente}",
                      headers=medico.headers).status_code == 403


def test_break_the_glass_needs_one_named_patient(client, database, make_user, make_paciente,
                                                 make_cita):
    otro = make_user("medico")
    id_paciente = make_paciente()
    make_cita(id_paciente, otro.id_medico)
    database.execute("INSERT INTO `Diagnóstico` (`Descripción`, Fecha, ID_Historial, ID_Cita, "
                     "ID_Paciente, `ID_Médico`) SELECT 'Intento autolítico', CURRENT_DATE, "
                     "h.ID_Historial, c.ID_Cita, c.ID_Paciente, c.`ID_Médico` FROM Cita c JOIN "
                     "`Historial_Médico` h USING (ID_Paciente) WHERE c.ID_Paciente = %s",
                     (id_paciente,))
    medico = make_user("medico")
    glass = {**medico.headers, "X-Motivo-Acceso": "Urgencia vital en la guardia"}
    lista = client.get("/diagnosticos", headers=glass)
    assert lista.status_code == 200 and "autolítico" not in lista.get_data(as_text=True)
    r = client.get(f"/diagnosticos?id_paciente={id_paciente}", headers=glass)
    assert r.status_code == 200 and "autolítico" in r.get_data(as_text=True)
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'acceso_emergencia' AND ID_Paciente = %s",
                           (medico.id_usuario, id_paciente)) == 1


# ---------------------------------------------------------------------------
# An agenda nobody can fill
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("hora, duracion", [("22:00", None), ("07:59", None), ("17:45", 30),
                                            ("16:00", 240)])
def test_citas_stay_within_clinic_hours(client, database, make_user, hora, duracion):
    recepcion, paciente, medico = make_user("recepcionista"), make_user("paciente"), \
        make_user("medico")
    campos = {"duracion_min": duracion} if duracion else {}
    r = reservar(client, recepcion, paciente.id_paciente, medico.id_medico, hora=hora, **campos)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "hora"
    assert citas_de(database, paciente.id_paciente) == 0


def test_a_patient_cannot_choose_the_duration(client, database, make_user):
    paciente, medico = make_user("paciente"), make_user("medico")
    r = reservar(client, paciente, paciente.id_paciente, medico.id_medico, duracion_min=240)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "duracion_min"
    assert citas_de(database, paciente.id_paciente) == 0
    r = reservar(client, paciente, paciente.id_paciente, medico.id_medico)
    assert r.status_code == 201
    r = client.patch(f"/citas/{r.get_json()['id_cita']}", json={"duracion_min": 240},
                     headers=paciente.headers)
    assert r.status_code == 400


def test_a_patient_holds_at_most_the_cap_of_future_citas(client, database, app, make_user):
    paciente, medico = make_user("paciente"), make_user("medico")
    tope = app.config["CITAS_MAX_PACIENTE"]
    ids = []
    for i in range(tope):
        r = reservar(client, paciente, paciente.id_paciente, medico.id_medico,
                     hora=f"{9 + i:02d}:00")
        assert r.status_code == 201
        ids.append(r.get_json()["id_cita"])
    r = reservar(client, paciente, paciente.id_paciente, medico.id_medico, hora="15:00")
    assert r.status_code == 409 and r.get_json()["codigo"] == "conflicto"
    assert citas_de(database, paciente.id_paciente) == tope
    # Staff may still book for them, and a cancelled cita frees a place.
    recepcion = make_user("recepcionista")
    assert reservar(client, recepcion, paciente.id_paciente, medico.id_medico,
                    hora="16:00").status_code == 201
    client.delete(f"/citas/{ids[0]}", headers=paciente.headers)
    client.delete(f"/citas/{ids[1]}", headers=paciente.headers)
    assert reservar(client, paciente, paciente.id_paciente, medico.id_medico,
                    hora="15:00").status_code == 201


def test_the_cap_holds_on_reschedule(client, database, app, make_user, make_cita):
    paciente, medico = make_user("paciente"), make_user("medico")
    tope = app.config["CITAS_MAX_PACIENTE"]
    for i in range(tope):
        make_cita(paciente.id_paciente, medico.id_medico, fecha=DIA, hora=f"{9 + i:02d}:00")
    pasada = make_cita(paciente.id_paciente, medico.id_medico,
                       fecha=date.today() - timedelta(days=3))
    r = client.patch(f"/citas/{pasada}", json={"fecha": (DIA + timedelta(days=1)).isoformat()},
                     headers=paciente.headers)
    assert r.status_code == 409
    assert database.scalar("SELECT Fecha FROM Cita WHERE ID_Cita = %s", (pasada,)) < date.today()


# ---------------------------------------------------------------------------
# No state left in limbo
# ---------------------------------------------------------------------------

def test_deactivating_a_doctor_with_future_citas(client, database, make_user, make_cita,
                                                 make_paciente):
    admin, medico = make_user("admin"), make_user("medico")
    futuras = [make_cita(make_paciente(), medico.id_medico, fecha=DIA, hora=h,
                         estado=e) for h, e in (("09:00", "Pendiente"), ("10:00", "Confirmada"))]
    pasada = make_cita(make_paciente(), medico.id_medico, fecha=date.today() - timedelta(days=5),
                       estado="Completada")
    r = client.delete(f"/medicos/{medico.id_medico}", headers=admin.headers)
    assert r.status_code == 409
    assert {d["mensaje"].split()[1] for d in r.get_json()["detalles"]} == {str(i) for i in futuras}
    assert database.scalar("SELECT Activo FROM `Médico` WHERE `ID_Médico` = %s",
                           (medico.id_medico,)) == 1
    r = client.delete(f"/medicos/{medico.id_medico}?cancelar_citas=1", headers=admin.headers)
    assert r.status_code == 204
    estados = database.all("SELECT ID_Cita AS id, Estado AS e FROM Cita WHERE `ID_Médico` = %s",
                           (medico.id_medico,))
    assert {c["id"]: c["e"] for c in estados} == {futuras[0]: "Cancelada",
                                                 futuras[1]: "Cancelada", pasada: "Completada"}
    assert database.scalar("SELECT COUNT(*) FROM Cita_Estado WHERE ID_Cita IN (%s, %s) AND "
                           "Estado = 'Cancelada' AND Motivo = 'médico dado de baja'",
                           tuple(futuras)) == 2
    # A deactivated doctor has no patient under care, and their citas are not in limbo.
    r = client.patch(f"/citas/{futuras[0]}", json={"hora": "11:00"}, headers=admin.headers)
    assert r.status_code == 409


def test_moving_a_cita_of_a_deactivated_doctor_is_a_conflict_not_a_404(
        client, database, make_user, make_paciente, make_cita):
    recepcion, medico = make_user("recepcionista"), make_user("medico")
    id_cita = make_cita(make_paciente(), medico.id_medico, fecha=date.today() - timedelta(days=1))
    database.execute("UPDATE `Médico` SET Activo = FALSE WHERE `ID_Médico` = %s",
                     (medico.id_medico,))
    r = client.patch(f"/citas/{id_cita}", json={"fecha": DIA.isoformat()},
                     headers=recepcion.headers)
    assert r.status_code == 409 and "baja" in r.get_json()["error"]
    # The visit that did take place can still be closed.
    r = client.post(f"/citas/{id_cita}/estado", json={"estado": "Confirmada"},
                    headers=recepcion.headers)
    assert r.status_code == 200


# ---------------------------------------------------------------------------
# Authorship of clinical records
# ---------------------------------------------------------------------------

@pytest.fixture
def receta(client, make_user, make_paciente, make_cita):
    """A prescription written by one doctor, and a second doctor caring for the patient."""
    autor, otro = make_user("medico"), make_user("medico")
    id_paciente = make_paciente()
    id_cita = make_cita(id_paciente, autor.id_medico, fecha=date.today(), hora="09:00")
    make_cita(id_paciente, otro.id_medico, fecha=DIA)
    d = client.post("/diagnosticos", headers=autor.headers,
                    json={"id_cita": id_cita, "descripcion": "Lumbalgia"}).get_json()
    t = client.post("/tratamientos", headers=autor.headers, json={
        "id_diagnostico": d["id_diagnostico"], "descripcion": "Analgesia",
        "fecha_inicio": date.today().isoformat()}).get_json()
    m = client.post("/medicamentos", headers=autor.headers, json={
        "id_tratamiento": t["id_tratamiento"], "nombre": "Ibuprofeno", "dosis": "20 mg",
        "frecuencia": "cada 8 horas", "via": "oral"}).get_json()
    return autor, otro, id_paciente, d["id_diagnostico"], t["id_tratamiento"], m["id_medicamento"]


def test_another_caring_doctor_cannot_change_or_annul_a_prescription(client, database, receta):
    autor, otro, id_paciente, id_diagnostico, id_tratamiento, id_medicamento = receta
    url = f"/medicamentos/{id_medicamento}"
    assert client.patch(url, json={"dosis": "80 mg"}, headers=otro.headers).status_code == 403
    assert client.delete(url, headers=otro.headers).status_code == 403
    assert client.patch(f"/tratamientos/{id_tratamiento}", json={"descripcion": "Otra"},
                        headers=otro.headers).status_code == 403
    assert client.delete(f"/diagnosticos/{id_diagnostico}",
                         headers=otro.headers).status_code == 403
    assert database.one("SELECT Dosis, Estado FROM Medicamento WHERE ID_Medicamento = %s",
                        (id_medicamento,)) == {"Dosis": "20 mg", "Estado": "activo"}
    # They may add their own records, under the other's diagnosis too.
    r = client.post("/tratamientos", headers=otro.headers, json={
        "id_diagnostico": id_diagnostico, "descripcion": "Fisioterapia",
        "fecha_inicio": date.today().isoformat()})
    assert r.status_code == 201


def test_another_caring_doctor_may_suspend_with_a_reason(client, database, receta):
    autor, otro, id_paciente, _, id_tratamiento, id_medicamento = receta
    url = f"/medicamentos/{id_medicamento}"
    r = client.patch(url, json={"estado": "suspendido"}, headers=otro.headers)
    assert r.status_code == 400 and r.get_json()["detalles"][0]["campo"] == "motivo"
    r = client.patch(url, json={"estado": "suspendido", "motivo": "Hemorragia digestiva"},
                     headers=otro.headers)
    assert r.status_code == 200 and r.get_json()["estado"] == "suspendido"
    assert database.scalar("SELECT Motivo FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Recurso = 'medicamento' AND Accion = 'actualizar'",
                           (otro.id_usuario,)) == "Hemorragia digestiva"
    r = client.patch(f"/tratamientos/{id_tratamiento}",
                     json={"estado": "suspendido", "motivo": "Alta"}, headers=otro.headers)
    assert r.status_code == 200
    # The author keeps every right on their own records.
    assert client.patch(url, json={"dosis": "40 mg", "estado": "activo"},
                        headers=autor.headers).status_code == 200


# ---------------------------------------------------------------------------
# An audit that keeps its word
# ---------------------------------------------------------------------------

def test_audit_rows_keep_the_actor_as_they_were(client, database, make_user):
    paciente = make_user("paciente")
    client.get(f"/pacientes/{paciente.id_paciente}", headers=paciente.headers)
    database.execute("UPDATE Usuario SET Nombre = 'Clínica: llame al 900 000 000' "
                     "WHERE ID_Usuario = %s", (paciente.id_usuario,))
    row = database.one("SELECT Nombre_Usuario AS n, Rol AS r FROM Auditoria WHERE ID_Usuario = %s "
                       "AND Accion = 'leer'", (paciente.id_usuario,))
    assert row == {"n": f"Usuario {paciente.correo}", "r": "paciente"}
    r = client.get(f"/pacientes/{paciente.id_paciente}/accesos", headers=paciente.headers)
    assert "900" not in r.get_data(as_text=True)


def test_a_patient_log_never_names_another_patient(client, database, make_user, make_cita):
    yo, otro = make_user("paciente"), make_user("paciente")
    # A row of this patient's record written by another patient (e.g. a shared appointment
    # desk mistake), and one by staff.
    database.execute("INSERT INTO Auditoria (ID_Usuario, Nombre_Usuario, Rol, Accion, Recurso, "
                     "ID_Paciente) VALUES (%s, 'Pedro Secreto', 'paciente', 'leer', 'paciente', %s)",
                     (otro.id_usuario, yo.id_paciente))
    recepcion = make_user("recepcionista")
    client.get(f"/pacientes/{yo.id_paciente}", headers=recepcion.headers)
    r = client.get(f"/pacientes/{yo.id_paciente}/accesos", headers=yo.headers)
    texto = r.get_data(as_text=True)
    assert r.status_code == 200 and "Pedro Secreto" not in texto
    usuarios = {a["usuario"] for a in r.get_json()["datos"]}
    assert "otro paciente" in usuarios and f"Usuario {recepcion.correo}" in usuarios
    assert otro.id_usuario not in {a["id_usuario"] for a in r.get_json()["datos"]}


@pytest.mark.parametrize("url", ["/historial/paciente/{id}", "/diagnosticos?id_paciente={id}",
                                 "/diagnosticos/{id_diagnostico}"])
def test_a_refusal_is_audited_under_the_patient_it_targeted(client, database, make_user,
                                                            make_paciente, make_cita, url):
    id_paciente = make_paciente()
    autor = make_user("medico")
    id_cita = make_cita(id_paciente, autor.id_medico, fecha=date.today(), hora="09:00")
    d = client.post("/diagnosticos", headers=autor.headers,
                    json={"id_cita": id_cita, "descripcion": "Depresión"}).get_json()
    recepcion = make_user("recepcionista")
    r = client.get(url.format(id=id_paciente, id_diagnostico=d["id_diagnostico"]),
                   headers=recepcion.headers)
    assert r.status_code == 403
    assert database.scalar("SELECT ID_Paciente FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'denegado'", (recepcion.id_usuario,)) == id_paciente
    r = client.get(f"/pacientes/{id_paciente}/accesos", headers=make_user("admin").headers)
    assert "denegado" in {a["accion"] for a in r.get_json()["datos"]}
