"""What diagnósticos, tratamientos and medicamentos share: their SELECTs and output models,
who may read which rows, the audit of a list page and small write helpers.

The nested history and the FHIR layer reuse the SELECTs, orders and models from here.
"""

import re
from datetime import date, datetime
from typing import Literal, Optional

from flask import current_app, g
from pydantic import BaseModel, Field

from api import Orden, with_etag
from auditoria import INSERT_AUDITORIA, fila
from auth import (ahora_local, check_escritura_clinica, check_lectura_clinica,
                  pacientes_bajo_cuidado, tiene)
from db import executemany, query_all
from errors import prohibido, validacion
from texto import normalize

# Columns with the API's keys; `_version` feeds the ETag and is never shown.
SELECT_DIAGNOSTICO = """
    SELECT d.`ID_Diagnóstico` AS id_diagnostico, d.`Descripción` AS descripcion,
           d.Codigo_CIE10 AS codigo_cie10, c10.Descripcion AS descripcion_cie10,
           d.Fecha AS fecha, d.Estado AS estado, d.ID_Cita AS id_cita,
           d.ID_Historial AS id_historial, d.ID_Paciente AS id_paciente,
           d.`ID_Médico` AS id_medico, d.Creado_En AS creado_en,
           d.Actualizado_En AS actualizado_en, d.Version AS _version
      FROM `Diagnóstico` d
      LEFT JOIN CIE10 c10 ON c10.Codigo = d.Codigo_CIE10
"""

SELECT_TRATAMIENTO = """
    SELECT t.ID_Tratamiento AS id_tratamiento, t.`Descripción` AS descripcion,
           t.Fecha_Inicio AS fecha_inicio, t.Fecha_Fin AS fecha_fin, t.Estado AS estado,
           t.`ID_Diagnóstico` AS id_diagnostico, t.ID_Paciente AS id_paciente,
           t.`ID_Médico` AS id_medico, t.Creado_En AS creado_en,
           t.Actualizado_En AS actualizado_en, t.Version AS _version
      FROM Tratamiento t
"""

SELECT_MEDICAMENTO = """
    SELECT m.ID_Medicamento AS id_medicamento, m.Nombre AS nombre, m.Dosis AS dosis,
           m.Frecuencia AS frecuencia, m.Via AS via, m.Duracion_Dias AS duracion_dias,
           m.Indicaciones AS indicaciones, m.Estado AS estado,
           m.ID_Tratamiento AS id_tratamiento, m.ID_Paciente AS id_paciente,
           m.`ID_Médico` AS id_medico, m.Creado_En AS creado_en,
           m.Actualizado_En AS actualizado_en, m.Version AS _version
      FROM Medicamento m
"""

# List orders, newest first; shared with the FHIR searches of the same rows.
ORDEN_DIAGNOSTICOS = Orden(columns=("d.Fecha", "d.`ID_Diagnóstico`"),
                           keys=("fecha", "id_diagnostico"), desc=True)
ORDEN_TRATAMIENTOS = Orden(columns=("t.ID_Tratamiento",), keys=("id_tratamiento",), desc=True)
ORDEN_MEDICAMENTOS = Orden(columns=("m.ID_Medicamento",), keys=("id_medicamento",), desc=True)

VIAS = ("oral", "intravenosa", "intramuscular", "subcutanea", "topica", "inhalada", "otra")
Via = Literal["oral", "intravenosa", "intramuscular", "subcutanea", "topica", "inhalada", "otra"]


class MedicamentoOut(BaseModel):
    """Una receta."""

    id_medicamento: int
    nombre: str = Field(..., examples=["Amoxicilina"])
    dosis: str = Field(..., examples=["500 mg"])
    frecuencia: str = Field(..., examples=["cada 8 horas"])
    via: Via
    duracion_dias: Optional[int] = None
    indicaciones: Optional[str] = None
    estado: Literal["activo", "suspendido", "anulado"]
    id_tratamiento: int
    id_paciente: int
    id_medico: int
    creado_en: datetime
    actualizado_en: datetime


class TratamientoOut(BaseModel):
    """Un tratamiento."""

    id_tratamiento: int
    descripcion: str
    fecha_inicio: date
    fecha_fin: Optional[date] = None
    estado: Literal["activo", "finalizado", "suspendido", "anulado"]
    id_diagnostico: int
    id_paciente: int
    id_medico: int
    creado_en: datetime
    actualizado_en: datetime


class DiagnosticoOut(BaseModel):
    """Un diagnóstico."""

    id_diagnostico: int
    descripcion: str
    codigo_cie10: Optional[str] = Field(None, examples=["E11.9"])
    descripcion_cie10: Optional[str] = None
    fecha: date
    estado: Literal["activo", "resuelto", "anulado"]
    id_cita: int
    id_historial: int
    id_paciente: int
    id_medico: int
    creado_en: datetime
    actualizado_en: datetime


def shape_row(row):
    """The row without its internal keys (`_version`, cursor keys)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def shape_rows(rows):
    """`shape_row` of every row of one query, in place (the rows are fresh from query_all):
    the internal keys are worked out once and deleted, cheaper than copying the rest."""
    internas = [k for k in rows[0] if k.startswith("_")] if rows else []
    for row in rows:
        for k in internas:
            del row[k]
    return rows


def tratamientos_de(id_diagnostico):
    """The treatments of a diagnosis (anulled ones too), newest first."""
    rows = query_all(SELECT_TRATAMIENTO + " WHERE t.`ID_Diagnóstico` = %s "
                     "ORDER BY t.ID_Tratamiento DESC", (id_diagnostico,))
    return shape_rows(rows)


def medicamentos_de(id_tratamiento):
    """The prescriptions of a treatment (anulled ones too), newest first."""
    rows = query_all(SELECT_MEDICAMENTO + " WHERE m.ID_Tratamiento = %s "
                     "ORDER BY m.ID_Medicamento DESC", (id_tratamiento,))
    return shape_rows(rows)


# ---------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------

def es_autor(row):
    """The current user is the doctor who wrote the row."""
    return g.usuario["id_medico"] is not None and g.usuario["id_medico"] == row["id_medico"]


def check_lectura_fila(row):
    """Read access to one clinical row: the rules of `check_lectura_clinica` for its patient
    (having written it gives no right of its own: a relation that ended ends the reading)."""
    check_lectura_clinica(row["id_paciente"])


def alcance_lista(alias, id_paciente):
    """SQL fragment and params limiting a clinical list to the rows the caller may read.

    With `id_paciente` the single-patient rule applies (break-the-glass included). Without
    it: a patient sees their own rows, a doctor the rows of patients under their care (never
    by breaking the glass: that needs one named patient), a `clinico:leer` non-doctor
    (admin) everything.
    """
    usuario = g.usuario
    if id_paciente is not None:
        check_lectura_clinica(id_paciente)
        return f" AND {alias}.ID_Paciente = %s", [id_paciente]
    if usuario["id_paciente"] is not None and not tiene("clinico:leer"):
        return f" AND {alias}.ID_Paciente = %s", [usuario["id_paciente"]]
    if not tiene("clinico:leer"):
        raise prohibido("No tiene acceso a datos clínicos")
    if usuario["id_medico"] is None:
        return "", []
    sql, params = pacientes_bajo_cuidado(f"{alias}.ID_Paciente")
    return " AND " + sql, params


def auditar_lectura(recurso, rows, clave):
    """One `leer` audit row per row shown, written with a single multi-row INSERT."""
    if rows:
        executemany(INSERT_AUDITORIA, [fila("leer", recurso, r[clave], r["id_paciente"])
                                       for r in rows])


def check_cambio(row, sent, motivo, que):
    """Changing a treatment or prescription: its author, with the patient under their care;
    another doctor caring for the patient may only suspend it, giving a `motivo`."""
    check_escritura_clinica(row["id_paciente"])
    if es_autor(row):
        return
    if set(sent) != {"estado"} or sent["estado"] != "suspendido":
        raise prohibido(f"Sólo el médico que registró {que} puede modificarlo o anularlo; otro "
                        "médico tratante sólo puede suspenderlo (estado «suspendido» con motivo)")
    if not motivo:
        raise validacion("motivo", "obligatorio para suspender lo que registró otro médico")


def check_anulacion(row, que):
    """Annulling a clinical record: only its author, with the patient under their care."""
    check_escritura_clinica(row["id_paciente"])
    if not es_autor(row):
        raise prohibido(f"Sólo el médico que registró {que} puede anularlo")


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------

def respuesta(body, row_id, version, status=200, location=None):
    """JSON answer with the row's ETag (and `Location` for a create)."""
    response = current_app.json.response(body)
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return with_etag(response, row_id, version)


def cambios(body, obligatorios=()):
    """The fields sent in a PATCH body, or 400 if none or if one of `obligatorios` is null."""
    sent = {k: getattr(body, k) for k in body.model_fields_set}
    if not sent:
        raise validacion("cuerpo", "indique al menos un campo a modificar")
    for campo in obligatorios:
        if campo in sent and sent[campo] is None:
            raise validacion(campo, "no puede ser null")
    return sent


def hoy():
    """Today's date on the clinic's wall clock."""
    return ahora_local().date()


def check_no_futura(campo, fecha):
    """400 when a clinical date is after today."""
    if fecha is not None and fecha > hoy():
        raise validacion(campo, "no puede ser una fecha futura")


MIN_LETRAS = 4


# Words that describe an allergy rather than name its cause ("alergia leve a ..."): without
# this list "leve" would clash with levetiracetam and "tipo" with any drug named "tipo...".
PALABRAS_NEUTRAS = {
    "alergia", "alergias", "alergico", "alergica", "alergicos", "intolerancia", "reaccion",
    "reacciones", "leve", "leves", "grave", "graves", "severa", "severo", "moderada",
    "moderado", "cutanea", "sospecha", "posible", "tipo", "otros", "otras", "ninguna",
    "ninguno", "conocida", "conocidas", "conocido", "medicamento", "medicamentos", "farmacos",
    "desde", "antes", "tras", "todos", "todas", "para", "como", "segun",
}


def _palabras(texto):
    """Accent-free lower-case words of at least MIN_LETRAS letters, descriptive words left out."""
    return [w for w in re.split(r"[^a-z]+", normalize(texto or ""))
            if len(w) >= MIN_LETRAS and w not in PALABRAS_NEUTRAS]


def alergia_que_choca(alergias, nombre):
    """The allergy word that names the drug, or None.

    A clash is a word of the allergies equal to, or the start of, a word of the drug name, or
    the other way round: "penicilina" clashes with "Penicilina G" and "penicilin" with
    "Penicilina", while "penicilina" does not clash with "Amoxicilina" (a word match, not a
    pharmacological one).
    """
    palabras_farmaco = _palabras(nombre)
    for alergia in _palabras(alergias):
        for palabra in palabras_farmaco:
            if palabra.startswith(alergia) or alergia.startswith(palabra):
                return alergia
    return None
