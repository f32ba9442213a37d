"""Tokens, the `requiere` decorator and the row-level access rules; the `/auth` blueprint.

Sessions: a login opens one Sesion row, the family of its refresh tokens. Access and refresh
tokens carry its id (`sid`) and every authenticated request reads that row by primary key, so
revoking it ends the access token and the whole family at once, in every process and host.

Login throttling, within LOGIN_VENTANA_MIN minutes: LOGIN_MAX_CUENTA failures of one account
from one client address, LOGIN_MAX_CUENTA_TOTAL of one account from all, LOGIN_MAX_IP from one
address. The account is its canonical address (`correo_canonico`, keyed by `clave_cuenta`),
alike for existing and unknown accounts, so lookalike spellings share a counter and the answers
reveal nothing. Each attempt is first written to Intento_Login and then counted, so concurrent
attempts cannot slip past the limit; a successful or refused (429) attempt deletes its own row
again, so only failures count. The per-address limit is also kept in a `limits` store
(RATELIMIT_STORAGE_URI: memory:// per process, redis:// shared), as is the sign-up limit.

Patient-portal sign-up (`/auth/registro`) by one-time invitation code (`crear_invitacion`) or,
when REGISTRO_PACIENTES=abierto, open.
"""

import functools
import hashlib
import logging
import re
import secrets
import time
import unicodedata
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal, Optional

import bcrypt
import jwt
from flask import Blueprint, current_app, g, request
from limits import parse as parse_limit
from mysql.connector import errors as db_errors
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Modelo, spec, texto_cabecera
from auditoria import auditar, direccion_cliente
from db import execute, query_all, query_one, sincronizado, transaction
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

# Failures (and the attempt being judged) in the window: of the pair (account, address), of
# the account from every address, and of the address to every account.
INTENTOS_RECIENTES = """
    SELECT (SELECT COUNT(*) FROM Intento_Login
             WHERE Correo = %s AND IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS par,
           (SELECT COUNT(*) FROM Intento_Login
             WHERE Correo = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS cuenta,
           (SELECT COUNT(*) FROM Intento_Login
             WHERE IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS ip
"""
# Seconds until enough old failures of one counter leave the window for one more attempt
# (OFFSET = excess). Fixed SQL per counter; only values are parameters.
_ESPERA = """
    SELECT TIMESTAMPDIFF(SECOND, NOW(6), Fecha + INTERVAL %s MINUTE) + 1 AS s
      FROM Intento_Login
     WHERE {} AND Fecha > NOW(6) - INTERVAL %s MINUTE AND ID_Intento <> %s
     ORDER BY Fecha LIMIT 1 OFFSET %s
"""
ESPERA = {"par": _ESPERA.format("Correo = %s AND IP = %s"),
          "cuenta": _ESPERA.format("Correo = %s"),
          "ip": _ESPERA.format("IP = %s")}
# The account key: a digest of the collation weight of the canonical address. The weight is
# what `Usuario.Correo = %s` compares, so every spelling that finds one account (and every
# spelling of an unknown one) lands on one key; the digest keeps the typed text, which may be
# a password typed into the wrong field, out of the table.
CLAVE_CUENTA = ("SELECT SHA2(HEX(WEIGHT_STRING(%s COLLATE utf8mb4_unicode_ci)), 256) AS clave")


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
    # Invisible and control characters would make an address that looks like another one.
    if not CORREO_PATRON.match(value) or any(unicodedata.category(c) in ("Cc", "Cf")
                                             for c in value):
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


def permisos_de_rol(id_rol):
    """The permissions of a role, as a set (empty for an unknown role)."""
    return {r["permiso"] for r in query_all(
        "SELECT Permiso AS permiso FROM Rol_Permiso WHERE ID_Rol = %s", (id_rol,))}


def check_sin_escalada(permisos, que):
    """403 unless the current user holds every permission in `permisos`: no permission
    grants more than its holder has (API.md §3). `que` names what would have granted them."""
    faltan = set(permisos) - g.usuario["permisos"]
    if faltan:
        raise prohibido(f"{que} daría permisos que usted no tiene: {', '.join(sorted(faltan))}")


# ---------------------------------------------------------------------------
# Login throttling
# ---------------------------------------------------------------------------

def correo_canonico(correo):
    """An address as the throttle and the login lookup see it: NFKC, case-folded, without
    accents or invisible characters, trimmed (`récepcion`, `ｒecepcion`, ` Recepcion ` alike)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", correo).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)
                   and unicodedata.category(c) not in ("Cc", "Cf"))
    return unicodedata.normalize("NFKC", text).strip()


def clave_cuenta(correo):
    """What Intento_Login stores for an account, existing or not (see CLAVE_CUENTA)."""
    return query_one(CLAVE_CUENTA, (correo_canonico(correo),))["clave"]


def demasiados_intentos(segundos):
    """429 `demasiados_intentos` with Retry-After."""
    return ApiError(429, "demasiados_intentos",
                    "Demasiados intentos; espere antes de volver a intentarlo",
                    headers={"Retry-After": str(max(1, int(segundos)))})


def _limite(maximo):
    """The app's `limits` strategy and an item of `maximo` per LOGIN_VENTANA_MIN minutes."""
    return (current_app.extensions["limite_login"],
            parse_limit(f"{maximo} per {current_app.config['LOGIN_VENTANA_MIN']} minute"))


def abrir_intento(correo):
    """Record an attempt on `correo` from this address, or 429 (with Retry-After) when the
    pair, the account or the address has used up its failures. Returns the attempt's row id.

    The pair (account, address) allows LOGIN_MAX_CUENTA failures, the account from every
    address LOGIN_MAX_CUENTA_TOTAL, the address to every account LOGIN_MAX_IP: a stranger's
    five guesses elsewhere do not lock the owner out, and a botnet still meets the account's.
    """
    cfg, ip = current_app.config, direccion_cliente() or "-"
    clave, ventana = clave_cuenta(correo), cfg["LOGIN_VENTANA_MIN"]
    id_intento = execute("INSERT INTO Intento_Login (Correo, IP) VALUES (%s, %s)", (clave, ip))
    # The count waits for every attempt committed through any node of a cluster.
    with sincronizado():
        n = query_one(INTENTOS_RECIENTES, (clave, ip, ventana, clave, ventana, ip, ventana))
    esperas = []
    for contador, maximo, valores in (("par", cfg["LOGIN_MAX_CUENTA"], (clave, ip)),
                                      ("cuenta", cfg["LOGIN_MAX_CUENTA_TOTAL"], (clave,)),
                                      ("ip", cfg["LOGIN_MAX_IP"], (ip,))):
        if n[contador] > maximo:
            row = query_one(ESPERA[contador], (ventana, *valores, ventana, id_intento,
                                               n[contador] - 1 - maximo))
            esperas.append(row["s"] if row else 1)
    strategy, item = _limite(cfg["LOGIN_MAX_IP"])
    if not strategy.test(item, "login_fallido", ip):
        reset = strategy.get_window_stats(item, "login_fallido", ip).reset_time
        esperas.append(int(reset - time.time()) + 1)
    if esperas:
        cerrar_intento(id_intento)
        raise demasiados_intentos(max(esperas))
    return id_intento


def cerrar_intento(id_intento):
    """Forget an attempt that was not a failure (success, or refused before checking)."""
    execute("DELETE FROM Intento_Login WHERE ID_Intento = %s", (id_intento,))


def fallo_intento():
    """Count a failure in the `limits` store too (its row in Intento_Login stays) and prune
    rows that no window looks at any more."""
    strategy, item = _limite(current_app.config["LOGIN_MAX_IP"])
    strategy.hit(item, "login_fallido", direccion_cliente() or "-")
    execute("DELETE FROM Intento_Login WHERE Fecha < NOW(6) - INTERVAL 1 DAY LIMIT 100")


def check_password_actual(password_actual):
    """The current user's own password, checked under the login throttle: wrong → 400 (and a
    failed attempt, so a stolen token cannot guess it), throttled → 429."""
    id_intento = abrir_intento(g.usuario["correo"])
    actual = query_one("SELECT Password_Hash AS h FROM Usuario WHERE ID_Usuario = %s",
                       (g.usuario["id_usuario"],))
    if not check_password(password_actual, actual["h"]):
        fallo_intento()
        raise validacion("password_actual", "la contraseña actual no es correcta")
    cerrar_intento(id_intento)


def contar_registro():
    """Count one sign-up attempt of this address (successful or not); 429 past REGISTRO_MAX_IP
    in the window. `hit` is atomic in every `limits` store, so parallel attempts cannot pass."""
    strategy, item = _limite(current_app.config["REGISTRO_MAX_IP"])
    ip = direccion_cliente() or "-"
    if not strategy.hit(item, "registro", ip):
        reset = strategy.get_window_stats(item, "registro", ip).reset_time
        raise demasiados_intentos(reset - time.time() + 1)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class UsuarioOut(BaseModel):
    """El objeto `usuario` del contrato."""

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
    """Respuesta del login, de la renovación y del registro."""

    token: str = Field(..., description="Access token (JWT HS256)")
    refresh_token: str = Field(..., description="Se puede usar una sola vez")
    tipo: Literal["Bearer"]
    expira_en: int = Field(..., description="Segundos de vida del access token")
    usuario: UsuarioOut


class Login(Modelo):
    """Cuerpo de POST /auth/login (`username` es un alias de `correo`)."""

    correo: Optional[str] = Field(None, max_length=254, examples=["admin@demo.local"])
    username: Optional[str] = Field(None, max_length=254, description="Alias de `correo`")
    password: str = Field(..., min_length=1, max_length=1024)


class Refresh(Modelo):
    """Cuerpo de POST /auth/refresh."""

    refresh_token: str = Field(..., min_length=1, max_length=2000)


class CambioPassword(Modelo):
    """Cuerpo de PUT /auth/password."""

    password_actual: str = Field(..., min_length=1, max_length=1024)
    password_nueva: str = Field(..., description="De 8 a 72 bytes")

    _nueva = field_validator("password_nueva")(check_password_nueva)


class Registro(Modelo):
    """Cuerpo de POST /auth/registro: los campos dependen de REGISTRO_PACIENTES."""

    codigo: Optional[str] = Field(
        None, min_length=1, max_length=64, examples=["7K3M-Q9TX-2VHD-8RWN"],
        description="`invitacion`: el código de `POST /pacientes/<id>/invitacion` "
                    "(mayúsculas, guiones y espacios dan igual)")
    fecha_nacimiento: date = Field(..., description="`invitacion`: la del paciente invitado")
    correo: str = Field(..., max_length=254, examples=["lucia@example.com"])
    password: str = Field(..., description="De 8 a 72 bytes")
    nombre: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                      max_length=100)]] = Field(
        None, description="Sólo `abierto` (obligatorio)")
    genero: Optional[Literal["Masculino", "Femenino", "Otro"]] = Field(
        None, description="Sólo `abierto` (obligatorio)")
    telefono: Optional[str] = Field(None, examples=["+34 600 123 456"],
                                    description="Sólo `abierto` (obligatorio)")

    _correo = field_validator("correo")(check_correo)
    _password = field_validator("password")(check_password_nueva)

    @field_validator("telefono")
    @classmethod
    def telefono_valido(cls, value):
        from datos_paciente import check_telefono

        return check_telefono(value)

    @field_validator("fecha_nacimiento")
    @classmethod
    def nacimiento_valido(cls, value):
        if not date(1900, 1, 1) <= value <= ahora_local().date():
            raise ValueError("debe estar entre 1900-01-01 y hoy")
        return value


# Per mode: the fields it needs and the ones it refuses (the other mode's).
CAMPOS_REGISTRO = {"invitacion": (("codigo",), ("nombre", "genero", "telefono")),
                   "abierto": (("nombre", "genero", "telefono"), ("codigo",))}


def check_campos_registro(body, modo):
    """400 naming the fields the sign-up mode needs and did not get, or does not take."""
    obligatorios, ajenos = CAMPOS_REGISTRO[modo]
    detalles = [{"campo": c, "mensaje": "campo obligatorio"}
                for c in obligatorios if getattr(body, c) is None]
    detalles += [{"campo": c, "mensaje": f"campo no permitido en el alta «{modo}»"}
                 for c in ajenos if getattr(body, c) is not None]
    if detalles:
        raise ApiError(400, "validacion", "Datos no válidos", detalles=detalles)


class InvitacionOut(BaseModel):
    """Código de alta de un paciente, de un solo uso: se muestra una vez y solo se guarda su
    resumen."""

    codigo: str = Field(..., examples=["7K3M-Q9TX-2VHD-8RWN"],
                        description="80 bits aleatorios; válido una vez")
    expira: datetime = Field(..., description="UTC; 72 horas después de emitirlo")


# ---------------------------------------------------------------------------
# Invitations (patient-portal sign-up by one-time code)
# ---------------------------------------------------------------------------

# Crockford's base 32 (no I, L, O, U: nothing to misread); 16 symbols are 80 random bits.
ALFABETO_CODIGO = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SIMBOLOS_CODIGO = 16
INVITACION_HORAS = 72
# Wrong birth dates a code survives: a leaked code cannot be tried against every date, not
# even from many addresses (the per-address throttle alone would allow that).
INTENTOS_INVITACION = 5

# The patient's unused codes, read without locks (the patient's row lock already orders
# everyone who issues or redeems them) and then voided by primary key: an UPDATE by
# ID_Paciente would gap-lock the end of its index for a patient with none, where every other
# new code is being inserted, and parallel issues would deadlock.
INVITACIONES_VIGENTES = """
    SELECT ID_Invitacion AS id FROM Invitacion
     WHERE ID_Paciente = %s AND Usada_En IS NULL AND Expira_En > UTC_TIMESTAMP()
"""
INVITACION_VIGENTE = """
    SELECT i.ID_Invitacion AS id_invitacion, i.ID_Paciente AS id_paciente,
           p.Nombre AS nombre, p.Fecha_Nacimiento AS fecha_nacimiento
      FROM Invitacion i JOIN Paciente p ON p.ID_Paciente = i.ID_Paciente
     WHERE i.Codigo_Hash = %s AND i.Usada_En IS NULL AND i.Expira_En > UTC_TIMESTAMP()
       AND p.Activo = TRUE
"""


def hash_codigo(codigo):
    """SHA-256 (hex) of a code in its plain form: upper case, no dashes or spaces, and the
    letters Crockford reads as digits (I, L → 1; O → 0). 80 random bits need no slow hash."""
    limpio = re.sub(r"[\s-]", "", codigo.upper()).translate(str.maketrans("ILO", "110"))
    return hashlib.sha256(limpio.encode()).hexdigest()


def crear_invitacion(id_paciente, id_usuario_emisor=None):
    """Issue a patient's one-time sign-up code, voiding any earlier unused one; audited.

    Returns (codigo, expira). 404 for an unknown or inactive patient, 409 when the patient
    already has a user. The demo calls this too (in an app context, without a request).
    """
    simbolos = "".join(secrets.choice(ALFABETO_CODIGO) for _ in range(SIMBOLOS_CODIGO))
    codigo = "-".join(simbolos[i:i + 4] for i in range(0, SIMBOLOS_CODIGO, 4))
    expira_en = (datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
                 + timedelta(hours=INVITACION_HORAS))
    with transaction():
        # The patient's row is the lock that orders issuing and redeeming (see registro).
        paciente = query_one("SELECT Activo AS activo FROM Paciente WHERE ID_Paciente = %s "
                             "FOR UPDATE", (id_paciente,))
        if paciente is None or not paciente["activo"]:
            raise no_encontrado("Paciente")
        if query_one("SELECT 1 AS si FROM Usuario WHERE ID_Paciente = %s", (id_paciente,)):
            raise conflicto("Ese paciente ya tiene un usuario")
        for row in query_all(INVITACIONES_VIGENTES, (id_paciente,)):
            execute("UPDATE Invitacion SET Expira_En = UTC_TIMESTAMP() WHERE ID_Invitacion = %s",
                    (row["id"],))
        id_invitacion = execute(
            "INSERT INTO Invitacion (ID_Paciente, Codigo_Hash, Expira_En, ID_Usuario_Emisor) "
            "VALUES (%s, %s, %s, %s)", (id_paciente, hash_codigo(codigo), expira_en,
                                        id_usuario_emisor))
        auditar("crear", "invitacion", id_invitacion, id_paciente=id_paciente)
    return codigo, expira_en


def codigo_invalido():
    """The one answer for an unknown, used or expired code or a wrong birth date."""
    return ApiError(400, "codigo_invalido", "El código de invitación no es válido, ya se usó o "
                    "caducó, o la fecha de nacimiento no coincide")


def registrar_con_invitacion(body):
    """Create the user of the invited patient (one transaction); returns (usuario, tokens)."""
    invitacion = query_one(INVITACION_VIGENTE, (hash_codigo(body.codigo),))
    if invitacion is None:
        raise codigo_invalido()
    if invitacion["fecha_nacimiento"] != body.fecha_nacimiento:
        # Expira_En first: it reads Intentos before the increment in every SQL mode.
        execute("UPDATE Invitacion SET Expira_En = IF(Intentos + 1 >= %s, UTC_TIMESTAMP(), "
                "Expira_En), Intentos = Intentos + 1 WHERE ID_Invitacion = %s",
                (INTENTOS_INVITACION, invitacion["id_invitacion"]))
        raise codigo_invalido()
    id_paciente = invitacion["id_paciente"]
    hashed = hash_password(body.password)
    with duplicado_usuario_409(), transaction():
        # Patient first, then the code: crear_invitacion's order, so the two cannot deadlock;
        # parallel redemptions of one code queue here, and all but the first find it used.
        activo = query_one("SELECT Activo AS activo FROM Paciente WHERE ID_Paciente = %s "
                           "FOR UPDATE", (id_paciente,))
        vigente = query_one("SELECT 1 AS si FROM Invitacion WHERE ID_Invitacion = %s "
                            "AND Usada_En IS NULL AND Expira_En > UTC_TIMESTAMP() FOR UPDATE",
                            (invitacion["id_invitacion"],))
        if vigente is None or not (activo and activo["activo"]):
            raise codigo_invalido()
        if query_one("SELECT 1 AS si FROM Usuario WHERE ID_Paciente = %s", (id_paciente,)):
            raise conflicto("Ese paciente ya tiene un usuario")
        id_usuario = execute(INSERT_USUARIO, (invitacion["nombre"], body.correo, hashed,
                                              ROL_PACIENTE, id_paciente, None))
        execute("UPDATE Invitacion SET Usada_En = UTC_TIMESTAMP(), ID_Usuario = %s "
                "WHERE ID_Invitacion = %s", (id_usuario, invitacion["id_invitacion"]))
        usuario = cargar_usuario(id_usuario)
        tokens = issue_tokens(usuario)
        auditar("crear", "usuario", id_usuario, id_paciente=id_paciente, usuario=usuario,
                motivo="alta con invitación")
    return usuario, tokens


def registrar_abierto(body):
    """Create a new patient, its history and its user (one transaction); (usuario, tokens)."""
    from datos_paciente import crear_paciente

    datos = {"nombre": body.nombre, "fecha_nacimiento": body.fecha_nacimiento,
             "genero": body.genero, "telefono": body.telefono, "correo": body.correo}
    hashed = hash_password(body.password)
    with duplicado_usuario_409(), transaction():
        id_paciente = crear_paciente(datos)
        id_usuario = execute(INSERT_USUARIO, (body.nombre, body.correo, hashed, ROL_PACIENTE,
                                              id_paciente, None))
        usuario = cargar_usuario(id_usuario)
        tokens = issue_tokens(usuario)
        auditar("crear", "usuario", id_usuario, id_paciente=id_paciente, usuario=usuario,
                motivo="alta abierta")
    return usuario, tokens


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
    desconocido, contraseña errónea o usuario inactivo. El correo se compara en su forma
    canónica (NFKC, sin mayúsculas, tildes ni espacios alrededor). En LOGIN_VENTANA_MIN (15)
    minutos: LOGIN_MAX_CUENTA (5) fallos de una cuenta desde una dirección bloquean ese par,
    LOGIN_MAX_CUENTA_TOTAL (50) desde todas bloquean la cuenta y LOGIN_MAX_IP (20) desde una
    dirección bloquean la dirección → 429 con `Retry-After`, también con la contraseña
    correcta, igual para cuentas que existen y que no. La dirección es la del socket, o la que
    den PROXIES_CONFIABLES saltos de `X-Forwarded-For`."""
    correo = correo_canonico(body.correo or body.username or "")
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
    """Contraseña actual errónea → 400 (cuenta como intento fallido de acceso, con los límites
    del login: 429). Las demás sesiones del usuario quedan revocadas."""
    id_usuario = g.usuario["id_usuario"]
    check_password_actual(body.password_actual)
    with transaction():
        execute("UPDATE Usuario SET Password_Hash = %s, Version = Version + 1 "
                "WHERE ID_Usuario = %s", (hash_password(body.password_nueva), id_usuario))
        revoke_sessions(id_usuario, except_sid=g.claims["sid"])
        auditar("actualizar", "usuario", id_usuario, motivo="cambio de contraseña")
    return "", 204


@bp.post("/registro")
@spec(body=Registro, responses={201: TokensOut}, status=201, errors=(400, 404, 409, 429),
      tags=["auth"], summary="Alta de un paciente en el portal")
def registro(body):
    """Según REGISTRO_PACIENTES. `invitacion` (por omisión): `{codigo, fecha_nacimiento,
    correo, password}`; el código de `POST /pacientes/<id>/invitacion` vale una vez y crea el
    usuario de ese paciente (no otro paciente). Código desconocido, usado o caducado, o fecha
    de nacimiento que no coincide → 400 `codigo_invalido`, la misma respuesta sea cual sea el
    correo; cinco fechas erróneas anulan el código. Sólo quien tiene un código válido y la
    fecha correcta puede recibir 409 por un correo ya registrado. `abierto`: `{nombre, correo,
    password, fecha_nacimiento, genero, telefono}` crea un paciente nuevo (sin `documento`:
    nadie puede sondear documentos); su 409 por un correo ya registrado es el precio de ese
    modo. `0`: 404. Rol siempre `paciente`, todo en una transacción, auditado. Cada dirección
    tiene REGISTRO_MAX_IP intentos (con éxito o no) por LOGIN_VENTANA_MIN minutos → 429."""
    modo = current_app.config["REGISTRO_PACIENTES"]
    if not modo:
        raise no_encontrado()
    check_campos_registro(body, modo)
    contar_registro()
    if modo == "invitacion":
        usuario, tokens = registrar_con_invitacion(body)
    else:
        usuario, tokens = registrar_abierto(body)
    response = respuesta_tokens(tokens, usuario, status=201)
    response.headers["Location"] = f"/usuarios/{usuario['id_usuario']}"
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
    motivo = (texto_cabecera("X-Motivo-Acceso") or "").strip()
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

