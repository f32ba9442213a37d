"""The audit trail: `auditar(...)` writes one row (consulta_auditoria.py serves `/auditoria`)."""

import ipaddress
import logging

from flask import current_app, g, has_request_context, request
from mysql.connector import errors as db_errors

from db import execute, is_unavailable, query_one_after
from errors import acceso_denegado

# The logger errors.py used when the audit of a 403 lived there; kept so log filters still match.
log = logging.getLogger("historial.errors")

ACCIONES = ("leer", "crear", "actualizar", "anular", "login_ok", "login_fallido", "logout",
            "denegado", "acceso_emergencia")

INSERT_AUDITORIA = """
    INSERT INTO Auditoria (ID_Usuario, Nombre_Usuario, Rol, Accion, Recurso, ID_Recurso,
                           ID_Paciente, IP, ID_Solicitud, Motivo)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

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


# The same row, written only if the SELECT appended to it finds something.
INSERT_AUDITORIA_SI_EXISTE = """
    INSERT INTO Auditoria (ID_Usuario, Nombre_Usuario, Rol, Accion, Recurso, ID_Recurso,
                           ID_Paciente, IP, ID_Solicitud, Motivo)
    SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM DUAL WHERE EXISTS
"""


def leer_auditado(sql, params, recurso, id_recurso, id_paciente):
    """The first row of `sql` (a SELECT ending in its WHERE conditions) as a dict, or None,
    read after its audit row (`leer`) in the same round trip.

    The audit row is written, and committed, only when `sql` finds something, and the read
    returns nothing unless it was (ROW_COUNT() of the INSERT): a row committed between the two
    statements is not shown unaudited. One round trip instead of a read and then an INSERT.
    The INSERT's EXISTS reads with a shared lock, so the read waits for a write transaction
    holding that row to end. The access check must come before (it cannot depend on the row).
    """
    return query_one_after(INSERT_AUDITORIA_SI_EXISTE + "(" + sql + ")",
                           (*fila("leer", recurso, id_recurso, id_paciente), *params),
                           sql + " AND ROW_COUNT() = 1", params)


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
