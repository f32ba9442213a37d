"""The Médico table's shared rows: its query and order, the doctor object, and the cached
read, for the medicos blueprint and the FHIR layer."""

from datetime import datetime
from typing import Optional

from pydantic import BaseModel

from api import Orden
from clinico import shape_row
from cache import cache
from db import query_one
from errors import no_encontrado


class MedicoOut(BaseModel):
    """Un médico."""

    id_medico: int
    nombre: str
    especialidad: str
    telefono: str
    correo: Optional[str] = None
    licencia: Optional[str] = None
    activo: bool
    creado_en: datetime
    actualizado_en: datetime


SELECT_MEDICO = """
    SELECT m.`ID_Médico` AS id_medico, m.Nombre AS nombre, m.Especialidad AS especialidad,
           m.`Teléfono` AS telefono, m.Correo AS correo, m.Licencia AS licencia,
           m.Activo AS activo, m.Creado_En AS creado_en, m.Actualizado_En AS actualizado_en,
           m.Version AS _version, m.Nombre_Normalizado AS _orden_nombre
      FROM `Médico` m
"""


ORDEN_MEDICOS = Orden(columns=("m.Nombre_Normalizado", "m.`ID_Médico`"),
                      keys=("_orden_nombre", "id_medico"))


def shape_medico(row):
    """The contract's doctor object from a SELECT_MEDICO row."""
    return {**shape_row(row), "activo": bool(row["activo"])}


def cargar(id_medico, bloquear=False):
    """The SELECT_MEDICO row, or 404 (`FOR UPDATE` inside a write transaction)."""
    row = query_one(SELECT_MEDICO + " WHERE m.`ID_Médico` = %s"
                    + (" FOR UPDATE" if bloquear else ""), (id_medico,))
    if row is None:
        raise no_encontrado("Médico")
    return row


CACHE_S = 10


def clave_cache(id_medico):
    """The cache key of a doctor's row: the doctor's, never the reader's."""
    return f"medico:{id_medico}"


def cargar_publico(id_medico):
    """The SELECT_MEDICO row through the cache: any authenticated user may read any doctor,
    so the row is the same for all of them. Every write deletes it after its commit; a read
    that raced the write can put the old row back for at most CACHE_S seconds."""
    row = cache.get(clave_cache(id_medico))
    if row is None:
        row = cargar(id_medico)
        cache.set(clave_cache(id_medico), row, timeout=CACHE_S)
    return row
