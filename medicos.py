"""Doctors: directory, their patients and their free slots."""

from datetime import date, datetime, timedelta
from typing import Annotated, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Lista, Modelo, Orden, Pagina, check_if_match, paginate, spec
from auditoria import auditar
from auth import ahora_local, autenticado, requiere, tiene
from clinico import auditar_lectura, cambios, respuesta
from datos_cita import busy_slots, cancelar_citas, futuras_del_medico
from datos_medico import (ORDEN_MEDICOS, SELECT_MEDICO, MedicoOut, cargar, cargar_publico,
                          clave_cache, shape_medico)
from datos_paciente import COLUMNAS, PacienteOut, check_telefono, shape_paciente
from cache import cache
from db import execute, transaction
from errors import ApiError, duplicado_409, no_encontrado, prohibido
from texto import check_correo_contacto, like_palabra, normalize

bp = Blueprint("medicos", __name__, url_prefix="/medicos")

Nombre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Licencia = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Correo = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class MedicoDatos(Modelo):
    """Cuerpo de POST y PUT /medicos (PUT reemplaza el registro entero)."""

    nombre: Nombre
    especialidad: Nombre = Field(..., examples=["Cardiología"])
    telefono: str = Field(..., examples=["+34 600 123 456"],
                          description="7–20 caracteres: dígitos, espacios, + o -")
    correo: Optional[Correo] = None
    licencia: Optional[Licencia] = Field(None, description="Número de colegiado (único)")

    _telefono = field_validator("telefono")(check_telefono)

    _correo = field_validator("correo")(check_correo_contacto)


class MedicoCambio(MedicoDatos):
    """Cuerpo de PATCH /medicos/<id>: sólo los campos que cambian."""

    nombre: Optional[Nombre] = None
    especialidad: Optional[Nombre] = None
    telefono: Optional[str] = Field(None, examples=["+34 600 123 456"])


class FiltroMedicos(Pagina):
    """Filtros de GET /medicos."""

    especialidad: Optional[str] = Field(None, max_length=100)
    q: Optional[str] = Field(None, max_length=100,
                             description="Inicio de palabras del nombre (sin tildes)")
    activo: Optional[bool] = None


class FiltroDisponibilidad(Modelo):
    """Consulta de GET /medicos/<id>/disponibilidad."""

    fecha: date = Field(..., description="YYYY-MM-DD")
    duracion_min: Optional[int] = Field(None, ge=5, le=240,
                                        description="Por omisión, DURACION_CITA_MIN")


class PacienteDelMedico(PacienteOut):
    """Un paciente del médico y cuántas citas (no canceladas) tienen juntos."""

    total_citas: int


class Disponibilidad(BaseModel):
    """Horas de inicio libres de un médico en un día."""

    fecha: date
    duracion_min: int
    libres: list[str] = Field(..., examples=[["08:00", "08:30"]])


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


COLUMNA = {"nombre": "Nombre", "especialidad": "Especialidad", "telefono": "`Teléfono`",
           "correo": "Correo", "licencia": "Licencia"}
# A doctor's patients: one row per patient with a non-cancelled cita with them.
SELECT_PACIENTES = (f"SELECT {COLUMNAS}, COUNT(*) AS total_citas FROM Cita c "
                    "JOIN Paciente p ON p.ID_Paciente = c.ID_Paciente")
ORDEN_PACIENTES = Orden(columns=("p.Nombre_Normalizado", "p.ID_Paciente"),
                        keys=("_orden_nombre", "id_paciente"))


def actualizar(id_medico, campos):
    """Apply `campos` (API names) under If-Match; answer 200 with the new ETag."""
    with duplicado_409("Ya existe un médico con esa licencia"), transaction():
        actual = cargar(id_medico, bloquear=True)
        check_if_match(id_medico, actual["_version"])
        sets = [f"{COLUMNA[k]} = %s" for k in campos]
        params = list(campos.values())
        if "nombre" in campos:
            sets.append("Nombre_Normalizado = %s")
            params.append(normalize(campos["nombre"])[:100])
        execute(f"UPDATE `Médico` SET {', '.join(sets)}, Version = Version + 1 "
                "WHERE `ID_Médico` = %s", params + [id_medico])
        auditar("actualizar", "medico", id_medico)
        row = cargar(id_medico)
    cache.delete(clave_cache(id_medico))
    return respuesta(shape_medico(row), id_medico, row["_version"])


def libres(id_medico, fecha, duracion):
    """Start times ('HH:MM') of `duracion`-minute slots free on `fecha`.

    Slots start every DURACION_CITA_MIN from HORARIO_INICIO and end by HORARIO_FIN; a slot
    is taken when a non-cancelled cita overlaps it (Inicio < fin_slot AND Fin > inicio_slot)
    and gone when it starts before the clinic's current time.
    """
    cfg = current_app.config
    paso = timedelta(minutes=cfg["DURACION_CITA_MIN"])
    largo = timedelta(minutes=duracion)
    inicio, cierre = (datetime.combine(fecha, cfg["HORARIO_INICIO"]),
                      datetime.combine(fecha, cfg["HORARIO_FIN"]))
    ocupado = busy_slots(id_medico, inicio, cierre)
    ahora = ahora_local()
    horas, slot = [], inicio
    while slot + largo <= cierre:
        fin = slot + largo
        if slot >= ahora and not any(i < fin and f > slot for i, f in ocupado):
            horas.append(slot.strftime("%H:%M"))
        slot += paso
    return horas


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.get("")
@autenticado
@spec(query=FiltroMedicos, responses={200: Lista[MedicoOut]}, tags=["medicos"],
      summary="Directorio de médicos")
def list_medicos(query):
    """Por nombre; filtros `especialidad` (exacta, sin distinguir mayúsculas), `q` (inicio
    de palabras del nombre) y `activo`. Cualquier usuario autenticado."""
    where, params = "", []
    if query.especialidad:
        where += " AND m.Especialidad = %s"
        params.append(query.especialidad.strip())
    if query.activo is not None:
        where += " AND m.Activo = %s"
        params.append(query.activo)
    for palabra in normalize(query.q or "").split():
        where += " AND CONCAT(' ', m.Nombre_Normalizado) LIKE %s"
        params.append(like_palabra(palabra))
    return paginate(query, SELECT_MEDICO, where, params, ORDEN_MEDICOS,
                    count="SELECT COUNT(*) AS n FROM `Médico` m", shape=shape_medico)


@bp.get("/<int:id_medico>")
@autenticado
@spec(responses={200: MedicoOut}, tags=["medicos"], errors=(404,), summary="Consultar un médico")
def get_medico(id_medico):
    """Cualquier usuario autenticado. Lleva `ETag`."""
    row = cargar_publico(id_medico)
    return respuesta(shape_medico(row), id_medico, row["_version"])


@bp.post("")
@requiere("medicos:escribir")
@spec(body=MedicoDatos, responses={201: MedicoOut}, status=201, errors=(409,), tags=["medicos"],
      summary="Registrar un médico")
def create_medico(body):
    """Licencia repetida → 409."""
    with duplicado_409("Ya existe un médico con esa licencia"), transaction():
        id_medico = execute(
            "INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, `Teléfono`, Correo, "
            "Licencia) VALUES (%s, %s, %s, %s, %s, %s)",
            (body.nombre, normalize(body.nombre)[:100], body.especialidad, body.telefono,
             body.correo, body.licencia))
        auditar("crear", "medico", id_medico)
    row = cargar(id_medico)
    return respuesta(shape_medico(row), id_medico, row["_version"], status=201,
                     location=f"/medicos/{id_medico}")


@bp.put("/<int:id_medico>")
@requiere("medicos:escribir")
@spec(body=MedicoDatos, responses={200: MedicoOut}, tags=["medicos"], errors=(404, 409),
      summary="Reemplazar los datos de un médico")
def replace_medico(id_medico, body):
    """Todos los campos; los opcionales omitidos quedan vacíos. Admite `If-Match`."""
    return actualizar(id_medico, body.model_dump())


@bp.patch("/<int:id_medico>")
@requiere("medicos:escribir")
@spec(body=MedicoCambio, responses={200: MedicoOut}, tags=["medicos"], errors=(404, 409),
      summary="Modificar algunos datos de un médico")
def update_medico(id_medico, body):
    """Sólo los campos enviados. Admite `If-Match`."""
    return actualizar(id_medico, cambios(body, obligatorios=("nombre", "especialidad",
                                                             "telefono")))


class Baja(Modelo):
    """Consulta de DELETE /medicos/<id>."""

    cancelar_citas: bool = Field(False, description="Cancelar a la vez sus citas futuras")


MOTIVO_BAJA = "médico dado de baja"


@bp.delete("/<int:id_medico>")
@requiere("medicos:escribir")
@spec(query=Baja, responses={204: None}, status=204, tags=["medicos"], errors=(404, 409),
      summary="Dar de baja un médico")
def delete_medico(id_medico, query):
    """No se borra: queda `activo: false` (no admite citas nuevas y deja de tener pacientes
    bajo su cuidado). Con citas futuras no canceladas → 409 que las enumera en `detalles`,
    salvo `?cancelar_citas=1`, que las cancela en la misma transacción (motivo «médico dado
    de baja»). Admite `If-Match`."""
    with transaction():
        actual = cargar(id_medico, bloquear=True)
        check_if_match(id_medico, actual["_version"])
        futuras = futuras_del_medico(id_medico)
        if futuras and not query.cancelar_citas:
            raise ApiError(409, "conflicto", f"El médico tiene {len(futuras)} citas futuras: "
                           "reprográmelas o envíe cancelar_citas=1", detalles=[
                               {"campo": "cita", "mensaje": f"cita {c['id_cita']} el "
                                                            f"{c['inicio']:%Y-%m-%d %H:%M}"}
                               for c in futuras[:100]])
        cancelar_citas(futuras, MOTIVO_BAJA)
        execute("UPDATE `Médico` SET Activo = FALSE, Version = Version + 1 "
                "WHERE `ID_Médico` = %s", (id_medico,))
        auditar("anular", "medico", id_medico)
    cache.delete(clave_cache(id_medico))
    return "", 204


@bp.get("/<int:id_medico>/pacientes")
@autenticado
@spec(query=Pagina, responses={200: Lista[PacienteDelMedico]}, tags=["medicos"],
      errors=(403, 404), summary="Pacientes de un médico")
def list_pacientes_medico(id_medico, query):
    """Pacientes con alguna cita no cancelada con este médico, por nombre, con `total_citas`.
    El propio médico, o el personal con `pacientes:leer` que no es médico (un médico no ve la
    lista de otro). Cada paciente mostrado queda auditado."""
    es_el_medico = g.usuario["id_medico"] == id_medico
    if not (es_el_medico or (tiene("pacientes:leer") and g.usuario["id_medico"] is None)):
        raise prohibido("Sólo puede ver sus propios pacientes")
    cargar(id_medico)
    return paginate(query, SELECT_PACIENTES, " AND c.`ID_Médico` = %s AND c.Estado <> 'Cancelada'",
                    [id_medico], ORDEN_PACIENTES, group_by=" GROUP BY p.ID_Paciente",
                    count="SELECT COUNT(DISTINCT c.ID_Paciente) AS n FROM Cita c",
                    shape=shape_paciente,
                    audit=lambda rows: auditar_lectura("paciente", rows, "id_paciente"))


@bp.get("/<int:id_medico>/disponibilidad")
@autenticado
@spec(query=FiltroDisponibilidad, responses={200: Disponibilidad}, tags=["medicos"],
      errors=(404,), summary="Horas libres de un médico en un día")
def get_disponibilidad(id_medico, query):
    """Inicios de hueco libres dentro del horario de la clínica (`HORARIO_INICIO`–
    `HORARIO_FIN`, cada `DURACION_CITA_MIN`), sin el tiempo ocupado por citas no canceladas
    ni las horas ya pasadas. Médico inexistente o de baja → 404."""
    if not cargar(id_medico)["activo"]:
        raise no_encontrado("Médico")
    duracion = query.duracion_min or current_app.config["DURACION_CITA_MIN"]
    return {"fecha": query.fecha, "duracion_min": duracion,
            "libres": libres(id_medico, query.fecha, duracion)}
