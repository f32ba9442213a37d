"""Tokens and sessions: issuing, verifying and revoking JWTs and their Sesion rows.

A login opens one Sesion row, the family of its refresh tokens. Access and refresh tokens
carry its id (`sid`) and every authenticated request reads that row by primary key, so
revoking it ends the access token and the whole family at once, in every process and host.
"""

import functools
import secrets
import time

import jwt
from flask import current_app

from db import execute
from errors import ApiError


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
