"""The FHIR R4 REST API under `/fhir`: metadata, read and search, Patient/$everything and
Patient create, with the JSON API's tokens, access rules and audit.

Resources come from the mapping of fhir_export.py (the one mapping of the project); the search
parameters, their SQL and the CapabilityStatement from fhir_busqueda.py; the body of a Patient
create from fhir_entrada.py. Under `/fhir` FHIR's conventions replace the JSON API's
(API.md §13):

- Bodies are `application/fhir+json; fhirVersion=4.0` (`application/json` when the client
  accepts only that); `Accept` is honoured and `_format` overrides it; anything that is not
  JSON → 406.
- Every error is an `OperationOutcome` with the HTTP status: the app's one error handler
  (errors.py) builds the JSON error, and `operation_outcome` below rewrites it for `/fhir`,
  so 401 keeps `WWW-Authenticate`, 429/503 `Retry-After`, 405 `Allow`.
- Searches answer a `searchset` Bundle paged by `_count` (1–100, default 20) with a `next`
  link carrying an opaque `_cursor` (keyset underneath, the JSON API's orders). Unknown or
  repeated search parameters are refused (400) rather than ignored: a filter silently dropped
  would hand out records the client did not ask for. `date` and `birthdate` may repeat
  (a range: `ge…` and `le…`).
- Absolute URLs (fullUrl, links, Location) come from URL_PUBLICA, never from `Host`.

Access: `Patient` follows `pacientes:leer` (a patient: only themself); `Practitioner` is the
doctor directory, readable by any authenticated user as `GET /medicos` is; every clinical
resource follows `clinico:leer` and the care relation (auth.check_lectura_clinica and the
JSON lists' clinico.alcance_lista). Break-the-glass (`X-Motivo-Acceso`) works on a request
that names one patient (a path, or `patient=`); an unfiltered clinical search by a doctor
answers only the rows of patients under their care and the ones they wrote, the header
notwithstanding. Every patient or clinical resource answered is audited (`leer`).
"""

from urllib.parse import urlencode

import orjson
from flask import Blueprint, current_app, g, request

import datos_cie10
import datos_paciente
import fhir_export
from api import INT_MAX, Orden, encode_cursor, etag_of, keyset_sql, spec
from auditoria import auditar
from auth import autenticado, check_lectura_paciente, requiere, tiene
from clinico import (ORDEN_DIAGNOSTICOS, ORDEN_MEDICAMENTOS, ORDEN_TRATAMIENTOS, SELECT_DIAGNOSTICO,
                     SELECT_MEDICAMENTO, SELECT_TRATAMIENTO, auditar_lectura, check_lectura_fila)
from datos_cita import ORDEN_CITAS, SELECT_CITA
from datos_medico import ORDEN_MEDICOS, SELECT_MEDICO, cargar_publico
from db import query_all, query_one
from errors import ApiError, no_encontrado, prohibido
from fhir_busqueda import (BusquedaAppointment, BusquedaClinica, BusquedaCondition,
                           BusquedaMedicationRequest, BusquedaPatient, BusquedaPractitioner,
                           Formato, alcance_clinico, capability_statement, fechas, filtro_fecha,
                           id_de, valor_token)
from fhir_entrada import PatientFHIR, datos_de_patient
from fhir_export import FHIR_JSON
from texto import PREFIJO_MAX, like_palabra, normalize

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

CONTENT_TYPE = {FHIR_JSON: "application/fhir+json; fhirVersion=4.0",
                "application/json": "application/json"}
# `_format` values (FHIR http.html#mime-type): the short form and the MIME types of JSON.
FORMATOS = {"json": FHIR_JSON, FHIR_JSON: FHIR_JSON, "application/json+fhir": FHIR_JSON,
            "application/json": "application/json"}
REPETIBLES = {"date", "birthdate"}
ERROR_SYSTEM = "urn:historial-medico:codigo-error"

# HTTP status → OperationOutcome.issue.code (FHIR value set issue-type).
ISSUE_CODE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
              405: "not-supported", 406: "not-supported", 409: "conflict", 412: "conflict",
              413: "too-costly", 415: "not-supported", 429: "throttled", 500: "exception",
              503: "transient"}


# ---------------------------------------------------------------------------
# Content negotiation and OperationOutcome
# ---------------------------------------------------------------------------

def _aceptado(header):
    """The media type to answer for an Accept header, or None when it allows no JSON.

    Parameters other than `q` are ignored (`application/fhir+json; fhirVersion=4.0` is the
    FHIR type), which Werkzeug's matcher would count as a mismatch.
    """
    best, best_q = None, 0.0
    for part in header.split(","):
        kind, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = kind.lower()
        for offered in (FHIR_JSON, "application/json"):
            if kind in (offered, "*/*", "application/*") and q > best_q:
                best, best_q = offered, q
    return best


@bp.before_request
def negotiate():
    """Pick the answer's media type (`_format` first, then `Accept`) or 406; refuse repeated
    search parameters, which the query models would see only once."""
    formato = request.args.get("_format")
    header = request.headers.get("Accept", "").strip()
    if formato is not None:
        g.fhir_mimetype = FORMATOS.get(formato.strip().lower())
    else:
        g.fhir_mimetype = _aceptado(header) if header else FHIR_JSON
    if g.fhir_mimetype is None:
        raise ApiError(406, "no_aceptable", "Sólo se sirve JSON (application/fhir+json, "
                                            "application/json o _format=json)")
    repetidos = sorted(k for k in request.args if k not in REPETIBLES
                       and len(request.args.getlist(k)) > 1)
    if repetidos:
        raise ApiError(400, "validacion", "Datos no válidos", detalles=[
            {"campo": k, "mensaje": "parámetro repetido"} for k in repetidos])


def _fhirpath(campo):
    """`name.0.given.1` (a pydantic location) as the FHIRPath `name[0].given[1]`."""
    path = ""
    for part in campo.split("."):
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


def _outcome(status, body):
    """The OperationOutcome of a JSON API error body."""
    code = ISSUE_CODE.get(status, "processing")
    details = {"coding": [{"system": ERROR_SYSTEM, "code": body.get("codigo", "error")}],
               "text": body.get("error", "")}
    issues = []
    tipo = request.path.split("/")[2] if request.path.count("/") >= 2 else ""
    for d in body.get("detalles") or []:
        issue = {"severity": "error", "code": code if status != 400 else "invalid",
                 "details": {**details, "text": d["mensaje"]}}
        if request.method == "POST" and tipo:
            path = _fhirpath(d["campo"])
            issue["expression"] = [tipo if path == "cuerpo" else f"{tipo}.{path}"]
        else:
            campo = "_cursor" if d["campo"] == "cursor" else d["campo"]
            issue["diagnostics"] = f"parámetro {campo}"
        issues.append(issue)
    if not issues:
        issues.append({"severity": "fatal" if status >= 500 else "error", "code": code,
                       "details": details})
    if body.get("id_solicitud"):
        issues[0]["diagnostics"] = "; ".join(
            filter(None, [issues[0].get("diagnostics"), f"id_solicitud {body['id_solicitud']}"]))
    return {"resourceType": "OperationOutcome", "issue": issues}


@bp.after_app_request
def operation_outcome(response):
    """Under /fhir, the JSON error shape becomes an OperationOutcome (same status and
    headers): routing errors (404, 405) never reach the blueprint, hence an app-wide hook."""
    if (response.status_code >= 400 and response.mimetype == "application/json"
            and (request.path == "/fhir" or request.path.startswith("/fhir/"))):
        body = response.get_json(silent=True) or {}
        response.set_data(orjson.dumps(_outcome(response.status_code, body)))
        response.headers["Content-Type"] = CONTENT_TYPE[FHIR_JSON]
    return response


def responder(body, status=200, headers=None):
    """A FHIR answer in the negotiated media type."""
    response = current_app.response_class(orjson.dumps(body), status=status, headers=headers)
    response.headers["Content-Type"] = CONTENT_TYPE[g.get("fhir_mimetype") or FHIR_JSON]
    return response


def leido(resource, row_id=None, version=None):
    """A read's answer: the resource, with a weak ETag of the row's version."""
    headers = {"ETag": "W/" + etag_of(row_id, version)} if version is not None else None
    return responder(resource, headers=headers)


def url_publica(path, args):
    """An absolute address from URL_PUBLICA and the given query (never the request's Host)."""
    base = current_app.config["URL_PUBLICA"].rstrip("/") + path
    query = urlencode(args, doseq=True)
    return f"{base}?{query}" if query else base


def searchset(rows, query, orden, to_resource):
    """The `searchset` Bundle of one keyset page (`_count` + 1 rows were fetched)."""
    more = len(rows) > query.count
    rows = rows[:query.count]
    args = request.args.to_dict(flat=False)
    links = [{"relation": "self", "url": url_publica(request.path, args)}]
    if more and rows:
        args["_cursor"] = [encode_cursor([rows[-1][k] for k in orden.keys])]
        links.append({"relation": "next", "url": url_publica(request.path, args)})
    body = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if rows:  # FHIR JSON has no empty arrays: an empty page has no `entry`
        body["entry"] = [{"fullUrl": fhir_export.full_url(r), "resource": r,
                          "search": {"mode": "match"}} for r in map(to_resource, rows)]
    return responder(body)


def pagina(sql, where, params, query, orden):
    """Run one keyset page of `sql` (a SELECT ending before WHERE) in the order `orden`."""
    return query_all(*keyset_sql(sql, where, params, orden, query.cursor, query.count))


# ---------------------------------------------------------------------------
# Responses in /openapi.json
# ---------------------------------------------------------------------------

OPERATION_OUTCOME = {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["severity", "code"],
            "properties": {"severity": {"enum": ["fatal", "error", "warning", "information"]},
                           "code": {"type": "string"},
                           "details": {"type": "object"},
                           "diagnostics": {"type": "string"},
                           "expression": {"type": "array", "items": {"type": "string"}}}}},
    },
}
ERRORES = {400: "Parámetros o recurso no válidos", 401: "No autenticado", 403: "Prohibido",
           404: "No encontrado", 405: "Método no permitido", 406: "Formato no aceptable",
           409: "Conflicto", 413: "Cuerpo demasiado grande",
           415: "Tipo de contenido no soportado", 429: "Demasiadas peticiones",
           500: "Error interno", 503: "Base de datos no disponible"}


def _fhir_content(schema):
    """The same schema under both JSON media types."""
    return {"application/fhir+json": {"schema": schema}, "application/json": {"schema": schema}}


def recurso_schema(tipo):
    """The (loose) JSON schema of one resource type; the tests hold it to HL7's schema."""
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"const": tipo}, "id": {"type": "string"}}}


def bundle_schema(tipo_bundle, tipo=None):
    """The JSON schema of a Bundle of one type (its entries of resource type `tipo`)."""
    entry = {"type": "object", "required": ["fullUrl", "resource"],
             "properties": {"fullUrl": {"type": "string"},
                            "resource": recurso_schema(tipo) if tipo else {"type": "object"}}}
    link = {"type": "object", "required": ["relation", "url"],
            "properties": {"relation": {"enum": ["self", "next"]}, "url": {"type": "string"}}}
    return {"type": "object", "required": ["resourceType", "type"],
            "properties": {"resourceType": {"const": "Bundle"}, "type": {"const": tipo_bundle},
                           "entry": {"type": "array", "minItems": 1, "items": entry},
                           "link": {"type": "array", "items": link}}}


def respuestas(schema, status=200, errores=(400, 401, 403, 404, 406, 500, 503)):
    """`responses` of a FHIR operation: success and OperationOutcome errors, both media types
    (declared here, so build_openapi does not add the JSON API's error shape)."""
    out = {status: {"description": "Correcto", "content": _fhir_content(schema)}}
    for code in errores:
        out[code] = {"description": ERRORES[code], "content": _fhir_content(OPERATION_OUTCOME)}
    return out


# ---------------------------------------------------------------------------
# Routes: metadata, Patient
# ---------------------------------------------------------------------------

@bp.get("/metadata")
@spec(query=Formato, tags=["fhir"], summary="CapabilityStatement FHIR R4",
      responses=respuestas(recurso_schema("CapabilityStatement"), errores=(400, 406, 500, 503)))
def metadata(query):
    """Lo que sirve esta API FHIR: recursos, interacciones y parámetros de búsqueda. Sin
    token."""
    return responder(capability_statement())


@bp.get("/Patient/<int:id_paciente>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `Patient`", responses=respuestas(
    recurso_schema("Patient")))
def read_patient(id_paciente, query):
    """`pacientes:leer`, o el propio paciente. Queda auditado."""
    check_lectura_paciente(id_paciente)
    row = datos_paciente.cargar_auditado(id_paciente)
    return leido(fhir_export.patient(row), id_paciente, row["_version"])


ORDEN_PACIENTES = Orden(("p.ID_Paciente",), ("id_paciente",))
ORDEN_PREFIJO = Orden(("pp.ID_Paciente",), ("id_paciente",))


@bp.get("/Patient")
@autenticado
@spec(query=BusquedaPatient, tags=["fhir"], summary="Buscar `Patient`",
      responses=respuestas(bundle_schema("searchset", "Patient")))
def search_patient(query):
    """Por `name` (inicio de palabras, sin tildes), `identifier` (documento), `birthdate` y
    `gender`. `pacientes:leer` ve a todos; un paciente, sólo a sí mismo. Cada paciente
    mostrado queda auditado."""
    where, params = "", []
    if not tiene("pacientes:leer"):
        if g.usuario["id_paciente"] is None:
            raise prohibido("Sólo puede ver sus propios datos")
        where, params = " AND p.ID_Paciente = %s", [g.usuario["id_paciente"]]
    if query.identifier is not None:
        documento = valor_token(query.identifier, fhir_export.DOCUMENTO_SYSTEM)
        where += " AND p.Documento = %s" if documento else " AND FALSE"
        params += [documento] if documento else []
    if query.gender is not None:
        genero = fhir_export.GENERO_DE.get(query.gender)
        where += " AND p.`Género` = %s" if genero else " AND FALSE"
        params += [genero] if genero else []
    fecha_sql, fecha_params = filtro_fecha("p.Fecha_Nacimiento", fechas("birthdate"))
    where, params = where + fecha_sql, params + fecha_params
    palabras = normalize(query.name or "").split()
    if not palabras:
        rows = pagina(datos_paciente.SELECT_PACIENTE, where, params, query, ORDEN_PACIENTES)
        orden = ORDEN_PACIENTES
    else:
        # The word-prefix table drives the walk, in id order (paciente.py's search index).
        guia = max(palabras, key=len)[:PREFIJO_MAX]
        likes = " AND CONCAT(' ', p.Nombre_Normalizado) LIKE %s" * len(palabras)
        sql = (f"SELECT STRAIGHT_JOIN {datos_paciente.COLUMNAS} FROM Paciente_Prefijo pp "
               "FORCE INDEX (ix_prefijo_id) JOIN Paciente p ON p.ID_Paciente = pp.ID_Paciente")
        rows = pagina(sql, " AND pp.Prefijo = %s" + likes + where,
                      [guia] + [like_palabra(w) for w in palabras] + params,
                      query, ORDEN_PREFIJO)
        orden = ORDEN_PREFIJO
    auditar_lectura("paciente", rows[:query.count], "id_paciente")
    return searchset(rows, query, orden, fhir_export.patient)


@bp.post("/Patient")
@requiere("pacientes:escribir")
@spec(body=PatientFHIR, status=201, tags=["fhir"], summary="Crear un `Patient`",
      responses=respuestas(recurso_schema("Patient"), status=201,
                           errores=(400, 401, 403, 406, 409, 413, 415, 500, 503)))
def create_patient(body):
    """Crea el paciente (y su historial) desde un recurso `Patient`: `name`, `gender`,
    `birthDate`, `telecom` (teléfono obligatorio, correo opcional), `identifier` (→ documento) y
    `address`.
    Inválido → 400 OperationOutcome con la ruta del problema; documento repetido → 409.
    Responde 201 con el recurso y `Location`."""
    id_paciente = datos_paciente.insert_paciente(datos_de_patient(body))
    row = datos_paciente.cargar(id_paciente)
    resource = fhir_export.patient(row)
    response = leido(resource, id_paciente, row["_version"])
    response.status_code = 201
    response.headers["Location"] = fhir_export.full_url(resource)
    return response


@bp.get("/Patient/<int:id_paciente>/$everything")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Todo el historial de un `Patient`",
      responses=respuestas(bundle_schema("collection")))
def patient_everything(id_paciente, query):
    """El mismo Bundle `collection` que `GET /pacientes/<id>/fhir`: reglas de acceso
    clínico (con `X-Motivo-Acceso` para una emergencia) y una fila de auditoría."""
    return responder(fhir_export.everything(id_paciente))


# ---------------------------------------------------------------------------
# Routes: Practitioner
# ---------------------------------------------------------------------------

@bp.get("/Practitioner/<int:id_medico>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `Practitioner`",
      responses=respuestas(recurso_schema("Practitioner")))
def read_practitioner(id_medico, query):
    """El directorio de médicos: cualquier usuario autenticado, como `GET /medicos/<id>`."""
    row = cargar_publico(id_medico)
    return leido(fhir_export.practitioner(row), id_medico, row["_version"])


@bp.get("/Practitioner")
@autenticado
@spec(query=BusquedaPractitioner, tags=["fhir"], summary="Buscar `Practitioner`",
      responses=respuestas(bundle_schema("searchset", "Practitioner")))
def search_practitioner(query):
    """Por `name` (inicio de palabras) e `identifier` (licencia); cualquier usuario
    autenticado, como `GET /medicos`."""
    where, params = "", []
    for palabra in normalize(query.name or "").split():
        where += " AND CONCAT(' ', m.Nombre_Normalizado) LIKE %s"
        params.append(like_palabra(palabra))
    if query.identifier is not None:
        licencia = valor_token(query.identifier, fhir_export.LICENCIA_SYSTEM)
        where += " AND m.Licencia = %s" if licencia else " AND FALSE"
        params += [licencia] if licencia else []
    rows = pagina(SELECT_MEDICO, where, params, query, ORDEN_MEDICOS)
    return searchset(rows, query, ORDEN_MEDICOS, fhir_export.practitioner)


# ---------------------------------------------------------------------------
# Routes: clinical resources
# ---------------------------------------------------------------------------

def cargar_fila(sql, row_id, que):
    """One row of a clinical SELECT by its id, or 404."""
    row = query_one(sql, (row_id,))
    if row is None:
        raise no_encontrado(que)
    return row


def appointment(row):
    """Appointment of a cita row, in the clinic's time zone."""
    return fhir_export.appointment(row, current_app.config["ZONA_HORARIA"])


@bp.get("/Appointment/<int:id_cita>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `Appointment`",
      responses=respuestas(recurso_schema("Appointment")))
def read_appointment(id_cita, query):
    """Dato clínico: `clinico:leer` y relación asistencial (o su médico, o el paciente)."""
    row = cargar_fila(SELECT_CITA + " WHERE c.ID_Cita = %s", id_cita, "Cita")
    check_lectura_fila(row)
    auditar("leer", "cita", id_cita, id_paciente=row["id_paciente"])
    return leido(appointment(row), id_cita, row["_version"])


@bp.get("/Appointment")
@autenticado
@spec(query=BusquedaAppointment, tags=["fhir"], summary="Buscar `Appointment`",
      responses=respuestas(bundle_schema("searchset", "Appointment")))
def search_appointment(query):
    """Por `patient`, `practitioner`, `date` y `status`, por fecha y hora. Sin `patient`, un
    médico ve las citas de sus pacientes y las suyas. Cada cita mostrada queda auditada."""
    where, params = alcance_clinico("c", query)
    if query.practitioner is not None:
        where += " AND c.`ID_Médico` = %s"
        params.append(min(id_de(query.practitioner), INT_MAX + 1))
    if query.status is not None:
        estado = fhir_export.ESTADO_CITA_DE.get(query.status)
        where += " AND c.Estado = %s" if estado else " AND FALSE"
        params += [estado] if estado else []
    fecha_sql, fecha_params = filtro_fecha("c.Fecha", fechas("date"))
    rows = pagina(SELECT_CITA, where + fecha_sql, params + fecha_params, query, ORDEN_CITAS)
    auditar_lectura("cita", rows[:query.count], "id_cita")
    return searchset(rows, query, ORDEN_CITAS, appointment)


@bp.get("/Condition/<int:id_diagnostico>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `Condition`",
      responses=respuestas(recurso_schema("Condition")))
def read_condition(id_diagnostico, query):
    """Un diagnóstico (CIE-10 cuando tiene código): `clinico:leer` y relación asistencial."""
    row = cargar_fila(SELECT_DIAGNOSTICO + " WHERE d.`ID_Diagnóstico` = %s", id_diagnostico,
                      "Diagnóstico")
    check_lectura_fila(row)
    auditar("leer", "diagnostico", id_diagnostico, id_paciente=row["id_paciente"])
    return leido(fhir_export.condition(row), id_diagnostico, row["_version"])


@bp.get("/Condition")
@autenticado
@spec(query=BusquedaCondition, tags=["fhir"], summary="Buscar `Condition`",
      responses=respuestas(bundle_schema("searchset", "Condition")))
def search_condition(query):
    """Por `patient` y `code` (CIE-10, con o sin punto), los más recientes primero."""
    where, params = alcance_clinico("d", query)
    if query.code is not None:
        codigo = valor_token(query.code, fhir_export.CIE10_SYSTEM)
        codigo = datos_cie10.con_punto(codigo) if codigo else None
        where += " AND d.Codigo_CIE10 = %s" if codigo else " AND FALSE"
        params += [codigo] if codigo else []
    rows = pagina(SELECT_DIAGNOSTICO, where, params, query, ORDEN_DIAGNOSTICOS)
    auditar_lectura("diagnostico", rows[:query.count], "id_diagnostico")
    return searchset(rows, query, ORDEN_DIAGNOSTICOS, fhir_export.condition)


@bp.get("/CarePlan/<int:id_tratamiento>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `CarePlan`",
      responses=respuestas(recurso_schema("CarePlan")))
def read_care_plan(id_tratamiento, query):
    """Un tratamiento: `clinico:leer` y relación asistencial."""
    row = cargar_fila(SELECT_TRATAMIENTO + " WHERE t.ID_Tratamiento = %s", id_tratamiento,
                      "Tratamiento")
    check_lectura_fila(row)
    auditar("leer", "tratamiento", id_tratamiento, id_paciente=row["id_paciente"])
    return leido(fhir_export.care_plan(row), id_tratamiento, row["_version"])


@bp.get("/CarePlan")
@autenticado
@spec(query=BusquedaClinica, tags=["fhir"], summary="Buscar `CarePlan`",
      responses=respuestas(bundle_schema("searchset", "CarePlan")))
def search_care_plan(query):
    """Por `patient`, los más recientes primero."""
    where, params = alcance_clinico("t", query)
    rows = pagina(SELECT_TRATAMIENTO, where, params, query, ORDEN_TRATAMIENTOS)
    auditar_lectura("tratamiento", rows[:query.count], "id_tratamiento")
    return searchset(rows, query, ORDEN_TRATAMIENTOS, fhir_export.care_plan)


DIAGNOSTICO_DE = ("SELECT ID_Tratamiento AS t, `ID_Diagnóstico` AS d FROM Tratamiento "
                  "WHERE ID_Tratamiento IN ")


def medication_requests(rows):
    """MedicationRequests of prescription rows: one more query finds their diagnoses."""
    ids = sorted({r["id_tratamiento"] for r in rows})
    diagnostico = {}
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        diagnostico = {r["t"]: r["d"] for r in query_all(DIAGNOSTICO_DE + f"({marks})", ids)}
    return {r["id_medicamento"]: fhir_export.medication_request(r, diagnostico[r["id_tratamiento"]])
            for r in rows}


@bp.get("/MedicationRequest/<int:id_medicamento>")
@autenticado
@spec(query=Formato, tags=["fhir"], summary="Leer un `MedicationRequest`",
      responses=respuestas(recurso_schema("MedicationRequest")))
def read_medication_request(id_medicamento, query):
    """Una prescripción: `clinico:leer` y relación asistencial."""
    row = cargar_fila(SELECT_MEDICAMENTO + " WHERE m.ID_Medicamento = %s", id_medicamento,
                      "Medicamento")
    check_lectura_fila(row)
    auditar("leer", "medicamento", id_medicamento, id_paciente=row["id_paciente"])
    return leido(medication_requests([row])[id_medicamento], id_medicamento, row["_version"])


@bp.get("/MedicationRequest")
@autenticado
@spec(query=BusquedaMedicationRequest, tags=["fhir"], summary="Buscar `MedicationRequest`",
      responses=respuestas(bundle_schema("searchset", "MedicationRequest")))
def search_medication_request(query):
    """Por `patient` y `status`, los más recientes primero."""
    where, params = alcance_clinico("m", query)
    if query.status is not None:
        estado = fhir_export.ESTADO_MEDICAMENTO_DE.get(query.status)
        where += " AND m.Estado = %s" if estado else " AND FALSE"
        params += [estado] if estado else []
    rows = pagina(SELECT_MEDICAMENTO, where, params, query, ORDEN_MEDICAMENTOS)
    auditar_lectura("medicamento", rows[:query.count], "id_medicamento")
    resources = medication_requests(rows[:query.count])
    return searchset(rows, query, ORDEN_MEDICAMENTOS, lambda r: resources[r["id_medicamento"]])
