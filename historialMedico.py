"""The medical history of a patient: `/historial` (the nested timeline, built in
datos_historial, and the antecedentes)."""

from typing import Optional

from flask import Blueprint
from pydantic import Field

import datos_paciente
from api import Modelo, check_if_match, spec
from auditoria import auditar
from auth import (autenticado, check_escritura_clinica, check_lectura_clinica, puede_leer_clinica,
                  requiere, tiene)
from clinico import hoy, respuesta, shape_row
from datos_historial import HistorialCompleto, HistorialOut, respuesta_historial
from db import execute, query_one, transaction
from errors import no_encontrado

bp = Blueprint("historialMedico", __name__, url_prefix="/historial")

SELECT_HISTORIAL = """
    SELECT h.ID_Historial AS id_historial, h.ID_Paciente AS id_paciente,
           h.Fecha_Creacion AS fecha_creacion, h.Antecedentes AS antecedentes,
           h.Version AS _version
      FROM `Historial_Médico` h
"""


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


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
        datos = shape_row(row)
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
    return respuesta(shape_row(row), id_historial, row["_version"])


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
    return respuesta(shape_row(row), id_historial, row["_version"])
