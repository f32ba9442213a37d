"""The nested medical history of a patient (patient, historial, citas, diagnoses with their
treatments and prescriptions): its queries, cache and model, shared by `/historial`,
`/pacientes/<id>/historial` and the FHIR export.

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
from pydantic import BaseModel

import datos_paciente
from api import dumps_fragment
from auditoria import auditar
from auth import check_lectura_clinica
from clinico import (SELECT_DIAGNOSTICO, SELECT_MEDICAMENTO, SELECT_TRATAMIENTO, DiagnosticoOut,
                     MedicamentoOut, TratamientoOut, respuesta, shape_rows)
from datos_cita import SELECT_CITA, CitaOut, shape_cita
from cache import cache
from db import query_all, query_one, transaction
from errors import no_encontrado


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

    paciente: datos_paciente.PacienteOut
    historial: Optional[HistorialOut] = None
    citas: list[CitaOut]
    diagnosticos: list[DiagnosticoConTratamientos]


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
    for m in shape_rows(medicamentos):
        por_tratamiento.setdefault(m["id_tratamiento"], []).append(m)
    por_diagnostico = {}
    for t in shape_rows(tratamientos):
        t["medicamentos"] = por_tratamiento.get(t["id_tratamiento"], [])
        por_diagnostico.setdefault(t["id_diagnostico"], []).append(t)
    diagnosticos = shape_rows(diagnosticos)
    for d in diagnosticos:
        d["tratamientos"] = por_diagnostico.get(d["id_diagnostico"], [])
    return [shape_cita(c) for c in citas], diagnosticos


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
    return {"paciente": datos_paciente.shape_paciente(row), "historial": historial, "citas": citas,
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
