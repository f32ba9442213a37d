"""Access rules: the `requiere` decorator every blueprint uses, the permissions, and the
row-level rules (whose patient, whose care relation, breaking the glass).

The token and its session are checked by sesiones.py; the `/auth` routes are in cuentas.py.
"""

import functools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, g, request

from api import texto_cabecera
from auditoria import auditar
from db import NoConfirmado, confirmar, query_all, query_one
from errors import prohibido
from sesiones import decode_token, no_autenticado, usuario_de_sesion

PERMISOS = (
    "pacientes:leer", "pacientes:escribir", "medicos:escribir", "citas:gestionar",
    "clinico:leer", "clinico:escribir", "usuarios:gestionar", "roles:gestionar",
    "auditoria:leer",
)
MOTIVO_MIN = 10
ROL_ADMIN, ROL_MEDICO, ROL_PACIENTE = 1, 2, 4


# ---------------------------------------------------------------------------
# The current user and permissions
# ---------------------------------------------------------------------------

def load_current_user(recordada=True):
    """Verify the bearer token and put the user of its session on `g.usuario` (a remembered
    session on condition that it has not changed: see `requiere`)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise no_autenticado("Falta el token (Authorization: Bearer ...)")
    claims = decode_token(token.strip(), "access")
    row = usuario_de_sesion(claims["sid"], recordada)
    if row is None or str(row["id_usuario"]) != claims["sub"] or row["rol"] != claims["rol"]:
        if g.get("confirmar"):
            raise NoConfirmado()  # a remembered row that no longer fits: read it again
        raise no_autenticado()
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
    """Decorator: a valid access token and, when given, any one of `permisos`.

    The session this process remembers is used on condition that it has not changed since
    (sesiones.SesionesRecordadas): checked with the view's first query, or before its answer
    leaves when it made none. If it has changed, nothing the view read was used and nothing it
    would have written was kept (db.NoConfirmado), so the session is read again and the view
    run again: a revoked session is refused (401), a changed one decides anew.
    """
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return run_as_user(view, permisos, args, kwargs, recordada=True)
            except NoConfirmado:
                for name in ("confirmar", "usuario", "claims", "id_paciente_objetivo"):
                    g.pop(name, None)
                return run_as_user(view, permisos, args, kwargs, recordada=False)

        wrapper._auth = permisos[0] if permisos else True
        return wrapper
    return decorator


def run_as_user(view, permisos, args, kwargs, recordada):
    """The view for the token's user, with the condition on a remembered session settled."""
    load_current_user(recordada)
    try:
        if permisos and not any(tiene(p) for p in permisos):
            raise prohibido()
        return view(*args, **kwargs)
    finally:
        confirmar()


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
# Row-level rules
# ---------------------------------------------------------------------------

def es_el_paciente(id_paciente):
    """The current user is that patient."""
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
    return datetime.now(ZoneInfo(current_app.config["ZONA_HORARIA"])).replace(tzinfo=None)

