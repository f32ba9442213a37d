"""Tokens and sessions: issuing, verifying and revoking JWTs and their Sesion rows.

A login opens one Sesion row, the family of its refresh tokens. Access and refresh tokens
carry its id (`sid`) and every authenticated request needs that row, so revoking it ends the
access token and the whole family at once, in every process and host. A process reads the row
once and remembers it with the session generation of that moment; later requests confirm
that the generation is unchanged in the round trip of their first query (see
SesionesRecordadas), so a session costs no round trip of its own.
"""

import functools
import secrets
import time

import jwt
from flask import current_app

from db import confirmar_antes, execute, query_one, sincronizado
from errors import ApiError

# Raised by triggers on Sesion, Usuario, Rol and Rol_Permiso in the transaction of every
# change that can end a session or change what it may do (migration 0005).
GENERACION = "SELECT Generacion FROM Generacion_Sesion WHERE ID = 1"

COLUMNAS_SESION = """
    u.ID_Usuario AS id_usuario, u.Nombre AS nombre, u.Correo AS correo,
    r.Nombre AS rol, r.ID_Rol AS id_rol, u.ID_Paciente AS id_paciente,
    u.`ID_Médico` AS id_medico, u.Activo AS activo, u.Creado_En AS creado_en,
    (SELECT GROUP_CONCAT(rp.Permiso ORDER BY rp.Permiso)
       FROM Rol_Permiso rp WHERE rp.ID_Rol = u.ID_Rol) AS permisos
"""
SESION_VALIDA = """
      FROM Sesion s
      JOIN Usuario u ON u.ID_Usuario = s.ID_Usuario
      JOIN Rol r ON r.ID_Rol = u.ID_Rol
     WHERE s.ID_Sesion = %s AND s.Revocada = FALSE AND s.Expira_En > NOW() AND u.Activo = TRUE
"""
USUARIO_DE_SESION = f"SELECT {COLUMNAS_SESION} {SESION_VALIDA}"
# The same row and, read in the same statement (one snapshot), the generation it belongs to.
SESION_Y_GENERACION = f"SELECT {COLUMNAS_SESION}, ({GENERACION}) AS _generacion {SESION_VALIDA}"


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
        execute("UPDATE Sesion SET Refresh_JTI = %s, Expira_En = FROM_UNIXTIME(%s) "
                "WHERE ID_Sesion = %s", (refresh_jti, refresh_exp, sid))
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


class SesionesRecordadas:
    """The session rows one process has read, each with the generation read with it.

    A remembered row serves a request without a query, on condition (db.confirmar_antes) that
    the generation is still the same: checked in the round trip of the request's first read,
    or on its own before a write or an answer that used none. A logout, a deactivation, a
    change of role, permissions or password, anything that can change the row, raises the
    generation in its own transaction (by trigger, whoever writes it), so the first request
    that comes after its answer, to any process on any host, finds it changed, and
    `auth.requiere` reads the session again and runs the request again: revocation counts at
    once everywhere, with no extra round trip while nothing changes. Rows are read again after
    RECORDADA_S anyway, and at most MAXIMO are kept.
    """

    RECORDADA_S = 60.0
    MAXIMO = 10_000

    def __init__(self):
        self.filas = {}

    def get(self, sid):
        entry = self.filas.get(sid)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def put(self, sid, row):
        if len(self.filas) >= self.MAXIMO:
            self.filas.clear()
        self.filas[sid] = (time.monotonic() + self.RECORDADA_S, row)

    def forget(self, sid):
        self.filas.pop(sid, None)


def usuario_de_sesion(sid, recordada=True):
    """The row of a valid session (USUARIO_DE_SESION with `_generacion`; `permisos` as a
    frozenset), or None. A remembered one (`recordada`) is used on condition that the
    generation has not changed (db.NoConfirmado otherwise, at the first query or answer)."""
    row, pendiente = fila_de_sesion(sid, current_app.extensions["sesiones_recordadas"],
                                    consultar_sesion, recordada)
    if pendiente is not None:
        confirmar_antes(GENERACION, pendiente)
    return row


def consultar_sesion(sid):
    # On a cluster, a logout or revocation committed through another node counts at once.
    with sincronizado():
        return query_one(SESION_Y_GENERACION, (sid,))


def fila_de_sesion(sid, recordadas, consultar, recordada=True):
    """(row, generation to confirm): the row `recordadas` remembers, with its generation; or
    the row read with `consultar(sid)` (remembered, nothing to confirm); or (None, None).
    Without Flask, so that bench/baseline.py runs the same code."""
    row = recordadas.get(sid) if recordada else None
    if row is not None:
        return dict(row), row["_generacion"]
    row = consultar(sid)
    recordadas.forget(sid)
    if row is None:
        return None, None
    row["permisos"] = frozenset(row["permisos"].split(",")) if row["permisos"] else frozenset()
    if row["_generacion"] is not None:
        # Without a generation (its row missing) there is nothing to confirm it with.
        recordadas.put(sid, row)
    return dict(row), None
