"""The `/auth` blueprint: login, token refresh, logout, the session's user, password change
and patient-portal sign-up (`/auth/registro`) by one-time invitation code or, when
REGISTRO_PACIENTES=abierto, open."""

import logging
from datetime import date
from typing import Annotated, Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Modelo, spec
from auditoria import auditar
from auth import ROL_PACIENTE, ahora_local, autenticado
from credenciales import (abrir_intento, cerrar_intento, check_password, check_password_actual,
                          check_password_nueva, contar_registro, correo_canonico,
                          credenciales_invalidas, dummy_hash, fallo_intento, hash_password)
from datos_paciente import check_telefono, insert_paciente
from datos_usuario import (INSERT_USUARIO, UsuarioOut, cargar_usuario, duplicado_usuario_409,
                           shape_usuario)
from db import execute, query_one, transaction
from errors import ApiError, conflicto, no_encontrado, validacion
from invitaciones import INTENTOS_INVITACION, INVITACION_VIGENTE, codigo_invalido, hash_codigo
from sesiones import decode_token, issue_tokens, no_autenticado, revoke_sessions
from texto import CORREO_PATRON, check_correo

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger("historial.auth")


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
    datos = {"nombre": body.nombre, "fecha_nacimiento": body.fecha_nacimiento,
             "genero": body.genero, "telefono": body.telefono, "correo": body.correo}
    hashed = hash_password(body.password)
    with duplicado_usuario_409(), transaction():
        id_paciente = insert_paciente(datos)
        id_usuario = execute(INSERT_USUARIO, (body.nombre, body.correo, hashed, ROL_PACIENTE,
                                              id_paciente, None))
        usuario = cargar_usuario(id_usuario)
        tokens = issue_tokens(usuario)
        auditar("crear", "usuario", id_usuario, id_paciente=id_paciente, usuario=usuario,
                motivo="alta abierta")
    return usuario, tokens


CUENTA_DE_LOGIN = """
    SELECT u.ID_Usuario AS id_usuario, u.Password_Hash AS password_hash, u.Activo AS activo,
           r.Nombre AS rol
      FROM Usuario u JOIN Rol r ON r.ID_Rol = u.ID_Rol
     WHERE u.Correo = %s
"""


def respuesta_tokens(tokens, usuario, status=200):
    """The login/refresh/registration answer."""
    response = current_app.json.response({**tokens, "usuario": shape_usuario(usuario)})
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
    return shape_usuario(g.usuario)


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
