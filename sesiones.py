"""Tokens and sessions: issuing, verifying and revoking JWTs and their Sesion rows.

A login opens one Sesion row, the family of its refresh tokens. Access and refresh tokens
carry its id (`sid`) and every authenticated request needs that row, so revoking it ends the
access token and the whole family at once, in every process and host: each request reads the
row by primary key, or, with a shared Redis, takes the copy its process read before while no
write has touched the tables the row is made of since (see SesionesRecordadas).
"""

import functools
import logging
import re
import secrets
import threading
import time

import jwt
import redis
from flask import current_app, g

from db import antes_de_escribir, execute, query_one, sincronizado
from errors import ApiError

log = logging.getLogger("historial.sesiones")


USUARIO_DE_SESION = """
    SELECT u.ID_Usuario AS id_usuario, u.Nombre AS nombre, u.Correo AS correo,
           r.Nombre AS rol, r.ID_Rol AS id_rol, u.ID_Paciente AS id_paciente,
           u.`ID_Médico` AS id_medico, u.Activo AS activo, u.Creado_En AS creado_en,
           (SELECT GROUP_CONCAT(rp.Permiso ORDER BY rp.Permiso)
              FROM Rol_Permiso rp WHERE rp.ID_Rol = u.ID_Rol) AS permisos
      FROM Sesion s
      JOIN Usuario u ON u.ID_Usuario = s.ID_Usuario
      JOIN Rol r ON r.ID_Rol = u.ID_Rol
     WHERE s.ID_Sesion = %s AND s.Revocada = FALSE AND s.Expira_En > NOW() AND u.Activo = TRUE
"""


# The next refresh token of a session (the old one stops working).
ROTAR_REFRESH = ("UPDATE Sesion SET Refresh_JTI = %s, Expira_En = FROM_UNIXTIME(%s) "
                 "WHERE ID_Sesion = %s")


def no_autenticado(mensaje="Token ausente, inválido, caducado o revocado"):
    """401 `no_autenticado` (the error handler adds `WWW-Authenticate: Bearer`)."""
    return ApiError(401, "no_autenticado", mensaje)


def _encode(claims):
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


@functools.lru_cache(maxsize=1024)
def _verified_claims(token, key):
    """PyJWT's full check of one token (signature, HS256 only, required claims, expiry).

    A client sends the same access token with every request of its 15 minutes, so the check
    is kept per (token, key) and done once, not HMAC and JSON parsing on every request.
    A token that fails raises, and lru_cache keeps no exceptions; the expiry is checked again
    on every use (decode_token) and revocation is the session query's job, per request.
    """
    return jwt.decode(token, key, algorithms=["HS256"],
                      options={"require": ["sub", "rol", "iat", "exp", "jti", "typ", "sid"]})


def decode_token(token, typ):
    """The verified claims of a token of type `typ`, or 401. Only HS256 is accepted."""
    try:
        claims = _verified_claims(token, current_app.config["SECRET_KEY"])
    except jwt.PyJWTError:
        raise no_autenticado() from None
    # PyJWT's rule (expired when exp <= now), for a token verified before it expired.
    if (int(claims["exp"]) <= time.time() or claims.get("typ") != typ
            or not isinstance(claims.get("sid"), str)):
        raise no_autenticado()
    return dict(claims)


def issue_tokens(usuario, sid=None):
    """Access + refresh tokens; a new session (refresh family) unless `sid` continues one.

    The caller runs this inside the transaction of the login/refresh/registration.
    """
    cfg = current_app.config
    now = int(time.time())
    refresh_jti = secrets.token_hex(16)
    refresh_exp = now + cfg["JWT_REFRESH_DIAS"] * 86400
    if sid is None:
        sid = secrets.token_hex(16)
        execute("INSERT INTO Sesion (ID_Sesion, ID_Usuario, Refresh_JTI, Expira_En) "
                "VALUES (%s, %s, %s, FROM_UNIXTIME(%s))",
                (sid, usuario["id_usuario"], refresh_jti, refresh_exp))
    else:
        execute(ROTAR_REFRESH, (refresh_jti, refresh_exp, sid))
    base = {"sub": str(usuario["id_usuario"]), "rol": usuario["rol"], "iat": now, "sid": sid}
    access_s = cfg["JWT_ACCESS_MIN"] * 60
    return {
        "token": _encode({**base, "exp": now + access_s, "jti": secrets.token_hex(16),
                          "typ": "access"}),
        "refresh_token": _encode({**base, "exp": refresh_exp, "jti": refresh_jti,
                                  "typ": "refresh"}),
        "tipo": "Bearer",
        "expira_en": access_s,
    }


def revoke_sessions(id_usuario, except_sid=None):
    """End every session of a user (password change, deactivation, role change)."""
    execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s AND Revocada = FALSE "
            "AND ID_Sesion <> %s", (id_usuario, except_sid or ""))


def usuario_de_sesion(sid):
    """The USUARIO_DE_SESION row of a valid session, or None; `permisos` as a frozenset."""
    return fila_de_sesion(sid, current_app.extensions.get("sesiones_recordadas"),
                          consultar_sesion)


def consultar_sesion(sid):
    # On a cluster, a logout or revocation committed through another node counts at once.
    with sincronizado():
        return query_one(USUARIO_DE_SESION, (sid,))


def fila_de_sesion(sid, recordadas, consultar):
    """The session row remembered by `recordadas` while the generation holds, else read with
    `consultar(sid)` (and remembered); None when the session is not valid. Without Flask, so
    that bench/baseline.py runs the same code."""
    generacion = recordadas.generacion() if recordadas else None
    if generacion is not None:
        row = recordadas.get(sid, generacion)
        if row is not None:
            return dict(row)
    row = consultar(sid)
    if row is None:
        return None
    row["permisos"] = frozenset(row["permisos"].split(",")) if row["permisos"] else frozenset()
    if generacion is not None:
        recordadas.put(sid, generacion, row)
    return dict(row)


# ---------------------------------------------------------------------------
# Sessions remembered between requests (with CACHE_REDIS_URL)
# ---------------------------------------------------------------------------

# A statement that can change or end a remembered session: an UPDATE, DELETE or REPLACE (or
# anything that is not an INSERT) naming one of the tables USUARIO_DE_SESION reads, and an
# INSERT that gives a role a permission or updates a row it finds (ON DUPLICATE KEY UPDATE).
# A plain INSERT of a session, user or role is no existing session's row, and rotating a
# refresh token changes no column the row reads: neither renews the generation.
TABLAS_DE_SESION = re.compile(r"\b(?:Sesion|Usuario|Rol|Rol_Permiso)\b", re.IGNORECASE)
INSERCION = re.compile(r"\s*INSERT\s+(?:IGNORE\s+)?INTO\s+`?(\w+)", re.IGNORECASE)


def cambia_sesiones(sql):
    """Whether the statement `sql` (not a SELECT) can change or end a session's row."""
    if sql == ROTAR_REFRESH:
        return False
    insercion = INSERCION.match(sql)
    if insercion is None:
        return TABLAS_DE_SESION.search(sql) is not None
    tabla = insercion.group(1)
    return tabla == "Rol_Permiso" or (TABLAS_DE_SESION.fullmatch(tabla) is not None
                                      and "ON DUPLICATE KEY UPDATE" in sql.upper())


class SesionesRecordadas:
    """The session rows one process has read, valid while Redis holds the same generation.

    Before it queries a session, a process reads the generation (one Redis GET, cheaper than
    the query) and tags the row it gets with it; while Redis holds that generation, the row
    is used without the query. A write that can change a session (`cambia_sesiones`) sets a
    new generation twice: before the statement runs (if Redis cannot take it, the write is
    refused with 503 and nothing changes) and again after the request or command, before its
    answer leaves. A row read between the two carries the first one, so whatever process
    takes the next request finds every tag outdated and queries again: a revocation counts at
    once everywhere. A generation is a random value, never a counter that a restarted Redis
    could repeat (one that lost it gets a new one from the first process that asks).

    Where this bends: if Redis cannot be reached, a process forgets what it remembers and
    queries until it can; if Redis fails between the two settings, or comes back from a
    snapshot older than the last one, a process may use a row read in between for up to
    RECORDADA_S (the process that wrote retries the setting with its next request). Changes
    made to these tables with plain SQL, outside the API and its commands, are seen within
    RECORDADA_S as well.
    """

    KEY = "historial:sesiones:generacion"
    RECORDADA_S = 10.0
    MAXIMO = 10_000        # rows per process, well above the sessions one process serves
    ESPERA_S = 1.0         # after a failure, Redis is not asked again for this long

    def __init__(self, url):
        # Short timeouts: a request must not wait on a Redis that is down (it queries).
        self.pool = redis.ConnectionPool.from_url(url, socket_timeout=0.5,
                                                  socket_connect_timeout=0.5)
        self.local = threading.local()
        self.filas = {}
        self.caido_hasta = 0.0
        self.pendiente = False   # a new generation this process could not set after a write

    def comando(self, *args):
        """One Redis command on this thread's own connection, without the pool and retry
        layers redis-py's client would run around every request's GET (a failure is handled
        here, by querying). A connection that failed opens again on the next command."""
        conexion = getattr(self.local, "conexion", None)
        if conexion is None:
            conexion = self.local.conexion = self.pool.make_connection()
        try:
            conexion.send_command(*args)
            return conexion.read_response()
        except redis.RedisError:
            conexion.disconnect()
            raise

    def generacion(self):
        """The current generation, or None when Redis cannot be reached. With none in Redis
        (a new or restarted Redis), a new one is set: it matches no tag already kept."""
        if time.monotonic() < self.caido_hasta:
            return None
        try:
            if self.pendiente:
                self.renovar()
            generacion = self.comando("GET", self.KEY)
            if generacion is None:
                self.comando("SET", self.KEY, secrets.token_hex(8), "NX")
                generacion = self.comando("GET", self.KEY)
            return generacion
        except redis.RedisError as exc:
            self.caido(exc)
            return None

    def get(self, sid, generacion):
        entry = self.filas.get(sid)
        if entry is None or entry[0] != generacion or entry[1] < time.monotonic():
            return None
        return entry[2]

    def put(self, sid, generacion, row):
        if len(self.filas) >= self.MAXIMO:
            self.filas.clear()
        self.filas[sid] = (generacion, time.monotonic() + self.RECORDADA_S, row)

    def renovar(self):
        """Set a new generation (raises redis.RedisError when Redis cannot be reached)."""
        self.filas.clear()
        try:
            self.comando("SET", self.KEY, secrets.token_hex(8))
        except redis.RedisError as exc:
            self.caido(exc)
            raise
        self.pendiente = False

    def caido(self, exc):
        self.filas.clear()
        self.caido_hasta = time.monotonic() + self.ESPERA_S
        log.warning("Redis no responde (%s): las sesiones se consultan en la base de datos",
                    type(exc).__name__)


class SesionesSinAviso(ApiError):
    """A write that can change a session, refused because Redis could not be told first."""

    def __init__(self):
        super().__init__(503, "servicio_no_disponible",
                         "No se puede avisar del cambio a todos los procesos (Redis no responde); "
                         "no se ha cambiado nada, inténtelo de nuevo en unos segundos",
                         headers={"Retry-After": "2"})


def renovar_antes(sql):
    """Before a statement that can change a session: a new generation, once per request or
    command (db.antes_de_escribir), or 503 and the statement is not run."""
    recordadas = current_app.extensions.get("sesiones_recordadas")
    if recordadas is None or g.get("sesiones_cambiadas") or not cambia_sesiones(sql):
        return
    try:
        recordadas.renovar()
    except redis.RedisError:
        raise SesionesSinAviso() from None
    g.sesiones_cambiadas = True


def renovar_despues():
    """After a request or command that changed a session: a new generation again (a row read
    between the first one and the commit carries the first)."""
    recordadas = current_app.extensions.get("sesiones_recordadas")
    if recordadas is None or not g.pop("sesiones_cambiadas", False):
        return
    try:
        recordadas.renovar()
    except redis.RedisError:
        recordadas.pendiente = True
        log.error("no se pudo renovar la generación de sesiones tras un cambio; se reintentará "
                  "en la próxima petición de este proceso")


def renovar_sesiones(app):
    """A new generation now, for a command that writes without db.py (the restore)."""
    recordadas = app.extensions.get("sesiones_recordadas")
    if recordadas is not None:
        recordadas.renovar()


def register(app):
    """With CACHE_REDIS_URL, remember session rows between requests (SesionesRecordadas)."""
    if not app.config.get("CACHE_REDIS_URL"):
        return
    app.extensions["sesiones_recordadas"] = SesionesRecordadas(app.config["CACHE_REDIS_URL"])
    antes_de_escribir.connect(renovar_antes)

    # Before the answer leaves; commands (and a request whose later hooks failed) renew when
    # their app context ends.
    @app.after_request
    def renew_after_session_writes(response):
        renovar_despues()
        return response

    app.teardown_appcontext(lambda exc: renovar_despues())
