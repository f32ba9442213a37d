"""Users: list, create (linking or creating a patient or doctor), update, deactivate.

Guards: nobody deactivates themself or changes their own role (409), and the last active
admin can be neither deactivated nor moved to another role (409). Deactivation, a role change
and a password change revoke the user's sessions at once (every request reads the session).
A `medico` user must be linked to a doctor and a `paciente` user to a patient: the row-level
rules in auth.py rely on those links.

No permission grants more than its holder has (API.md §3). What a user can do is the
permissions of their role plus what their links give (`alcance`); a `usuarios:gestionar`
holder creates only users whose `alcance` they hold themself, and changes the password,
e-mail, role, links or active state only of such users (403 otherwise), so that nobody makes
an account stronger than their own and then logs in as it. One's own password or e-mail
changes only with `password_actual` (a stolen token alone cannot take the account over), and
nobody changes their own links.
"""

from typing import Annotated, Optional

from flask import Blueprint, current_app, g
from pydantic import Field, StringConstraints, field_validator

from api import Lista, Modelo, Orden, Pagina, check_if_match, paginate, spec, with_etag
from auditoria import auditar
from auth import (ROL_ADMIN, ROL_MEDICO, ROL_PACIENTE, autenticado, check_sin_escalada,
                  permisos_de_rol, requiere, tiene)
from clinico import cambios
from credenciales import check_password_actual, check_password_nueva, hash_password
from datos_paciente import PacienteDatos, check_telefono, insert_paciente
from datos_usuario import (INSERT_USUARIO, SELECT_USUARIO, UsuarioOut, cargar_usuario,
                           duplicado_usuario_409, shape_usuario)
from db import cerrojo, execute, query_one, transaction
from errors import conflicto, duplicado_409, no_encontrado, prohibido, validacion
from sesiones import revoke_sessions
from texto import check_correo, normalize

bp = Blueprint("usuarios", __name__, url_prefix="/usuarios")

ORDEN = Orden(columns=("u.ID_Usuario",), keys=("id_usuario",))
# What a link lets its user do with the linked record (auth.py's row-level rules): a patient
# reads their demographics and clinical data, edits their contact fields and manages their
# citas; a doctor manages their own citas. Linking is granting these.
VINCULO_PACIENTE = frozenset({"pacientes:leer", "pacientes:escribir", "clinico:leer",
                              "citas:gestionar"})
VINCULO_MEDICO = frozenset({"citas:gestionar"})
# Fields whose change hands the account (or its reach) to someone: only on users whose
# `alcance` the caller holds.
CAMPOS_SENSIBLES = {"correo", "password", "id_rol", "rol", "activo", "id_paciente", "id_medico"}
Nombre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class FiltroUsuarios(Pagina):
    """Filtros de GET /usuarios."""

    rol: Optional[str] = Field(None, max_length=50, description="Nombre del rol")
    activo: Optional[bool] = None
    q: Optional[str] = Field(None, min_length=1, max_length=100,
                             description="Parte del nombre o del correo")


class MedicoDatos(Modelo):
    """Un médico creado junto con su usuario."""

    nombre: Nombre
    especialidad: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=100)]
    telefono: str = Field(..., examples=["+34 600 123 456"])
    correo: Optional[str] = Field(None, max_length=254)
    licencia: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                        max_length=50)]] = None

    _telefono = field_validator("telefono")(check_telefono)
    _correo = field_validator("correo")(check_correo)


class UsuarioDatos(Modelo):
    """Cuerpo de POST /usuarios: `id_rol` o `rol`; vincula un paciente o médico por id o lo
    crea."""

    nombre: Nombre
    correo: str = Field(..., max_length=254, examples=["rosa@clinica.example"])
    password: str = Field(..., description="De 8 a 72 bytes")
    id_rol: Optional[int] = Field(None, ge=1)
    rol: Optional[str] = Field(None, max_length=50, examples=["recepcionista"])
    id_paciente: Optional[int] = Field(None, ge=1)
    id_medico: Optional[int] = Field(None, ge=1)
    paciente: Optional[PacienteDatos] = None
    medico: Optional[MedicoDatos] = None

    _correo = field_validator("correo")(check_correo)
    _password = field_validator("password")(check_password_nueva)


class UsuarioCambio(Modelo):
    """Cuerpo de PATCH /usuarios/<id>: sólo los campos que cambian (uno mismo: sólo `nombre`)."""

    nombre: Optional[Nombre] = None
    correo: Optional[str] = Field(None, max_length=254)
    password: Optional[str] = Field(None, description="De 8 a 72 bytes")
    id_rol: Optional[int] = Field(None, ge=1)
    rol: Optional[str] = Field(None, max_length=50)
    activo: Optional[bool] = None
    id_paciente: Optional[int] = Field(None, ge=1, description="null lo desvincula")
    id_medico: Optional[int] = Field(None, ge=1, description="null lo desvincula")
    password_actual: Optional[str] = Field(
        None, min_length=1, max_length=1024,
        description="La contraseña actual: obligatoria para cambiar la propia contraseña o el "
                    "propio correo (errónea → 400, y cuenta como intento fallido de acceso)")

    _correo = field_validator("correo")(check_correo)
    _password = field_validator("password")(check_password_nueva)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def respuesta(row, status=200, location=None):
    """The `usuario` object with its ETag (and `Location` for a create)."""
    response = current_app.json.response(shape_usuario(row))
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return with_etag(response, row["id_usuario"], row["_version"])


def contiene(texto):
    """A LIKE argument matching `texto` anywhere, with the user's % and _ taken literally."""
    return "%" + texto.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def resolve_rol(id_rol, rol):
    """The ID_Rol named by `id_rol` or `rol` (exactly one), or 400."""
    if (id_rol is None) == (rol is None):
        raise validacion("rol", "indique id_rol o rol (uno de los dos)")
    if id_rol is not None:
        row = query_one("SELECT ID_Rol AS id FROM Rol WHERE ID_Rol = %s", (id_rol,))
    else:
        row = query_one("SELECT ID_Rol AS id FROM Rol WHERE Nombre = %s", (rol,))
    if row is None:
        raise validacion("id_rol" if id_rol is not None else "rol", "no existe ese rol")
    return row["id"]


def check_existe(campo, id_valor):
    """400 when a linked patient/doctor id does not exist; returns the id."""
    sql = {"id_paciente": "SELECT 1 AS si FROM Paciente WHERE ID_Paciente = %s",
           "id_medico": "SELECT 1 AS si FROM `Médico` WHERE `ID_Médico` = %s"}[campo]
    if id_valor is not None and query_one(sql, (id_valor,)) is None:
        raise validacion(campo, "no existe")
    return id_valor


def check_vinculos(id_rol, con_paciente, con_medico):
    """The built-in `paciente` and `medico` roles need their record (the access rules use it)."""
    if id_rol == ROL_PACIENTE and not con_paciente:
        raise validacion("id_paciente", "un usuario paciente debe estar vinculado a un paciente")
    if id_rol == ROL_MEDICO and not con_medico:
        raise validacion("id_medico", "un usuario médico debe estar vinculado a un médico")


def check_otro_admin(id_usuario):
    """409 unless another active admin remains (locked, so two requests cannot both pass).

    The 'administradores' row comes first: on a Galera cluster the FOR UPDATE lock stays on
    its node, and two demotions of the last two admins through two nodes would both pass;
    writing one shared row makes certification let only one of them commit.
    """
    cerrojo("administradores")
    otro = query_one("SELECT ID_Usuario AS id FROM Usuario WHERE ID_Rol = %s AND Activo = TRUE "
                     "AND ID_Usuario <> %s LIMIT 1 FOR UPDATE", (ROL_ADMIN, id_usuario))
    if otro is None:
        raise conflicto("Debe quedar al menos un administrador activo")


def crear_medico(datos):
    """Insert a doctor (inside the caller's transaction); returns the id."""
    with duplicado_409("Ya existe un médico con esa licencia"):
        return execute(
            "INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, `Teléfono`, Correo, "
            "Licencia) VALUES (%s, %s, %s, %s, %s, %s)",
            (datos["nombre"], normalize(datos["nombre"])[:100], datos["especialidad"],
             datos["telefono"], datos.get("correo"), datos.get("licencia")))


def cargar(id_usuario, bloquear=False):
    """The SELECT_USUARIO row, or 404."""
    row = cargar_usuario(id_usuario, bloquear)
    if row is None:
        raise no_encontrado("Usuario")
    return row


def alcance(id_rol, id_paciente, id_medico):
    """What a user with this role and these links can do: the role's permissions plus what
    each link gives."""
    return (permisos_de_rol(id_rol) | (VINCULO_PACIENTE if id_paciente else set())
            | (VINCULO_MEDICO if id_medico else set()))


def check_propio_o_gestor(id_usuario):
    """The user themself or `usuarios:gestionar`, else 403."""
    if id_usuario != g.usuario["id_usuario"] and not tiene("usuarios:gestionar"):
        raise prohibido("Sólo puede ver y cambiar su propio usuario")


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@bp.get("")
@requiere("usuarios:gestionar")
@spec(query=FiltroUsuarios, responses={200: Lista[UsuarioOut]}, tags=["usuarios"],
      summary="Listar usuarios")
def list_usuarios(query):
    """Filtros: `rol` (nombre), `activo`, `q` (parte del nombre o del correo). Por id."""
    where, params = "", []
    if query.rol is not None:
        where += " AND r.Nombre = %s"
        params.append(query.rol)
    if query.activo is not None:
        where += " AND u.Activo = %s"
        params.append(query.activo)
    if query.q is not None:
        where += " AND (u.Nombre LIKE %s OR u.Correo LIKE %s)"
        params += [contiene(query.q.strip())] * 2
    return paginate(query, SELECT_USUARIO, where, params, ORDEN, shape=shape_usuario,
                    count="SELECT COUNT(*) AS n FROM Usuario u JOIN Rol r ON r.ID_Rol = u.ID_Rol")


@bp.get("/<int:id_usuario>")
@autenticado
@spec(responses={200: UsuarioOut}, tags=["usuarios"], errors=(403, 404),
      summary="Consultar un usuario")
def get_usuario(id_usuario):
    """`usuarios:gestionar`, o el propio usuario. Lleva `ETag`."""
    check_propio_o_gestor(id_usuario)
    return respuesta(cargar(id_usuario))


@bp.post("")
@requiere("usuarios:gestionar")
@spec(body=UsuarioDatos, responses={201: UsuarioOut}, status=201, errors=(409,),
      tags=["usuarios"], summary="Crear un usuario")
def create_usuario(body):
    """Vincula un paciente o médico existente (`id_paciente`, `id_medico`) o lo crea a la vez
    desde `paciente` / `medico`, todo en una transacción. Correo repetido → 409. Ningún
    permiso da más de lo que tiene quien lo usa: el rol asignado, lo que da cada vínculo (un
    paciente vinculado: `pacientes:leer`, `pacientes:escribir`, `clinico:leer` y
    `citas:gestionar` sobre sí mismo; un médico: `citas:gestionar` de sus citas) y crear un
    médico (`medicos:escribir`) tienen que estar entre sus permisos; si no → 403. Así, un
    administrador (sin `clinico:escribir`) no crea usuarios `medico`."""
    if body.id_paciente is not None and body.paciente is not None:
        raise validacion("paciente", "indique id_paciente o paciente, no ambos")
    if body.id_medico is not None and body.medico is not None:
        raise validacion("medico", "indique id_medico o medico, no ambos")
    id_rol = resolve_rol(body.id_rol, body.rol)
    check_vinculos(id_rol, body.id_paciente or body.paciente, body.id_medico or body.medico)
    check_sin_escalada(alcance(id_rol, body.id_paciente or body.paciente,
                               body.id_medico or body.medico)
                       | ({"medicos:escribir"} if body.medico else set()), "Ese usuario")
    hashed = hash_password(body.password)
    with duplicado_usuario_409(), transaction():
        id_paciente = (insert_paciente(body.paciente.model_dump()) if body.paciente
                       else check_existe("id_paciente", body.id_paciente))
        id_medico = (crear_medico(body.medico.model_dump()) if body.medico
                     else check_existe("id_medico", body.id_medico))
        id_usuario = execute(INSERT_USUARIO, (body.nombre, body.correo, hashed, id_rol,
                                              id_paciente, id_medico))
        auditar("crear", "usuario", id_usuario, id_paciente=id_paciente)
    return respuesta(cargar(id_usuario), status=201, location=f"/usuarios/{id_usuario}")


@bp.patch("/<int:id_usuario>")
@autenticado
@spec(body=UsuarioCambio, responses={200: UsuarioOut}, tags=["usuarios"],
      errors=(403, 404, 409, 429), summary="Modificar un usuario")
def update_usuario(id_usuario, body):
    """`usuarios:gestionar`: cualquier campo, pero la contraseña, el correo, el rol, los
    vínculos y `activo` sólo de usuarios cuyo alcance (permisos del rol y de sus vínculos)
    usted tiene, y sólo hacia un rol y vínculos que usted tiene (si no → 403). El propio
    usuario: `nombre`; su contraseña o su correo sólo con `password_actual` correcta (también
    un administrador; sin ella → 403, errónea → 400 y cuenta como intento fallido, 429 tras
    varios); sus vínculos nunca (403). Nadie cambia su propio rol ni se desactiva (409);
    siempre queda un administrador activo (409). Cambiar rol, contraseña o desactivar revoca
    las sesiones del usuario. Admite `If-Match`."""
    campos = cambios(body, obligatorios=("nombre", "correo", "password", "activo",
                                         "password_actual"))
    password_actual = campos.pop("password_actual", None)
    propio = id_usuario == g.usuario["id_usuario"]
    check_propio_o_gestor(id_usuario)
    if not campos:
        raise validacion("cuerpo", "indique al menos un campo a modificar")
    if propio:
        check_cambio_propio(campos, password_actual)
    hashed = hash_password(campos["password"]) if campos.get("password") else None
    with duplicado_usuario_409(), transaction():
        actual = cargar(id_usuario, bloquear=True)
        check_if_match(id_usuario, actual["_version"])
        id_rol = actual["id_rol"]
        if "id_rol" in campos or "rol" in campos:
            id_rol = resolve_rol(campos.get("id_rol"), campos.get("rol"))
        if not propio and CAMPOS_SENSIBLES & set(campos):
            check_sin_escalada(alcance(actual["id_rol"], actual["id_paciente"],
                                       actual["id_medico"]), "Cambiar ese usuario")
            check_sin_escalada(alcance(id_rol, campos.get("id_paciente", actual["id_paciente"]),
                                       campos.get("id_medico", actual["id_medico"])),
                               "Ese cambio")
        activo = campos.get("activo", bool(actual["activo"]))
        if propio and (id_rol != actual["id_rol"] or not activo):
            raise conflicto("No puede cambiar su propio rol ni desactivarse")
        if actual["id_rol"] == ROL_ADMIN and actual["activo"] and (id_rol != ROL_ADMIN or not activo):
            check_otro_admin(id_usuario)
        id_paciente = check_existe("id_paciente", campos.get("id_paciente", actual["id_paciente"]))
        id_medico = check_existe("id_medico", campos.get("id_medico", actual["id_medico"]))
        check_vinculos(id_rol, id_paciente, id_medico)
        execute("UPDATE Usuario SET Nombre = %s, Correo = %s, ID_Rol = %s, Activo = %s, "
                "ID_Paciente = %s, `ID_Médico` = %s, Password_Hash = COALESCE(%s, Password_Hash), "
                "Version = Version + 1 WHERE ID_Usuario = %s",
                (campos.get("nombre", actual["nombre"]), campos.get("correo", actual["correo"]),
                 id_rol, activo, id_paciente, id_medico, hashed, id_usuario))
        if hashed or id_rol != actual["id_rol"] or not activo:
            revoke_sessions(id_usuario, except_sid=g.claims["sid"] if propio else None)
        auditar("actualizar", "usuario", id_usuario, id_paciente=id_paciente,
                motivo=", ".join(sorted(campos)))
    return respuesta(cargar(id_usuario))


def check_cambio_propio(campos, password_actual):
    """Yourself: `nombre` freely, password and e-mail with the right `password_actual`;
    anything else is a manager's (role, active state: 409 later) or nobody's (links: 403)."""
    if {"id_paciente", "id_medico"} & set(campos):
        raise prohibido("No puede cambiar sus propios vínculos")
    if not tiene("usuarios:gestionar") and set(campos) - {"nombre", "correo", "password"}:
        raise prohibido("Sólo puede cambiar su nombre, y su contraseña o correo con "
                        "password_actual")
    if {"correo", "password"} & set(campos) or password_actual is not None:
        if password_actual is None:
            raise prohibido("Para cambiar su contraseña o su correo envíe password_actual")
        check_password_actual(password_actual)


@bp.delete("/<int:id_usuario>")
@requiere("usuarios:gestionar")
@spec(responses={204: None}, status=204, tags=["usuarios"], errors=(404, 409),
      summary="Desactivar un usuario")
def delete_usuario(id_usuario):
    """No se borra: queda `activo: false` y sus sesiones se revocan. Uno mismo o el último
    administrador activo → 409; un usuario con un alcance (permisos del rol y de sus
    vínculos) que usted no tiene → 403. Admite `If-Match`."""
    with transaction():
        actual = cargar(id_usuario, bloquear=True)
        check_if_match(id_usuario, actual["_version"])
        if id_usuario == g.usuario["id_usuario"]:
            raise conflicto("No puede desactivarse a sí mismo")
        check_sin_escalada(alcance(actual["id_rol"], actual["id_paciente"], actual["id_medico"]),
                           "Desactivar ese usuario")
        if actual["id_rol"] == ROL_ADMIN and actual["activo"]:
            check_otro_admin(id_usuario)
        execute("UPDATE Usuario SET Activo = FALSE, Version = Version + 1 WHERE ID_Usuario = %s",
                (id_usuario,))
        revoke_sessions(id_usuario)
        auditar("anular", "usuario", id_usuario, id_paciente=actual["id_paciente"])
    return "", 204
