"""The benchmark's baseline: the read endpoints as a bare WSGI function, without Flask.

Same work per request as the app, minus the framework: PyJWT HS256 verification (through the
app's own per-token cache, sesiones._verified_claims), the session rows remembered with their
generation (sesiones.SesionesRecordadas and fila_de_sesion) and confirmed in the round trip of
the first query, the same SELECTs and audit INSERTs, one patient read in the same round trip
as its audit row (the SQL is imported from the app's modules, so both always run identical
statements), the same JSON shapes, through mysql-connector's C extension on one connection
per process.
Served under the same gunicorn settings: `gunicorn -c gunicorn.conf.py bench.baseline:application`.
"""

import json
import os
import re
import sys
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import time as unix_time
from types import SimpleNamespace
from urllib.parse import parse_qs

import jwt
import mysql.connector

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import db  # noqa: E402
from api import encode_cursor  # noqa: E402
from auditoria import INSERT_AUDITORIA, INSERT_AUDITORIA_SI_EXISTE  # noqa: E402
from clinico import shape_row  # noqa: E402
from config import load_config  # noqa: E402
from datos_cita import SELECT_CITA, shape_cita  # noqa: E402
from datos_historial import PACIENTE_E_HISTORIAL, TIMELINE_SQL, anidar  # noqa: E402
from datos_paciente import SELECT_PACIENTE, edad  # noqa: E402
from paciente import search_sql  # noqa: E402
from sesiones import (GENERACION, SESION_Y_GENERACION, USUARIO_DE_SESION,  # noqa: E402
                      SesionesRecordadas, _verified_claims, fila_de_sesion)

CONFIG = load_config()
SECRET = CONFIG["SECRET_KEY"]
RECORDADAS = SesionesRecordadas()
_cnx = _cur = None
# The generation the current request's remembered session must still have (db.confirmar_antes).
_pendiente = None


class NoConfirmado(Exception):
    """The remembered session changed: the request is served again with the session read."""


def cursor():
    """This process's one connection and cursor, opened after the fork on first use (kept,
    as db.py does: each cnx.cursor() of the C extension pings the server)."""
    global _cnx, _cur
    if _cnx is None:
        _cnx = mysql.connector.connect(**db.connect_args(CONFIG))
        _cur = _cnx.cursor(dictionary=True, buffered=True)
    return _cur


def run(sql, params=(), fetch="all"):
    """Run a read; with a pending generation, checked first in the same round trip."""
    global _pendiente
    cur = cursor()
    if _pendiente is None:
        cur.execute(sql, params)
    else:
        esperado, _pendiente = _pendiente, None
        cur.execute(GENERACION + ";\n" + sql, params)
        if cur.fetchone()["Generacion"] != esperado:
            cur.nextset()
            raise NoConfirmado()
        cur.nextset()
    if fetch == "one":
        return cur.fetchone()
    if fetch == "all":
        return cur.fetchall()
    return None


def audit_rows(usuario, recurso, rows, key, environ, rid):
    cursor().executemany(INSERT_AUDITORIA, [
        (usuario["id_usuario"], usuario["nombre"], usuario["rol"], "leer", recurso, str(r[key]),
         r["id_paciente"], environ.get("REMOTE_ADDR"), rid, None) for r in rows])


def default(o):
    if isinstance(o, datetime):
        return o.isoformat(timespec="seconds") + "Z"
    if isinstance(o, date):
        return o.isoformat()
    if isinstance(o, time):
        return o.strftime("%H:%M")
    if isinstance(o, timedelta):
        minutes = int(o.total_seconds()) // 60
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    if isinstance(o, Decimal):
        return float(o)
    raise TypeError(type(o).__name__)


class Answer(Exception):
    """An early non-200 answer."""

    def __init__(self, status, codigo):
        super().__init__(codigo)
        self.status, self.codigo = status, codigo


def user_of(environ, verify=_verified_claims, recordada=True):
    """The token's user (the app's load_current_user without Flask), or 401; `verify` checks
    the token's signature and claims (the app's per-token cache unless told otherwise), and
    the session is remembered (`recordada`, the app's design), read to be remembered, or
    (None: the floor) queried the plain way."""
    global _pendiente
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        raise Answer("401 Unauthorized", "no_autenticado")
    try:
        claims = verify(token.strip(), SECRET)
    except jwt.PyJWTError:
        raise Answer("401 Unauthorized", "no_autenticado") from None
    if int(claims["exp"]) <= unix_time() or claims.get("typ") != "access":
        raise Answer("401 Unauthorized", "no_autenticado")
    if recordada is None:
        row = run(USUARIO_DE_SESION, (claims["sid"],), "one")
        if row is not None:
            row["permisos"] = set(row["permisos"].split(",")) if row["permisos"] else set()
    else:
        row, _pendiente = fila_de_sesion(claims["sid"], RECORDADAS,
                                         lambda sid: run(SESION_Y_GENERACION, (sid,), "one"),
                                         recordada)
    if row is None or str(row["id_usuario"]) != claims["sub"] or row["rol"] != claims["rol"]:
        raise Answer("401 Unauthorized", "no_autenticado")
    return row


def paciente_out(row):
    out = shape_row(row)
    out["activo"] = bool(out["activo"])
    out["edad"] = edad(row["fecha_nacimiento"], date.today())
    return out


def check_paciente(usuario, id_paciente):
    if "pacientes:leer" not in usuario["permisos"] and usuario["id_paciente"] != id_paciente:
        raise Answer("403 Forbidden", "prohibido")


def fila_leer(environ, usuario, rid, recurso, id_recurso, id_paciente):
    """The INSERT_AUDITORIA parameters of a read (auditoria.fila without Flask)."""
    return (usuario["id_usuario"], usuario["nombre"], usuario["rol"], "leer", recurso,
            str(id_recurso), id_paciente, environ.get("REMOTE_ADDR"), rid, None)


def respuesta_paciente(row, id_paciente):
    if row is None:
        raise Answer("404 Not Found", "no_encontrado")
    return paciente_out(row), {"ETag": f'"{id_paciente}-{row["_version"]}"'}


def get_paciente(environ, usuario, rid, id_paciente):
    """The app's design: the audit row and the read in one round trip, the pending session
    generation a condition of the INSERT (auditoria.leer_auditado, db.query_one_after)."""
    global _pendiente
    check_paciente(usuario, id_paciente)
    sql = SELECT_PACIENTE + " WHERE p.ID_Paciente = %s"
    params = (*fila_leer(environ, usuario, rid, "paciente", id_paciente, id_paciente),
              id_paciente)
    cur = cursor()
    if _pendiente is None:
        cur.execute(INSERT_AUDITORIA_SI_EXISTE + "(" + sql + ");\n" + sql
                    + " AND ROW_COUNT() = 1", (*params, id_paciente))
        cur.nextset()
        return respuesta_paciente(cur.fetchone(), id_paciente)
    esperado, _pendiente = _pendiente, None
    cur.execute(INSERT_AUDITORIA_SI_EXISTE + "(" + sql + ") AND (" + GENERACION + ") = %s;\n"
                + sql + " AND ROW_COUNT() = 1;\n" + GENERACION,
                (*params, esperado, id_paciente))
    cur.nextset()
    row = cur.fetchone()
    cur.nextset()
    if row is None and cur.fetchone()["Generacion"] != esperado:
        raise NoConfirmado()
    return respuesta_paciente(row, id_paciente)


def list_pacientes(environ, usuario, rid, args):
    if "pacientes:leer" not in usuario["permisos"]:
        raise Answer("403 Forbidden", "prohibido")
    query = SimpleNamespace(q=args.get("q"), genero=None, activo=None,
                            orden=args.get("orden", "nombre"), cursor=None, total=False,
                            limite=int(args.get("limite", 20)))
    sql, params, _, _ = search_sql(query)
    rows = run(sql, params)
    shown = rows[:query.limite]
    audit_rows(usuario, "paciente", shown, "id_paciente", environ, rid)
    siguiente = None
    if len(rows) > query.limite:
        keys = ("_orden_nombre", "id_paciente") if "nombre" in query.orden else ("id_paciente",)
        siguiente = encode_cursor([shown[-1][k] for k in keys])
    return {"datos": [paciente_out(r) for r in shown], "siguiente": siguiente}, {}


def list_citas(environ, usuario, rid, args):
    if "citas:gestionar" not in usuario["permisos"]:
        raise Answer("403 Forbidden", "prohibido")
    limite = int(args.get("limite", 20))
    rows = run(SELECT_CITA + " WHERE TRUE AND c.`ID_Médico` = %s AND c.Fecha >= %s "
               "AND c.Fecha <= %s ORDER BY c.Fecha, c.Hora, c.ID_Cita LIMIT %s",
               (int(args["id_medico"]), args["desde"], args["hasta"], limite + 1))
    shown = rows[:limite]
    audit_rows(usuario, "cita", shown, "id_cita", environ, rid)
    siguiente = None
    if len(rows) > limite:
        last = shown[-1]
        siguiente = encode_cursor([last["fecha"].isoformat(), str(last["hora"]), last["id_cita"]])
    return {"datos": [shape_cita(r) for r in shown], "siguiente": siguiente}, {}


def get_historial(environ, usuario, rid, id_paciente):
    if usuario["id_paciente"] != id_paciente and "clinico:leer" not in usuario["permisos"]:
        raise Answer("403 Forbidden", "prohibido")
    row = run(PACIENTE_E_HISTORIAL, (id_paciente,), "one")
    if row is None:
        raise Answer("404 Not Found", "no_encontrado")
    citas, diagnosticos = anidar(*(run(sql, (id_paciente,)) for sql in TIMELINE_SQL))
    historial = {"id_historial": row["_id_historial"], "id_paciente": id_paciente,
                 "fecha_creacion": row["_fecha_creacion"], "antecedentes": row["_antecedentes"]}
    run(INSERT_AUDITORIA, (usuario["id_usuario"], usuario["nombre"], usuario["rol"], "leer",
                           "historial", str(row["_id_historial"]), id_paciente,
                           environ.get("REMOTE_ADDR"), rid, None), None)
    body = {"paciente": paciente_out(row), "historial": historial, "citas": citas,
            "diagnosticos": diagnosticos}
    return body, {"ETag": f'"{row["_id_historial"]}-{row["_version_historial"]}"'}


ROUTES = [
    (re.compile(r"^/pacientes/(\d+)$"), get_paciente),
    (re.compile(r"^/pacientes$"), list_pacientes),
    (re.compile(r"^/citas$"), list_citas),
    (re.compile(r"^/historial/paciente/(\d+)$"), get_historial),
]


def respond(environ, view, match, verify, rid, recordada):
    """The view's (body, headers) for the token's user, the remembered session confirmed."""
    global _pendiente
    usuario = user_of(environ, verify, recordada)
    if match.groups():
        result = view(environ, usuario, rid, int(match.group(1)))
    else:
        args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        result = view(environ, usuario, rid, args)
    if _pendiente is not None:
        _pendiente = None
        if run(GENERACION, (), "one")["Generacion"] != usuario["_generacion"]:
            raise NoConfirmado()
    return result


def forget_connection():
    """After a database error: the next request opens a new connection."""
    global _cnx
    if _cnx is not None:
        try:
            _cnx.close()
        except mysql.connector.Error:
            pass
    _cnx = None


def application(environ, start_response):
    """The WSGI entry point."""
    return serve(environ, start_response, ROUTES, _verified_claims)


def serve(environ, start_response, routes, verify, recordada=True):
    """Answer a GET of one of `routes` (pattern, view) for the user of the token, checked by
    `verify` (its session remembered when `recordada`; None: queried the plain way); /health;
    or the JSON error."""
    rid = uuid.uuid4().hex
    path = environ.get("PATH_INFO", "")
    status, headers = "200 OK", {}
    try:
        if path == "/health":
            raise Answer("200 OK", "ok")
        for pattern, view in routes:
            match = pattern.match(path)
            if match and environ["REQUEST_METHOD"] == "GET":
                try:
                    body, headers = respond(environ, view, match, verify, rid, recordada)
                except NoConfirmado:
                    body, headers = respond(environ, view, match, verify, rid, False)
                break
        else:
            raise Answer("404 Not Found", "no_encontrado")
    except Answer as answer:
        status, body = answer.status, {"error": answer.codigo, "codigo": answer.codigo}
    except mysql.connector.Error:
        forget_connection()
        status, body = "503 Service Unavailable", {"codigo": "servicio_no_disponible"}
    data = json.dumps(body, default=default, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), ("X-Request-ID", rid),
                            *headers.items()])
    return [data]
