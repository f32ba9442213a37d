"""The one place where every error becomes the contract's JSON shape."""

import logging
from contextlib import contextmanager

from blinker import Namespace
from flask import current_app, g, jsonify, request
from mysql.connector import errors as db_errors
from werkzeug.exceptions import HTTPException

log = logging.getLogger("historial.errors")

# Sent when a 403 is answered: auditoria.register connects the audit of the refusal, so this
# module needs neither the database nor the audit.
acceso_denegado = Namespace().signal("acceso_denegado")

CODIGOS_HTTP = {
    400: ("json_invalido", "El cuerpo no es JSON válido"),
    401: ("no_autenticado", "Se requiere autenticación"),
    403: ("prohibido", "No tiene permiso para esta operación"),
    404: ("no_encontrado", "Recurso no encontrado"),
    405: ("metodo_no_permitido", "Método no permitido para este recurso"),
    409: ("conflicto", "Conflicto con el estado actual del recurso"),
    412: ("version_obsoleta", "El recurso cambió desde que lo leyó (If-Match no coincide)"),
    413: ("demasiado_grande", "El cuerpo de la petición supera 1 MiB"),
    415: ("tipo_no_soportado", "El cuerpo debe enviarse como application/json"),
    429: ("demasiados_intentos", "Demasiados intentos; espere antes de reintentar"),
    500: ("error_interno", "Error interno del servidor"),
    503: ("servicio_no_disponible", "Servicio no disponible"),
}


class ApiError(Exception):
    """An answer other than success: status, code, Spanish message, optional details."""

    def __init__(self, status, codigo, mensaje, detalles=None, headers=None):
        super().__init__(mensaje)
        self.status = status
        self.codigo = codigo
        self.mensaje = mensaje
        self.detalles = detalles
        self.headers = headers or {}


# The grammatical gender of every resource name given to no_encontrado, so that the participle
# agrees ("Cita no encontrada"); tests/test_mensajes.py fails on a name in neither set.
FEMENINOS = frozenset({"Cita", "Receta", "Invitación", "Sesión", "Cuenta", "Historia clínica"})
MASCULINOS = frozenset({"Recurso", "Paciente", "Médico", "Usuario", "Rol", "Diagnóstico",
                        "Tratamiento", "Medicamento", "Historial", "Código CIE-10", "Permiso"})


def no_encontrado(que="Recurso"):
    """404 for a missing (or hidden) resource, the participle agreeing with `que`."""
    return ApiError(404, "no_encontrado",
                    f"{que} no {'encontrada' if que in FEMENINOS else 'encontrado'}")


def prohibido(mensaje="No tiene permiso para esta operación"):
    """403 for an authenticated caller without the right."""
    return ApiError(403, "prohibido", mensaje)


def conflicto(mensaje, codigo="conflicto"):
    """409 with one of the contract's conflict codes."""
    return ApiError(409, codigo, mensaje)


# The server's error number for a row that repeats a UNIQUE key.
ER_DUP_ENTRY = 1062


@contextmanager
def duplicado_409(mensaje, codigo="conflicto", por_indice=None):
    """Turn a UNIQUE violation raised in the block into 409 `codigo` with `mensaje`, or with
    the message `por_indice` gives the first index the database error names."""
    try:
        yield
    except db_errors.IntegrityError as err:
        if err.errno != ER_DUP_ENTRY:
            raise
        mensaje = next((texto for indice, texto in (por_indice or {}).items()
                        if indice in (err.msg or "")), mensaje)
        raise conflicto(mensaje, codigo) from None


def validacion(campo, mensaje):
    """400 for one bad field, in the same shape as the model validation errors."""
    return ApiError(400, "validacion", "Datos no válidos",
                    detalles=[{"campo": campo, "mensaje": mensaje}])


def error_response(status, codigo, mensaje, detalles=None, headers=None):
    """Build the JSON error answer, with the request id."""
    body = {"error": mensaje, "codigo": codigo}
    if detalles:
        body["detalles"] = detalles
    body["id_solicitud"] = g.get("request_id")
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_error_response(err):
    """The JSON answer of an ApiError."""
    return error_response(err.status, err.codigo, err.mensaje, err.detalles, err.headers)


def error_interno():
    """Log the exception being handled and answer the 500 shape (nothing of it leaks)."""
    log.exception("error no controlado en %s %s", request.method, request.path)
    return error_response(500, "error_interno", CODIGOS_HTTP[500][1])


def register_error_handlers(app):
    """Turn ApiError, HTTP errors and bugs into the JSON shape (db.register adds outages)."""

    @app.errorhandler(ApiError)
    def handle_api_error(err):
        if err.status == 403:
            acceso_denegado.send(current_app._get_current_object())
        return api_error_response(err)

    @app.errorhandler(HTTPException)
    def handle_http_error(err):
        codigo, mensaje = CODIGOS_HTTP.get(err.code, ("error", err.name))
        headers = {}
        if err.code == 405 and err.valid_methods:
            headers["Allow"] = ", ".join(err.valid_methods)
        if err.code == 429:
            headers["Retry-After"] = str(getattr(err, "retry_after", None) or 60)
        return error_response(err.code, codigo, mensaje, headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(err):
        return error_interno()
