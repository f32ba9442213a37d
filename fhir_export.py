"""The FHIR R4 mapping of the project's rows, and the per-patient export built with it.

One function per resource type turns a row (the shape of the JSON API's SELECTs) into a FHIR
R4 resource; `/pacientes/<id>/fhir` (paciente.py) and the `/fhir` REST API (fhir_api.py) both use
them, so a resource reads the same whichever way it is fetched. `fullUrl`s are built from
URL_PUBLICA and resolve under `/fhir`.

CIE-10 codes carry the system URI HL7 gives ICD-10 (`http://hl7.org/fhir/sid/icd-10`): the
catalogue is the WHO classification in its Spanish edition (same codes), so the Spanish
description of the catalogue is the coding's `display`.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app

import datos_historial
from auditoria import auditar
from auth import check_lectura_clinica
from datos_medico import SELECT_MEDICO
from db import query_all

# FHIR's JSON media type (http.html#mime-type).
FHIR_JSON = "application/fhir+json"
CIE10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DOCUMENTO_SYSTEM = "urn:historial-medico:documento"
LICENCIA_SYSTEM = "urn:historial-medico:licencia"

GENERO = {"Masculino": "male", "Femenino": "female", "Otro": "other"}
ESTADO_CITA = {"Pendiente": "pending", "Confirmada": "booked", "Completada": "fulfilled",
               "Cancelada": "cancelled", "No_Asistio": "noshow"}
ESTADO_TRATAMIENTO = {"activo": "active", "finalizado": "completed", "suspendido": "on-hold",
                      "anulado": "entered-in-error"}
ESTADO_MEDICAMENTO = {"activo": "active", "suspendido": "on-hold", "anulado": "entered-in-error"}
VIA = {"oral": ("26643006", "Oral route"), "intravenosa": ("47625008", "Intravenous route"),
       "intramuscular": ("78421000", "Intramuscular route"),
       "subcutanea": ("34206005", "Subcutaneous route"), "topica": ("6064005", "Topical route"),
       "inhalada": ("447694001", "Respiratory tract route")}
# The way back, FHIR code → the row's value: what searches filter by and Patient bodies store.
GENERO_DE = {v: k for k, v in GENERO.items()}
ESTADO_CITA_DE = {v: k for k, v in ESTADO_CITA.items()}
ESTADO_MEDICAMENTO_DE = {v: k for k, v in ESTADO_MEDICAMENTO.items()}


def _instant(value):
    """A naive UTC DATETIME (or its ISO text) as a FHIR instant."""
    if isinstance(value, str):
        return value if value.endswith("Z") else value + "Z"
    return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _text(value):
    """A DATE (or any value) as text; None stays None."""
    return None if value is None else str(value)


def _hora(value):
    """TIME from the driver (timedelta) or 'HH:MM' text, as a time of day."""
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    return datetime.strptime(str(value)[:5], "%H:%M").time()


def _clean(resource):
    """Drop empty values: FHIR forbids empty strings, lists and objects."""
    if isinstance(resource, dict):
        cleaned = {k: _clean(v) for k, v in resource.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(resource, list):
        return [c for c in (_clean(v) for v in resource) if c not in (None, "", [], {})]
    return resource


def patient(p):
    """Patient from a paciente row (SELECT_PACIENTE or the timeline's `paciente`)."""
    words = p["nombre"].split()
    telecom = [{"system": "phone", "value": p.get("telefono"), "use": "mobile"},
               {"system": "email", "value": p.get("correo")}]
    return _clean({
        "resourceType": "Patient", "id": str(p["id_paciente"]),
        "identifier": [{"system": DOCUMENTO_SYSTEM, "value": p.get("documento")}]
        if p.get("documento") else [],
        "active": bool(p.get("activo", True)),
        "name": [{"use": "official", "text": p["nombre"], "given": words[:1],
                  "family": " ".join(words[1:]) or None}],
        "telecom": [t for t in telecom if t["value"]],
        "gender": GENERO.get(p.get("genero"), "unknown"),
        "birthDate": _text(p.get("fecha_nacimiento")),
        "address": [{"text": p["direccion"]}] if p.get("direccion") else [],
    })


def practitioner(m):
    """Practitioner from a SELECT_MEDICO row."""
    return _clean({
        "resourceType": "Practitioner", "id": str(m["id_medico"]),
        "identifier": [{"system": LICENCIA_SYSTEM, "value": m["licencia"]}]
        if m.get("licencia") else [],
        "active": bool(m.get("activo", True)),
        "name": [{"text": m.get("nombre")}],
        "telecom": [t for t in ({"system": "phone", "value": m.get("telefono")},
                                {"system": "email", "value": m.get("correo")}) if t["value"]],
        "qualification": [{"code": {"text": m["especialidad"]}}] if m.get("especialidad") else [],
    })


def appointment(c, zona_horaria):
    """Appointment from a cita row; its wall-clock time is in the clinic's zone."""
    zona = ZoneInfo(zona_horaria)
    start = datetime.combine(datetime.strptime(str(c["fecha"]), "%Y-%m-%d").date(),
                             _hora(c["hora"])).replace(tzinfo=zona)
    end = start + timedelta(minutes=c["duracion_min"])
    return _clean({
        "resourceType": "Appointment", "id": str(c["id_cita"]),
        "status": ESTADO_CITA[c["estado"]],
        "description": c.get("motivo"),
        "start": start.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "end": end.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "minutesDuration": c["duracion_min"],
        "participant": [
            {"actor": {"reference": f"Patient/{c['id_paciente']}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{c['id_medico']}"}, "status": "accepted"},
        ],
    })


def condition(d):
    """Condition from a SELECT_DIAGNOSTICO row, CIE-10 coded when it has a code."""
    anulado = d["estado"] == "anulado"
    code = {"text": d["descripcion"]}
    if d.get("codigo_cie10"):
        code["coding"] = [{"system": CIE10_SYSTEM, "code": d["codigo_cie10"],
                           "display": d.get("descripcion_cie10")}]
    return _clean({
        "resourceType": "Condition", "id": str(d["id_diagnostico"]),
        # FHIR forbids clinicalStatus on an entered-in-error condition (con-5).
        "clinicalStatus": None if anulado else {"coding": [{
            "system": CONDITION_CLINICAL, "code": "active" if d["estado"] == "activo" else "resolved"}]},
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION,
                                           "code": "entered-in-error" if anulado else "confirmed"}]},
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": code,
        "subject": {"reference": f"Patient/{d['id_paciente']}"},
        "recordedDate": _text(d["fecha"]),
        "recorder": {"reference": f"Practitioner/{d['id_medico']}"},
    })


def care_plan(t):
    """CarePlan from a SELECT_TRATAMIENTO row: its author and the diagnosis it addresses."""
    return _clean({
        "resourceType": "CarePlan", "id": str(t["id_tratamiento"]),
        "status": ESTADO_TRATAMIENTO[t["estado"]], "intent": "plan",
        "description": t["descripcion"],
        "subject": {"reference": f"Patient/{t['id_paciente']}"},
        "period": {"start": _text(t["fecha_inicio"]), "end": _text(t.get("fecha_fin"))},
        "author": {"reference": f"Practitioner/{t['id_medico']}"},
        "addresses": [{"reference": f"Condition/{t['id_diagnostico']}"}],
    })


def medication_request(m, id_diagnostico):
    """MedicationRequest from a SELECT_MEDICAMENTO row and the diagnosis of its treatment."""
    via = VIA.get(m["via"])
    route = ({"coding": [{"system": SNOMED, "code": via[0], "display": via[1]}], "text": m["via"]}
             if via else {"text": m["via"]})
    dias = m.get("duracion_dias")
    return _clean({
        "resourceType": "MedicationRequest", "id": str(m["id_medicamento"]),
        "status": ESTADO_MEDICAMENTO[m["estado"]], "intent": "order",
        "medicationCodeableConcept": {"text": m["nombre"]},
        "subject": {"reference": f"Patient/{m['id_paciente']}"},
        "authoredOn": _instant(m["creado_en"]) if m.get("creado_en") else None,
        "requester": {"reference": f"Practitioner/{m['id_medico']}"},
        "reasonReference": [{"reference": f"Condition/{id_diagnostico}"}],
        "basedOn": [{"reference": f"CarePlan/{m['id_tratamiento']}"}],
        "dosageInstruction": [{"text": f"{m['dosis']} {m['frecuencia']}",
                               "patientInstruction": m.get("indicaciones"), "route": route}],
        "dispenseRequest": {"expectedSupplyDuration": {
            "value": dias, "unit": "días", "system": "http://unitsofmeasure.org", "code": "d"}}
        if dias else None,
    })


def full_url(resource):
    """The absolute address of a resource under /fhir, from URL_PUBLICA (never the Host)."""
    base = current_app.config["URL_PUBLICA"].rstrip("/")
    return f"{base}/fhir/{resource['resourceType']}/{resource['id']}"


def bundle(timeline, medicos, zona_horaria="UTC"):
    """The `collection` Bundle of a nested history (the `/historial/paciente/<id>` shape)."""
    resources = [patient(timeline["paciente"])]
    resources += [practitioner(m) for m in medicos]
    resources += [appointment(c, zona_horaria) for c in timeline["citas"]]
    for d in timeline["diagnosticos"]:
        resources.append(condition(d))
        for t in d.get("tratamientos", []):
            resources.append(care_plan(t))
            resources += [medication_request(m, t["id_diagnostico"])
                          for m in t.get("medicamentos", [])]
    return {
        "resourceType": "Bundle", "type": "collection",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "entry": [{"fullUrl": full_url(r), "resource": r} for r in resources],
    }


# Every doctor a reference of the bundle names: of a cita, a diagnosis, a treatment or a drug.
MEDICOS_DE = SELECT_MEDICO + """
     WHERE m.`ID_Médico` IN (SELECT `ID_Médico` FROM Cita WHERE ID_Paciente = %s
                             UNION SELECT `ID_Médico` FROM `Diagnóstico` WHERE ID_Paciente = %s
                             UNION SELECT `ID_Médico` FROM Tratamiento WHERE ID_Paciente = %s
                             UNION SELECT `ID_Médico` FROM Medicamento WHERE ID_Paciente = %s)
     ORDER BY m.`ID_Médico`
"""


def everything(id_paciente):
    """The patient's whole record as a `collection` Bundle: clinical access rules (break-the-
    glass included), 404 for an unknown patient, one audit row."""
    check_lectura_clinica(id_paciente)
    timeline = datos_historial.timeline(id_paciente)
    medicos = query_all(MEDICOS_DE, (id_paciente,) * 4)
    auditar("leer", "fhir", id_paciente, id_paciente=id_paciente)
    return bundle(timeline, medicos, current_app.config["ZONA_HORARIA"])

