"""The medical history of a patient: the nested timeline and antecedentes.

The timeline is five SELECTs whatever the record size (patient with historial, citas,
diagnósticos, tratamientos, medicamentos — each filtered by ID_Paciente on its own index),
nested in Python, never with a query per row. Its citas and diagnoses are also kept already
serialised in the cache under the patient's Version_Historia, which triggers bump in the
transaction of every write that changes them (migration 0004): a read costs the patient's row
(demographics, `edad` and antecedentes are always read fresh), the access check and the audit
row, whatever the length of the history. A new version is a new key in every worker at once;
a restore flushes the cache (db.Cache).
"""

from datetime import date
from typing import Optional

import orjson
from flask import Blueprint
from pydantic import BaseModel, Field

import datos_paciente
import paciente
from api import Modelo, check_if_match, dumps_fragment, spec
from auditoria import auditar
from auth import (autenticado, check_escritura_clinica, check_lectura_clinica,
                  puede_leer_clinica, requiere, tiene)
from clinico import (SELECT_DIAGNOSTICO, SELECT_MEDICAMENTO, SELECT_TRATAMIENTO, DiagnosticoOut,
                     MedicamentoOut, TratamientoOut, hoy, publico, publicos, respuesta)
from datos_cita import SELECT_CITA, CitaOut, publica
from db import cache, execute, query_all, query_one, transaction
from errors import no_encontrado

bp = Blueprint("historialMedico", __name__, url_prefix="/historial")

SELECT_HISTORIAL = """
    SELECT h.ID_Historial AS id_historial, h.ID_Paciente AS id_paciente,
           h.Fecha_Creacion AS fecha_creacion, h.Antecedentes AS antecedentes,
           h.Version AS _version
      FROM `Historial_Médico` h
"""

PACIENTE_E_HISTORIAL = f"""
    SELECT {datos_paciente.COLUMNAS}, h.ID_Historial AS _id_historial,
           h.Fecha_Creacion AS _fecha_creacion, h.Antecedentes AS _antecedentes,
           h.Version AS _version_historial, COALESCE(v.Version, 0) AS _version_historia
      FROM Paciente p
      LEFT JOIN `Historial_Médico` h ON h.ID_Paciente = p.ID_Paciente
      LEFT JOIN Version_Historia v ON v.ID_Paciente = p.ID_Paciente
     WHERE p.ID_Paciente = %s
"""

VERSION_HISTORIA = "SELECT Version AS v FROM Version_Historia WHERE ID_Paciente = %s"
# A body outlives its version only in memory: the next write makes a new key, and this bounds
# how long an unused one stays.
HISTORIA_CACHE_S = 600


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class HistorialOut(BaseModel):
    """El historial de un paciente (uno por paciente)."""

    id_historial: int
    id_paciente: int
    fecha_creacion: date
    antecedentes: Optional[str] = None


class TratamientoConMedicamentos(TratamientoOut):
    """Un tratamiento con sus recetas, de la más reciente a la más antigua."""

    medicamentos: list[MedicamentoOut]


class DiagnosticoConTratamientos(DiagnosticoOut):
    """Un diagnóstico con sus tratamientos, del más reciente al más antiguo."""

    tratamientos: list[TratamientoConMedicamentos]


class HistorialCompleto(BaseModel):
    """La línea de tiempo anidada: paciente, historial, citas y diagnósticos, de lo más
    reciente a lo más antiguo."""

    paciente: paciente.PacienteOut
    historial: Optional[HistorialOut] = None
    citas: list[CitaOut]
    diagnosticos: list[DiagnosticoConTratamientos]


class HistorialNuevo(Modelo):
    """Cuerpo de POST /historial."""

    id_paciente: int = Field(..., ge=1, le=2**31 - 1)


class HistorialCambio(Modelo):
    """Cuerpo de PATCH /historial/<id>."""

    antecedentes: Optional[str] = Field(..., max_length=16000,
                                        description="Antecedentes personales y familiares")


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------

# The levels of the timeline, newest first, each on its own ID_Paciente index (bench/baseline.py
# runs the same statements).
TIMELINE_SQL = (
    SELECT_CITA + " WHERE c.ID_Paciente = %s ORDER BY c.Fecha DESC, c.Hora DESC, c.ID_Cita DESC",
    SELECT_DIAGNOSTICO + " WHERE d.ID_Paciente = %s "
                         "ORDER BY d.Fecha DESC, d.`ID_Diagnóstico` DESC",
    SELECT_TRATAMIENTO + " WHERE t.ID_Paciente = %s "
                         "ORDER BY t.Fecha_Inicio DESC, t.ID_Tratamiento DESC",
    SELECT_MEDICAMENTO + " WHERE m.ID_Paciente = %s ORDER BY m.ID_Medicamento DESC",
)


def anidar(citas, diagnosticos, tratamientos, medicamentos):
    """The published citas, and the diagnoses with their treatments with their prescriptions,
    from the rows of TIMELINE_SQL (fresh rows: they are changed in place)."""
    por_tratamiento = {}
    for m in publicos(medicamentos):
        por_tratamiento.setdefault(m["id_tratamiento"], []).append(m)
    por_diagnostico = {}
    for t in publicos(tratamientos):
        t["medicamentos"] = por_tratamiento.get(t["id_tratamiento"], [])
        por_diagnostico.setdefault(t["id_diagnostico"], []).append(t)
    diagnosticos = publicos(diagnosticos)
    for d in diagnosticos:
        d["tratamientos"] = por_diagnostico.get(d["id_diagnostico"], [])
    return [publica(c) for c in citas], diagnosticos


def cargar_paciente(id_paciente):
    """The PACIENTE_E_HISTORIAL row and the `historial` object (None without one), or 404."""
    row = query_one(PACIENTE_E_HISTORIAL, (id_paciente,))
    if row is None:
        raise no_encontrado("Paciente")
    historial = None
    if row["_id_historial"] is not None:
        historial = {"id_historial": row["_id_historial"], "id_paciente": id_paciente,
                     "fecha_creacion": row["_fecha_creacion"],
                     "antecedentes": row["_antecedentes"]}
    return row, historial


def cuerpo_timeline(id_paciente, version):
    """The citas and diagnoses of a patient as orjson fragments, from the cache under
    `version` (the patient's Version_Historia) or read and cached. A miss reads the version
    again with the four levels in one snapshot and caches under that one, so a key never holds
    a body older than its version."""
    fragments = cache.get(f"historia:{id_paciente}:{version}")
    if fragments is None:
        with transaction():
            row = query_one(VERSION_HISTORIA, (id_paciente,))
            version = row["v"] if row else 0
            citas, diagnosticos = anidar(*(query_all(sql, (id_paciente,))
                                           for sql in TIMELINE_SQL))
        fragments = (dumps_fragment(citas), dumps_fragment(diagnosticos))
        cache.set(f"historia:{id_paciente}:{version}", fragments, timeout=HISTORIA_CACHE_S)
    return [orjson.Fragment(f) for f in fragments]


def cargar_timeline(id_paciente):
    """The nested history of a patient (citas and diagnoses as orjson fragments) and its
    historial's version, without access check or audit; or 404."""
    row, historial = cargar_paciente(id_paciente)
    citas, diagnosticos = cuerpo_timeline(id_paciente, row["_version_historia"])
    return historia(row, historial, citas, diagnosticos), row["_version_historial"]


def timeline(id_paciente):
    """The nested history of a patient as plain objects (no access check, no audit, no
    cache): the FHIR export's source."""
    row, historial = cargar_paciente(id_paciente)
    return historia(row, historial, *anidar(*(query_all(sql, (id_paciente,))
                                              for sql in TIMELINE_SQL)))


def historia(row, historial, citas, diagnosticos):
    """The nested history object of the contract."""
    return {"paciente": datos_paciente.shape(row), "historial": historial, "citas": citas,
            "diagnosticos": diagnosticos}


def respuesta_historial(id_paciente):
    """GET of the nested history: clinical access rules, one audit row, the historial ETag."""
    check_lectura_clinica(id_paciente)
    datos, version = cargar_timeline(id_paciente)
    historial = datos["historial"]
    id_historial = historial["id_historial"] if historial else None
    auditar("leer", "historial", id_historial, id_paciente=id_paciente)
    if historial is None:
        return datos
    return respuesta(datos, id_historial, version)


def cargar(id_historial, bloquear=False):
    """The historial row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_HISTORIAL + " WHERE h.ID_Historial = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_historial,))
    if row is None:
        raise no_encontrado("Historial")
    return row


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.get("/paciente/<int:id_paciente>")
@autenticado
@spec(responses={200: HistorialCompleto}, tags=["historial"], errors=(403, 404),
      summary="Historial clínico completo de un paciente")
def get_historial_de_paciente(id_paciente):
    """Paciente, historial, citas y diagnósticos con sus tratamientos y medicamentos, del más
    reciente al más antiguo, con un número fijo de consultas SQL. El propio paciente, el
    personal con `clinico:leer` o el médico tratante; otro médico, sólo con `X-Motivo-Acceso`
    (10+ caracteres; queda auditado como `acceso_emergencia`)."""
    return respuesta_historial(id_paciente)


@paciente.bp.get("/<int:id_paciente>/historial")
@autenticado
@spec(responses={200: HistorialCompleto}, tags=["pacientes", "historial"], errors=(403, 404),
      summary="Historial clínico completo de un paciente")
def get_historial_paciente(id_paciente):
    """Igual que `GET /historial/paciente/<id>`."""
    return respuesta_historial(id_paciente)


@bp.post("")
@autenticado
@spec(body=HistorialNuevo, responses={201: HistorialOut, 200: HistorialOut}, status=201,
      errors=(403, 404), tags=["historial"], summary="Crear el historial de un paciente")
def create_historial(body):
    """Idempotente: 201 si se crea, 200 con el existente (uno por paciente).
    `pacientes:escribir` o el médico tratante. La respuesta sólo lleva `antecedentes` si
    quien llama puede leer los datos clínicos del paciente (y entonces queda auditada como
    lectura): dar de alta no da acceso a la historia."""
    if not tiene("pacientes:escribir"):
        check_escritura_clinica(body.id_paciente)
    datos_paciente.check_paciente_existe(body.id_paciente)
    with transaction():
        creado = execute("INSERT IGNORE INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                         "VALUES (%s, %s)", (body.id_paciente, hoy()))
        row = query_one(SELECT_HISTORIAL + " WHERE h.ID_Paciente = %s", (body.id_paciente,))
        if creado:
            auditar("crear", "historial", row["id_historial"], id_paciente=body.id_paciente)
        datos = publico(row)
        if puede_leer_clinica(body.id_paciente):
            auditar("leer", "historial", row["id_historial"], id_paciente=body.id_paciente)
        else:
            del datos["antecedentes"]
    return respuesta(datos, row["id_historial"], row["_version"],
                     status=201 if creado else 200,
                     location=f"/historial/{row['id_historial']}" if creado else None)


@bp.get("/<int:id_historial>")
@autenticado
@spec(responses={200: HistorialOut}, tags=["historial"], errors=(403, 404),
      summary="Consultar un historial (sin el detalle)")
def get_historial(id_historial):
    """Los antecedentes y su `ETag` (para `PATCH` con `If-Match`); mismas reglas de acceso."""
    row = cargar(id_historial)
    check_lectura_clinica(row["id_paciente"])
    auditar("leer", "historial", id_historial, id_paciente=row["id_paciente"])
    return respuesta(publico(row), id_historial, row["_version"])


@bp.patch("/<int:id_historial>")
@requiere("clinico:escribir")
@spec(body=HistorialCambio, responses={200: HistorialOut}, tags=["historial"],
      errors=(403, 404), summary="Modificar los antecedentes")
def update_historial(id_historial, body):
    """Sólo el médico tratante (`clinico:escribir` y el paciente bajo su cuidado).
    Admite `If-Match`."""
    with transaction():
        row = cargar(id_historial, bloquear=True)
        check_escritura_clinica(row["id_paciente"])
        check_if_match(id_historial, row["_version"])
        execute("UPDATE `Historial_Médico` SET Antecedentes = %s, Version = Version + 1 "
                "WHERE ID_Historial = %s", (body.antecedentes, id_historial))
        auditar("actualizar", "historial", id_historial, id_paciente=row["id_paciente"])
        row = cargar(id_historial)
    return respuesta(publico(row), id_historial, row["_version"])
