"""Tokens, the `requiere` decorator and the row-level access rules; the `/auth` blueprint.

Sessions: a login opens one Sesion row, the family of its refresh tokens. Access and refresh
tokens carry its id (`sid`) and every authenticated request reads that row by primary key, so
revoking it ends the access token and the whole family at once, in every process and host.

Login throttling (LOGIN_MAX_CUENTA failures per account, LOGIN_MAX_IP per client address,
within LOGIN_VENTANA_MIN minutes): each attempt is first written to Intento_Login and then
counted, so concurrent attempts cannot slip past the limit; a successful or refused (429)
attempt deletes its own row again, so only failures count. The per-address limit is also kept
in a `limits` store (RATELIMIT_STORAGE_URI: memory:// per process, redis:// shared).
"""

import functools
import hashlib
import logging
import re
import secrets
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal, Optional

import bcrypt
import jwt
from flask import Blueprint, current_app, g, request
from limits import parse as parse_limit
from mysql.connector import errors as db_errors
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Modelo, spec
from auditoria import auditar
from db import execute, query_one, sincronizado, transaction
from errors import ApiError, conflicto, no_encontrado, prohibido, validacion

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger("historial.auth")

PERMISOS = (
    "pacientes:leer", "pacientes:escribir", "medicos:escribir", "citas:gestionar",
    "clinico:leer", "clinico:escribir", "usuarios:gestionar", "roles:gestionar",
    "auditoria:leer",
)
MOTIVO_MIN = 10
ROL_ADMIN, ROL_MEDICO, ROL_PACIENTE = 1, 2, 4
PASSWORD_MIN_BYTES, PASSWORD_MAX_BYTES = 8, 72
ER_DUP_ENTRY = 1062
CORREO_PATRON = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")

SELECT_USUARIO = """
    SELECT u.ID_Usuario AS id_usuario, u.Nombre AS nombre, u.Correo AS correo,
           r.Nombre AS rol, r.ID_Rol AS id_rol, u.ID_Paciente AS id_paciente,
           u.`ID_Médico` AS id_medico, u.Activo AS activo, u.Creado_En AS creado_en,
           u.Version AS _version,
           (SELECT GROUP_CONCAT(rp.Permiso ORDER BY rp.Permiso)
              FROM Rol_Permiso rp WHERE rp.ID_Rol = u.ID_Rol) AS permisos
      FROM Usuario u
      JOIN Rol r ON r.ID_Rol = u.ID_Rol
"""

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

INSERT_USUARIO = """
    INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, ID_Paciente, `ID_Médico`)
    VALUES (%s, %s, %s, %s, %s, %s)
"""

# Failures (and the attempt being judged) in the window, per account and per address.
INTENTOS_RECIENTES = """
    SELECT (SELECT COUNT(*) FROM Intento_Login
             WHERE Correo = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS cuenta,
           (SELECT COUNT(*) FROM Intento_Login
             WHERE IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS ip
"""
# Seconds until enough old failures leave the window for one more attempt (OFFSET = excess).
ESPERA_CUENTA = """
    SELECT TIMESTAMPDIFF(SECOND, NOW(6), Fecha + INTERVAL %s MINUTE) + 1 AS s
      FROM Intento_Login
     WHERE Correo = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE AND ID_Intento <> %s
     ORDER BY Fecha LIMIT 1 OFFSET %s
"""
ESPERA_IP = """
    SELECT TIMESTAMPDIFF(SECOND, NOW(6), Fecha + INTERVAL %s MINUTE) + 1 AS s
      FROM Intento_Login
     WHERE IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE AND ID_Intento <> %s
     ORDER BY Fecha LIMIT 1 OFFSET %s
"""


def no_autenticado(mensaje="Token ausente, inválido, caducado o revocado"):
    """401 `no_autenticado` (the error handler adds `WWW-Authenticate: Bearer`)."""
    return ApiError(401, "no_autenticado", mensaje)


def credenciales_invalidas():
    """The one answer of every failed login, whatever the reason."""
    return ApiError(401, "credenciales_invalidas", "Correo o contraseña incorrectos")


# ---------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------

def hash_password(password):
    """bcrypt hash at BCRYPT_ROUNDS."""
    salt = bcrypt.gensalt(rounds=current_app.config["BCRYPT_ROUNDS"])
    return bcrypt.hashpw(password.encode(), salt).decode()


def check_password(password, hashed):
    """True when the password matches; one longer than bcrypt's 72 bytes never does."""
    raw = password.encode()
    if len(raw) > PASSWORD_MAX_BYTES:
        bcrypt.checkpw(raw[:PASSWORD_MAX_BYTES], hashed.encode())  # same cost as a real check
        return False
    return bcrypt.checkpw(raw, hashed.encode())


_dummy_hashes = {}


def dummy_hash():
    """A hash of a random password at BCRYPT_ROUNDS, checked for unknown accounts so that a
    failed login takes the same time whether or not the account exists."""
    rounds = current_app.config["BCRYPT_ROUNDS"]
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(secrets.token_hex(16).encode(),
                                              bcrypt.gensalt(rounds=rounds)).decode()
    return _dummy_hashes[rounds]


def check_password_nueva(value):
    """Pydantic validator: 8 to 72 bytes (bcrypt's limit); None passes (optional fields)."""
    if value is not None and not PASSWORD_MIN_BYTES <= len(value.encode()) <= PASSWORD_MAX_BYTES:
        raise ValueError(f"debe tener entre {PASSWORD_MIN_BYTES} y {PASSWORD_MAX_BYTES} bytes")
    return value


def check_correo(value):
    """Pydantic validator: a plausible address, stored trimmed and in lower case."""
    if value is None:
        return value
    value = value.strip().lower()
    if not CORREO_PATRON.match(value):
        raise ValueError("no es un correo electrónico válido")
    return value


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

def _encode(claims):
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


@functools.lru_cache(maxsize=1024)
def _verified_claims(token, key):
    """PyJWT's full check of one token (signature, HS256 only, required claims, expiry).

    A client sends the same access token with every request of its 15 minutes, so the check
    is kept per (token, key) and done once (0.05 ms of HMAC and JSON per request otherwise).
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


def usuario_publico(row):
    """The contract's `usuario` object from a row of SELECT_USUARIO or USUARIO_DE_SESION."""
    return {
        "id_usuario": row["id_usuario"], "nombre": row["nombre"], "correo": row["correo"],
        "rol": row["rol"], "id_rol": row["id_rol"],
        "permisos": sorted(row["permisos"]) if isinstance(row["permisos"], (set, list))
        else (row["permisos"].split(",") if row["permisos"] else []),
        "id_paciente": row["id_paciente"], "id_medico": row["id_medico"],
        "activo": bool(row["activo"]), "creado_en": row["creado_en"],
    }


def cargar_usuario(id_usuario, bloquear=False):
    """The SELECT_USUARIO row of a user, or None (`FOR UPDATE` inside a write transaction)."""
    return query_one(SELECT_USUARIO + " WHERE u.ID_Usuario = %s"
                     + (" FOR UPDATE" if bloquear else ""), (id_usuario,))


@contextmanager
def duplicado_usuario_409():
    """Turn a UNIQUE violation on Usuario raised in the block into 409 naming the field."""
    try:
        yield
    except db_errors.IntegrityError as err:
        if err.errno != ER_DUP_ENTRY:
            raise
        mensaje = "Ya existe un usuario con ese correo"
        if "uq_usuario_paciente" in (err.msg or ""):
            mensaje = "Ese paciente ya tiene un usuario"
        elif "uq_usuario_medico" in (err.msg or ""):
            mensaje = "Ese médico ya tiene un usuario"
        raise conflicto(mensaje) from None


def load_current_user():
    """Verify the bearer token and put the user on `g.usuario` (one indexed query)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise no_autenticado("Falta el token (Authorization: Bearer ...)")
    claims = decode_token(token.strip(), "access")
    # On a cluster, a logout or revocation committed through another node counts at once.
    with sincronizado():
        row = query_one(USUARIO_DE_SESION, (claims["sid"],))
    if row is None or str(row["id_usuario"]) != claims["sub"] or row["rol"] != claims["rol"]:
        raise no_autenticado()
    row["permisos"] = set(row["permisos"].split(",")) if row["permisos"] else set()
    g.usuario = row
    g.claims = claims
    return row


# A write permission acts only together with its read permission: a write answers with what
# it wrote, and must never show its author what they may not read (a role holding only
# `pacientes:escribir` cannot use it).
LECTURA_NECESARIA = {"pacientes:escribir": "pacientes:leer", "clinico:escribir": "clinico:leer"}


def tiene(permiso):
    """True when the current user's role grants `permiso` (and the read it needs)."""
    permisos = g.usuario["permisos"]
    return permiso in permisos and LECTURA_NECESARIA.get(permiso, permiso) in permisos


def requiere(*permisos):
    """Decorator: a valid access token and, when given, any one of `permisos`."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            load_current_user()
            if permisos and not any(tiene(p) for p in permisos):
                raise prohibido()
            return view(*args, **kwargs)

        wrapper._auth = permisos[0] if permisos else True
        return wrapper
    return decorator


autenticado = requiere()


# ---------------------------------------------------------------------------
# Login throttling
# ---------------------------------------------------------------------------

def clave_cuenta(correo):
    """What Intento_Login stores for an account: a digest, so that a password typed into the
    e-mail field never lands in the table."""
    return hashlib.sha256(correo.strip().lower().encode()).hexdigest()


def _limite_ip():
    """The `limits` strategy of the app and the per-address item."""
    cfg = current_app.config
    return (current_app.extensions["limite_login"],
            parse_limit(f"{cfg['LOGIN_MAX_IP']} per {cfg['LOGIN_VENTANA_MIN']} minute"))


def abrir_intento(correo):
    """Record an attempt on `correo` from this address, or 429 (with Retry-After) when the
    account or the address has used up its failures. Returns the attempt's row id."""
    cfg, ip = current_app.config, request.remote_addr or "-"
    clave, ventana = clave_cuenta(correo), cfg["LOGIN_VENTANA_MIN"]
    id_intento = execute("INSERT INTO Intento_Login (Correo, IP) VALUES (%s, %s)", (clave, ip))
    # The count waits for every attempt committed through any node of a cluster.
    with sincronizado():
        n = query_one(INTENTOS_RECIENTES, (clave, ventana, ip, ventana))
    esperas = []
    if n["cuenta"] > cfg["LOGIN_MAX_CUENTA"]:
        row = query_one(ESPERA_CUENTA, (ventana, clave, ventana, id_intento,
                                        n["cuenta"] - 1 - cfg["LOGIN_MAX_CUENTA"]))
        esperas.append(row["s"] if row else 1)
    if n["ip"] > cfg["LOGIN_MAX_IP"]:
        row = query_one(ESPERA_IP, (ventana, ip, ventana, id_intento,
                                    n["ip"] - 1 - cfg["LOGIN_MAX_IP"]))
        esperas.append(row["s"] if row else 1)
    strategy, item = _limite_ip()
    if not strategy.test(item, "login_fallido", ip):
        reset = strategy.get_window_stats(item, "login_fallido", ip).reset_time
        esperas.append(int(reset - time.time()) + 1)
    if esperas:
        cerrar_intento(id_intento)
        raise ApiError(429, "demasiados_intentos",
                       "Demasiados intentos fallidos; espere antes de volver a intentarlo",
                       headers={"Retry-After": str(max(1, max(esperas)))})
    return id_intento


def cerrar_intento(id_intento):
    """Forget an attempt that was not a failure (success, or refused before checking)."""
    execute("DELETE FROM Intento_Login WHERE ID_Intento = %s", (id_intento,))


def fallo_intento():
    """Count a failure in the `limits` store too (its row in Intento_Login stays) and prune
    rows that no window looks at any more."""
    strategy, item = _limite_ip()
    strategy.hit(item, "login_fallido", request.remote_addr or "-")
    execute("DELETE FROM Intento_Login WHERE Fecha < NOW(6) - INTERVAL 1 DAY LIMIT 100")


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class UsuarioOut(BaseModel):
    """The contract's `usuario` object."""

    id_usuario: int
    nombre: str
    correo: str
    rol: str = Field(..., examples=["medico"])
    id_rol: int
    permisos: list[str] = Field(..., examples=[["clinico:leer", "pacientes:leer"]])
    id_paciente: Optional[int]
    id_medico: Optional[int]
    activo: bool
    creado_en: datetime


class TokensOut(BaseModel):
    """Answer of login, refresh and registration."""

    token: str = Field(..., description="Access token (JWT HS256)")
    refresh_token: str = Field(..., description="Se puede usar una sola vez")
    tipo: Literal["Bearer"]
    expira_en: int = Field(..., description="Segundos de vida del access token")
    usuario: UsuarioOut


class Login(Modelo):
    """Body of POST /auth/login (`username` is an alias of `correo`)."""

    correo: Optional[str] = Field(None, max_length=254, examples=["admin@demo.local"])
    username: Optional[str] = Field(None, max_length=254, description="Alias de `correo`")
    password: str = Field(..., min_length=1, max_length=1024)


class Refresh(Modelo):
    """Body of POST /auth/refresh."""

    refresh_token: str = Field(..., min_length=1, max_length=2000)


class CambioPassword(Modelo):
    """Body of PUT /auth/password."""

    password_actual: str = Field(..., min_length=1, max_length=1024)
    password_nueva: str = Field(..., description="De 8 a 72 bytes")

    _nueva = field_validator("password_nueva")(check_password_nueva)


class Registro(Modelo):
    """Body of POST /auth/registro: the account and the patient's demographics."""

    nombre: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    correo: str = Field(..., max_length=254, examples=["lucia@example.com"])
    password: str = Field(..., description="De 8 a 72 bytes")
    fecha_nacimiento: date
    genero: Literal["Masculino", "Femenino", "Otro"]
    telefono: str = Field(..., examples=["+34 600 123 456"])
    documento: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                         max_length=30)]] = None
    direccion: Optional[Annotated[str, StringConstraints(strip_whitespace=True,
                                                         max_length=255)]] = None
    tipo_sangre: Optional[Literal["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"]] = None
    alergias: Optional[Annotated[str, StringConstraints(max_length=5000)]] = None

    _correo = field_validator("correo")(check_correo)
    _password = field_validator("password")(check_password_nueva)

    @field_validator("telefono")
    @classmethod
    def telefono_valido(cls, value):
        from paciente import check_telefono

        return check_telefono(value)

    @field_validator("fecha_nacimiento")
    @classmethod
    def nacimiento_valido(cls, value):
        if not date(1900, 1, 1) <= value <= ahora_local().date():
            raise ValueError("debe estar entre 1900-01-01 y hoy")
        return value


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

CUENTA_DE_LOGIN = """
    SELECT u.ID_Usuario AS id_usuario, u.Password_Hash AS password_hash, u.Activo AS activo,
           r.Nombre AS rol
      FROM Usuario u JOIN Rol r ON r.ID_Rol = u.ID_Rol
     WHERE u.Correo = %s
"""


def respuesta_tokens(tokens, usuario, status=200):
    """The login/refresh/registration answer."""
    response = current_app.json.response({**tokens, "usuario": usuario_publico(usuario)})
    response.status_code = status
    return response


@bp.post("/login")
@spec(body=Login, responses={200: TokensOut}, errors=(401, 429), tags=["auth"],
      summary="Iniciar sesión")
def login(body):
    """Misma respuesta 401 `credenciales_invalidas` (y mismo tiempo) para usuario
    desconocido, contraseña errónea o usuario inactivo. Tras LOGIN_MAX_CUENTA fallos de una
    cuenta o LOGIN_MAX_IP de una dirección en LOGIN_VENTANA_MIN minutos → 429 con
    `Retry-After`, también con la contraseña correcta."""
    correo = (body.correo or body.username or "").strip().lower()
    if not correo:
        raise validacion("correo", "campo obligatorio")
    id_intento = abrir_intento(correo)
    cuenta = query_one(CUENTA_DE_LOGIN, (correo,))
    correcta = check_password(body.password, cuenta["password_hash"] if cuenta else dummy_hash())
    if not (cuenta and correcta and cuenta["activo"]):
        fallo_intento()
        # Only something shaped like an address is kept: never text that may be a password.
        auditar("login_fallido", "auth", usuario=cuenta or {},
                motivo=correo if CORREO_PATRON.match(correo) else "correo no válido")
        raise credenciales_invalidas()
    cerrar_intento(id_intento)
    usuario = cargar_usuario(cuenta["id_usuario"])
    with transaction():
        tokens = issue_tokens(usuario)
        auditar("login_ok", "auth", usuario["id_usuario"], usuario=usuario)
    return respuesta_tokens(tokens, usuario)


@bp.post("/refresh")
@spec(body=Refresh, responses={200: TokensOut}, errors=(401,), tags=["auth"],
      summary="Renovar los tokens")
def refresh(body):
    """Cada refresh token sirve una sola vez; presentar uno ya usado → 401 y la sesión
    entera (todos sus tokens) queda revocada."""
    claims = decode_token(body.refresh_token, "refresh")
    with transaction():
        sesion = query_one(
            "SELECT ID_Usuario AS id_usuario, Refresh_JTI AS jti, Revocada AS revocada, "
            "Expira_En > NOW() AS vigente FROM Sesion WHERE ID_Sesion = %s FOR UPDATE",
            (claims["sid"],))
        if (sesion is None or sesion["revocada"] or not sesion["vigente"]
                or str(sesion["id_usuario"]) != claims["sub"]):
            raise no_autenticado()
        reutilizado = sesion["jti"] != claims["jti"]
        if reutilizado:
            execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Sesion = %s", (claims["sid"],))
        else:
            usuario = cargar_usuario(sesion["id_usuario"])
            if not usuario["activo"]:
                raise no_autenticado()
            tokens = issue_tokens(usuario, sid=claims["sid"])
    if reutilizado:
        log.warning("refresh token reutilizado: sesión del usuario %s revocada",
                    sesion["id_usuario"])
        raise no_autenticado("Refresh token ya usado; la sesión ha sido revocada")
    return respuesta_tokens(tokens, usuario)


@bp.post("/logout")
@autenticado
@spec(responses={204: None}, status=204, tags=["auth"], summary="Cerrar la sesión")
def logout():
    """El access token y toda su familia de refresh tokens dejan de valer al instante."""
    with transaction():
        execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Sesion = %s", (g.claims["sid"],))
        auditar("logout", "auth", g.usuario["id_usuario"])
    return "", 204


@bp.get("/me")
@autenticado
@spec(responses={200: UsuarioOut}, tags=["auth"], summary="El usuario de la sesión")
def me():
    """El objeto `usuario` del token presentado."""
    return usuario_publico(g.usuario)


@bp.put("/password")
@autenticado
@spec(body=CambioPassword, responses={204: None}, status=204, errors=(429,), tags=["auth"],
      summary="Cambiar la propia contraseña")
def change_password(body):
    """Contraseña actual errónea → 400 (cuenta como intento fallido de acceso). Las demás
    sesiones del usuario quedan revocadas."""
    id_usuario = g.usuario["id_usuario"]
    id_intento = abrir_intento(g.usuario["correo"])
    actual = query_one("SELECT Password_Hash AS h FROM Usuario WHERE ID_Usuario = %s",
                       (id_usuario,))
    if not check_password(body.password_actual, actual["h"]):
        fallo_intento()
        raise validacion("password_actual", "la contraseña actual no es correcta")
    cerrar_intento(id_intento)
    with transaction():
        execute("UPDATE Usuario SET Password_Hash = %s, Version = Version + 1 "
                "WHERE ID_Usuario = %s", (hash_password(body.password_nueva), id_usuario))
        revoke_sessions(id_usuario, except_sid=g.claims["sid"])
        auditar("actualizar", "usuario", id_usuario, motivo="cambio de contraseña")
    return "", 204


@bp.post("/registro")
@spec(body=Registro, responses={201: TokensOut}, status=201, errors=(404, 409), tags=["auth"],
      summary="Alta de un paciente por sí mismo")
def registro(body):
    """Crea en una transacción el usuario (rol `paciente` siempre), el paciente y su
    historial, y abre la sesión. Desactivado con REGISTRO_PACIENTES=0 → 404."""
    if not current_app.config["REGISTRO_PACIENTES"]:
        raise no_encontrado()
    from paciente import crear_paciente

    datos = body.model_dump(exclude={"password"})
    hashed = hash_password(body.password)
    with duplicado_usuario_409(), transaction():
        id_paciente = crear_paciente(datos)
        id_usuario = execute(INSERT_USUARIO, (body.nombre, body.correo, hashed, ROL_PACIENTE,
                                              id_paciente, None))
        usuario = cargar_usuario(id_usuario)
        tokens = issue_tokens(usuario)
        auditar("crear", "usuario", id_usuario, id_paciente=id_paciente, usuario=usuario)
    response = respuesta_tokens(tokens, usuario, status=201)
    response.headers["Location"] = f"/usuarios/{id_usuario}"
    return response


# ---------------------------------------------------------------------------
# Row-level rules
# ---------------------------------------------------------------------------

def es_el_paciente(id_paciente):
    return g.usuario["id_paciente"] is not None and g.usuario["id_paciente"] == id_paciente


# A doctor cares for a patient while the doctor is active and the patient has a
# non-cancelled cita with them that is in the future or at most CUIDADO_DIAS days old. The
# cita is the only source of the relation, and only staff or the patient can book the first
# one (citas.check_reserva), so no doctor can open it for themself.
CUIDADO = """
    SELECT 1 AS si FROM Cita c JOIN `Médico` m ON m.`ID_Médico` = c.`ID_Médico`
     WHERE c.ID_Paciente = %s AND c.`ID_Médico` = %s AND c.Estado <> 'Cancelada'
       AND c.Fecha >= %s AND m.Activo = TRUE
     LIMIT 1
"""


def inicio_cuidado():
    """The oldest cita date that still makes a care relation (clinic calendar)."""
    return ahora_local().date() - timedelta(days=current_app.config["CUIDADO_DIAS"])


def pacientes_bajo_cuidado(columna):
    """SQL fragment and params: `columna` (a patient id) is under the current doctor's care."""
    return (f"{columna} IN (SELECT cc.ID_Paciente FROM Cita cc JOIN `Médico` mm "
            "ON mm.`ID_Médico` = cc.`ID_Médico` WHERE cc.`ID_Médico` = %s "
            "AND cc.Estado <> 'Cancelada' AND cc.Fecha >= %s AND mm.Activo = TRUE)",
            [g.usuario["id_medico"], inicio_cuidado()])


def bajo_su_cuidado(id_paciente):
    """The current user is a doctor with the patient under their care (see CUIDADO)."""
    id_medico = g.usuario["id_medico"]
    if id_medico is None:
        return False
    return query_one(CUIDADO, (id_paciente, id_medico, inicio_cuidado())) is not None


def objetivo(id_paciente):
    """Remember the patient this request targets, so that a refusal is audited under them."""
    g.id_paciente_objetivo = id_paciente


def check_lectura_paciente(id_paciente):
    """Demographics: `pacientes:leer` staff or the patient themself."""
    objetivo(id_paciente)
    if tiene("pacientes:leer") or es_el_paciente(id_paciente):
        return
    raise prohibido("Sólo puede ver sus propios datos")


def puede_leer_clinica(id_paciente):
    """Whether the caller may read the patient's clinical data without breaking the glass:
    the patient, a `clinico:leer` non-doctor, or a doctor with the patient under care."""
    if es_el_paciente(id_paciente):
        return True
    if not tiene("clinico:leer"):
        return False
    return g.usuario["id_medico"] is None or bajo_su_cuidado(id_paciente)


def check_lectura_clinica(id_paciente):
    """Clinical data: the patient, `clinico:leer` non-doctors, or a doctor under care.

    A doctor without a care relation may still read with `X-Motivo-Acceso` (10+ characters):
    allowed and audited as `acceso_emergencia` with the reason (break-the-glass). Callers
    pass the one patient the request names; unfiltered lists never come here.
    """
    objetivo(id_paciente)
    if puede_leer_clinica(id_paciente):
        return
    if not tiene("clinico:leer"):
        raise prohibido("No tiene acceso a datos clínicos")
    motivo = (request.headers.get("X-Motivo-Acceso") or "").strip()
    if len(motivo) >= MOTIVO_MIN:
        auditar("acceso_emergencia", "paciente", id_paciente, id_paciente=id_paciente,
                motivo=motivo[:500])
        return
    raise prohibido("El paciente no está bajo su cuidado (use X-Motivo-Acceso para una "
                    "emergencia)")


def check_escritura_clinica(id_paciente):
    """Clinical writes: only a doctor with the patient under their care (never by breaking
    the glass)."""
    objetivo(id_paciente)
    if not tiene("clinico:escribir") or g.usuario["id_medico"] is None:
        raise prohibido("Sólo el médico tratante puede escribir datos clínicos")
    if not bajo_su_cuidado(id_paciente):
        raise prohibido("El paciente no está bajo su cuidado")


def ahora_local():
    """The clinic's current wall-clock time (ZONA_HORARIA), naive."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(current_app.config["ZONA_HORARIA"])).replace(tzinfo=None)

