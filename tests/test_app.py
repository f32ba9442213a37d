"""Foundation: error shapes, request ids, health, configuration refusal, docs and OpenAPI."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from openapi_spec_validator import validate

from conftest import ROOT


def assert_error(response, status, codigo):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["codigo"] == codigo
    assert body["error"] and isinstance(body["error"], str)
    assert body["id_solicitud"] == response.headers["X-Request-ID"]
    return body


def test_health_does_not_need_the_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"estado": "ok"}


def test_health_ready_answers_when_the_database_does(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["estado"] == "ok"


def test_unknown_path_is_json_404(client):
    assert_error(client.get("/no/existe"), 404, "no_encontrado")


def test_wrong_method_is_json_405(client):
    body = assert_error(client.delete("/health"), 405, "metodo_no_permitido")
    assert "Traceback" not in str(body)


def test_request_id_is_echoed_and_generated(client):
    response = client.get("/no/existe", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.get_json()["id_solicitud"] == "abc-123"
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32


def test_request_id_is_in_the_log_file(client, log_file):
    client.get("/no/existe", headers={"X-Request-ID": "rid-en-el-log-42"})
    with open(log_file, encoding="utf-8") as f:
        lines = [line for line in f if "rid-en-el-log-42" in line]
    assert lines and " - historial.acceso - INFO - " in lines[-1]
    assert "GET /no/existe 404" in lines[-1]


@pytest.mark.parametrize("kwargs, status, codigo", [
    ({"data": "{roto", "content_type": "application/json"}, 400, "json_invalido"),
    ({"data": "a=1&b=2", "content_type": "application/x-www-form-urlencoded"}, 415, "tipo_no_soportado"),
    ({"data": "x" * (2 * 1024 * 1024), "content_type": "application/json"}, 413, "demasiado_grande"),
    ({"json": ["no", "objeto"]}, 400, "validacion"),
])
def test_bad_bodies_get_the_json_shape(client, kwargs, status, codigo):
    assert_error(client.post("/auth/login", **kwargs), status, codigo)


def test_unknown_body_field_is_named(client):
    body = assert_error(client.post("/auth/login", json={"correo": "a@b.c", "password": "x" * 8,
                                                         "rol": "admin"}), 400, "validacion")
    assert {"campo": "rol", "mensaje": "campo no permitido"} in body["detalles"]


def test_openapi_is_a_valid_3_1_document(client):
    doc = client.get("/openapi.json").get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_serves_swagger_ui_from_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1].split("url:")[0]
    asset = client.get("/docs/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.get_data()) > 100_000


def test_cors_allows_configured_origin(client):
    response = client.get("/health", headers={"Origin": "http://spa.example"})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://spa.example")


def _start_app(env_changes, cwd):
    env = {k: v for k, v in os.environ.items()}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", "import app"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value", ["", "corta"])
def test_short_or_missing_secret_key_refuses_to_start(tmp_path, value):
    result = _start_app({"SECRET_KEY": value, "PYTHONPATH": ROOT}, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0] and ".env.example" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name, value", [("DB_PORT", "abc"), ("HORARIO_INICIO", "25:00"),
                                         ("DB_HOST", "")])
def test_invalid_setting_is_named(tmp_path, name, value):
    result = _start_app({name: value, "PYTHONPATH": ROOT}, tmp_path)
    assert result.returncode != 0
    assert name in result.stderr and "Traceback" not in result.stderr


class Proxy:
    """A TCP proxy to the database that the test can cut and restore (a network outage)."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns = []
        self.listener.listen(50)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []

    def restore(self):
        self.up = True


def test_database_outage_is_503_fast_and_recovers(app):
    import app as app_module

    proxy = Proxy(app.config["DB_PORT"])
    outage_app = app_module.create_app({"DB_PORT": proxy.port, "TESTING": True})
    client = outage_app.test_client()
    assert client.get("/health/ready").status_code == 200

    proxy.cut()
    for _ in range(3):
        started = time.monotonic()
        response = client.get("/health/ready")
        assert time.monotonic() - started < 5
        assert_error(response, 503, "servicio_no_disponible")
        assert response.headers["Retry-After"]
    assert client.get("/health").status_code == 200

    proxy.restore()
    assert client.get("/health/ready").status_code == 200


def test_exhausted_pool_is_503_not_a_hang(app):
    import app as app_module
    import db

    small = app_module.create_app({"DB_POOL_SIZE": 1, "TESTING": True})
    with small.app_context():
        db.get_db()  # holds the only connection of this process's pool
        with small.test_request_context():
            started = time.monotonic()
            with pytest.raises(db.DatabaseUnavailable):
                db.get_pool().acquire()
            assert time.monotonic() - started < 5
