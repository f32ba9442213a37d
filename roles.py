"""Roles and the permission catalogue (`/roles`, `/permisos`).

The four built-in roles (seeded by the schema, `sistema: true`) cannot be renamed,
re-permissioned or deleted. Custom roles are built from the fixed catalogue in `auth.PERMISOS`.
Permissions are read from the database on every request, so a change applies at once.

No permission grants more than its holder has: a `roles:gestionar` holder never changes or
deletes a role they hold, nor gives a role a permission they lack (403). Names are unique in
a canonical form (`nombre_canonico`) kept in a UNIQUE column, so lookalikes collide even
between two parallel requests.
"""

import hashlib
import unicodedata
from datetime import datetime
from typing import Annotated, Literal, Optional

from flask import Blueprint, current_app, g
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Lista, Modelo, Orden, Pagina, check_if_match, paginate, spec, with_etag
from auditoria import auditar
from auth import PERMISOS, autenticado, check_sin_escalada, requiere
from clinico import cambios
from db import execute, executemany, query_one, transaction
from errors import conflicto, duplicado_409, no_encontrado, prohibido

bp = Blueprint("roles", __name__, url_prefix="/roles")
permisos_bp = Blueprint("permisos", __name__, url_prefix="/permisos")
# /permisos is outside /roles: registered together with the roles blueprint.
bp.record_once(lambda state: state.app.register_blueprint(permisos_bp))

DESCRIPCION_PERMISOS = {
    "pacientes:leer": "Listar, buscar y ver los datos demográficos de cualquier paciente",
    "pacientes:escribir": "Registrar, modificar y dar de baja pacientes",
    "medicos:escribir": "Registrar, modificar y dar de baja médicos",
    "citas:gestionar": "Gestionar cualquier cita",
    "clinico:leer": "Leer historiales, diagnósticos, tratamientos y medicamentos",
    "clinico:escribir": "Escribir datos clínicos de los pacientes a su cuidado",
    "usuarios:gestionar": "Gestionar usuarios",
    "roles:gestionar": "Gestionar roles",
    "auditoria:leer": "Consultar el registro de auditoría",
}

SELECT_ROL = """
    SELECT r.ID_Rol AS id_rol, r.Nombre AS nombre, r.Descripcion AS descripcion,
           r.Sistema AS sistema, r.Creado_En AS creado_en,
           (SELECT GROUP_CONCAT(rp.Permiso ORDER BY rp.Permiso)
              FROM Rol_Permiso rp WHERE rp.ID_Rol = r.ID_Rol) AS permisos
      FROM Rol r
"""
ORDEN = Orden(columns=("r.ID_Rol",), keys=("id_rol",))

# Letters that other scripts draw like a Latin letter or digit: every single code point of
# the Latin, Greek, Cyrillic and Armenian scripts whose prototype in Unicode's confusables.txt
# (UTS #39, version 13.0.0), after NFKC and case folding, is one ASCII letter or digit. No
# maintained PyPI package gives the UTS #39 skeleton without a C build (PyICU has no wheel;
# confusable-homoglyphs only detects; confusables has not been updated since 2021), and role
# names are short labels typed by staff, so this table is enough and can be read whole.
# ASCII `0`, `1` and `|` are folded to `o`, `l`, `l` as the same file does.
CONFUNDIBLES = {
    "2": "ƨꙅꝛ", "3": "ȝɜʒзӡꝫ\U0001d206", "6": "б", "7": "\U0001d212", "8": "ȣ", "9": "ꝯ",
    "a": "ɑαа", "b": "ƅβвьꞵ", "c": "сᴄ", "d": "ԁ", "e": "εеҽꬲ", "f": "ϝքẝꞙꬵ\U0001d213",
    "g": "ƍɡԍցᶃ", "h": "ηнһհ", "i": "ıɩɪιіӏꙇ", "j": "ʝϳј", "k": "κк",
    "l": "ǀ\U0001d22a|1", "m": "μϻм", "n": "ոռ", "o": "οσоօᴏᴑꬽ0", "p": "ρр", "q": "ԛգզ",
    "r": "ʀгᴦꭇꭈ\U0001d216", "s": "ƽѕտꜱ", "t": "τт", "u": "ʋυսᴜꞟꭎꭒ", "v": "νѵᴠ\U0001d20d",
    "w": "ɯѡԝաᴡ", "x": "χхꭓ", "y": "ɣʏγуүᶌỿꭚ", "z": "ζᴢ",
}
PLIEGUE = str.maketrans({c: base for base, letras in CONFUNDIBLES.items() for c in letras})
# Invisible characters that are letters or marks to Unicode (Hangul fillers).
INVISIBLES = frozenset("\u115f\u1160\u3164\uffa0")
NOMBRE_CANONICO_MAX = 200

Permiso = Literal[PERMISOS]
NombreRol = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
DescripcionRol = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]


def nombre_canonico(nombre):
    """The form in which role names are compared: NFKC, case-folded, without accents,
    invisible characters (soft hyphen, zero-width, variation selectors...) or extra spaces,
    and with confusable letters folded (Cyrillic `а` is `a`; `rn` reads as `m`, `0` as `o`)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", nombre).casefold())
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Me", "Cc", "Cf")
                   and c not in INVISIBLES)
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return text.translate(PLIEGUE).replace("rn", "m")


def check_nombre(value):
    """Pydantic validator: a name whose canonical form is not empty and fits its column."""
    if value is not None:
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise ValueError("no puede contener caracteres de control")
        canonico = nombre_canonico(value)
        if not canonico:
            raise ValueError("debe tener al menos un carácter visible")
        if len(canonico) > NOMBRE_CANONICO_MAX:
            raise ValueError("tiene demasiados caracteres compuestos")
    return value


def sin_repetidos(value):
    """Pydantic validator: each permission once, in catalogue order."""
    return None if value is None else [p for p in PERMISOS if p in value]


class RolDatos(Modelo):
    """Cuerpo de POST y PUT /roles."""

    nombre: NombreRol = Field(..., examples=["auditor"])
    descripcion: DescripcionRol = ""
    permisos: list[Permiso] = Field(..., max_length=50, examples=[["auditoria:leer"]])

    _nombre = field_validator("nombre")(check_nombre)
    _permisos = field_validator("permisos")(sin_repetidos)


class RolCambio(Modelo):
    """Cuerpo de PATCH /roles/<id>: sólo los campos que cambian."""

    nombre: Optional[NombreRol] = None
    descripcion: Optional[DescripcionRol] = None
    permisos: Optional[list[Permiso]] = Field(None, max_length=50)

    _nombre = field_validator("nombre")(check_nombre)
    _permisos = field_validator("permisos")(sin_repetidos)


class RolOut(BaseModel):
    """Un rol y sus permisos."""

    id_rol: int
    nombre: str
    descripcion: str
    sistema: bool
    permisos: list[str]
    creado_en: datetime


class PermisoOut(BaseModel):
    """Una entrada del catálogo de permisos."""

    permiso: str = Field(..., examples=["clinico:leer"])
    descripcion: str


def shape(row):
    """The contract's role object from a SELECT_ROL row."""
    return {**row, "sistema": bool(row["sistema"]),
            "permisos": row["permisos"].split(",") if row["permisos"] else []}


def version(rol):
    """ETag source of a role: a digest of what a PUT can change (Rol has no Version column)."""
    text = "\n".join([rol["nombre"], rol["descripcion"], ",".join(rol["permisos"])])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cargar(id_rol, bloquear=False):
    """The role object, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_ROL + " WHERE r.ID_Rol = %s" + (" FOR UPDATE" if bloquear else ""),
                    (id_rol,))
    if row is None:
        raise no_encontrado("Rol")
    return shape(row)


def respuesta(rol, status=200, location=None):
    """JSON answer with the role's ETag (and `Location` for a create)."""
    response = current_app.json.response(rol)
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return with_etag(response, rol["id_rol"], version(rol))


def guardar_permisos(id_rol, permisos):
    """Replace the role's permissions (inside the caller's transaction)."""
    execute("DELETE FROM Rol_Permiso WHERE ID_Rol = %s", (id_rol,))
    if permisos:
        executemany("INSERT INTO Rol_Permiso (ID_Rol, Permiso) VALUES (%s, %s)",
                    [(id_rol, p) for p in permisos])


def nombre_libre(block):
    """Run `block`; a duplicate role name becomes 409."""
    with duplicado_409("Ya existe un rol con ese nombre"):
        return block()


def check_modificable(rol):
    """409 for a built-in role; 403 for the caller's own role (they would set their own
    permissions)."""
    if rol["sistema"]:
        raise conflicto("Los roles del sistema no se pueden modificar ni borrar")
    if rol["id_rol"] == g.usuario["id_rol"]:
        raise prohibido("No puede modificar ni borrar su propio rol")


def actualizar(id_rol, campos):
    """Apply `campos` to a custom role under If-Match; answer 200 with the new ETag."""
    def run():
        with transaction():
            rol = cargar(id_rol, bloquear=True)
            check_modificable(rol)
            check_if_match(id_rol, version(rol))
            if "permisos" in campos:
                check_sin_escalada(set(campos["permisos"]) - set(rol["permisos"]),
                                   "Ese cambio del rol")
            if "nombre" in campos or "descripcion" in campos:
                nombre = campos.get("nombre", rol["nombre"])
                execute("UPDATE Rol SET Nombre = %s, Nombre_Canonico = %s, Descripcion = %s "
                        "WHERE ID_Rol = %s", (nombre, nombre_canonico(nombre),
                                              campos.get("descripcion", rol["descripcion"]),
                                              id_rol))
            if "permisos" in campos:
                guardar_permisos(id_rol, campos["permisos"])
            auditar("actualizar", "rol", id_rol)
    nombre_libre(run)
    return respuesta(cargar(id_rol))


@bp.get("")
@autenticado
@spec(query=Pagina, responses={200: Lista[RolOut]}, tags=["roles"], summary="Listar los roles")
def list_roles(query):
    """Cualquier usuario autenticado. Por id."""
    return paginate(query, SELECT_ROL, "", [], ORDEN, count="SELECT COUNT(*) AS n FROM Rol r",
                    shape=shape)


@bp.get("/<int:id_rol>")
@autenticado
@spec(responses={200: RolOut}, tags=["roles"], errors=(404,), summary="Consultar un rol")
def get_rol(id_rol):
    """Cualquier usuario autenticado. Lleva `ETag`."""
    return respuesta(cargar(id_rol))


@bp.post("")
@requiere("roles:gestionar")
@spec(body=RolDatos, responses={201: RolOut}, status=201, errors=(409,), tags=["roles"],
      summary="Crear un rol")
def create_rol(body):
    """Permisos del catálogo (`GET /permisos`); uno desconocido → 400; uno que usted no
    tiene → 403. Nombre repetido → 409, también en su forma canónica (sin mayúsculas,
    tildes, espacios sobrantes ni letras confundibles: `ADMIN` o `аdmin` con `а` cirílica
    chocan con `admin`). Un nombre con caracteres invisibles (`admin\\u00ad`) no llega a
    compararse: es 400 `validacion`, como todo texto con ellos."""
    check_sin_escalada(body.permisos, "Ese rol")

    def run():
        with transaction():
            id_rol = execute("INSERT INTO Rol (Nombre, Nombre_Canonico, Descripcion) "
                             "VALUES (%s, %s, %s)",
                             (body.nombre, nombre_canonico(body.nombre), body.descripcion))
            guardar_permisos(id_rol, body.permisos)
            auditar("crear", "rol", id_rol)
        return id_rol
    id_rol = nombre_libre(run)
    return respuesta(cargar(id_rol), status=201, location=f"/roles/{id_rol}")


@bp.put("/<int:id_rol>")
@requiere("roles:gestionar")
@spec(body=RolDatos, responses={200: RolOut}, errors=(404, 409), tags=["roles"],
      summary="Reemplazar un rol")
def replace_rol(id_rol, body):
    """Rol del sistema → 409; el propio rol, o añadir un permiso que usted no tiene → 403.
    Nombre repetido (en forma canónica) → 409. Admite `If-Match`."""
    return actualizar(id_rol, body.model_dump())


@bp.patch("/<int:id_rol>")
@requiere("roles:gestionar")
@spec(body=RolCambio, responses={200: RolOut}, errors=(404, 409), tags=["roles"],
      summary="Modificar un rol")
def update_rol(id_rol, body):
    """Sólo los campos enviados. Rol del sistema → 409; el propio rol, o añadir un permiso
    que usted no tiene → 403. Nombre repetido (en forma canónica) → 409. Admite `If-Match`."""
    campos = cambios(body, obligatorios=("nombre", "descripcion", "permisos"))
    return actualizar(id_rol, campos)


@bp.delete("/<int:id_rol>")
@requiere("roles:gestionar")
@spec(responses={204: None}, status=204, errors=(404, 409), tags=["roles"],
      summary="Borrar un rol")
def delete_rol(id_rol):
    """Rol del sistema o con usuarios (también inactivos) → 409; el propio rol → 403.
    Admite `If-Match`."""
    with transaction():
        rol = cargar(id_rol, bloquear=True)
        check_modificable(rol)
        check_if_match(id_rol, version(rol))
        if query_one("SELECT 1 AS si FROM Usuario WHERE ID_Rol = %s LIMIT 1", (id_rol,)):
            raise conflicto("El rol tiene usuarios; cámbieles el rol antes de borrarlo")
        execute("DELETE FROM Rol WHERE ID_Rol = %s", (id_rol,))
        auditar("anular", "rol", id_rol)
    return "", 204


@permisos_bp.get("")
@autenticado
@spec(responses={200: {"type": "array", "items": PermisoOut.model_json_schema()}},
      tags=["roles"], summary="Catálogo de permisos")
def list_permisos():
    """Los permisos con que se construyen los roles (fijos en el código)."""
    return current_app.json.response([{"permiso": p, "descripcion": DESCRIPCION_PERMISOS[p]}
                                      for p in PERMISOS])
