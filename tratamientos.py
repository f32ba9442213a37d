"""Treatments of a diagnosis, written by a doctor with the patient under their care."""

from datetime import date
from typing import Literal, Optional

from flask import Blueprint, g
from pydantic import Field, field_validator

from api import Lista, Modelo, Pagina, check_if_match, paginate, spec
from auditoria import auditar
from auth import autenticado, check_escritura_clinica, requiere
from clinico import (ORDEN_TRATAMIENTOS, SELECT_TRATAMIENTO, MedicamentoOut, TratamientoOut,
                     alcance_lista, auditar_lectura, cambios, check_anulacion, check_cambio,
                     check_lectura_fila, medicamentos_de, respuesta, shape_row)
from db import execute, query_one, transaction
from errors import conflicto, no_encontrado, validacion

bp = Blueprint("tratamientos", __name__, url_prefix="/tratamientos")


class TratamientoDetalle(TratamientoOut):
    """Un tratamiento con sus recetas."""

    medicamentos: list[MedicamentoOut]


class TratamientoNuevo(Modelo):
    """Cuerpo de POST /tratamientos: el paciente se toma del diagnóstico."""

    id_diagnostico: int = Field(..., ge=1)
    descripcion: str = Field(..., min_length=1, max_length=2000)
    fecha_inicio: date
    fecha_fin: Optional[date] = Field(None, description="Igual o posterior a fecha_inicio")
    estado: Literal["activo", "finalizado", "suspendido"] = "activo"

    @field_validator("fecha_fin")
    @classmethod
    def _fin_tras_inicio(cls, fin, info):
        inicio = info.data.get("fecha_inicio")
        if fin is not None and inicio is not None and fin < inicio:
            raise ValueError("no puede ser anterior a fecha_inicio")
        return fin


class TratamientoCambio(Modelo):
    """Cuerpo de PATCH /tratamientos/<id>."""

    descripcion: Optional[str] = Field(None, min_length=1, max_length=2000)
    fecha_inicio: Optional[date] = None
    fecha_fin: Optional[date] = Field(None, description="null la quita")
    estado: Optional[Literal["activo", "finalizado", "suspendido"]] = None
    motivo: Optional[str] = Field(None, min_length=1, max_length=500,
                                  description="Por qué se suspende (obligatorio si lo suspende "
                                              "un médico que no lo registró); queda en la "
                                              "auditoría")


class FiltroTratamientos(Pagina):
    """Filtros de GET /tratamientos."""

    id_diagnostico: Optional[int] = Field(None, ge=1)
    id_paciente: Optional[int] = Field(None, ge=1)
    estado: Optional[Literal["activo", "finalizado", "suspendido", "anulado"]] = None


def check_fechas(inicio, fin):
    """400 naming `fecha_fin` when it is before `fecha_inicio`."""
    if fin is not None and inicio is not None and fin < inicio:
        raise validacion("fecha_fin", "no puede ser anterior a fecha_inicio")


def cargar(id_tratamiento, bloquear=False):
    """The treatment row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_TRATAMIENTO + " WHERE t.ID_Tratamiento = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_tratamiento,))
    if row is None:
        raise no_encontrado("Tratamiento")
    return row


@bp.post("")
@requiere("clinico:escribir")
@spec(body=TratamientoNuevo, responses={201: TratamientoOut}, status=201, errors=(404, 409),
      tags=["tratamientos"], summary="Registrar un tratamiento")
def create_tratamiento(body):
    """Un médico con el paciente del diagnóstico bajo su cuidado; no sobre un diagnóstico
    anulado (409); `fecha_fin` ≥ `fecha_inicio` (400)."""
    with transaction():
        diagnostico = query_one("SELECT ID_Paciente AS id_paciente, Estado AS estado "
                                "FROM `Diagnóstico` WHERE `ID_Diagnóstico` = %s FOR UPDATE",
                                (body.id_diagnostico,))
        if diagnostico is None:
            raise no_encontrado("Diagnóstico")
        check_escritura_clinica(diagnostico["id_paciente"])
        if diagnostico["estado"] == "anulado":
            raise conflicto("El diagnóstico está anulado: no admite tratamientos")
        id_tratamiento = execute(
            "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, Fecha_Fin, Estado, "
            "`ID_Diagnóstico`, ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (body.descripcion, body.fecha_inicio, body.fecha_fin, body.estado,
             body.id_diagnostico, diagnostico["id_paciente"], g.usuario["id_medico"]))
        auditar("crear", "tratamiento", id_tratamiento, id_paciente=diagnostico["id_paciente"])
        row = cargar(id_tratamiento)
    return respuesta(shape_row(row), id_tratamiento, row["_version"], status=201,
                     location=f"/tratamientos/{id_tratamiento}")


@bp.get("")
@autenticado
@spec(query=FiltroTratamientos, responses={200: Lista[TratamientoOut]}, tags=["tratamientos"],
      errors=(403,), summary="Listar tratamientos")
def list_tratamientos(query):
    """Los más recientes primero, con las mismas reglas de acceso que los diagnósticos."""
    id_paciente = query.id_paciente
    if query.id_diagnostico is not None and id_paciente is None:
        # Filtering by one diagnosis is reading that patient's record.
        diagnostico = query_one("SELECT ID_Paciente FROM `Diagnóstico` "
                                "WHERE `ID_Diagnóstico` = %s", (query.id_diagnostico,))
        id_paciente = diagnostico["ID_Paciente"] if diagnostico else None
    where, params = alcance_lista("t", id_paciente)
    for condition, value in {"t.`ID_Diagnóstico` = %s": query.id_diagnostico,
                             "t.Estado = %s": query.estado}.items():
        if value is not None:
            where += f" AND {condition}"
            params.append(value)
    return paginate(query, SELECT_TRATAMIENTO, where, params, ORDEN_TRATAMIENTOS,
                    count="SELECT COUNT(*) AS n FROM Tratamiento t", shape=shape_row,
                    audit=lambda rows: auditar_lectura("tratamiento", rows, "id_tratamiento"))


@bp.get("/<int:id_tratamiento>")
@autenticado
@spec(responses={200: TratamientoDetalle}, tags=["tratamientos"], errors=(403, 404),
      summary="Consultar un tratamiento con sus medicamentos")
def get_tratamiento(id_tratamiento):
    """El tratamiento (también si está anulado) y sus medicamentos."""
    row = cargar(id_tratamiento)
    check_lectura_fila(row)
    body = shape_row(row)
    body["medicamentos"] = medicamentos_de(id_tratamiento)
    auditar("leer", "tratamiento", id_tratamiento, id_paciente=row["id_paciente"])
    return respuesta(body, id_tratamiento, row["_version"])


COLUMNAS_CAMBIO = {"descripcion": "`Descripción`", "fecha_inicio": "Fecha_Inicio",
                   "fecha_fin": "Fecha_Fin", "estado": "Estado"}


@bp.patch("/<int:id_tratamiento>")
@requiere("clinico:escribir")
@spec(body=TratamientoCambio, responses={200: TratamientoOut}, tags=["tratamientos"],
      errors=(404, 409), summary="Modificar un tratamiento")
def update_tratamiento(id_tratamiento, body):
    """Su autor, con el paciente bajo su cuidado; otro médico tratante sólo puede suspenderlo
    (`estado: suspendido` con `motivo`, que queda en la auditoría); cualquier otro → 403.
    Anulado → 409; las fechas resultantes deben cumplir `fecha_fin` ≥ `fecha_inicio`.
    Admite `If-Match`."""
    sent = cambios(body, obligatorios=("descripcion", "fecha_inicio", "estado"))
    motivo = sent.pop("motivo", None)
    if not sent:
        raise validacion("cuerpo", "indique al menos un campo a modificar")
    with transaction():
        row = cargar(id_tratamiento, bloquear=True)
        check_cambio(row, sent, motivo, "el tratamiento")
        check_if_match(id_tratamiento, row["_version"])
        if row["estado"] == "anulado":
            raise conflicto("El tratamiento está anulado", codigo="transicion_invalida")
        check_fechas(sent.get("fecha_inicio", row["fecha_inicio"]),
                     sent.get("fecha_fin", row["fecha_fin"]))
        sets = ", ".join(f"{COLUMNAS_CAMBIO[k]} = %s" for k in sent)
        execute(f"UPDATE Tratamiento SET {sets}, Version = Version + 1 "
                "WHERE ID_Tratamiento = %s", [*sent.values(), id_tratamiento])
        auditar("actualizar", "tratamiento", id_tratamiento, id_paciente=row["id_paciente"],
                motivo=motivo)
        row = cargar(id_tratamiento)
    return respuesta(shape_row(row), id_tratamiento, row["_version"])


@bp.delete("/<int:id_tratamiento>")
@requiere("clinico:escribir")
@spec(responses={204: None}, status=204, tags=["tratamientos"], errors=(404,),
      summary="Anular un tratamiento")
def delete_tratamiento(id_tratamiento):
    """Sólo su autor, con el paciente bajo su cuidado. No se borra: pasa a `anulado` y sigue
    legible. Repetirlo no cambia nada."""
    with transaction():
        row = cargar(id_tratamiento, bloquear=True)
        check_anulacion(row, "el tratamiento")
        check_if_match(id_tratamiento, row["_version"])
        if row["estado"] != "anulado":
            execute("UPDATE Tratamiento SET Estado = 'anulado', Version = Version + 1 "
                    "WHERE ID_Tratamiento = %s", (id_tratamiento,))
            auditar("anular", "tratamiento", id_tratamiento, id_paciente=row["id_paciente"])
    return "", 204
