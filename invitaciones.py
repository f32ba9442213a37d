"""Invitations: a patient's one-time code for signing up to the portal (Invitacion table),
issued from `/pacientes/<id>/invitacion` and the demo, redeemed by `/auth/registro`."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field

from auditoria import auditar
from db import execute, query_all, query_one, transaction
from errors import ApiError, conflicto, no_encontrado


class InvitacionOut(BaseModel):
    """Código de alta de un paciente, de un solo uso: se muestra una vez y solo se guarda su
    resumen."""

    codigo: str = Field(..., examples=["7K3M-Q9TX-2VHD-8RWN"],
                        description="80 bits aleatorios; válido una vez")
    expira: datetime = Field(..., description="UTC; 72 horas después de emitirlo")


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
