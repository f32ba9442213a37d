"""The search parameters of the FHIR API (fhir_api.py): the query model of each search, which
validates it and feeds `/openapi.json`, their translation into SQL conditions, and the
CapabilityStatement of `/fhir/metadata` that lists them.
"""

import re
from datetime import date
from typing import ClassVar, Literal, Optional

from flask import current_app, request
from pydantic import ConfigDict, Field, field_validator

import fhir_export
from api import INT_MAX, Modelo
from clinico import alcance_lista
from errors import no_encontrado, validacion

# ---------------------------------------------------------------------------
# Query models
# ---------------------------------------------------------------------------

REFERENCIA = r"^((https?://\S+/)?Patient/)?[0-9]{1,10}$"
FECHA = r"^(eq|ne|gt|lt|ge|le)?[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"
CURSOR = r"^[A-Za-z0-9_-]+$"


def _fecha_valida(value):
    """A date search value (`ge2024-01-31`, `2024-05`, `1975`) names a real day or period."""
    if value is None:
        return value
    digits = value.lstrip("abcdefghijklmnopqrstuvwxyz")
    parts = [int(p) for p in digits.split("-")]
    try:
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise ValueError("no es una fecha válida (YYYY, YYYY-MM o YYYY-MM-DD)") from None
    if value[:2] == "ne":
        raise ValueError("el prefijo ne no está soportado (use eq, gt, lt, ge o le)")
    return value


class Formato(Modelo):
    """`_format`, admitido por todas las interacciones FHIR."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    formato: Optional[Literal["json", "application/json", "application/fhir+json",
                              "application/json+fhir"]] = Field(
        None, alias="_format", description="Formato de la respuesta (sólo JSON)")


class Busqueda(Formato):
    """Paging parameters of every FHIR search."""

    # FHIR type of each search parameter of the model, listed by /fhir/metadata.
    PARAMETROS: ClassVar[dict] = {}

    count: int = Field(20, ge=1, le=100, alias="_count", description="Tamaño de la página")
    cursor: Optional[str] = Field(None, alias="_cursor", max_length=500, pattern=CURSOR,
                                  description="Página siguiente (del enlace `next`)")


class BusquedaClinica(Busqueda):
    """Búsqueda clínica: por paciente."""

    PARAMETROS: ClassVar[dict] = {"patient": ("reference", "El paciente (`Patient/<id>` o `<id>`)")}

    patient: Optional[str] = Field(None, max_length=300, pattern=REFERENCIA,
                                   description="`Patient/<id>` o `<id>`")


class BusquedaPatient(Busqueda):
    """Parámetros de búsqueda de `Patient`."""

    PARAMETROS: ClassVar[dict] = {
        "name": ("string", "Inicio de cualquier palabra del nombre, sin distinguir "
                           "mayúsculas ni tildes; varias palabras deben estar todas"),
        "identifier": ("token", f"El documento: `{fhir_export.DOCUMENTO_SYSTEM}|<valor>` o "
                                "`<valor>` (coincidencia exacta)"),
        "birthdate": ("date", "Fecha de nacimiento; prefijos eq, gt, lt, ge, le; repetible"),
        "gender": ("token", "male, female, other o unknown"),
    }

    name: Optional[str] = Field(None, max_length=100, description="Inicio de palabras del nombre")
    identifier: Optional[str] = Field(None, max_length=300, description="[system|]documento")
    birthdate: Optional[str] = Field(None, max_length=12, pattern=FECHA,
                                     description="[eq|gt|lt|ge|le]YYYY[-MM[-DD]]")
    gender: Optional[Literal["male", "female", "other", "unknown"]] = None

    _birthdate = field_validator("birthdate")(_fecha_valida)


class BusquedaPractitioner(Busqueda):
    """Parámetros de búsqueda de `Practitioner`."""

    PARAMETROS: ClassVar[dict] = {
        "name": ("string", "Inicio de cualquier palabra del nombre"),
        "identifier": ("token", f"La licencia: `{fhir_export.LICENCIA_SYSTEM}|<valor>` o "
                                "`<valor>`"),
    }

    name: Optional[str] = Field(None, max_length=100)
    identifier: Optional[str] = Field(None, max_length=300)


class BusquedaAppointment(BusquedaClinica):
    """Parámetros de búsqueda de `Appointment`."""

    PARAMETROS: ClassVar[dict] = {
        **BusquedaClinica.PARAMETROS,
        "practitioner": ("reference", "El médico (Practitioner/<id> o <id>)"),
        "date": ("date", "Día de la cita (zona horaria de la clínica); prefijos eq, gt, lt, "
                         "ge, le; repetible"),
        "status": ("token", "Estado FHIR de la cita"),
    }

    practitioner: Optional[str] = Field(None, max_length=300,
                                        pattern=r"^((https?://\S+/)?Practitioner/)?[0-9]{1,10}$")
    date: Optional[str] = Field(None, max_length=12, pattern=FECHA,
                                description="[eq|gt|lt|ge|le]YYYY[-MM[-DD]]")
    status: Optional[Literal["proposed", "pending", "booked", "arrived", "fulfilled",
                             "cancelled", "noshow", "entered-in-error", "checked-in",
                             "waitlist"]] = None

    _date = field_validator("date")(_fecha_valida)


class BusquedaCondition(BusquedaClinica):
    """Parámetros de búsqueda de `Condition`."""

    PARAMETROS: ClassVar[dict] = {
        **BusquedaClinica.PARAMETROS,
        "code": ("token", f"Código CIE-10: `{fhir_export.CIE10_SYSTEM}|E11.9` o `E11.9`"),
    }

    code: Optional[str] = Field(None, max_length=100, examples=["E11.9"])


class BusquedaMedicationRequest(BusquedaClinica):
    """Parámetros de búsqueda de `MedicationRequest`."""

    PARAMETROS: ClassVar[dict] = {**BusquedaClinica.PARAMETROS,
                                  "status": ("token", "Estado FHIR de la prescripción")}

    status: Optional[Literal["active", "on-hold", "cancelled", "completed", "entered-in-error",
                             "stopped", "draft", "unknown"]] = None


# ---------------------------------------------------------------------------
# Parameter values → SQL conditions
# ---------------------------------------------------------------------------

def id_de(referencia):
    """The numeric id at the end of a reference parameter (already pattern-checked)."""
    return int(re.search(r"[0-9]+$", referencia).group())


def valor_token(valor, system):
    """The value of a token parameter (`system|value` or `value`), or None when it names
    another code system (then nothing matches)."""
    if "|" not in valor:
        return valor.strip()
    sistema, _, codigo = valor.partition("|")
    return codigo.strip() if sistema in ("", system) else None


def filtro_fecha(columna, valores):
    """SQL conditions for date search values, each `[prefix]YYYY[-MM[-DD]]` (a period)."""
    sql, params = "", []
    for valor in valores:
        prefijo = valor[:2] if valor[:2].isalpha() else "eq"
        parts = [int(p) for p in valor.lstrip("abcdefghijklmnopqrstuvwxyz").split("-")]
        desde = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        if len(parts) == 3:
            hasta = desde
        elif len(parts) == 2:
            siguiente = date(desde.year + desde.month // 12, desde.month % 12 + 1, 1)
            hasta = date.fromordinal(siguiente.toordinal() - 1)
        else:
            hasta = date(desde.year, 12, 31)
        condicion = {"eq": f"{columna} BETWEEN %s AND %s", "ge": f"{columna} >= %s",
                     "gt": f"{columna} > %s", "le": f"{columna} <= %s",
                     "lt": f"{columna} < %s"}[prefijo]
        sql += " AND " + condicion
        params += {"eq": [desde, hasta], "ge": [desde], "gt": [hasta], "le": [hasta],
                   "lt": [desde]}[prefijo]
    return sql, params


def fechas(nombre):
    """Every value of a repeatable date parameter, each validated like the first."""
    valores = request.args.getlist(nombre)
    for valor in valores:
        if not re.fullmatch(FECHA, valor):
            raise validacion(nombre, "formato no válido")
        try:
            _fecha_valida(valor)
        except ValueError as err:
            raise validacion(nombre, str(err)) from None
    return valores


def alcance_clinico(alias, query):
    """WHERE fragment of a clinical search: one named patient (break-the-glass allowed) or
    the rows the caller may read (clinico.alcance_lista, as the JSON lists)."""
    id_paciente = id_de(query.patient) if query.patient else None
    if id_paciente is not None and id_paciente > INT_MAX:
        raise no_encontrado("Paciente")
    return alcance_lista(alias, id_paciente)


# ---------------------------------------------------------------------------
# CapabilityStatement
# ---------------------------------------------------------------------------

BUSQUEDAS = {"Patient": BusquedaPatient, "Practitioner": BusquedaPractitioner,
             "Appointment": BusquedaAppointment, "Condition": BusquedaCondition,
             "CarePlan": BusquedaClinica, "MedicationRequest": BusquedaMedicationRequest}
PERFIL = "http://hl7.org/fhir/StructureDefinition/"


def capability_statement():
    """What this server answers (the routes of fhir_api.py): resources, interactions, search
    parameters, operations."""
    resources = []
    for tipo, modelo in BUSQUEDAS.items():
        interacciones = [{"code": "read"}, {"code": "search-type"}]
        if tipo == "Patient":
            interacciones.append({"code": "create"})
        recurso = {
            "type": tipo, "profile": PERFIL + tipo, "interaction": interacciones,
            "searchParam": [{"name": nombre, "type": tipo_param, "documentation": doc}
                            for nombre, (tipo_param, doc) in modelo.PARAMETROS.items()],
        }
        if tipo == "Patient":
            recurso["operation"] = [{"name": "everything", "definition":
                                     "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
        resources.append(recurso)
    base = current_app.config["URL_PUBLICA"].rstrip("/") + "/fhir"
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": "2026-12-01",
        "publisher": "Historial Médico", "kind": "instance",
        "software": {"name": "Historial Médico API", "version": "1.0.0"},
        "implementation": {"description": "API FHIR R4 de Historial Médico", "url": base},
        "fhirVersion": "4.0.1", "format": ["json", fhir_export.FHIR_JSON],
        "rest": [{
            "mode": "server",
            "documentation": "Parámetros de paginación: _count (1–100, por omisión 20) y el "
                             "enlace next. Parámetros desconocidos o repetidos → 400.",
            "security": {"cors": True, "description":
                         "Authorization: Bearer <token de POST /auth/login>. Datos clínicos: "
                         "clinico:leer y relación asistencial; X-Motivo-Acceso (10+ "
                         "caracteres) para un acceso de emergencia a un paciente nombrado."},
            "resource": resources,
        }],
    }
