"""The benchmark's naive floor: GET /pacientes/<id> the plain way, as a bare WSGI function.

Per request: PyJWT's full check of the token (no cache), the session/user query, the patient
SELECT and the audit INSERT (autocommit: its own commit) — three round trips, one connection
per process, nothing remembered between requests. The baseline (`bench/baseline.py`) follows
the app's design instead and changes with it; this floor stays naive, so the app can beat it
(issue 17). It answers the same JSON as the baseline, with the baseline's own handler.
Served like the baseline: `gunicorn -c gunicorn.conf.py bench.floor:application`.
"""

import json
import re
import uuid

import jwt
import mysql.connector

from bench.baseline import Answer, default, forget_connection, get_paciente, user_of

RUTA = re.compile(r"^/pacientes/(\d+)$")
CLAIMS = ["sub", "rol", "iat", "exp", "jti", "typ", "sid"]


def naive_claims(token, key):
    """PyJWT's full check, anew for every request."""
    return jwt.decode(token, key, algorithms=["HS256"], options={"require": CLAIMS})


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
            body, headers = get_paciente(environ, user_of(environ, verify=naive_claims), rid,
                                         int(match.group(1)))
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
