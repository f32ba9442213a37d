"""Appointments: booking without overlaps, the state machine and listings.

The no-overlap guarantee lives in the database: every write that changes when a cita takes
place runs in one transaction that first locks the doctor's row and then the patient's row
(always in that order, so two bookings never deadlock), then looks for an overlapping
non-cancelled cita and only then writes. Bookings for one doctor or one patient are thereby
serialised across every server process; the UNIQUE keys on the active start time
(`uq_cita_medico_inicio`, `uq_cita_paciente_inicio`) are the backstop. On a Galera cluster
row locks stay on their node, so each of those transactions first writes the doctor's and the
patient's agenda row (`tomar_agendas`): certification lets only one of two such transactions
commit and the other is retried.
"""

from datetime import date, datetime, time, timedelta
from typing import Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api import Lista, Modelo, Pagina, check_if_match, paginate, spec
from auditoria import auditar
from auth import ahora_local, autenticado, bajo_su_cuidado, es_el_paciente, tiene
from clinico import auditar_lectura, cambios, respuesta
from datos_cita import (DURACION_MAX, DURACION_MIN, ORDEN_CITAS, SELECT_CITA, CitaOut, Estado,
                        shape_cita)
from db import cerrojo, execute, query_all, query_one, transaction
from errors import ApiError, conflicto, duplicado_409, no_encontrado, prohibido, validacion

bp = Blueprint("citas", __name__, url_prefix="/citas")

TRANSICIONES = {
    "Pendiente": ("Confirmada", "Cancelada"),
    "Confirmada": ("Completada", "Cancelada", "No_Asistio"),
}
FINALES = ("Completada", "Cancelada", "No_Asistio")
ANTICIPACION_MAX_DIAS = 730
ID_MAX = 2**31 - 1
HORA_PATRON = r"^([01]\d|2[0-3]):[0-5]\d(:00)?$"
# The UNIQUE backstop of check_libre: another active cita starts at the very same time.
HORARIO_DUPLICADO = "Horario ocupado: ya hay una cita activa que empieza a esa hora"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

def _hora(value):
    """'HH:MM' or 'HH:MM:00' (already matched by the pattern) as a time."""
    return None if value is None else time.fromisoformat(value[:5])


class CitaNueva(Modelo):
    """Cuerpo de POST /citas."""

    fecha: date = Field(..., description="Fecha de la cita (zona horaria de la clínica)")
    hora: str = Field(..., pattern=HORA_PATRON, examples=["10:30"], description="HH:MM")
    id_paciente: int = Field(..., ge=1, le=ID_MAX)
    id_medico: int = Field(..., ge=1, le=ID_MAX)
    motivo: Optional[str] = Field(None, max_length=500)
    duracion_min: Optional[int] = Field(None, ge=DURACION_MIN, le=DURACION_MAX,
                                        description="Por omisión, DURACION_CITA_MIN")

    @field_validator("hora")
    @classmethod
    def parse_hora(cls, value):
        """The validated text as a time."""
        return _hora(value)


def _al_menos_un_campo(schema):
    """JSON schema of a partial update: some field is required, none has a default."""
    schema["minProperties"] = 1
    for prop in schema["properties"].values():
        prop.pop("default", None)


class CitaCambio(Modelo):
    """Cuerpo de PUT/PATCH /citas/<id>: cambiar la fecha y/o el motivo (null lo borra)."""

    # Absent means unchanged; null is only meaningful for `motivo`.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_al_menos_un_campo)

    fecha: date = None
    hora: str = Field(None, pattern=HORA_PATRON, examples=["11:00"])
    duracion_min: int = Field(None, ge=DURACION_MIN, le=DURACION_MAX)
    motivo: Optional[str] = Field(None, max_length=500)

    @field_validator("hora")
    @classmethod
    def parse_hora(cls, value):
        """The validated text as a time."""
        return _hora(value)


class CambioEstado(Modelo):
    """Cuerpo de POST /citas/<id>/estado."""

    estado: Estado
    motivo: Optional[str] = Field(None, max_length=500)


class FiltroFechas(Pagina):
    """Filters shared by every cita list."""

    estado: Optional[Estado] = None
    desde: Optional[date] = Field(None, description="Fecha mínima (incluida)")
    hasta: Optional[date] = Field(None, description="Fecha máxima (incluida)")


class FiltroCitas(FiltroFechas):
    """Filtros de GET /citas."""

    id_medico: Optional[int] = Field(None, ge=1, le=ID_MAX)
    id_paciente: Optional[int] = Field(None, ge=1, le=ID_MAX)


class FiltroCitasMedico(FiltroFechas):
    """Filtros de GET /citas/medico/<id>."""

    id_paciente: Optional[int] = Field(None, ge=1, le=ID_MAX)


class FiltroCitasPaciente(FiltroFechas):
    """Filtros de GET /citas/paciente/<id>."""

    id_medico: Optional[int] = Field(None, ge=1, le=ID_MAX)


class EstadoOut(BaseModel):
    """Un paso del historial de estados de una cita."""

    estado: Estado
    fecha: datetime
    id_usuario: Optional[int] = None
    motivo: Optional[str] = None


class CitaDetalle(CitaOut):
    """Una cita con su historial de estados, del más antiguo al más reciente."""

    historial_estados: list[EstadoOut]


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


# Only the Cita row: a FOR UPDATE over the JOIN would also lock the patient and doctor rows,
# in the join's order instead of the fixed doctor-then-patient order.
BLOQUEAR_CITA = """
    SELECT ID_Cita AS id_cita, Fecha AS fecha, Hora AS hora, Duracion_Min AS duracion_min,
           Estado AS estado, ID_Paciente AS id_paciente, `ID_Médico` AS id_medico,
           Version AS _version
      FROM Cita WHERE ID_Cita = %s FOR UPDATE
"""

# Each half runs on its UNIQUE (owner, Inicio, Activa) index. A cita lasts at most
# DURACION_MAX minutes, so one starting earlier than `inicio - DURACION_MAX` cannot reach
# `inicio`: that lower bound keeps the range scan to a few rows instead of the whole past.
SOLAPES = """
    (SELECT 'medico' AS quien, ID_Cita AS id_cita, Inicio AS inicio, Fin AS fin
       FROM Cita
      WHERE `ID_Médico` = %s AND Estado <> 'Cancelada' AND Inicio > %s AND Inicio < %s
        AND Fin > %s AND ID_Cita <> %s
      ORDER BY Inicio LIMIT 1)
    UNION ALL
    (SELECT 'paciente' AS quien, ID_Cita AS id_cita, Inicio AS inicio, Fin AS fin
       FROM Cita
      WHERE ID_Paciente = %s AND Estado <> 'Cancelada' AND Inicio > %s AND Inicio < %s
        AND Fin > %s AND ID_Cita <> %s
      ORDER BY Inicio LIMIT 1)
"""


def find_clash(id_medico, id_paciente, inicio, fin, except_id=None):
    """The non-cancelled cita of the doctor (first) or the patient overlapping [inicio, fin).

    Returns {quien: 'medico'|'paciente', id_cita, inicio, fin} or None. `id_paciente` may be
    None (doctor only). Only race-free inside a transaction holding the doctor and patient
    row locks (`lock_medico_paciente`).
    """
    desde = inicio - timedelta(minutes=DURACION_MAX)
    rows = query_all(SOLAPES, (id_medico, desde, fin, inicio, except_id or 0,
                               id_paciente, desde, fin, inicio, except_id or 0))
    return rows[0] if rows else None


def lock_medico_paciente(id_medico, id_paciente, existente=False):
    """Lock the doctor's row, then the patient's (fixed order); 404 if either is missing or
    inactive — or, for an `existente` cita being moved, 409 naming who was deactivated.

    Holding both locks serialises every booking and rescheduling that involves either of them.
    These are the transaction's first reads, so its snapshot (taken at its first plain read)
    already includes whatever the previous lock holder committed.
    """
    medico = query_one("SELECT Activo AS activo FROM `Médico` WHERE `ID_Médico` = %s FOR UPDATE",
                       (id_medico,))
    paciente = query_one("SELECT Activo AS activo FROM Paciente WHERE ID_Paciente = %s "
                         "FOR UPDATE", (id_paciente,))
    for row, quien, articulo in ((medico, "Médico", "El médico"),
                                 (paciente, "Paciente", "El paciente")):
        if row is None:
            raise no_encontrado(quien)
        if not row["activo"]:
            if existente:
                raise conflicto(f"{articulo} de la cita está dado de baja: no se puede "
                                "reprogramar")
            raise no_encontrado(quien)


def check_horario(fecha, hora, duracion):
    """400 unless the cita starts and ends within clinic hours (HORARIO_INICIO–HORARIO_FIN)."""
    cfg = current_app.config
    inicio = datetime.combine(fecha, hora)
    if (hora < cfg["HORARIO_INICIO"]
            or inicio + timedelta(minutes=duracion) > datetime.combine(fecha, cfg["HORARIO_FIN"])):
        raise validacion("hora", f"la cita debe empezar y terminar dentro del horario de la "
                                 f"clínica ({cfg['HORARIO_INICIO']:%H:%M}–"
                                 f"{cfg['HORARIO_FIN']:%H:%M})")


def check_tope(id_paciente, inicio, except_id=None):
    """409 when a patient booking for themself already holds CITAS_MAX_PACIENTE future
    non-cancelled citas. Run under the patient's row lock, like the overlap check."""
    tope = current_app.config["CITAS_MAX_PACIENTE"]
    ahora = ahora_local()
    if inicio <= ahora:
        return
    n = query_one("SELECT COUNT(*) AS n FROM Cita WHERE ID_Paciente = %s "
                  "AND Estado <> 'Cancelada' AND Inicio > %s AND ID_Cita <> %s",
                  (id_paciente, ahora, except_id or 0))["n"]
    if n >= tope:
        raise conflicto(f"Ya tiene {n} citas pendientes; el máximo que puede reservar usted "
                        f"mismo es {tope}. Cancele alguna o llame a la clínica")


def tomar_agendas(id_medico, id_paciente):
    """Write the doctor's and the patient's agenda rows, first thing in every booking and
    rescheduling transaction: two of them for one doctor or one patient then never both
    commit on a cluster either, and the reads that follow see every earlier one."""
    cerrojo(f"medico:{id_medico}", f"paciente:{id_paciente}")


def check_libre(id_medico, id_paciente, inicio, fin, except_id=None):
    """409 `horario_ocupado` naming the clashing cita, if there is one."""
    clash = find_clash(id_medico, id_paciente, inicio, fin, except_id)
    if clash is None:
        return
    quien = "el médico" if clash["quien"] == "medico" else "el paciente"
    desde, hasta = clash["inicio"], clash["fin"]
    raise ApiError(
        409, "horario_ocupado",
        f"Horario ocupado: {quien} ya tiene la cita {clash['id_cita']} el "
        f"{desde:%Y-%m-%d} de {desde:%H:%M} a {hasta:%H:%M}",
        detalles=[{"campo": "hora", "mensaje": f"se solapa con la cita {clash['id_cita']} "
                                               f"({desde:%Y-%m-%d %H:%M}–{hasta:%H:%M})"}])


def check_fecha(fecha, hora):
    """400 when the start is in the past (clinic time) or too far ahead."""
    ahora = ahora_local()
    if datetime.combine(fecha, hora) < ahora:
        campo = "fecha" if fecha < ahora.date() else "hora"
        raise validacion(campo, "la cita no puede ser en el pasado")
    if fecha > ahora.date() + timedelta(days=ANTICIPACION_MAX_DIAS):
        raise validacion("fecha", f"no puede ser más de {ANTICIPACION_MAX_DIAS} días después "
                                  "de hoy")


def cargar(id_cita):
    """The SELECT_CITA row, or 404."""
    row = query_one(SELECT_CITA + " WHERE c.ID_Cita = %s", (id_cita,))
    if row is None:
        raise no_encontrado("Cita")
    return row


def bloquear(id_cita):
    """The Cita row locked FOR UPDATE (inside a transaction), or 404."""
    row = query_one(BLOQUEAR_CITA, (id_cita,))
    if row is None:
        raise no_encontrado("Cita")
    return row


def detalle(id_cita, row=None, status=200, location=None):
    """The single-cita answer: the cita, its state history (oldest first) and its ETag."""
    row = row or cargar(id_cita)
    body = shape_cita(row)
    body["historial_estados"] = query_all(
        "SELECT Estado AS estado, Fecha AS fecha, ID_Usuario AS id_usuario, Motivo AS motivo "
        "FROM Cita_Estado WHERE ID_Cita = %s ORDER BY ID_Cita_Estado", (id_cita,))
    return respuesta(body, id_cita, row["_version"], status=status, location=location)


# ---------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------

def es_su_medico(cita):
    """The current user is the cita's doctor."""
    return g.usuario["id_medico"] is not None and g.usuario["id_medico"] == cita["id_medico"]


def check_acceso(cita):
    """See or manage one cita: `citas:gestionar` staff, its doctor or its patient."""
    if tiene("citas:gestionar") or es_su_medico(cita) or es_el_paciente(cita["id_paciente"]):
        return
    raise prohibido("Sólo puede ver y gestionar sus propias citas")


def check_reserva(id_medico, id_paciente):
    """Booking: a patient for themself; staff with `citas:gestionar` for anyone; a doctor in
    their own agenda, only for a patient already under their care (a cita is what makes the
    care relation, so a doctor booking a stranger would grant themself access)."""
    if es_el_paciente(id_paciente):
        return
    if g.usuario["id_medico"] is not None and g.usuario["id_medico"] == id_medico:
        if bajo_su_cuidado(id_paciente):
            return
        raise prohibido("Un médico sólo reserva citas para pacientes que ya están bajo su "
                        "cuidado; la primera cita la da la recepción o el propio paciente")
    if tiene("citas:gestionar"):
        return
    raise prohibido("Sólo puede reservar citas propias")


def reserva_propia(id_paciente):
    """A patient booking or moving their own cita: duration fixed, a cap on future citas."""
    return es_el_paciente(id_paciente) and not tiene("citas:gestionar")


def check_cambio_estado(cita, estado):
    """Staff and the cita's doctor make every transition; its patient may only cancel."""
    check_acceso(cita)
    if estado != "Cancelada" and not (tiene("citas:gestionar") or es_su_medico(cita)):
        raise prohibido("El paciente sólo puede cancelar sus citas")


def alcance(id_medico, id_paciente):
    """WHERE fragment limiting a list to the caller's citas.

    Staff with `citas:gestionar` see all; a doctor their agenda, a patient their own citas;
    asking for another doctor's or patient's citas is a 403.
    """
    usuario = g.usuario
    if tiene("citas:gestionar"):
        return "", []
    if usuario["id_medico"] is not None:
        if id_medico not in (None, usuario["id_medico"]):
            raise prohibido("Sólo puede ver sus propias citas")
        return " AND c.`ID_Médico` = %s", [usuario["id_medico"]]
    if usuario["id_paciente"] is not None:
        if id_paciente not in (None, usuario["id_paciente"]):
            raise prohibido("Sólo puede ver sus propias citas")
        return " AND c.ID_Paciente = %s", [usuario["id_paciente"]]
    raise prohibido("No tiene acceso a citas")


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------

def insert_cita(fecha, hora, duracion_min, motivo, id_paciente, id_medico, tope=False):
    """Lock, check the time is free (and the patient's cap when `tope`), insert the cita and
    its first state; returns its id."""
    inicio = datetime.combine(fecha, hora)
    fin = inicio + timedelta(minutes=duracion_min)
    with transaction():
        tomar_agendas(id_medico, id_paciente)
        lock_medico_paciente(id_medico, id_paciente)
        check_libre(id_medico, id_paciente, inicio, fin)
        if tope:
            check_tope(id_paciente, inicio)
        with duplicado_409(HORARIO_DUPLICADO, codigo="horario_ocupado"):
            id_cita = execute(
                "INSERT INTO Cita (Fecha, Hora, Duracion_Min, Motivo, ID_Paciente, `ID_Médico`) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (fecha, hora, duracion_min, motivo, id_paciente, id_medico))
        execute("INSERT INTO Cita_Estado (ID_Cita, Estado, ID_Usuario) "
                "VALUES (%s, 'Pendiente', %s)", (id_cita, g.usuario["id_usuario"]))
        auditar("crear", "cita", id_cita, id_paciente=id_paciente)
    return id_cita


COLUMNAS_CAMBIO = {"fecha": "Fecha", "hora": "Hora", "duracion_min": "Duracion_Min",
                   "motivo": "Motivo"}


def reprogramar(id_cita, body):
    """PUT/PATCH: new time (same no-overlap rule, the cita itself excluded) and/or reason."""
    sent = cambios(body)
    actual = query_one("SELECT ID_Paciente AS id_paciente, `ID_Médico` AS id_medico FROM Cita "
                       "WHERE ID_Cita = %s", (id_cita,))
    if actual is None:
        raise no_encontrado("Cita")
    check_acceso(actual)
    propia = reserva_propia(actual["id_paciente"])
    if propia and "duracion_min" in sent:
        raise validacion("duracion_min", "la duración de una cita que reserva el paciente la "
                                         "fija la clínica")
    mueve = bool({"fecha", "hora", "duracion_min"} & sent.keys())
    if mueve and es_su_medico(actual) and not tiene("citas:gestionar"):
        # Moving an old cita into the future would renew an ended care relation.
        if not bajo_su_cuidado(actual["id_paciente"]):
            raise prohibido("El paciente ya no está bajo su cuidado: la recepción puede darle "
                            "una cita nueva")
    with transaction():
        tomar_agendas(actual["id_medico"], actual["id_paciente"])
        # The cita's doctor and patient never change, so they can be locked before the cita.
        lock_medico_paciente(actual["id_medico"], actual["id_paciente"], existente=True)
        cita = bloquear(id_cita)
        check_if_match(id_cita, cita["_version"])
        if cita["estado"] in FINALES:
            raise conflicto(f"La cita está {cita['estado']}: ya no se puede modificar")
        fecha = sent.get("fecha", cita["fecha"])
        hora = sent["hora"] if "hora" in sent else (datetime.min + cita["hora"]).time()
        duracion = sent.get("duracion_min", cita["duracion_min"])
        if "fecha" in sent or "hora" in sent:
            check_fecha(fecha, hora)
        if mueve:
            check_horario(fecha, hora, duracion)
            inicio = datetime.combine(fecha, hora)
            check_libre(cita["id_medico"], cita["id_paciente"], inicio,
                        inicio + timedelta(minutes=duracion), except_id=id_cita)
            if propia:
                check_tope(cita["id_paciente"], inicio, except_id=id_cita)
        sets = ", ".join(f"{COLUMNAS_CAMBIO[k]} = %s" for k in sent)
        with duplicado_409(HORARIO_DUPLICADO, codigo="horario_ocupado"):
            execute(f"UPDATE Cita SET {sets}, Version = Version + 1 WHERE ID_Cita = %s",
                    [*sent.values(), id_cita])
        auditar("actualizar", "cita", id_cita, id_paciente=cita["id_paciente"])
        return detalle(id_cita)


def apply_transicion(id_cita, estado, motivo):
    """Apply one transition of the state machine and record it in Cita_Estado."""
    with transaction():
        cita = bloquear(id_cita)
        check_cambio_estado(cita, estado)
        check_if_match(id_cita, cita["_version"])
        if estado not in TRANSICIONES.get(cita["estado"], ()):
            raise conflicto(f"Transición no permitida: de {cita['estado']} a {estado}",
                            codigo="transicion_invalida")
        execute("UPDATE Cita SET Estado = %s, Version = Version + 1 WHERE ID_Cita = %s",
                (estado, id_cita))
        execute("INSERT INTO Cita_Estado (ID_Cita, Estado, ID_Usuario, Motivo) "
                "VALUES (%s, %s, %s, %s)", (id_cita, estado, g.usuario["id_usuario"], motivo))
        auditar("anular" if estado == "Cancelada" else "actualizar", "cita", id_cita,
                id_paciente=cita["id_paciente"], motivo=f"{cita['estado']} → {estado}")


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.post("")
@autenticado
@spec(body=CitaNueva, responses={201: CitaDetalle}, status=201, errors=(403, 404, 409),
      tags=["citas"], summary="Reservar una cita")
def create_cita(body):
    """Nunca en el pasado (hora de la clínica) y siempre dentro del horario de la clínica
    (`HORARIO_INICIO`–`HORARIO_FIN`, inicio y fin; si no, 400). Un paciente reserva sólo para
    sí mismo, sin elegir `duracion_min` (400; recibe `DURACION_CITA_MIN`) y con a lo sumo
    `CITAS_MAX_PACIENTE` citas futuras no canceladas (409 `conflicto`). Un médico reserva
    sólo en su agenda y sólo para pacientes que ya están bajo su cuidado (la primera cita la
    da el personal con `citas:gestionar` o el propio paciente: reservar no abre el acceso a
    la historia). El personal con `citas:gestionar`, para cualquiera. Paciente o médico
    inexistente o inactivo → 404. Solape con otra cita no cancelada del médico o del
    paciente → 409 `horario_ocupado`, que nombra la cita con la que choca."""
    check_reserva(body.id_medico, body.id_paciente)
    propia = reserva_propia(body.id_paciente)
    if propia and body.duracion_min is not None:
        raise validacion("duracion_min", "la duración de una cita que reserva el paciente la "
                                         "fija la clínica")
    check_fecha(body.fecha, body.hora)
    duracion = body.duracion_min or current_app.config["DURACION_CITA_MIN"]
    check_horario(body.fecha, body.hora, duracion)
    id_cita = insert_cita(body.fecha, body.hora, duracion, body.motivo, body.id_paciente,
                          body.id_medico, tope=propia)
    return detalle(id_cita, status=201, location=f"/citas/{id_cita}")


def listar(query, id_medico=None, id_paciente=None):
    """One page of citas in date and time order, limited to what the caller may see."""
    where, params = alcance(id_medico, id_paciente)
    filtros = {"c.`ID_Médico` = %s": id_medico, "c.ID_Paciente = %s": id_paciente,
               "c.Estado = %s": query.estado, "c.Fecha >= %s": query.desde,
               "c.Fecha <= %s": query.hasta}
    for condition, value in filtros.items():
        if value is not None:
            where += f" AND {condition}"
            params.append(value)
    return paginate(query, SELECT_CITA, where, params, ORDEN_CITAS,
                    count="SELECT COUNT(*) AS n FROM Cita c", shape=shape_cita,
                    audit=lambda rows: auditar_lectura("cita", rows, "id_cita"))


@bp.get("")
@autenticado
@spec(query=FiltroCitas, responses={200: Lista[CitaOut]}, tags=["citas"], errors=(403,),
      summary="Listar citas")
def list_citas(query):
    """Por fecha y hora. Un paciente ve las suyas y un médico las de su agenda (pedir las de
    otro → 403); el personal con `citas:gestionar`, todas."""
    return listar(query, query.id_medico, query.id_paciente)


@bp.get("/medico/<int:id_medico>")
@autenticado
@spec(query=FiltroCitasMedico, responses={200: Lista[CitaOut]}, tags=["citas"],
      errors=(403, 404), summary="Citas de un médico (ruta de compatibilidad)")
def list_citas_medico(id_medico, query):
    """Como `GET /citas?id_medico=`; otro médico → 403, médico inexistente → 404."""
    if query_one("SELECT 1 AS si FROM `Médico` WHERE `ID_Médico` = %s", (id_medico,)) is None:
        alcance(id_medico, query.id_paciente)
        raise no_encontrado("Médico")
    return listar(query, id_medico, query.id_paciente)


@bp.get("/paciente/<int:id_paciente>")
@autenticado
@spec(query=FiltroCitasPaciente, responses={200: Lista[CitaOut]}, tags=["citas"],
      errors=(403, 404), summary="Citas de un paciente (ruta de compatibilidad)")
def list_citas_paciente(id_paciente, query):
    """Como `GET /citas?id_paciente=`; otro paciente → 403, paciente inexistente → 404."""
    if query_one("SELECT 1 AS si FROM Paciente WHERE ID_Paciente = %s", (id_paciente,)) is None:
        alcance(query.id_medico, id_paciente)
        raise no_encontrado("Paciente")
    return listar(query, query.id_medico, id_paciente)


@bp.get("/<int:id_cita>")
@autenticado
@spec(responses={200: CitaDetalle}, tags=["citas"], errors=(403, 404),
      summary="Consultar una cita con su historial de estados")
def get_cita(id_cita):
    """La cita (también cancelada) y sus cambios de estado, del más antiguo al más reciente."""
    row = cargar(id_cita)
    check_acceso(row)
    auditar("leer", "cita", id_cita, id_paciente=row["id_paciente"])
    return detalle(id_cita, row)


@bp.put("/<int:id_cita>")
@autenticado
@spec(body=CitaCambio, responses={200: CitaDetalle}, tags=["citas"], errors=(403, 404, 409),
      summary="Reprogramar una cita")
def replace_cita(id_cita, body):
    """Igual que PATCH: cambia `fecha`, `hora`, `duracion_min` y/o `motivo` (los que se envíen).
    Sólo en estados no finales (si no, 409); el nuevo horario sigue las reglas de solape."""
    return reprogramar(id_cita, body)


@bp.patch("/<int:id_cita>")
@autenticado
@spec(body=CitaCambio, responses={200: CitaDetalle}, tags=["citas"], errors=(403, 404, 409),
      summary="Reprogramar una cita")
def update_cita(id_cita, body):
    """Cambia `fecha`, `hora`, `duracion_min` y/o `motivo`. Sólo en estados no finales (si no,
    409); el nuevo horario no puede ser pasado, debe caber en el horario de la clínica (400)
    y no solaparse con otra cita del médico o del paciente (409 `horario_ocupado`); para el
    paciente rigen también la duración fija y el tope de citas. Médico o paciente dado de
    baja → 409. Admite `If-Match`."""
    return reprogramar(id_cita, body)


@bp.post("/<int:id_cita>/estado")
@autenticado
@spec(body=CambioEstado, responses={200: CitaDetalle}, tags=["citas"],
      errors=(403, 404, 409, 412), summary="Cambiar el estado de una cita")
def change_estado(id_cita, body):
    """Pendiente → Confirmada | Cancelada; Confirmada → Completada | Cancelada | No_Asistio;
    cualquier otra → 409 `transicion_invalida`. El médico de la cita y el personal con
    `citas:gestionar` hacen todas; el paciente sólo cancela las suyas."""
    apply_transicion(id_cita, body.estado, body.motivo)
    return detalle(id_cita)


@bp.delete("/<int:id_cita>")
@autenticado
@spec(responses={204: None}, status=204, tags=["citas"], errors=(403, 404, 409),
      summary="Cancelar una cita")
def delete_cita(id_cita):
    """Cancela la cita (no se borra) y libera su horario; en un estado final → 409."""
    apply_transicion(id_cita, "Cancelada", None)
    return "", 204


