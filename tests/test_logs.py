"""Logs a request cannot forge and that keep no search terms or patient data (API.md §12):
the app's log file and, on a real gunicorn, its access and error logs."""

import re
import unicodedata
import uuid

import pytest
import requests

import logs
from servidor import Gunicorn

# A line in the real format, as an attacker would smuggle it after a line break.
FORJADA = "2026-12-01 00:00:00,000 - historial.auth - WARNING - login_ok admin FORJADA"
APP_LINE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - [\w.]+ - [A-Z]+ - ")
GUNICORN_LINE = re.compile(r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[\d+\] \[[A-Z]+\] ")
ACCESS_LINE = re.compile(r'127\.0\.0\.1 "[A-Z]+ \S*')


def check_lines(text, *formats):
    """Every line of a log is a record in one of `formats`, or a traceback line indented by
    four spaces; no NUL, CR or other control character but the line feeds."""
    assert text, "el registro está vacío"
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f\u2028\u2029\u202e]", text), \
        repr(re.findall(r".{0,40}[\x00-\x09\x0b-\x1f\x7f\u2028\u2029\u202e].{0,40}", text)[:3])
    for line in text.splitlines():
        assert any(f.match(line) for f in formats) or line.startswith("    ") or line == "", line
        assert not line.startswith("2026-12-01 00:00:00,000"), line


def new_text(path, since):
    with open(path, encoding="utf-8") as f:
        f.seek(since)
        return f.read()


def size(path):
    with open(path, "rb") as f:
        return f.seek(0, 2)


# ---------------------------------------------------------------------------
# The escaping itself
# ---------------------------------------------------------------------------

def test_the_escaped_characters_are_exactly_unicodes_control_and_format_ones():
    expected = {chr(c) for c in range(0x110000)
                if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp")}
    matched = {chr(c) for c in range(0x110000) if logs.NO_IMPRIMIBLE.match(chr(c))}
    assert matched == expected


@pytest.mark.parametrize("text, escaped", [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("a\x00b", "a\\x00b"), ("\tx", "\\tx"),
    ("\x1b[31mrojo", "\\x1b[31mrojo"), ("\u202egnp.exe", "\\u202egnp.exe"),
    ("a\u2028b", "a\\u2028b"), ("cero\u200bancho", "cero\\u200bancho"), ("\ud800", "\\ud800"),
    ("\U000e0041", "\\U000e0041"), ("José Pérez ñ €", "José Pérez ñ €"), ("a\xa0b", "a\xa0b"),
])
def test_escape(text, escaped):
    assert logs.escape(text) == escaped


def test_a_traceback_stays_readable_but_its_messages_stay_on_their_line(app, log_file):
    import logging

    start = size(log_file)
    try:
        try:
            raise ValueError("uno\n" + FORJADA)
        except ValueError as err:
            raise KeyError("dos") from err
    except KeyError:
        logging.getLogger("historial.prueba").exception("fallo con %s", "arg\r\n" + FORJADA)
    text = new_text(log_file, start)
    check_lines(text, APP_LINE)
    lines = text.splitlines()
    assert lines[0].endswith("fallo con arg\\r\\n" + FORJADA)
    assert "    Traceback (most recent call last):" in lines
    assert "    ValueError: uno\\n" + FORJADA in lines
    assert "    The above exception was the direct cause of the following exception:" in lines
    assert lines[-1] == "    KeyError: 'dos'"


def test_database_errors_are_logged_without_the_values_they_quote(app, log_file):
    import logging

    from mysql.connector import errors as db_errors

    start = size(log_file)
    documento = f"DOC{uuid.uuid4().hex[:8]}"
    try:
        raise db_errors.IntegrityError(
            msg=f"Duplicate entry '{documento}' for key 'Documento'", errno=1062, sqlstate="23000")
    except db_errors.IntegrityError:
        logging.getLogger("historial.prueba").exception("error no controlado")
    text = new_text(log_file, start)
    assert "mysql.connector.errors.IntegrityError: 1062 (23000)" in text
    assert documento not in text


# ---------------------------------------------------------------------------
# The app's log file (Flask test client)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/x%0A" + FORJADA.replace(" ", "%20"),
    "/x%0D%0A" + FORJADA.replace(" ", "%20"),
    "/x%0D" + FORJADA.replace(" ", "%20"),
    "/x%00y%1B[2J%E2%80%AE%E2%80%A8z",
])
def test_a_path_cannot_forge_an_app_log_line(client, log_file, path):
    start = size(log_file)
    assert client.get(path).status_code == 404
    text = new_text(log_file, start)
    check_lines(text, APP_LINE)
    assert "GET /x\\" in text


def test_a_body_cannot_forge_an_app_log_line(client, log_file, make_user):
    admin = make_user("admin")
    start = size(log_file)
    for data in ('{"nombre": "Ana\\n' + FORJADA + '"}', '{"nombre": "Ana\\u0000"}',
                 '{"roto\n' + FORJADA, "\x00\r\n" + FORJADA):
        r = client.post("/pacientes", data=data, content_type="application/json",
                        headers=admin.headers)
        assert r.status_code == 400
    text = new_text(log_file, start)
    check_lines(text, APP_LINE)
    assert "FORJADA" not in text


def test_a_request_id_with_control_characters_is_not_logged(client, log_file):
    start = size(log_file)
    r = client.get("/no/existe", headers={"X-Request-ID": "abc\x00" + "\x1b[2J"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    text = new_text(log_file, start)
    check_lines(text, APP_LINE)
    assert f"[{r.headers['X-Request-ID']}] GET /no/existe 404" in text


# ---------------------------------------------------------------------------
# A real gunicorn: its access log, its error log and the app log of its workers
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(app):
    with Gunicorn(workers=2) as server:
        yield server


def raw_get(server, target, *headers):
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
               + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
    return server.raw(request)


def test_paths_and_headers_cannot_forge_a_gunicorn_or_app_log_line(server, make_user,
                                                                     make_paciente):
    medico = make_user("medico")
    ajeno = make_paciente()
    forjada = FORJADA.replace(" ", "%20").encode()
    # gunicorn refuses (400) ASCII control characters in a header; C1 controls, separators and
    # bidi characters arrive as UTF-8 bytes, which WSGI hands over as latin-1 text.
    nel, ls, rlo = "\u0085".encode(), "\u2028".encode(), "\u202e".encode()
    answers = [
        raw_get(server, "/x%0A" + forjada.decode()),
        raw_get(server, "/x%0D%0A" + forjada.decode() + "?q=1"),
        raw_get(server, "/x%00y%1B[2J%E2%80%AE%C2%85"),
        raw_get(server, "/health", b"X-Request-ID: abc" + nel + forjada),
        raw_get(server, "/health", b"User-Agent: rojo" + nel + ls + rlo + forjada),
        raw_get(server, "/health", b"Referer: http://x/" + nel + forjada),
        raw_get(server, "/health", b"X-Request-ID: abc\x01\x1b[2J" + forjada),
        raw_get(server, "/health", b"X-Request-ID: a\rb"),
        raw_get(server, f"/historial/paciente/{ajeno}",
                f"Authorization: Bearer {medico.token}".encode(),
                b"X-Motivo-Acceso: Urgencia vital " + nel + rlo + forjada),
        raw_get(server, f"/historial/paciente/{ajeno}",
                f"Authorization: Bearer {medico.token}".encode(),
                b"X-Motivo-Acceso: Urgencia vital\x01\x1b[2J " + forjada),
    ]
    status = [int(a.split(b" ", 2)[1]) for a in answers]
    assert status == [404] * 3 + [200] * 3 + [400] * 4, status
    assert b'"campo":"X-Motivo-Acceso"' in answers[8]
    requests.post(server.url + "/pacientes", data='{"nombre": "Ana\\n' + FORJADA + '"}',
                  headers={"Content-Type": "application/json",
                           "Authorization": f"Bearer {medico.token}"}, timeout=10)
    logs_ = server.logs()
    check_lines(logs_["app"], APP_LINE)
    check_lines(logs_["access"], ACCESS_LINE)
    check_lines(logs_["error"], GUNICORN_LINE, APP_LINE)
    assert 'GET /x\\n2026-12-01' in logs_["access"] and "GET /x\\n2026-12-01" in logs_["app"]
    assert "FORJADA" not in logs_["access"].replace("GET /x\\n" + FORJADA, "").replace(
        "GET /x\\r\\n" + FORJADA, "")


def test_searches_leave_no_name_or_national_id_in_any_log(server, make_user, make_paciente):
    admin = make_user("admin")
    marca = uuid.uuid4().hex[:8]
    apellido = "Zubizarreta" + "".join(chr(ord("a") + int(c, 16) % 26) for c in marca)
    documento = f"DNI{marca}X"
    id_paciente = make_paciente(nombre=f"Críspula {apellido}", documento=documento)
    for q in (apellido, apellido.lower(), f"Críspula {apellido}", documento):
        r = requests.get(server.url + "/pacientes", params={"q": q, "limite": 1},
                         headers=admin.headers, timeout=10)
        assert r.status_code == 200
        assert [p["id_paciente"] for p in r.json()["datos"]] == [id_paciente], q
    # A request gunicorn fails on writes its URI into the error log: never the query.
    raw_get(server, f"/pacientes?q={documento}", b"Bad Header\x00: 1")
    server.raw(f"GET /pacientes?q={documento} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
    server.raw(f"GET http://127.0.0.1/pacientes?q={documento}&x=\x01 HTTP/1.1\r\n\r\n".encode())
    for name, text in server.logs().items():
        assert "GET /pacientes" in text or name == "error", name
        for secreto in (apellido, apellido.lower(), documento, "Cr%C3%ADspula", "Críspula"):
            assert secreto not in text, (name, secreto)


def test_gunicorns_own_error_lines_are_written(app):
    """gunicorn's error format writes %(process)d: a worker line (an invalid request, the
    worker exiting) is written in it, and no "--- Logging error ---" report takes its place."""
    with Gunicorn(workers=1) as server:
        answer = raw_get(server, "/health", b"Mal\x00Cabecera: x")
        assert answer.startswith(b"HTTP/1.1 400")
        server.stop()
        text = server.logs()["error"]
    assert "Logging error" not in text and "TypeError" not in text
    check_lines(text, GUNICORN_LINE, APP_LINE)
    pids = re.findall(r"\] \[(\d+)\] \[INFO\] Booting worker with pid: (\d+)", text)
    assert pids, text
    worker = pids[0][1]
    assert re.search(rf"\] \[{worker}\] \[WARNING\] Invalid request from ip=127\.0\.0\.1",
                     text), text
    assert re.search(rf"\] \[{worker}\] \[INFO\] Worker exiting \(pid: {worker}\)", text), text
