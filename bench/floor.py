"""The benchmark's naive floor: GET /pacientes/<id> the plain way, as a bare WSGI function.

Per request: PyJWT's full check of the token (no cache), the session/user query, the patient
SELECT and the audit INSERT (autocommit: its own commit) — three round trips, one connection
per process, nothing remembered between requests. The baseline (`bench/baseline.py`) follows
the app's design instead and changes with it; this floor stays naive, so the app can beat it
(issue 17). It answers the same JSON as the baseline; the SQL and the shapes are the baseline's.
Served like the baseline: `gunicorn -c gunicorn.conf.py bench.floor:application`.
"""

import json
import re
import uuid
from time import time as unix_time

import jwt
import mysql.connector

from bench.baseline import (SECRET, INSERT_AUDITORIA, SELECT_PACIENTE, USUARIO_DE_SESION,
                            Answer, default, forget_connection, paciente_out, run)

RUTA = re.compile(r"^/pacientes/(\d+)$")
CLAIMS = ["sub", "rol", "iat", "exp", "jti", "typ", "sid"]


def user_of(environ):
    """The token's user: signature and expiry checked anew, then the session row; or 401."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        raise Answer("401 Unauthorized", "no_autenticado")
    try:
        claims = jwt.decode(token.strip(), SECRET, algorithms=["HS256"],
                            options={"require": CLAIMS})
    except jwt.PyJWTError:
        raise Answer("401 Unauthorized", "no_autenticado") from None
    if int(claims["exp"]) <= unix_time() or claims.get("typ") != "access":
        raise Answer("401 Unauthorized", "no_autenticado")
    row = run(USUARIO_DE_SESION, (claims["sid"],), "one")
    if row is None or str(row["id_usuario"]) != claims["sub"] or row["rol"] != claims["rol"]:
        raise Answer("401 Unauthorized", "no_autenticado")
    row["permisos"] = set(row["permisos"].split(",")) if row["permisos"] else set()
    return row


def get_paciente(environ, usuario, rid, id_paciente):
    if "pacientes:leer" not in usuario["permisos"] and usuario["id_paciente"] != id_paciente:
        raise Answer("403 Forbidden", "prohibido")
    row = run(SELECT_PACIENTE + " WHERE p.ID_Paciente = %s", (id_paciente,), "one")
    if row is None:
        raise Answer("404 Not Found", "no_encontrado")
    run(INSERT_AUDITORIA, (usuario["id_usuario"], usuario["nombre"], usuario["rol"], "leer",
                           "paciente", str(id_paciente), id_paciente, environ.get("REMOTE_ADDR"),
                           rid, None), None)
    return paciente_out(row), {"ETag": f'"{id_paciente}-{row["_version"]}"'}


def application(environ, start_response):
    """The WSGI entry point: /health and GET /pacientes/<id>."""
    rid = uuid.uuid4().hex
    path = environ.get("PATH_INFO", "")
    status, headers = "200 OK", {}
    try:
        match = RUTA.match(path)
        if path == "/health":
            body = {"estado": "ok"}
        elif match and environ["REQUEST_METHOD"] == "GET":
            body, headers = get_paciente(environ, user_of(environ), rid, int(match.group(1)))
        else:
            raise Answer("404 Not Found", "no_encontrado")
    except Answer as answer:
        status, body = answer.status, {"error": answer.codigo, "codigo": answer.codigo}
    except mysql.connector.Error:
        forget_connection()
        status, body = "503 Service Unavailable", {"codigo": "servicio_no_disponible"}
    data = json.dumps(body, default=default, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))), ("Cache-Control", "no-store"),
                            ("X-Request-ID", rid), *headers.items()])
    return [data]
