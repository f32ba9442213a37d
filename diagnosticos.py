"""Diagnoses written by the cita's doctor, coded with CIE-10."""

from datetime import date
from typing import Literal, Optional

from flask import Blueprint, g
from pydantic import Field

import datos_cie10
from api import Lista, Modelo, Pagina, check_if_match, paginate, spec
from auditoria import auditar
from auth import autenticado, check_escritura_clinica, requiere
from clinico import (ORDEN_DIAGNOSTICOS, SELECT_DIAGNOSTICO, DiagnosticoOut, TratamientoOut,
                     alcance_lista, auditar_lectura, cambios, check_lectura_fila, check_no_futura,
                     es_autor, hoy, respuesta, shape_row, tratamientos_de)
from db import execute, query_one, transaction
from errors import conflicto, no_encontrado, prohibido, validacion

bp = Blueprint("diagnosticos", __name__, url_prefix="/diagnosticos")


def check_autor(row):
    """Changing a diagnosis is reserved to its author, with the patient still under care."""
    check_escritura_clinica(row["id_paciente"])
    if not es_autor(row):
        raise prohibido("Sólo el médico que registró el diagnóstico puede modificarlo")


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class DiagnosticoDetalle(DiagnosticoOut):
    """Un diagnóstico con sus tratamientos."""

    tratamientos: list[TratamientoOut]


class DiagnosticoNuevo(Modelo):
    """Cuerpo de POST /diagnosticos: el paciente, el médico y el historial se toman de la cita."""

    id_cita: int = Field(..., ge=1)
    descripcion: str = Field(..., min_length=1, max_length=2000)
    codigo_cie10: Optional[str] = Field(None, max_length=10, examples=["E11.9"],
                                        description="Código CIE-10, con o sin punto")
    fecha: Optional[date] = Field(None, description="Por omisión, hoy; nunca futura")


class DiagnosticoCrear(DiagnosticoNuevo):
    """Cuerpo de la ruta de compatibilidad POST /diagnosticos/crear."""

    id_paciente: int = Field(..., ge=1, description="Debe ser el paciente de la cita")


class DiagnosticoCambio(Modelo):
    """Cuerpo de PATCH /diagnosticos/<id>."""

    descripcion: Optional[str] = Field(None, min_length=1, max_length=2000)
    codigo_cie10: Optional[str] = Field(None, max_length=10, description="null o \"\" lo quita")
    estado: Optional[Literal["activo", "resuelto"]] = None
    fecha: Optional[date] = None


class FiltroDiagnosticos(Pagina):
    """Filtros de GET /diagnosticos."""

    id_paciente: Optional[int] = Field(None, ge=1)
    id_medico: Optional[int] = Field(None, ge=1)
    codigo_cie10: Optional[str] = Field(None, max_length=10,
                                        description="Código o categoría (E11 incluye E11.9)")
    estado: Optional[Literal["activo", "resuelto", "anulado"]] = None
    desde: Optional[date] = None
    hasta: Optional[date] = None


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------

def cargar(id_diagnostico, bloquear=False):
    """The diagnosis row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_DIAGNOSTICO + " WHERE d.`ID_Diagnóstico` = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_diagnostico,))
    if row is None:
        raise no_encontrado("Diagnóstico")
    return row


def codigo_del_catalogo(codigo):
    """The code with its dot if the catalogue has it, else 400 naming `codigo_cie10`."""
    row = datos_cie10.buscar_codigo(codigo)
    if row is None:
        raise validacion("codigo_cie10", "no existe en el catálogo CIE-10")
    return row["codigo"]


def _crear(body):
    """Insert a diagnosis from its cita (checks, audit) and answer 201."""
    fecha = body.fecha or hoy()
    check_no_futura("fecha", fecha)
    codigo = codigo_del_catalogo(body.codigo_cie10) if body.codigo_cie10 else None
    with transaction():
        cita = query_one("SELECT ID_Cita AS id_cita, Estado AS estado, ID_Paciente AS id_paciente,"
                         " `ID_Médico` AS id_medico FROM Cita WHERE ID_Cita = %s FOR UPDATE",
                         (body.id_cita,))
        if cita is None:
            raise no_encontrado("Cita")
        if g.usuario["id_medico"] != cita["id_medico"]:
            raise prohibido("Sólo el médico de la cita puede registrar su diagnóstico")
        check_escritura_clinica(cita["id_paciente"])
        if cita["estado"] == "Cancelada":
            raise conflicto("La cita está cancelada: no admite diagnósticos")
        if getattr(body, "id_paciente", cita["id_paciente"]) != cita["id_paciente"]:
            raise validacion("id_paciente", "no es el paciente de la cita")
        # Patients always get their historial on creation; this covers older rows.
        execute("INSERT IGNORE INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                "VALUES (%s, %s)", (cita["id_paciente"], hoy()))
        historial = query_one("SELECT ID_Historial FROM `Historial_Médico` WHERE ID_Paciente = %s",
                              (cita["id_paciente"],))
        id_diagnostico = execute(
            "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, ID_Historial, ID_Cita,"
            " ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (body.descripcion, codigo, fecha, historial["ID_Historial"], cita["id_cita"],
             cita["id_paciente"], cita["id_medico"]))
        auditar("crear", "diagnostico", id_diagnostico, id_paciente=cita["id_paciente"])
        row = cargar(id_diagnostico)
    return respuesta(shape_row(row), id_diagnostico, row["_version"], status=201,
                     location=f"/diagnosticos/{id_diagnostico}")


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.post("")
@requiere("clinico:escribir")
@spec(body=DiagnosticoNuevo, responses={201: DiagnosticoOut}, status=201, errors=(404, 409),
      tags=["diagnosticos"], summary="Registrar un diagnóstico")
def create_diagnostico(body):
    """Sólo el médico de la cita; cita cancelada → 409; el paciente, el médico y el historial
    se toman de la cita. `codigo_cie10` debe existir en el catálogo (`E11.9` o `E119`)."""
    return _crear(body)


@bp.post("/crear")
@requiere("clinico:escribir")
@spec(body=DiagnosticoCrear, responses={201: DiagnosticoOut}, status=201, errors=(404, 409),
      tags=["diagnosticos"], summary="Registrar un diagnóstico (ruta de compatibilidad)")
def create_diagnostico_compat(body):
    """Como `POST /diagnosticos`; `id_paciente` debe ser el paciente de la cita (si no, 400)."""
    return _crear(body)


@bp.get("")
@autenticado
@spec(query=FiltroDiagnosticos, responses={200: Lista[DiagnosticoOut]}, tags=["diagnosticos"],
      errors=(403,), summary="Listar diagnósticos")
def list_diagnosticos(query):
    """Los más recientes primero. Un paciente ve los suyos; un médico, los de sus pacientes y
    los que escribió; el personal con `clinico:leer`, todos."""
    where, params = alcance_lista("d", query.id_paciente)
    filtros = {"d.`ID_Médico` = %s": query.id_medico, "d.Estado = %s": query.estado,
               "d.Fecha >= %s": query.desde, "d.Fecha <= %s": query.hasta}
    for condition, value in filtros.items():
        if value is not None:
            where += f" AND {condition}"
            params.append(value)
    if query.codigo_cie10 is not None:
        codigo = datos_cie10.con_punto(query.codigo_cie10)
        if codigo is None:
            raise validacion("codigo_cie10", "no es un código CIE-10")
        where += " AND (d.Codigo_CIE10 = %s OR d.Codigo_CIE10 LIKE %s)"
        params += [codigo, codigo + ".%"]
    return paginate(query, SELECT_DIAGNOSTICO, where, params, ORDEN_DIAGNOSTICOS,
                    count="SELECT COUNT(*) AS n FROM `Diagnóstico` d", shape=shape_row,
                    audit=lambda rows: auditar_lectura("diagnostico", rows, "id_diagnostico"))


@bp.get("/<int:id_diagnostico>")
@autenticado
@spec(responses={200: DiagnosticoDetalle}, tags=["diagnosticos"], errors=(403, 404),
      summary="Consultar un diagnóstico con sus tratamientos")
def get_diagnostico(id_diagnostico):
    """El diagnóstico (también si está anulado) y sus tratamientos."""
    row = cargar(id_diagnostico)
    check_lectura_fila(row)
    body = shape_row(row)
    body["tratamientos"] = tratamientos_de(id_diagnostico)
    auditar("leer", "diagnostico", id_diagnostico, id_paciente=row["id_paciente"])
    return respuesta(body, id_diagnostico, row["_version"])


COLUMNAS_CAMBIO = {"descripcion": "`Descripción`", "codigo_cie10": "Codigo_CIE10",
                   "estado": "Estado", "fecha": "Fecha"}


@bp.patch("/<int:id_diagnostico>")
@requiere("clinico:escribir")
@spec(body=DiagnosticoCambio, responses={200: DiagnosticoOut}, tags=["diagnosticos"],
      errors=(404, 409), summary="Modificar un diagnóstico")
def update_diagnostico(id_diagnostico, body):
    """Sólo su autor; `estado` pasa entre `activo` y `resuelto` (anular es DELETE).
    Un diagnóstico anulado no se modifica (409). Admite `If-Match`."""
    sent = cambios(body, obligatorios=("descripcion", "estado", "fecha"))
    check_no_futura("fecha", sent.get("fecha"))
    if "codigo_cie10" in sent:
        # "" or null clears the code, as an absent code does on creation.
        codigo = sent["codigo_cie10"]
        sent["codigo_cie10"] = codigo_del_catalogo(codigo) if codigo else None
    with transaction():
        row = cargar(id_diagnostico, bloquear=True)
        check_autor(row)
        check_if_match(id_diagnostico, row["_version"])
        if row["estado"] == "anulado":
            raise conflicto("El diagnóstico está anulado", codigo="transicion_invalida")
        sets = ", ".join(f"{COLUMNAS_CAMBIO[k]} = %s" for k in sent)
        execute(f"UPDATE `Diagnóstico` SET {sets}, Version = Version + 1 "
                "WHERE `ID_Diagnóstico` = %s", [*sent.values(), id_diagnostico])
        auditar("actualizar", "diagnostico", id_diagnostico, id_paciente=row["id_paciente"])
        row = cargar(id_diagnostico)
    return respuesta(shape_row(row), id_diagnostico, row["_version"])


@bp.delete("/<int:id_diagnostico>")
@requiere("clinico:escribir")
@spec(responses={204: None}, status=204, tags=["diagnosticos"], errors=(404,),
      summary="Anular un diagnóstico")
def delete_diagnostico(id_diagnostico):
    """Sólo su autor. No se borra: pasa a `anulado` y sigue legible. Repetirlo no cambia nada."""
    with transaction():
        row = cargar(id_diagnostico, bloquear=True)
        check_autor(row)
        check_if_match(id_diagnostico, row["_version"])
        if row["estado"] != "anulado":
            execute("UPDATE `Diagnóstico` SET Estado = 'anulado', Version = Version + 1 "
                    "WHERE `ID_Diagnóstico` = %s", (id_diagnostico,))
            auditar("anular", "diagnostico", id_diagnostico, id_paciente=row["id_paciente"])
    return "", 204
