"""The benchmark's naive floor: GET /pacientes/<id> the plain way, as a bare WSGI function.

Per request: PyJWT's full check of the token (no cache), the session/user query, the patient
SELECT and the audit INSERT (autocommit: its own commit) — three round trips, one connection
per process, nothing remembered between requests. The baseline (`bench/baseline.py`) follows
the app's design instead and changes with it; this floor stays naive, so the app can beat it
(issue 17). It answers the same JSON as the baseline, through the baseline's request loop,
access check and shapes.
Served like the baseline: `gunicorn -c gunicorn.conf.py bench.floor:application`.
"""

import re

import jwt

from auditoria import INSERT_AUDITORIA
from bench.baseline import check_paciente, fila_leer, respuesta_paciente, run, serve
from datos_paciente import SELECT_PACIENTE

CLAIMS = ["sub", "rol", "iat", "exp", "jti", "typ", "sid"]


def naive_claims(token, key):
    """PyJWT's full check, anew for every request."""
    return jwt.decode(token, key, algorithms=["HS256"], options={"require": CLAIMS})


def get_paciente(environ, usuario, rid, id_paciente):
    """The patient SELECT, then the audit INSERT with its own commit."""
    check_paciente(usuario, id_paciente)
    row = run(SELECT_PACIENTE + " WHERE p.ID_Paciente = %s", (id_paciente,), "one")
    if row is not None:
        run(INSERT_AUDITORIA, fila_leer(environ, usuario, rid, "paciente", id_paciente,
                                        id_paciente), None)
    return respuesta_paciente(row, id_paciente)


RUTAS = [(re.compile(r"^/pacientes/(\d+)$"), get_paciente)]


def application(environ, start_response):
    """The WSGI entry point: /health and GET /pacientes/<id>; the session is queried on every
    request, never remembered."""
    return serve(environ, start_response, RUTAS, naive_claims, recordada=None)
