"""Patients: demographics, search, invitations, their citas, history and access log.

Search (`GET /pacientes?q=`) walks a word-prefix table. Paciente_Prefijo holds, for every
word of the normalised name, its prefixes of 1 to 4 letters together with a copy of the sort
key (Nombre_Normalizado) and the id. A query takes the first (up to) four letters of its
longest word, walks `PRIMARY (Prefijo, Nombre_Normalizado, ID_Paciente)` (orden nombre) or
`ix_prefijo_id (Prefijo, ID_Paciente)` (orden id) already in the requested order, and checks
the full words against the patient's normalised name; it stops after one page, so its cost
grows with the page, not with the table. The exact `documento` is a second, unique-index
branch of the same UNION.

Every patient shown is audited: a list writes one `leer` row per patient of the page (one
multi-row INSERT), so `/pacientes/<id>/accesos` also shows who saw the patient in a list.
"""

import json
from datetime import date, datetime
from typing import Annotated, Literal, Optional

from flask import Blueprint, current_app, g, request
from pydantic import BaseModel, Field, StringConstraints

from api import Lista, Orden, Pagina, check_if_match, keyset_sql, page, paginate, spec
from auditoria import auditar
from auth import autenticado, check_lectura_paciente, es_el_paciente, requiere, tiene
from clinico import auditar_lectura, cambios, respuesta
from datos_cita import SELECT_CITA, CitaOut, shape_cita
from datos_historial import HistorialCompleto, respuesta_historial
from datos_paciente import (COLUMNAS, Genero, PacienteDatos, PacienteOut, cargar,
                            cargar_auditado, check_paciente_existe, guardar_prefijos,
                            insert_paciente, shape_paciente)
from db import execute, transaction
from errors import duplicado_409, prohibido
from fhir_export import everything
from invitaciones import InvitacionOut, crear_invitacion
from texto import PREFIJO_MAX, like_palabra, normalize

bp = Blueprint("paciente", __name__, url_prefix="/pacientes")
# GET /pacientes/<id>/fhir keeps the blueprint it was published under: its endpoint name is
# the OpenAPI operationId and the audited resource of a refusal (`fhir_export`).
fhir_bp = Blueprint("fhir_export", __name__, url_prefix="/pacientes")

CAMPOS_DEL_PACIENTE = {"telefono", "correo", "direccion"}


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class PacienteCambio(PacienteDatos):
    """Cuerpo de PATCH /pacientes/<id>: sólo los campos que cambian (un paciente: sólo el
    contacto)."""

    nombre: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                      max_length=100)]] = None
    fecha_nacimiento: Optional[date] = None
    genero: Optional[Genero] = None
    telefono: Optional[str] = Field(None, examples=["+34 600 123 456"])


class FiltroPacientes(Pagina):
    """Búsqueda y filtros de GET /pacientes."""

    q: Optional[str] = Field(None, max_length=100,
                             description="Inicio de cualquier palabra del nombre (sin distinguir "
                                         "mayúsculas ni tildes) o el documento exacto")
    genero: Optional[Genero] = None
    activo: Optional[bool] = None
    orden: Literal["nombre", "-nombre", "id", "-id"] = "nombre"


class AccesoOut(BaseModel):
    """Una fila de auditoría sobre un paciente: quién hizo qué, cuándo y por qué (acceso de
    emergencia)."""

    id_auditoria: int
    fecha: datetime
    id_usuario: Optional[int] = None
    usuario: Optional[str] = None
    rol: Optional[str] = None
    accion: str
    recurso: str
    id_recurso: Optional[str] = None
    motivo: Optional[str] = None
    emergencia: bool


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


# API field → column, the only names an UPDATE may set.
COLUMNA = {"nombre": "Nombre", "fecha_nacimiento": "Fecha_Nacimiento", "genero": "`Género`",
           "telefono": "`Teléfono`", "documento": "Documento", "correo": "Correo",
           "direccion": "Direccion", "tipo_sangre": "Tipo_Sangre", "alergias": "Alergias"}

# orden → (sort columns without table alias, row keys of the cursor, descending).
ORDENES = {
    "nombre": (("Nombre_Normalizado", "ID_Paciente"), ("_orden_nombre", "id_paciente"), False),
    "-nombre": (("Nombre_Normalizado", "ID_Paciente"), ("_orden_nombre", "id_paciente"), True),
    "id": (("ID_Paciente",), ("id_paciente",), False),
    "-id": (("ID_Paciente",), ("id_paciente",), True),
}

# The index that already holds the rows in the requested order. Named in the query because
# both engines otherwise cost the equally covering PRIMARY / ix_prefijo_id (or a filter
# index) the same and may pick the one that needs a filesort of every match.
INDICE_PREFIJO = {"nombre": "PRIMARY", "id": "ix_prefijo_id"}
INDICE_PACIENTE = {  # (orden, filtra género, filtra activo) → index
    ("nombre", True, False): "ix_paciente_genero_nombre",
    ("nombre", True, True): "ix_paciente_genero_nombre",
    ("nombre", False, True): "ix_paciente_activo_nombre",
    ("nombre", False, False): "ix_paciente_nombre",
    ("id", True, False): "ix_paciente_genero_id",
    ("id", True, True): "ix_paciente_genero_id",
    ("id", False, True): "ix_paciente_activo_id",
    ("id", False, False): "PRIMARY",
}


def search_sql(query):
    """The SELECT of one page of GET /pacientes, its COUNT, and their params.

    Pure (no request state), so `bench/explain_busqueda.py` can EXPLAIN exactly what the
    endpoint runs. Column names come only from ORDENES.
    """
    columns, keys, desc = ORDENES[query.orden]
    filtros, filtro_params = "", []
    if query.genero is not None:
        filtros += " AND p.`Género` = %s"
        filtro_params.append(query.genero)
    if query.activo is not None:
        filtros += " AND p.Activo = %s"
        filtro_params.append(query.activo)
    palabras = normalize(query.q or "").split()
    por = query.orden.lstrip("-")
    if not palabras:
        indice = INDICE_PACIENTE[por, query.genero is not None, query.activo is not None]
        orden = Orden([f"p.{c}" for c in columns], keys, desc)
        sql, params = keyset_sql(f"SELECT {COLUMNAS} FROM Paciente p FORCE INDEX ({indice})",
                                 filtros, filtro_params, orden, query.cursor, query.limite)
        count = f"SELECT COUNT(*) AS n FROM Paciente p WHERE TRUE{filtros}"
        return sql, params, count, filtro_params

    # The longest word is the most selective one to drive the index walk.
    guia = max(palabras, key=len)[:PREFIJO_MAX]
    likes = " AND CONCAT(' ', p.Nombre_Normalizado) LIKE %s" * len(palabras)
    like_params = [like_palabra(w) for w in palabras]
    por_prefijo = Orden([f"pp.{c}" for c in columns], keys, desc)
    por_documento = Orden([f"p.{c}" for c in columns], keys, desc)
    fuera = Orden(keys, keys, desc)
    after_pp, after_pp_params = por_prefijo.after(query.cursor)
    after_doc, after_doc_params = por_documento.after(query.cursor)
    documento = (query.q or "").strip()
    limit = query.limite + 1
    nombre_sql = (f"FROM Paciente_Prefijo pp FORCE INDEX ({INDICE_PREFIJO[por]}) "
                  "JOIN Paciente p ON p.ID_Paciente = pp.ID_Paciente "
                  f"WHERE pp.Prefijo = %s{likes}{filtros}")
    documento_sql = f"FROM Paciente p WHERE p.Documento = %s{filtros}"
    sql = (f"(SELECT STRAIGHT_JOIN {COLUMNAS} {nombre_sql}{after_pp} {por_prefijo.order_by()} "
           f"LIMIT %s) UNION (SELECT {COLUMNAS} {documento_sql}{after_doc}) "
           f"{fuera.order_by()} LIMIT %s")
    params = ([guia] + like_params + filtro_params + after_pp_params + [limit]
              + [documento] + filtro_params + after_doc_params + [limit])
    count = (f"SELECT COUNT(*) AS n FROM ((SELECT STRAIGHT_JOIN p.ID_Paciente {nombre_sql}) "
             f"UNION (SELECT p.ID_Paciente {documento_sql})) x")
    count_params = [guia] + like_params + filtro_params + [documento] + filtro_params
    return sql, params, count, count_params


def actualizar(id_paciente, campos):
    """Apply `campos` (API names) under If-Match, keep the prefixes in sync; answer 200."""
    with duplicado_409("Ya existe un paciente con ese documento"), transaction():
        actual = cargar(id_paciente, bloquear=True)
        check_if_match(id_paciente, actual["_version"])
        sets = [f"{COLUMNA[k]} = %s" for k in campos]
        params = list(campos.values())
        if "nombre" in campos:
            nombre_normalizado = normalize(campos["nombre"])[:100]
            sets.append("Nombre_Normalizado = %s")
            params.append(nombre_normalizado)
            if nombre_normalizado != actual["_orden_nombre"]:
                guardar_prefijos(id_paciente, nombre_normalizado)
        execute(f"UPDATE Paciente SET {', '.join(sets)}, Version = Version + 1 "
                "WHERE ID_Paciente = %s", params + [id_paciente])
        auditar("actualizar", "paciente", id_paciente, id_paciente=id_paciente)
        row = cargar(id_paciente)
    return respuesta(shape_paciente(row), id_paciente, row["_version"])


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.get("")
@requiere("pacientes:leer")
@spec(query=FiltroPacientes, responses={200: Lista[PacienteOut]}, tags=["pacientes"],
      summary="Buscar y listar pacientes")
def list_pacientes(query):
    """`q` encuentra el inicio de cualquier palabra del nombre (sin distinguir mayúsculas ni
    tildes: `jose` y `pér` encuentran a «José Pérez») o el documento exacto. Orden `nombre`
    (por omisión), `-nombre`, `id` o `-id`; paginación por cursor. Cada paciente mostrado
    queda auditado (`leer`)."""
    sql, params, count_sql, count_params = search_sql(query)
    _, keys, desc = ORDENES[query.orden]
    return page(query, Orden(keys, keys, desc), (sql, params), (count_sql, count_params),
                shape=shape_paciente,
                audit=lambda rows: auditar_lectura("paciente", rows, "id_paciente"))


@bp.post("")
@requiere("pacientes:escribir")
@spec(body=PacienteDatos, responses={201: PacienteOut}, status=201, errors=(409,),
      tags=["pacientes"], summary="Registrar un paciente")
def create_paciente(body):
    """Crea el paciente y su historial en una transacción. Documento repetido → 409."""
    id_paciente = insert_paciente(body.model_dump())
    row = cargar(id_paciente)
    return respuesta(shape_paciente(row), id_paciente, row["_version"], status=201,
                     location=f"/pacientes/{id_paciente}")


@bp.get("/<int:id_paciente>")
@autenticado
@spec(responses={200: PacienteOut}, tags=["pacientes"], errors=(403, 404),
      summary="Consultar un paciente")
def get_paciente(id_paciente):
    """El personal con `pacientes:leer`, o el propio paciente. Lleva `ETag`."""
    check_lectura_paciente(id_paciente)
    row = cargar_auditado(id_paciente)
    return respuesta(shape_paciente(row), id_paciente, row["_version"])


@bp.put("/<int:id_paciente>")
@requiere("pacientes:escribir")
@spec(body=PacienteDatos, responses={200: PacienteOut}, tags=["pacientes"], errors=(404, 409),
      summary="Reemplazar los datos de un paciente")
def replace_paciente(id_paciente, body):
    """Todos los campos; los opcionales omitidos quedan vacíos. Admite `If-Match`."""
    return actualizar(id_paciente, body.model_dump())


@bp.patch("/<int:id_paciente>")
@autenticado
@spec(body=PacienteCambio, responses={200: PacienteOut}, tags=["pacientes"],
      errors=(403, 404, 409), summary="Modificar algunos datos de un paciente")
def update_paciente(id_paciente, body):
    """`pacientes:escribir`, o el propio paciente sólo para `telefono`, `correo` y `direccion`
    (cualquier otro campo → 403). Admite `If-Match`."""
    campos = cambios(body, obligatorios=("nombre", "fecha_nacimiento", "genero", "telefono"))
    if not tiene("pacientes:escribir"):
        if not es_el_paciente(id_paciente):
            raise prohibido("Sólo puede modificar sus propios datos")
        if set(campos) - CAMPOS_DEL_PACIENTE:
            raise prohibido("Un paciente sólo puede cambiar telefono, correo y direccion")
    return actualizar(id_paciente, campos)


@bp.delete("/<int:id_paciente>")
@requiere("pacientes:escribir")
@spec(responses={204: None}, status=204, tags=["pacientes"], errors=(404,),
      summary="Dar de baja un paciente")
def delete_paciente(id_paciente):
    """No se borra: queda `activo: false` y sigue legible. Admite `If-Match`."""
    with transaction():
        actual = cargar(id_paciente, bloquear=True)
        check_if_match(id_paciente, actual["_version"])
        execute("UPDATE Paciente SET Activo = FALSE, Version = Version + 1 "
                "WHERE ID_Paciente = %s", (id_paciente,))
        auditar("anular", "paciente", id_paciente, id_paciente=id_paciente)
    return "", 204


@bp.post("/<int:id_paciente>/invitacion")
@requiere("pacientes:escribir")
@spec(responses={201: InvitacionOut}, status=201, errors=(404, 409), tags=["pacientes"],
      summary="Invitar al paciente al portal")
def create_invitacion(id_paciente):
    """Un código de alta de un solo uso para `POST /auth/registro` (con la fecha de
    nacimiento del paciente), válido 72 horas; se muestra sólo ahora (se guarda su resumen
    SHA-256) y anula el anterior sin usar. Paciente desconocido o dado de baja → 404; que ya
    tiene usuario → 409. Queda auditado con el paciente."""
    codigo, expira = crear_invitacion(id_paciente, g.usuario["id_usuario"])
    response = current_app.json.response({"codigo": codigo, "expira": expira})
    response.status_code = 201
    return response


# ---------------------------------------------------------------------------
# The patient's citas, history and access log
# ---------------------------------------------------------------------------

ORDEN_CITAS = Orden(columns=("c.Fecha", "c.Hora", "c.ID_Cita"), keys=("fecha", "hora", "id_cita"))


def check_ver_citas(id_paciente):
    """A patient's citas: the patient, `citas:gestionar` staff, or a doctor (only theirs).

    Returns the doctor id the list is limited to, or None.
    """
    if es_el_paciente(id_paciente) or tiene("citas:gestionar"):
        return None
    if g.usuario["id_medico"] is not None and tiene("pacientes:leer"):
        return g.usuario["id_medico"]
    raise prohibido("Sólo puede ver sus propias citas")


@bp.get("/<int:id_paciente>/citas")
@autenticado
@spec(query=Pagina, responses={200: Lista[CitaOut]}, tags=["pacientes"], errors=(403, 404),
      summary="Citas de un paciente")
def list_citas_paciente(id_paciente, query):
    """Por fecha y hora. El propio paciente y el personal con `citas:gestionar` ven todas;
    un médico, sólo las suyas con ese paciente."""
    id_medico = check_ver_citas(id_paciente)
    check_paciente_existe(id_paciente)
    where, params = " AND c.ID_Paciente = %s", [id_paciente]
    if id_medico is not None:
        where += " AND c.`ID_Médico` = %s"
        params.append(id_medico)
    return paginate(query, SELECT_CITA, where, params, ORDEN_CITAS,
                    count="SELECT COUNT(*) AS n FROM Cita c", shape=shape_cita,
                    audit=lambda rows: auditar_lectura("cita", rows, "id_cita"))


# The actor as they were at that moment (rows from before that was recorded fall back to the
# current name); another patient is never named in a patient's log. a.ID_Paciente is the
# patient whose log it is: the list filters on it.
SELECT_ACCESOS = (
    "SELECT a.ID_Auditoria AS id_auditoria, a.Fecha AS fecha, "
    "IF(u.ID_Paciente <> a.ID_Paciente, NULL, a.ID_Usuario) AS id_usuario, "
    "IF(u.ID_Paciente <> a.ID_Paciente, 'otro paciente', COALESCE(a.Nombre_Usuario, u.Nombre)) "
    "AS usuario, "
    "a.Rol AS rol, a.Accion AS accion, a.Recurso AS recurso, "
    "a.ID_Recurso AS id_recurso, a.Motivo AS motivo, "
    "a.Accion = 'acceso_emergencia' AS emergencia "
    "FROM Auditoria a LEFT JOIN Usuario u ON u.ID_Usuario = a.ID_Usuario")
ORDEN_ACCESOS = Orden(columns=("a.ID_Auditoria",), keys=("id_auditoria",), desc=True)


@bp.get("/<int:id_paciente>/accesos")
@autenticado
@spec(query=Pagina, responses={200: Lista[AccesoOut]}, tags=["pacientes"], errors=(403, 404),
      summary="Quién leyó o cambió los datos del paciente")
def list_accesos(id_paciente, query):
    """Registro de auditoría del paciente, del más reciente al más antiguo: usuario, rol,
    acción, recurso, fecha y motivo (acceso de emergencia). Para el propio paciente y
    `auditoria:leer`."""
    if not (es_el_paciente(id_paciente) or tiene("auditoria:leer")):
        raise prohibido("Sólo el paciente o un auditor pueden ver sus accesos")
    check_paciente_existe(id_paciente)
    return paginate(query, SELECT_ACCESOS, " AND a.ID_Paciente = %s", [id_paciente],
                    ORDEN_ACCESOS, count="SELECT COUNT(*) AS n FROM Auditoria a",
                    shape=lambda r: {**r, "emergencia": bool(r["emergencia"])},
                    audit=lambda rows: auditar("leer", "accesos", id_paciente,
                                               id_paciente=id_paciente))


@bp.get("/<int:id_paciente>/historial")
@autenticado
@spec(responses={200: HistorialCompleto}, tags=["pacientes", "historial"], errors=(403, 404),
      summary="Historial clínico completo de un paciente")
def get_historial_paciente(id_paciente):
    """Igual que `GET /historial/paciente/<id>`."""
    return respuesta_historial(id_paciente)


BUNDLE_SCHEMA = {
    "type": "object", "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"}, "type": {"const": "collection"},
        "timestamp": {"type": "string"},
        "entry": {"type": "array", "items": {
            "type": "object", "required": ["fullUrl", "resource"],
            "properties": {"fullUrl": {"type": "string"},
                           "resource": {"type": "object", "required": ["resourceType", "id"]}}}},
    },
}


@fhir_bp.get("/<int:id_paciente>/fhir")
@autenticado
@spec(summary="Exportación FHIR R4 del paciente", tags=["pacientes"],
      responses={200: {"content": {"application/fhir+json": {"schema": BUNDLE_SCHEMA},
                                   "application/json": {"schema": BUNDLE_SCHEMA}}}})
def get_fhir(id_paciente):
    """Bundle `collection` con `Patient`, `Practitioner`, `Appointment`, `Condition`
    (CIE-10), `CarePlan` y `MedicationRequest`; mismas reglas de acceso y auditoría que el historial. Es
    la misma respuesta que `GET /fhir/Patient/<id>/$everything`; sus `fullUrl` se resuelven
    bajo `/fhir`."""
    body = everything(id_paciente)
    fhir_json = request.accept_mimetypes.best_match(["application/json",
                                                     "application/fhir+json"])
    mimetype = "application/fhir+json" if fhir_json == "application/fhir+json" else "application/json"
    return current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype=mimetype)
