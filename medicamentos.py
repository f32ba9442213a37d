"""Prescriptions of a treatment, with the allergy check."""

from typing import Literal, Optional

from flask import Blueprint, g
from pydantic import Field

from api import Lista, Modelo, Pagina, check_if_match, paginate, spec
from auditoria import auditar
from auth import autenticado, check_escritura_clinica, requiere
from clinico import (ORDEN_MEDICAMENTOS, SELECT_MEDICAMENTO, MedicamentoOut, Via, alcance_lista,
                     alergia_que_choca, auditar_lectura, cambios, check_anulacion, check_cambio,
                     check_lectura_fila, respuesta, shape_row)
from db import execute, query_one, transaction
from errors import conflicto, no_encontrado, validacion

bp = Blueprint("medicamentos", __name__, url_prefix="/medicamentos")


class MedicamentoNuevo(Modelo):
    """Cuerpo de POST /medicamentos: el paciente se toma del tratamiento."""

    id_tratamiento: int = Field(..., ge=1)
    nombre: str = Field(..., min_length=1, max_length=200, examples=["Amoxicilina"])
    dosis: str = Field(..., min_length=1, max_length=100, examples=["500 mg"])
    frecuencia: str = Field(..., min_length=1, max_length=100, examples=["cada 8 horas"])
    via: Via = Field(..., examples=["oral"])
    duracion_dias: Optional[int] = Field(None, ge=1, le=3650)
    indicaciones: Optional[str] = Field(None, max_length=2000)
    confirmar_alergia: bool = Field(False, description="Prescribir aunque el paciente tenga "
                                                       "registrada una alergia que lo nombra")


class MedicamentoCambio(Modelo):
    """Cuerpo de PATCH /medicamentos/<id>; un `nombre` nuevo vuelve a pasar el control de
    alergias."""

    nombre: Optional[str] = Field(None, min_length=1, max_length=200)
    dosis: Optional[str] = Field(None, min_length=1, max_length=100)
    frecuencia: Optional[str] = Field(None, min_length=1, max_length=100)
    via: Optional[Via] = None
    duracion_dias: Optional[int] = Field(None, ge=1, le=3650)
    indicaciones: Optional[str] = Field(None, max_length=2000)
    estado: Optional[Literal["activo", "suspendido"]] = None
    confirmar_alergia: bool = False
    motivo: Optional[str] = Field(None, min_length=1, max_length=500,
                                  description="Por qué se suspende (obligatorio si lo suspende "
                                              "un médico que no lo registró); queda en la "
                                              "auditoría")


class FiltroMedicamentos(Pagina):
    """Filtros de GET /medicamentos."""

    id_tratamiento: Optional[int] = Field(None, ge=1)
    id_paciente: Optional[int] = Field(None, ge=1)
    estado: Optional[Literal["activo", "suspendido", "anulado"]] = None


class PaginaMedicamentos(Pagina):
    """Consulta de la lista de compatibilidad por tratamiento."""

    estado: Optional[Literal["activo", "suspendido", "anulado"]] = None


def check_alergia(alergias, nombre, confirmar):
    """409 `alergia` when the patient's allergies name the drug, unless confirmed.

    Returns the audit reason of a confirmed override (None when there was no clash).
    """
    alergia = alergia_que_choca(alergias, nombre)
    if alergia is None:
        return None
    if not confirmar:
        raise conflicto(f"El paciente tiene registrada alergia a «{alergia}», que coincide con "
                        f"«{nombre}». Envíe \"confirmar_alergia\": true para prescribirlo "
                        "igualmente.", codigo="alergia")
    return (f"Prescripción confirmada pese a la alergia registrada «{alergia}» "
            f"(medicamento «{nombre}»)")[:500]


def cargar(id_medicamento, bloquear=False):
    """The prescription row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_MEDICAMENTO + " WHERE m.ID_Medicamento = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_medicamento,))
    if row is None:
        raise no_encontrado("Medicamento")
    return row


def alergias_de(id_paciente):
    """The patient's allergies text (None when there is none)."""
    return query_one("SELECT Alergias FROM Paciente WHERE ID_Paciente = %s",
                     (id_paciente,))["Alergias"]


@bp.post("")
@requiere("clinico:escribir")
@spec(body=MedicamentoNuevo, responses={201: MedicamentoOut}, status=201, errors=(404, 409),
      tags=["medicamentos"], summary="Prescribir un medicamento")
def create_medicamento(body):
    """Un médico con el paciente bajo su cuidado, en un tratamiento no anulado. Si las
    alergias del paciente nombran el fármaco → 409 `alergia`, salvo `confirmar_alergia: true`
    (se crea y la decisión queda en la auditoría)."""
    with transaction():
        tratamiento = query_one("SELECT ID_Paciente AS id_paciente, Estado AS estado "
                                "FROM Tratamiento WHERE ID_Tratamiento = %s FOR UPDATE",
                                (body.id_tratamiento,))
        if tratamiento is None:
            raise no_encontrado("Tratamiento")
        id_paciente = tratamiento["id_paciente"]
        check_escritura_clinica(id_paciente)
        if tratamiento["estado"] == "anulado":
            raise conflicto("El tratamiento está anulado: no admite medicamentos")
        override = check_alergia(alergias_de(id_paciente), body.nombre, body.confirmar_alergia)
        id_medicamento = execute(
            "INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, Duracion_Dias, Indicaciones,"
            " ID_Tratamiento, ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (body.nombre, body.dosis, body.frecuencia, body.via, body.duracion_dias,
             body.indicaciones, body.id_tratamiento, id_paciente, g.usuario["id_medico"]))
        auditar("crear", "medicamento", id_medicamento, id_paciente=id_paciente)
        if override:
            auditar("crear", "medicamento", id_medicamento, id_paciente=id_paciente,
                    motivo=override)
        row = cargar(id_medicamento)
    return respuesta(shape_row(row), id_medicamento, row["_version"], status=201,
                     location=f"/medicamentos/{id_medicamento}")


def _listar(query, id_tratamiento, id_paciente):
    """A page of prescriptions the caller may read, newest first."""
    if id_tratamiento is not None and id_paciente is None:
        # Filtering by one treatment is reading that patient's record.
        tratamiento = query_one("SELECT ID_Paciente FROM Tratamiento WHERE ID_Tratamiento = %s",
                                (id_tratamiento,))
        id_paciente = tratamiento["ID_Paciente"] if tratamiento else None
    where, params = alcance_lista("m", id_paciente)
    for condition, value in {"m.ID_Tratamiento = %s": id_tratamiento,
                             "m.Estado = %s": query.estado}.items():
        if value is not None:
            where += f" AND {condition}"
            params.append(value)
    return paginate(query, SELECT_MEDICAMENTO, where, params, ORDEN_MEDICAMENTOS,
                    count="SELECT COUNT(*) AS n FROM Medicamento m", shape=shape_row,
                    audit=lambda rows: auditar_lectura("medicamento", rows, "id_medicamento"))


@bp.get("")
@autenticado
@spec(query=FiltroMedicamentos, responses={200: Lista[MedicamentoOut]}, tags=["medicamentos"],
      errors=(403,), summary="Listar medicamentos prescritos")
def list_medicamentos(query):
    """Los más recientes primero, con las mismas reglas de acceso que los diagnósticos."""
    return _listar(query, query.id_tratamiento, query.id_paciente)


@bp.get("/tratamiento/<int:id_tratamiento>")
@autenticado
@spec(query=PaginaMedicamentos, responses={200: Lista[MedicamentoOut]}, tags=["medicamentos"],
      summary="Medicamentos de un tratamiento (ruta de compatibilidad)", errors=(403, 404))
def list_medicamentos_tratamiento(id_tratamiento, query):
    """Como `GET /medicamentos?id_tratamiento=`; 404 si el tratamiento no existe."""
    if query_one("SELECT 1 AS si FROM Tratamiento WHERE ID_Tratamiento = %s",
                 (id_tratamiento,)) is None:
        raise no_encontrado("Tratamiento")
    return _listar(query, id_tratamiento, None)


@bp.get("/<int:id_medicamento>")
@autenticado
@spec(responses={200: MedicamentoOut}, tags=["medicamentos"], errors=(403, 404),
      summary="Consultar un medicamento prescrito")
def get_medicamento(id_medicamento):
    """La prescripción, también si está anulada."""
    row = cargar(id_medicamento)
    check_lectura_fila(row)
    auditar("leer", "medicamento", id_medicamento, id_paciente=row["id_paciente"])
    return respuesta(shape_row(row), id_medicamento, row["_version"])


COLUMNAS_CAMBIO = {"nombre": "Nombre", "dosis": "Dosis", "frecuencia": "Frecuencia",
                   "via": "Via", "duracion_dias": "Duracion_Dias",
                   "indicaciones": "Indicaciones", "estado": "Estado"}


@bp.patch("/<int:id_medicamento>")
@requiere("clinico:escribir")
@spec(body=MedicamentoCambio, responses={200: MedicamentoOut}, tags=["medicamentos"],
      errors=(404, 409), summary="Modificar un medicamento prescrito")
def update_medicamento(id_medicamento, body):
    """Su autor, con el paciente bajo su cuidado; otro médico tratante sólo puede suspenderla
    (`estado: suspendido` con `motivo`, que queda en la auditoría); cualquier otro cambio →
    403. Anulado → 409. Cambiar `nombre` repite la comprobación de alergias
    (`confirmar_alergia`). Admite `If-Match`."""
    sent = cambios(body, obligatorios=("nombre", "dosis", "frecuencia", "via", "estado"))
    confirmar = sent.pop("confirmar_alergia", False)
    motivo = sent.pop("motivo", None)
    if not sent:
        raise validacion("cuerpo", "indique al menos un campo a modificar")
    with transaction():
        row = cargar(id_medicamento, bloquear=True)
        check_cambio(row, sent, motivo, "la prescripción")
        check_if_match(id_medicamento, row["_version"])
        if row["estado"] == "anulado":
            raise conflicto("El medicamento está anulado", codigo="transicion_invalida")
        override = None
        if "nombre" in sent:
            override = check_alergia(alergias_de(row["id_paciente"]), sent["nombre"], confirmar)
        sets = ", ".join(f"{COLUMNAS_CAMBIO[k]} = %s" for k in sent)
        execute(f"UPDATE Medicamento SET {sets}, Version = Version + 1 "
                "WHERE ID_Medicamento = %s", [*sent.values(), id_medicamento])
        auditar("actualizar", "medicamento", id_medicamento, id_paciente=row["id_paciente"],
                motivo=override or motivo)
        row = cargar(id_medicamento)
    return respuesta(shape_row(row), id_medicamento, row["_version"])


@bp.delete("/<int:id_medicamento>")
@requiere("clinico:escribir")
@spec(responses={204: None}, status=204, tags=["medicamentos"], errors=(404,),
      summary="Anular un medicamento prescrito")
def delete_medicamento(id_medicamento):
    """Sólo su autor, con el paciente bajo su cuidado. No se borra: pasa a `anulado` y sigue
    legible. Repetirlo no cambia nada."""
    with transaction():
        row = cargar(id_medicamento, bloquear=True)
        check_anulacion(row, "la prescripción")
        check_if_match(id_medicamento, row["_version"])
        if row["estado"] != "anulado":
            execute("UPDATE Medicamento SET Estado = 'anulado', Version = Version + 1 "
                    "WHERE ID_Medicamento = %s", (id_medicamento,))
            auditar("anular", "medicamento", id_medicamento, id_paciente=row["id_paciente"])
    return "", 204
