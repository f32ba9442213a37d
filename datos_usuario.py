"""The Usuario table's shared rows: its query, the `usuario` object, loading one, and the 409
of a duplicate, for the `/auth` and `/usuarios` blueprints."""

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, Field

from db import query_one
from errors import duplicado_409

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


INSERT_USUARIO = """
    INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, ID_Paciente, `ID_Médico`)
    VALUES (%s, %s, %s, %s, %s, %s)
"""


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


def shape_usuario(row):
    """The contract's `usuario` object from a row of SELECT_USUARIO or USUARIO_DE_SESION."""
    return {
        "id_usuario": row["id_usuario"], "nombre": row["nombre"], "correo": row["correo"],
        "rol": row["rol"], "id_rol": row["id_rol"],
        "permisos": sorted(row["permisos"]) if isinstance(row["permisos"], (set, frozenset, list))
        else (row["permisos"].split(",") if row["permisos"] else []),
        "id_paciente": row["id_paciente"], "id_medico": row["id_medico"],
        "activo": bool(row["activo"]), "creado_en": row["creado_en"],
    }


def cargar_usuario(id_usuario, bloquear=False):
    """The SELECT_USUARIO row of a user, or None (`FOR UPDATE` inside a write transaction)."""
    return query_one(SELECT_USUARIO + " WHERE u.ID_Usuario = %s"
                     + (" FOR UPDATE" if bloquear else ""), (id_usuario,))


def duplicado_usuario_409():
    """Turn a UNIQUE violation on Usuario raised in the block into 409 naming the field."""
    return duplicado_409("Ya existe un usuario con ese correo", por_indice={
        "uq_usuario_paciente": "Ese paciente ya tiene un usuario",
        "uq_usuario_medico": "Ese médico ya tiene un usuario"})
