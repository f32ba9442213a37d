"""The Paciente table's shared rows and rules: its columns, the patient object, validation of
its fields, and creating one (with its prefixes and its Historial), for every module that
reads or writes patients."""

import re
from datetime import date, datetime
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, Field, StringConstraints, field_validator

from api import Modelo
from auditoria import auditar, leer_auditado
from auth import ahora_local
from clinico import shape_row
from db import execute, executemany, query_one, transaction
from errors import duplicado_409, no_encontrado
from texto import check_correo_contacto, normalize, prefijos

TELEFONO_PATRON = re.compile(r"^[0-9 +\-]{7,20}$")

Genero = Literal["Masculino", "Femenino", "Otro"]
TipoSangre = Literal["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"]


def check_telefono(value):
    """7–20 characters of digits, spaces, '+' and '-', with at least one digit."""
    if value is not None and not (TELEFONO_PATRON.match(value) and any(c.isdigit() for c in value)):
        raise ValueError("debe tener de 7 a 20 caracteres: dígitos, espacios, + o -")
    return value


class PacienteDatos(Modelo):
    """Cuerpo de POST y PUT /pacientes: todos los campos (PUT reemplaza el registro entero)."""

    nombre: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    fecha_nacimiento: date = Field(..., description="Entre 1900-01-01 y hoy")
    genero: Genero
    telefono: str = Field(..., examples=["+34 600 123 456"],
                          description="7–20 caracteres: dígitos, espacios, + o -")
    documento: Optional[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                         max_length=30)]] = None
    correo: Optional[Annotated[str, StringConstraints(strip_whitespace=True,
                                                      max_length=254)]] = None
    direccion: Optional[Annotated[str, StringConstraints(strip_whitespace=True,
                                                         max_length=255)]] = None
    tipo_sangre: Optional[TipoSangre] = None
    alergias: Optional[Annotated[str, StringConstraints(max_length=5000)]] = None

    @field_validator("fecha_nacimiento")
    @classmethod
    def nacimiento_valido(cls, value):
        if value is not None and not date(1900, 1, 1) <= value <= ahora_local().date():
            raise ValueError("debe estar entre 1900-01-01 y hoy")
        return value

    _telefono = field_validator("telefono")(check_telefono)

    _correo = field_validator("correo")(check_correo_contacto)


class PacienteOut(BaseModel):
    """Los datos demográficos de un paciente."""

    id_paciente: int
    nombre: str
    fecha_nacimiento: date
    edad: int
    genero: Genero
    telefono: str
    documento: Optional[str] = None
    correo: Optional[str] = None
    direccion: Optional[str] = None
    tipo_sangre: Optional[TipoSangre] = None
    alergias: Optional[str] = None
    activo: bool
    creado_en: datetime
    actualizado_en: datetime


COLUMNAS = """p.ID_Paciente AS id_paciente, p.Nombre AS nombre,
           p.Fecha_Nacimiento AS fecha_nacimiento, p.`Género` AS genero,
           p.`Teléfono` AS telefono, p.Documento AS documento, p.Correo AS correo,
           p.Direccion AS direccion, p.Tipo_Sangre AS tipo_sangre, p.Alergias AS alergias,
           p.Activo AS activo, p.Creado_En AS creado_en, p.Actualizado_En AS actualizado_en,
           p.Version AS _version, p.Nombre_Normalizado AS _orden_nombre"""


SELECT_PACIENTE = f"SELECT {COLUMNAS} FROM Paciente p"


def edad(nacimiento, hoy):
    """Whole years between the birth date and `hoy`."""
    return hoy.year - nacimiento.year - ((hoy.month, hoy.day) < (nacimiento.month, nacimiento.day))


def shape_paciente(row):
    """The contract's patient object from a SELECT_PACIENTE row."""
    out = shape_row(row)
    out["activo"] = bool(out["activo"])
    out["edad"] = edad(row["fecha_nacimiento"], ahora_local().date())
    return out


def cargar(id_paciente, bloquear=False):
    """The SELECT_PACIENTE row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_PACIENTE + " WHERE p.ID_Paciente = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_paciente,))
    if row is None:
        raise no_encontrado("Paciente")
    return row


def cargar_auditado(id_paciente):
    """The SELECT_PACIENTE row, read and audited (`leer`) in one round trip, or 404 (and no
    audit row). Call after the access check."""
    row = leer_auditado(SELECT_PACIENTE + " WHERE p.ID_Paciente = %s", (id_paciente,),
                        "paciente", id_paciente, id_paciente)
    if row is None:
        raise no_encontrado("Paciente")
    return row


def guardar_prefijos(id_paciente, nombre_normalizado, nuevo=False):
    """Replace the patient's search prefixes (call inside the transaction of the name change).

    A new patient has none to delete, and deleting nothing would still take gap locks that
    make parallel creates deadlock on each other."""
    if not nuevo:
        execute("DELETE FROM Paciente_Prefijo WHERE ID_Paciente = %s", (id_paciente,))
    executemany("INSERT INTO Paciente_Prefijo (Prefijo, Nombre_Normalizado, ID_Paciente) "
                "VALUES (%s, %s, %s)",
                [(p, nombre_normalizado, id_paciente) for p in prefijos(nombre_normalizado)])


def insert_paciente(datos):
    """Insert a patient, its search prefixes and its Historial; returns the id.

    Runs in the caller's transaction when there is one (user creation, registration).
    """
    nombre_normalizado = normalize(datos["nombre"])[:100]
    with duplicado_409("Ya existe un paciente con ese documento"), transaction():
        id_paciente = execute(
            "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
            "`Teléfono`, Documento, Correo, Direccion, Tipo_Sangre, Alergias) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (datos["nombre"], nombre_normalizado, datos["fecha_nacimiento"], datos["genero"],
             datos["telefono"], datos.get("documento"), datos.get("correo"),
             datos.get("direccion"), datos.get("tipo_sangre"), datos.get("alergias")))
        guardar_prefijos(id_paciente, nombre_normalizado, nuevo=True)
        execute("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) VALUES (%s, %s)",
                (id_paciente, ahora_local().date()))
        auditar("crear", "paciente", id_paciente, id_paciente=id_paciente)
    return id_paciente


def check_paciente_existe(id_paciente):
    """404 when there is no such patient."""
    if query_one("SELECT 1 AS si FROM Paciente WHERE ID_Paciente = %s", (id_paciente,)) is None:
        raise no_encontrado("Paciente")
