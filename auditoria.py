"""The audit trail: `auditar(...)` writes one row; `/auditoria` reads them (never changes them)."""

import functools
import ipaddress
import logging
from datetime import date, datetime, time, timedelta
from typing import Literal, Optional

from flask import Blueprint, current_app, g, has_request_context, request
from mysql.connector import errors as db_errors
from pydantic import BaseModel, Field, model_validator

from api import Lista, Orden, Pagina, page, spec
from db import execute, is_unavailable, query_all, query_one
from errors import acceso_denegado

# The logger errors.py used when the audit of a 403 lived there; kept so log filters still match.
log = logging.getLogger("historial.errors")

bp = Blueprint("auditoria", __name__, url_prefix="/auditoria")

ACCIONES = ("leer", "crear", "actualizar", "anular", "login_ok", "login_fallido", "logout",
            "denegado", "acceso_emergencia")

INSERT_AUDITORIA = """
    INSERT INTO Auditoria (ID_Usuario, Nombre_Usuario, Rol, Accion, Recurso, ID_Recurso,
                           ID_Paciente, IP, ID_Solicitud, Motivo)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

SELECT_AUDITORIA = """
    SELECT a.ID_Auditoria AS id_auditoria, a.Fecha AS fecha, a.ID_Usuario AS id_usuario,
           a.Nombre_Usuario AS nombre_usuario, a.Rol AS rol, a.Accion AS accion,
           a.Recurso AS recurso, a.ID_Recurso AS id_recurso, a.ID_Paciente AS id_paciente,
           a.IP AS ip, a.ID_Solicitud AS id_solicitud, a.Motivo AS motivo
      FROM Auditoria a
"""

# Newest first; the id follows insertion order, so it is the cursor and the sort key.
ORDEN = Orden(columns=("a.ID_Auditoria",), keys=("id_auditoria",), desc=True)


def direccion_cliente():
    """The client's address: the socket's, or the one PROXIES_CONFIABLES trusted hops report.

    With N trusted proxies the client is the N-th address from the right of X-Forwarded-For
    (each proxy appends the address it was reached from); anything left of it was written by
    the client and is ignored. The audit and the login/registration throttles all use this.
    """
    if not has_request_context():
        return None
    if "direccion_cliente" not in g:
        direccion = request.remote_addr
        saltos = current_app.config.get("PROXIES_CONFIABLES", 0)
        if saltos:
            hops = [h.strip() for h in ",".join(request.headers.getlist("X-Forwarded-For"))
                    .split(",") if h.strip()]
            if len(hops) >= saltos:
                try:
                    direccion = str(ipaddress.ip_address(hops[-saltos]))
                except ValueError:
                    pass  # a proxy that writes no address is misconfigured: keep the socket's
        g.direccion_cliente = direccion
    return g.direccion_cliente


def fila(accion, recurso, id_recurso=None, id_paciente=None, motivo=None, usuario=None):
    """The INSERT_AUDITORIA parameters of one row. The actor's name and role are copied as
    they are now, so a later rename never rewrites what the row says."""
    usuario = usuario or g.get("usuario") or {}
    return (usuario.get("id_usuario"), usuario.get("nombre"), usuario.get("rol"), accion,
            recurso, None if id_recurso is None else str(id_recurso), id_paciente,
            direccion_cliente(), g.get("request_id"), motivo)


def auditar(accion, recurso, id_recurso=None, id_paciente=None, motivo=None, usuario=None):
    """Record one audit row; inside the request's transaction when one is open (one INSERT)."""
    execute(INSERT_AUDITORIA, fila(accion, recurso, id_recurso, id_paciente, motivo, usuario))


def paciente_nombrado():
    """The patient a request names: a path `id_paciente`, an `id_paciente`/`patient` filter,
    or the patient of the record an access rule was checking (`auth.objetivo`)."""
    candidatos = ((request.view_args or {}).get("id_paciente"), g.get("id_paciente_objetivo"),
                  request.args.get("id_paciente"), request.args.get("patient"))
    for valor in candidatos:
        if isinstance(valor, int) or (isinstance(valor, str) and valor.isdigit()
                                      and len(valor) < 10):
            return int(valor)
    return None


def register(app):
    """Audit every 403 the app answers (errors.py sends the signal, this module records)."""
    acceso_denegado.connect(auditar_denegado, sender=app)


def auditar_denegado(sender=None):
    """Record a refused access (403) of the current request, under the patient it named."""
    try:
        _auditar_denegado()
    except db_errors.Error as exc:
        # The refusal still answers 403; the lost audit row is logged instead.
        g.db_broken = g.get("db_broken") or is_unavailable(exc)
        log.error("no se pudo auditar el acceso denegado a %s", request.path)


def _auditar_denegado():
    view_args = request.view_args or {}
    id_recurso = next(iter(view_args.values()), None)
    recurso = (request.blueprint or request.path.strip("/").split("/")[0] or "raiz")
    auditar("denegado", recurso, id_recurso, id_paciente=paciente_nombrado(),
            motivo=f"{request.method} {request.path}"[:500])


class FiltroAuditoria(Pagina):
    """Filtros de GET /auditoria (todos opcionales, combinados con Y)."""

    id_usuario: Optional[int] = Field(None, ge=1)
    id_paciente: Optional[int] = Field(None, ge=1)
    accion: Optional[Literal[ACCIONES]] = None
    desde: Optional[date] = Field(None, description="Desde este día (UTC), incluido")
    hasta: Optional[date] = Field(None, description="Hasta este día (UTC), incluido")

    @model_validator(mode="after")
    def rango_valido(self):
        if self.desde and self.hasta and self.desde > self.hasta:
            raise ValueError("desde no puede ser posterior a hasta")
        return self


class AuditoriaOut(BaseModel):
    """Una fila de la auditoría."""

    id_auditoria: int
    fecha: datetime
    id_usuario: Optional[int]
    nombre_usuario: Optional[str] = Field(None, description="Nombre del usuario en el momento "
                                                            "del acceso")
    rol: Optional[str] = Field(None, description="Rol del usuario en el momento del acceso")
    accion: Literal[ACCIONES]
    recurso: str
    id_recurso: Optional[str]
    id_paciente: Optional[int]
    ip: Optional[str]
    id_solicitud: Optional[str]
    motivo: Optional[str]


def filtros(query):
    """WHERE conditions and params of the query's filters (fixed SQL, values as params)."""
    sql, params = "", []
    for campo, columna in (("id_usuario", "a.ID_Usuario"), ("id_paciente", "a.ID_Paciente"),
                           ("accion", "a.Accion")):
        if getattr(query, campo) is not None:
            sql += f" AND {columna} = %s"
            params.append(getattr(query, campo))
    if query.desde is not None:
        sql += " AND a.Fecha >= %s"
        params.append(datetime.combine(query.desde, time()))
    if query.hasta is not None:
        sql += " AND a.Fecha < %s"
        params.append(datetime.combine(query.hasta + timedelta(days=1), time()))
    return sql, params


def solo_auditores(view):
    """`requiere("auditoria:leer")`, looked up per request because auth imports this module."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        from auth import requiere

        return requiere("auditoria:leer")(view)(*args, **kwargs)

    wrapper._auth = "auditoria:leer"
    return wrapper


@bp.get("")
@solo_auditores
@spec(query=FiltroAuditoria, responses={200: Lista[AuditoriaOut]}, tags=["auditoria"],
      summary="Consultar el registro de auditoría")
def list_auditoria(query):
    """Del más reciente al más antiguo, filtrable por usuario, paciente, acción y días
    (`desde`/`hasta`, UTC, incluidos). Ningún endpoint modifica ni borra estas filas."""
    where, params = filtros(query)
    after_sql, after_params = ORDEN.after(query.cursor)
    rows = query_all(SELECT_AUDITORIA + " WHERE TRUE" + where + after_sql + " "
                     + ORDEN.order_by() + " LIMIT %s", params + after_params + [query.limite + 1])
    total = None
    if query.total:
        total = query_one("SELECT COUNT(*) AS n FROM Auditoria a WHERE TRUE" + where,
                          params)["n"]
    return page(rows, query, ORDEN, total=total)
