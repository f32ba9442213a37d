"""Input that must not slip past the checks (API.md §1): crafted cursors, bodies over 1 MiB
however sent, text with control/zero-width/bidi characters, names without a letter, absolute
URLs from URL_PUBLICA, and the request id, header text and security headers."""

import base64
import json
import re
import socket
import time
import uuid
from datetime import date, timedelta

import pytest
import requests

from conftest import unique
from servidor import Gunicorn

EVIL = "evil.example"


def cuerpo_paciente(**cambios):
    """A valid POST /pacientes body with a unique document, with `cambios` applied."""
    body = {"nombre": "Lucía Fernández", "fecha_nacimiento": "1990-03-15", "genero": "Femenino",
            "telefono": "+34 611 222 333", "documento": unique("E"),
            "direccion": "Calle Mayor 1", "alergias": "penicilina"}
    body.update(cambios)
    return body


def stored(database, documento):
    return database.scalar("SELECT COUNT(*) FROM Paciente WHERE Documento = %s", (documento,))


def assert_validacion(response, campo):
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["codigo"] == "validacion"
    assert campo in [d["campo"] for d in body["detalles"]], body


@pytest.fixture
def admin(make_user):
    return make_user("admin")


# ---------------------------------------------------------------------------
# Cursors
# ---------------------------------------------------------------------------

def b64(text):
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


CURSORES = [
    '["\\ud800",1]', '["\\udfff\\ud800",1]', '["a\\u0000",1]', '["\\u202eabc",1]',
    "[" * 300 + "]" * 300, '[["x"],1]', '[{"a":1},1]', '[null,1]', '[true,1]', '["x",1.5]',
    '["x",1e999]', '["x",-1]', '["x",' + "9" * 40 + ']', '["x","1"]', '["x" ,1, 2]', '"x"',
    '{"a":1}', "NaN", '["' + "a" * 300 + '",1]',
]


@pytest.mark.parametrize("cursor", CURSORES + ["%%%", "a", "\xff\xfe"])
def test_crafted_cursor_on_patients_is_400(client, admin, cursor):
    value = b64(cursor) if cursor not in ("a",) else cursor
    r = client.get("/pacientes", query_string={"cursor": value}, headers=admin.headers)
    assert_validacion(r, "cursor")
    # The name search runs the same cursor in two subqueries.
    r = client.get("/pacientes", query_string={"cursor": value, "q": "ana"}, headers=admin.headers)
    assert_validacion(r, "cursor")


@pytest.mark.parametrize("path, cursor", [
    ("/usuarios", '["1"]'), ("/usuarios", "[1e999]"), ("/usuarios", "[" + "9" * 30 + "]"),
    ("/usuarios", "[2.0]"), ("/usuarios", "[true]"), ("/auditoria", "[-5]"),
    ("/auditoria", '["\\ud800"]'), ("/medicos", '[1,"x"]'), ("/roles", "[[1]]"),
    ("/citas", '["2026-13-01","10:00:00",1]'), ("/citas", '[20260101,"10:00:00",1]'),
    ("/citas", '["2026-01-01","25:00:00",1]'), ("/citas", '["2026-01-01",36000,1]'),
    ("/citas", '["\\ud800","10:00:00",1]'), ("/citas", '["2026-01-01","10:00:00"]'),
    ("/diagnosticos", '["2026-01-01T00:00:00",1]'), ("/tratamientos", '["x"]'),
    ("/medicamentos", "[1.5]"),
])
def test_crafted_cursor_on_every_list_is_400(client, admin, path, cursor):
    assert_validacion(client.get(path, query_string={"cursor": b64(cursor)},
                                 headers=admin.headers), "cursor")


def test_cursors_made_by_the_api_still_page(client, admin, make_paciente, make_medico, make_cita):
    id_medico = make_medico()
    for hora in ("09:00", "10:00", "11:00"):
        make_cita(make_paciente(), id_medico, hora=hora)
    seen, cursor = [], None
    while True:
        params = {"id_medico": id_medico, "limite": 1, **({"cursor": cursor} if cursor else {})}
        r = client.get("/citas", query_string=params, headers=admin.headers)
        assert r.status_code == 200, r.get_json()
        seen += [c["hora"] for c in r.get_json()["datos"]]
        cursor = r.get_json()["siguiente"]
        if not cursor:
            break
    assert seen == ["09:00", "10:00", "11:00"]


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("campo, valor, mensaje", [
    ("nombre", "\u200b", "caracteres"), ("nombre", "Ana\x00", "caracteres"),
    ("nombre", "\u202eAna López", "caracteres"), ("nombre", "Ana\u2066x\u2069", "caracteres"),
    ("nombre", "Ana\nLópez", "caracteres"), ("nombre", "Ana\u00adLópez", "caracteres"),
    ("nombre", "\ufeffAna", "caracteres"), ("nombre", "Ana\u2028", "caracteres"),
    ("nombre", "12345", "letra"), ("nombre", "- . -", "letra"),
    ("direccion", "Calle\x00 Mayor", "caracteres"), ("direccion", "Calle\r\nMayor", "caracteres"),
    ("direccion", "Calle \u202eroyaM", "caracteres"), ("alergias", "penicilina\x07", "caracteres"),
    ("alergias", "\u200dpolen", "caracteres"), ("telefono", "+34 600\t111 222", "caracteres"),
    ("correo", "ana\u200b@ejemplo.com", "caracteres"), ("documento", "X\x1b[2J", "caracteres"),
])
def test_refused_text_in_a_patient_is_400_and_nothing_is_stored(client, database, admin, campo,
                                                                valor, mensaje):
    body = cuerpo_paciente(**{campo: valor})
    r = client.post("/pacientes", json=body, headers=admin.headers)
    assert_validacion(r, campo)
    assert mensaje in next(d["mensaje"] for d in r.get_json()["detalles"] if d["campo"] == campo)
    assert stored(database, body["documento"]) == 0


def test_a_lone_surrogate_in_raw_json_is_400_not_500(client, database, admin):
    documento = unique("S")
    raw = json.dumps(cuerpo_paciente(documento=documento), ensure_ascii=False).replace(
        '"Lucía Fernández"', '"Ana \\ud800"')
    r = client.post("/pacientes", data=raw, content_type="application/json",
                    headers=admin.headers)
    assert_validacion(r, "nombre")
    assert stored(database, documento) == 0
    r = client.post("/auth/login", data='{"correo": "a@b.c", "password": "x\\udc00y"}',
                    content_type="application/json")
    assert_validacion(r, "password")


def test_free_text_keeps_line_breaks_and_tabs(client, database, admin):
    body = cuerpo_paciente(direccion="Calle Mayor 1\n2.º B", alergias="penicilina\n\tpolen",
                           nombre="José O'Brien-Núñez")
    r = client.post("/pacientes", json=body, headers=admin.headers)
    assert r.status_code == 201, r.get_json()
    row = database.one("SELECT Direccion, Alergias FROM Paciente WHERE Documento = %s",
                       (body["documento"],))
    assert row == {"Direccion": "Calle Mayor 1\n2.º B", "Alergias": "penicilina\n\tpolen"}


def test_text_rules_hold_in_every_model_and_nested_object(client, database, admin,
                                                          make_paciente, make_medico):
    marca = unique("m")
    cases = [
        ("/medicos", {"nombre": "Dr\u200b", "especialidad": "Cardiología",
                      "telefono": "+34 910 000 111", "licencia": marca}, "nombre"),
        ("/medicos", {"nombre": "Dra. Ruiz", "especialidad": "Cardio\u202elogía",
                      "telefono": "+34 910 000 111", "licencia": marca}, "especialidad"),
        ("/usuarios", {"nombre": "Ana Ruiz", "correo": f"{marca}@ejemplo.com",
                       "password": "Prueba2024!segura", "rol": "paciente",
                       "paciente": cuerpo_paciente(nombre="\u2067\u2069", documento=marca)},
         "paciente.nombre"),
        ("/usuarios", {"nombre": "42", "correo": f"{marca}@ejemplo.com",
                       "password": "Prueba2024!segura", "rol": "admin"}, "nombre"),
        ("/roles", {"nombre": marca + "\u00adin", "descripcion": "x", "permisos": []}, "nombre"),
        ("/roles", {"nombre": marca, "descripcion": "x",
                    "permisos": ["pacientes:leer\u200b"]}, "permisos.0"),
        ("/citas", {"fecha": (date.today() + timedelta(days=30)).isoformat(), "hora": "10:00",
                    "id_paciente": make_paciente(), "id_medico": make_medico(),
                    "motivo": "Revisión\r" + marca}, "motivo"),
    ]
    for path, body, campo in cases:
        assert_validacion(client.post(path, json=body, headers=admin.headers), campo)
    assert database.scalar("SELECT COUNT(*) FROM `Médico` WHERE Licencia = %s", (marca,)) == 0
    assert database.scalar("SELECT COUNT(*) FROM Usuario WHERE Correo LIKE %s", (marca + "%",)) == 0
    assert database.scalar("SELECT COUNT(*) FROM Rol WHERE Nombre LIKE %s", (marca + "%",)) == 0
    assert database.scalar("SELECT COUNT(*) FROM Cita WHERE Motivo LIKE %s", ("%" + marca,)) == 0
    assert stored(database, marca) == 0


@pytest.mark.parametrize("path, params, campo", [
    ("/pacientes", {"q": "ana\x00"}, "q"), ("/pacientes", {"q": "\u202eana"}, "q"),
    ("/pacientes", {"q": "ana\nlópez"}, "q"), ("/medicos", {"especialidad": "Cardio\u200b"},
                                               "especialidad"),
    ("/cie10", {"q": "diabetes\x1b"}, "q"), ("/usuarios", {"q": "a\u2028"}, "q"),
])
def test_query_text_refuses_control_characters(client, admin, path, params, campo):
    assert_validacion(client.get(path, query_string=params, headers=admin.headers), campo)


# ---------------------------------------------------------------------------
# Absolute URLs and the Host header
# ---------------------------------------------------------------------------

def test_link_and_fhir_urls_come_from_url_publica(app, client, admin, make_paciente, make_medico,
                                                  make_cita):
    base = app.config["URL_PUBLICA"]
    id_paciente = make_paciente()
    make_paciente()
    make_cita(id_paciente, make_medico())
    r = client.get("/pacientes", query_string={"limite": 1, "orden": "id"},
                   headers={**admin.headers, "Host": EVIL, "X-Forwarded-Host": EVIL})
    assert r.status_code == 200
    link = r.headers["Link"]
    assert link.startswith(f"<{base}/pacientes?") and link.endswith('>; rel="next"'), link
    assert EVIL not in link
    r = client.get(f"/pacientes/{id_paciente}/fhir", headers={**admin.headers, "Host": EVIL})
    assert r.status_code == 200
    urls = [e["fullUrl"] for e in r.get_json()["entry"]]
    assert urls and all(u.startswith(base + "/fhir/") for u in urls), urls
    assert EVIL not in r.get_data(as_text=True)


def test_doubled_slashes_are_not_redirected_to_the_host_header(client, admin, make_paciente):
    for path in (f"/pacientes//{make_paciente()}", "/docs//swagger-ui.css", "//health"):
        r = client.get(path, headers={**admin.headers, "Host": EVIL})
        assert r.status_code == 404 and r.is_json, path
        assert "Location" not in r.headers and EVIL not in r.get_data(as_text=True)


# ---------------------------------------------------------------------------
# Request id, header text, security headers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("given, kept", [
    ("abc-123", True), ("A.b_C-9", True), ("x" * 64, True), ("x" * 65, False), ("a b", False),
    ("ñandú", False), ("a\tb", False), ("a;b", False), ("../x", False), ("a/b", False),
    ("", False),
])
def test_request_id_is_taken_only_in_its_alphabet(client, database, given, kept, make_user):
    admin = make_user("admin")
    r = client.get("/pacientes", headers={**admin.headers, "X-Request-ID": given})
    rid = r.headers["X-Request-ID"]
    if kept:
        assert rid == given
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    # The id written in the audit is the one answered.
    r = client.get("/no/existe", headers={"X-Request-ID": given})
    assert r.get_json()["id_solicitud"] == r.headers["X-Request-ID"]


def test_every_answer_is_nosniff_and_unframable(client, admin):
    answers = [client.get("/health"), client.get("/no/existe"), client.delete("/health"),
               client.get("/pacientes"), client.get("/pacientes", headers=admin.headers),
               client.get("/openapi.json"), client.get("/docs"), client.get("/docs/swagger-ui.css"),
               client.post("/auth/login", data="x" * (2 * 1024 * 1024),
                           content_type="application/json")]
    assert [a.status_code for a in answers] == [200, 404, 405, 401, 200, 200, 200, 200, 413]
    for a in answers:
        assert a.headers["X-Content-Type-Options"] == "nosniff"
        assert a.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in a.headers["Content-Security-Policy"]
    docs = answers[6]
    assert docs.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "Origin" in docs.headers.get("Vary", "")


def test_cors_answers_vary_by_origin(client):
    for r in (client.get("/health", headers={"Origin": "https://spa.ejemplo.com"}),
              client.get("/no/existe", headers={"Origin": "https://spa.ejemplo.com"}),
              client.options("/pacientes", headers={
                  "Origin": "https://spa.ejemplo.com", "Access-Control-Request-Method": "GET"})):
        assert "Origin" in [v.strip() for v in r.headers.get("Vary", "").split(",")], r.headers


def test_motivo_acceso_is_read_as_utf8(client, database, make_user, make_paciente):
    medico = make_user("medico")
    id_paciente = make_paciente()
    url = f"/historial/paciente/{id_paciente}"
    motivo = "Urgencia en quirófano: paciente inconsciente"
    # What a WSGI server hands over for the UTF-8 bytes a client sends.
    r = client.get(url, headers={**medico.headers,
                                 "X-Motivo-Acceso": motivo.encode().decode("latin-1")})
    assert r.status_code == 200, r.get_json()
    assert database.scalar("SELECT Motivo FROM Auditoria WHERE ID_Solicitud = %s AND "
                           "Accion = 'acceso_emergencia'", (r.headers["X-Request-ID"],)) == motivo


@pytest.mark.parametrize("raw, mensaje", [
    ("Urgencia en quirófano".encode("latin-1"), "UTF-8"),
    ("Urgencia vital \u202e en planta".encode(), "caracteres"),
    ("Urgencia vital \u0085 en planta".encode(), "caracteres"),
    ("Urgencia\x01 vital en planta".encode(), "caracteres"),
])
def test_motivo_acceso_not_utf8_or_with_control_characters_is_400(client, database, make_user,
                                                                  make_paciente, raw, mensaje):
    medico = make_user("medico")
    r = client.get(f"/historial/paciente/{make_paciente()}",
                   headers={**medico.headers, "X-Motivo-Acceso": raw.decode("latin-1")})
    assert_validacion(r, "X-Motivo-Acceso")
    assert mensaje in r.get_json()["detalles"][0]["mensaje"]
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE ID_Usuario = %s AND "
                           "Accion = 'acceso_emergencia'", (medico.id_usuario,)) == 0


# ---------------------------------------------------------------------------
# On the wire (gunicorn): UTF-8 headers and bodies over 1 MiB however they are sent
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(app):
    with Gunicorn(workers=2) as server:
        yield server


def test_motivo_acceso_in_utf8_is_stored_as_sent(server, database, make_user, make_paciente):
    medico = make_user("medico")
    motivo = "Urgencia en quirófano"
    r = requests.get(f"{server.url}/historial/paciente/{make_paciente()}", timeout=10,
                     headers={**medico.headers, "X-Motivo-Acceso": motivo.encode("utf-8")})
    assert r.status_code == 200, r.text
    rows = database.all("SELECT Motivo FROM Auditoria WHERE ID_Solicitud = %s AND "
                        "Accion = 'acceso_emergencia'", (r.headers["X-Request-ID"],))
    assert [row["Motivo"] for row in rows] == [motivo]


def post_chunked(server, path, headers, chunks):
    """POST `chunks` with Transfer-Encoding: chunked on a raw socket; stop sending as soon as
    the server answers. The status answered (None if the connection was reset unanswered)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        try:
            s.sendall(head)
            for chunk in chunks:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                s.setblocking(False)
                try:
                    answer += s.recv(65536)
                except BlockingIOError:
                    pass
                s.setblocking(True)
                if answer:
                    break
            else:
                s.sendall(b"0\r\n\r\n")
            s.settimeout(20)
            while chunk := s.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None, answer


def padded(body, total):
    """`body` as JSON followed by spaces up to `total` bytes: still one valid JSON document."""
    raw = json.dumps(body).encode()
    return raw + b" " * (total - len(raw))


def test_a_chunked_body_over_1_mib_is_413_and_not_stored(server, database, make_user):
    admin = make_user("admin")
    body = cuerpo_paciente()
    data = padded(body, 10 * 1024 * 1024)
    chunks = [data[i:i + 64 * 1024] for i in range(0, len(data), 64 * 1024)]
    status, answer = post_chunked(server, "/pacientes", admin.headers, chunks)
    time.sleep(0.5)
    access = server.logs()["access"]
    # The answer, or at least gunicorn's record of it when the client saw a reset first.
    assert status == 413 or (status is None and '"POST /pacientes HTTP/1.1" 413' in access), answer
    if status == 413:
        assert b'"codigo":"demasiado_grande"' in answer
    assert stored(database, body["documento"]) == 0


def test_a_chunked_body_under_1_mib_is_accepted(server, database, make_user):
    admin = make_user("admin")
    body = cuerpo_paciente()
    data = padded(body, 1024 * 1024)
    status, answer = post_chunked(server, "/pacientes", admin.headers,
                                  [data[i:i + 100_000] for i in range(0, len(data), 100_000)])
    assert status == 201, answer[:500]
    assert stored(database, body["documento"]) == 1
    # One byte more is over the limit.
    body = cuerpo_paciente()
    data = padded(body, 1024 * 1024 + 1)
    status, answer = post_chunked(server, "/pacientes", admin.headers, [data])
    assert status == 413, answer[:500]
    assert stored(database, body["documento"]) == 0


def test_a_content_length_body_over_1_mib_is_413_and_not_stored(server, database, make_user):
    admin = make_user("admin")
    body = cuerpo_paciente()
    r = requests.post(server.url + "/pacientes", data=padded(body, 2 * 1024 * 1024), timeout=20,
                      headers={**admin.headers, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["codigo"] == "demasiado_grande"
    assert stored(database, body["documento"]) == 0
    # Refused before any view runs, also where the view reads no body.
    r = requests.delete(f"{server.url}/pacientes/{uuid.uuid4().int % 10**6 + 1}",
                        data=b" " * (2 * 1024 * 1024), headers=admin.headers, timeout=20)
    assert r.status_code == 413
