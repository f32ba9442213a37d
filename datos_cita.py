"""The Cita table's shared rows: the cita object and its query, a doctor's busy time, and
cancelling citas, for every module that shows or changes citas (citas, paciente, medicos,
historialMedico, the FHIR API)."""

from datetime import date, datetime, timedelta
from typing import Literal, Optional

from flask import g
from pydantic import BaseModel, Field

from api import Orden
from auditoria import auditar
from auth import ahora_local
from db import execute, query_all


Estado = Literal["Pendiente", "Confirmada", "Cancelada", "Completada", "No_Asistio"]


DURACION_MIN, DURACION_MAX = 5, 240  # also the CHECK of Cita.Duracion_Min


class PacienteRef(BaseModel):
    """El paciente de la cita."""

    id_paciente: int
    nombre: str


class MedicoRef(BaseModel):
    """El médico de la cita."""

    id_medico: int
    nombre: str
    especialidad: str


class CitaOut(BaseModel):
    """Una cita."""

    id_cita: int
    fecha: date
    hora: str = Field(..., pattern=r"^\d{2}:\d{2}$", examples=["10:30"])
    duracion_min: int
    estado: Estado
    motivo: Optional[str] = None
    id_paciente: int
    id_medico: int
    paciente: PacienteRef
    medico: MedicoRef
    creado_en: datetime


SELECT_CITA = """
    SELECT c.ID_Cita AS id_cita, c.Fecha AS fecha, c.Hora AS hora,
           c.Duracion_Min AS duracion_min, c.Estado AS estado, c.Motivo AS motivo,
           c.ID_Paciente AS id_paciente, c.`ID_Médico` AS id_medico, c.Creado_En AS creado_en,
           p.Nombre AS _paciente, m.Nombre AS _medico, m.Especialidad AS _especialidad,
           c.Version AS _version
      FROM Cita c
      JOIN Paciente p ON p.ID_Paciente = c.ID_Paciente
      JOIN `Médico` m ON m.`ID_Médico` = c.`ID_Médico`
"""


def shape_cita(row):
    """The contract's cita object from a SELECT_CITA row."""
    return {
        "id_cita": row["id_cita"], "fecha": row["fecha"], "hora": row["hora"],
        "duracion_min": row["duracion_min"], "estado": row["estado"], "motivo": row["motivo"],
        "id_paciente": row["id_paciente"], "id_medico": row["id_medico"],
        "paciente": {"id_paciente": row["id_paciente"], "nombre": row["_paciente"]},
        "medico": {"id_medico": row["id_medico"], "nombre": row["_medico"],
                   "especialidad": row["_especialidad"]},
        "creado_en": row["creado_en"],
    }


ORDEN_CITAS = Orden(columns=("c.Fecha", "c.Hora", "c.ID_Cita"), keys=("fecha", "hora", "id_cita"))


def busy_slots(id_medico, inicio, fin):
    """(inicio, fin) of the doctor's non-cancelled citas overlapping [inicio, fin), in order."""
    rows = query_all(
        "SELECT Inicio AS inicio, Fin AS fin FROM Cita WHERE `ID_Médico` = %s "
        "AND Estado <> 'Cancelada' AND Inicio > %s AND Inicio < %s AND Fin > %s ORDER BY Inicio",
        (id_medico, inicio - timedelta(minutes=DURACION_MAX), fin, inicio))
    return [(r["inicio"], r["fin"]) for r in rows]


def futuras_del_medico(id_medico):
    """The doctor's future non-cancelled citas (id, patient, start), soonest first."""
    return query_all("SELECT ID_Cita AS id_cita, ID_Paciente AS id_paciente, Inicio AS inicio "
                     "FROM Cita WHERE `ID_Médico` = %s AND Estado IN ('Pendiente', 'Confirmada') "
                     "AND Inicio > %s "
                     "ORDER BY Inicio FOR UPDATE", (id_medico, ahora_local()))


def cancelar_citas(citas, motivo):
    """Cancel the given citas (inside the caller's transaction), each with its state step and
    its audit row."""
    for cita in citas:
        execute("UPDATE Cita SET Estado = 'Cancelada', Version = Version + 1 WHERE ID_Cita = %s",
                (cita["id_cita"],))
        execute("INSERT INTO Cita_Estado (ID_Cita, Estado, ID_Usuario, Motivo) "
                "VALUES (%s, 'Cancelada', %s, %s)", (cita["id_cita"], g.usuario["id_usuario"],
                                                     motivo))
        auditar("anular", "cita", cita["id_cita"], id_paciente=cita["id_paciente"], motivo=motivo)
