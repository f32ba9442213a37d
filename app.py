"""The application factory: configuration, logging, extensions, blueprints, health and docs."""

import io
import logging
import os
import re
import sys
import time
import uuid
from logging.handlers import RotatingFileHandler

import flask_swagger_ui
from flask import Flask, g, has_request_context, jsonify, request, send_from_directory
from flask_cors import CORS
from flask.sessions import SessionInterface
from werkzeug.exceptions import RequestEntityTooLarge
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

import api
import cache
import db
import logs
import metricas
import migraciones
import sesiones
from config import ConfigError, load_config
from errors import register_error_handlers
from openapi import build_openapi


class SinSesion(SessionInterface):
    """No cookie session: the API is stateless (bearer tokens), so there is nothing to sign or
    verify on each request (Flask would build a signer per request because SECRET_KEY is set)."""

    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response):
        pass


LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
SWAGGER_DIST = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
DOCS_HTML = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>Historial Médico API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  persistAuthorization: true, tryItOutEnabled: false});</script>
</body></html>"""


class ArchivoRotativo(RotatingFileHandler):
    """RotatingFileHandler without its per-line extras: the stdlib formats every record a second
    time and stats the file twice to decide on a rollover; here the line is formatted once and
    the size is the append position (the file is shared by the workers, so it is asked for)."""

    def emit(self, record):
        try:
            line = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            if self.stream.seek(0, 2) + len(line) >= self.maxBytes:
                self.doRollover()
            self.stream.write(line)
            self.stream.flush()
        except Exception:
            self.handleError(record)


class RequestIdFilter(logging.Filter):
    """Prefix each log line of a request with its request id."""

    def filter(self, record):
        if not getattr(record, "_rid", False) and has_request_context() and g.get("request_id"):
            record.msg = f"[{g.request_id}] {record.msg}"
            record._rid = True
        return True


def setup_logging(config):
    """Console and rotating file, in the seed's format, every record escaped onto its line
    (gunicorn's own loggers too); one setup per process."""
    root = logging.getLogger()
    if getattr(root, "_historial_configured", None) == config["LOG_FILE"]:
        return
    for handler in list(root.handlers):
        if getattr(handler, "_historial", False):
            root.removeHandler(handler)
    formatter = logs.Formato(LOG_FORMAT)
    handlers = [logging.StreamHandler(sys.stderr),
                ArchivoRotativo(config["LOG_FILE"], maxBytes=10 * 1024 * 1024, backupCount=5,
                                encoding="utf-8")]
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler._historial = True
        root.addHandler(handler)
    root.setLevel(config["LOG_LEVEL"])
    # Neither this format nor gunicorn's uses the caller's file/line or the thread: the logging
    # docs' "Optimization" switches, so that a record does not gather them (one access line
    # each request). The process id stays: gunicorn's error format writes %(process)d.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    # The development server's request lines carry the query string (search terms).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logs.protect_gunicorn()
    root._historial_configured = config["LOG_FILE"]


def add_vary_origin(response):
    """A CORS answer depends on the request's Origin, allowed or not: caches must know."""
    response.vary.add("Origin")
    return response


def create_app(config=None):
    """Build the Flask app; `config` overrides the environment (tests)."""
    app = Flask(__name__, static_folder=None)
    app.url_map.converters["int"] = api.IdConverter
    # `//pacientes//1` is not found rather than redirected: Werkzeug's redirect would build an
    # absolute Location from the request's Host header (§1: never echoed).
    app.url_map.merge_slashes = False
    settings = load_config()
    settings.update(config or {})
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json = api.JSONProvider(app)
    setup_logging(app.config)

    register_error_handlers(app)
    db.register(app)
    CORS(app, origins=app.config["CORS_ORIGINS"], expose_headers=["ETag", "Link", "Location",
         "X-Request-ID", "Retry-After"], allow_headers=["Authorization", "Content-Type",
         "If-Match", "X-Request-ID", "X-Motivo-Acceso"], max_age=600)
    # Only a browser's cross-origin request carries Origin, and only it needs CORS headers:
    # the hook CORS(app) just added runs for those alone, not on every other request.
    cors_after_request = app.after_request_funcs[None].pop()
    app.after_request(lambda response: add_vary_origin(cors_after_request(response))
                      if "Origin" in request.headers else response)
    cache_config = {"CACHE_TYPE": app.config["CACHE_TYPE"], "CACHE_DEFAULT_TIMEOUT": 30}
    if app.config.get("CACHE_REDIS_URL"):
        cache_config["CACHE_REDIS_URL"] = app.config["CACHE_REDIS_URL"]
    cache.cache.init_app(app, config=cache_config)
    # The per-address login limit (credenciales.py) in memory:// (per process) or redis:// (shared).
    # `limits`, the engine of Flask-Limiter, used directly: the extension's hooks evaluated
    # limits on every request although only the login has one.
    app.extensions["limite_login"] = FixedWindowRateLimiter(
        storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))
    app.extensions["sesiones_recordadas"] = sesiones.SesionesRecordadas()
    app.session_interface = SinSesion()

    register_request_hooks(app)
    migraciones.register(app)
    app.teardown_appcontext(db.close_db)

    import auditoria, citas, cie10, consulta_auditoria, cuentas, diagnosticos  # noqa: E401
    import fhir_api, historialMedico, medicamentos, medicos  # noqa: E401
    import paciente, roles, tratamientos, usuarios  # noqa: E401
    for bp in (cuentas.bp, usuarios.bp, roles.bp, paciente.bp, medicos.bp, citas.bp,
               historialMedico.bp, diagnosticos.bp, tratamientos.bp, medicamentos.bp, cie10.bp,
               consulta_auditoria.bp, paciente.fhir_bp, fhir_api.bp):
        app.register_blueprint(bp)
    auditoria.register(app)
    register_operations(app)
    metricas.register(app)

    import cli
    cli.register(app)
    return app


# §1: an id the client sends is kept only in this alphabet, so that it cannot spoof the
# format of log lines or audit rows; anything else is replaced by a generated one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Sent with every answer: no MIME sniffing, no framing (clickjacking); API answers are data,
# so a browser that opens one directly may load nothing from it. /docs needs its own assets.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}
DOCS_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": "frame-ancestors 'none'"}


def read_chunked_body(environ, limit):
    """Buffer a body sent without Content-Length (chunked) up to `limit` bytes, or 413.

    Werkzeug would stop reading such a body at MAX_CONTENT_LENGTH and hand the view the first
    MiB as if it were all of it; here the whole body is read before any view runs, so a body
    over the limit is refused and nothing of it is processed.
    """
    stream, chunks, size = environ["wsgi.input"], [], 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    environ["CONTENT_LENGTH"] = str(size)


def register_request_hooks(app):
    """Request id, body limit, security headers, `Cache-Control: no-store` on API data, and
    one access line per request (the path, never the query string: it may hold search terms
    or a national id)."""
    access = logging.getLogger("historial.acceso")
    limit = app.config["MAX_CONTENT_LENGTH"]

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID")
        g.request_id = given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        length = request.content_length
        if length is not None:
            if length > limit:
                raise RequestEntityTooLarge()
        elif "HTTP_TRANSFER_ENCODING" in request.environ:
            read_chunked_body(request.environ, limit)

    @app.after_request
    def finish_request(response):
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        path = request.path
        if path in ("/docs", "/openapi.json") or path.startswith("/docs/"):
            headers.update(DOCS_HEADERS)
            # Cacheable, and answered with CORS headers or without them by Origin.
            response.vary.add("Origin")
        else:
            headers.update(SECURITY_HEADERS)
            headers.setdefault("Cache-Control", "no-store")
        usuario = g.get("usuario") or {}
        access.info("%s %s %s %.1fms usuario=%s", request.method, path,
                    response.status_code, (time.perf_counter() - g.get("started", 0)) * 1000,
                    usuario.get("id_usuario", "-"))
        return response


def register_operations(app):
    """Health checks, the OpenAPI document and Swagger UI from local assets."""

    @app.get("/health")
    @api.spec(summary="Estado del proceso", tags=["operacion"],
              responses={200: {"type": "object", "properties": {"estado": {"type": "string"}}}})
    def health():
        """Responde sin consultar la base de datos."""
        return {"estado": "ok"}

    @app.get("/health/ready")
    @api.spec(summary="Disponibilidad de la base de datos", tags=["operacion"], errors=(503,),
              responses={200: {"type": "object", "properties": {
                  "estado": {"type": "string"}, "base_de_datos": {"type": "string"},
                  "nodo": {"type": "string", "description": "host:puerto que sirve"},
                  "galera": {"type": "object", "description": "Sólo en un clúster Galera",
                             "properties": {"estado": {"type": "string"},
                                            "componente": {"type": "string"}}}}}})
    def health_ready():
        """200 si la base de datos responde, con el nodo que sirve; en un clúster Galera, 503
        si ese nodo no está sincronizado (`wsrep_local_state_comment` ≠ Synced) o no forma
        parte del componente primario (el grupo de conexiones pasa entonces a otro nodo)."""
        servidor = db.estado_servidor()
        body = {"estado": "ok", "base_de_datos": "ok", "nodo": servidor["nodo"]}
        if servidor["galera"]:
            body["galera"] = {"estado": servidor["estado"], "componente": servidor["componente"]}
        if not servidor["usable"]:
            g.db_broken = True
            raise db.NodoNoDisponible(servidor)
        return body

    @app.get("/openapi.json")
    @api.spec(summary="Documento OpenAPI 3.1", tags=["operacion"],
              responses={200: {"type": "object"}})
    def openapi():
        """La descripción OpenAPI de todas las rutas."""
        if "openapi" not in app.extensions:
            app.extensions["openapi"] = build_openapi(app)
        return jsonify(app.extensions["openapi"])

    @app.get("/docs")
    @api.spec(summary="Swagger UI", tags=["operacion"],
              responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}})
    def docs():
        """Documentación interactiva (Swagger UI servido localmente)."""
        return DOCS_HTML, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/docs/<path:filename>")
    def docs_asset(filename):
        return send_from_directory(SWAGGER_DIST, filename, max_age=3600)


def _app_or_exit():
    try:
        return create_app()
    except ConfigError as err:
        sys.stderr.write(f"Configuración no válida: {err} (véase .env.example)\n")
        raise SystemExit(2) from None


app = _app_or_exit()

if __name__ == "__main__":
    try:
        with app.app_context():
            pendiente = migraciones.pending_message(db.get_db())
    except db.DatabaseUnavailable:
        pendiente = None  # served anyway: /health/ready answers 503 until it is back
    if pendiente:
        sys.stderr.write(pendiente + "\n")
        raise SystemExit(1)
    app.run(host="127.0.0.1", port=5000)
