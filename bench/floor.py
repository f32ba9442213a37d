"""The benchmark's naive floor: GET /pacientes/<id> the plain way, as a bare WSGI function.

Per request: PyJWT's full check of the token (no cache), the session/user query, the patient
SELECT and the audit INSERT (autocommit: its own commit) — three round trips, one connection
per process, nothing remembered between requests. The baseline (`bench/baseline.py`) follows
the app's design instead and changes with it; this floor stays naive, so the app can beat it
(issue 17). It answers the same JSON as the baseline, with the baseline's own handler.
Served like the baseline: `gunicorn -c gunicorn.conf.py bench.floor:application`.
"""

import re

import jwt

from bench.baseline import get_paciente, serve

RUTAS = [(re.compile(r"^/pacientes/(\d+)$"), get_paciente)]
CLAIMS = ["sub", "rol", "iat", "exp", "jti", "typ", "sid"]


def naive_claims(token, key):
    """PyJWT's full check, anew for every request."""
    return jwt.decode(token, key, algorithms=["HS256"], options={"require": CLAIMS})


def application(environ, start_response):
    """The WSGI entry point: /health and GET /pacientes/<id>."""
    return serve(environ, start_response, RUTAS, naive_claims)
