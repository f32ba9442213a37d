"""The database goes away under load: 503 JSON within 5 s, workers survive, service returns.

These tests run their own throwaway MariaDB (its own datadir and port) so that stopping it
disturbs nobody else's tests, and a real gunicorn with the shipped gunicorn.conf.py.
"""

import os
import signal
import sys
import threading
import time
import uuid

import mysql.connector
import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import cli  # noqa: E402
import db as db_module  # noqa: E402
import servers  # noqa: E402

DB_NAME = "historial_resiliencia"
pytestmark = pytest.mark.skipif(not servers.shutil.which("mariadbd"),
                                reason="mariadb-server no instalado")


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    """A second MariaDB server for this module only, with the schema loaded."""
    workdir = tmp_path_factory.mktemp("resiliencia")
    password = uuid.uuid4().hex
    server = servers.start_mariadb(str(workdir), password)
    try:
        config = {"DB_HOST": "127.0.0.1", "DB_PORT": server.port, "DB_USER": "root",
                  "DB_PASSWORD": password, "DB_NAME": DB_NAME}
        cli.init_schema(config)
        server.config = config
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token(mariadb):
    """An admin's access token whose session lives in the throwaway database."""
    import app as app_module
    from sesiones import issue_tokens

    application = app_module.create_app({**mariadb.config, "TESTING": True})
    with application.app_context():
        id_usuario = db_module.execute(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) VALUES (%s, %s, %s, 1)",
            ("Admin resiliencia", f"admin-{uuid.uuid4().hex[:8]}@prueba.local", "x" * 60))
        tokens = issue_tokens({"id_usuario": id_usuario, "rol": "admin"})
    return tokens["token"]


def gunicorn_env(mariadb, **extra):
    env = {"DB_HOST": "127.0.0.1", "DB_PORT": mariadb.port, "DB_PASSWORD": mariadb.password,
           "DB_NAME": DB_NAME, "GUNICORN_ACCESSLOG": "-"}
    env.update(extra)
    return env


def call(url, headers=None, timeout=8):
    """(status, seconds, json body or None, error name or None) of one GET."""
    started = time.monotonic()
    try:
        r = requests.get(url, headers=headers, timeout=timeout)
    except requests.RequestException as err:
        return None, time.monotonic() - started, None, type(err).__name__
    elapsed = time.monotonic() - started
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code, elapsed, body, None


def test_pool_exhausted_answers_503_without_hanging(mariadb, token, tmp_path):
    """One connection per process, held by a request that waits on a table lock."""
    app = servers.start_gunicorn(str(tmp_path), gunicorn_env(mariadb, DB_POOL_SIZE=1),
                                 workers=1, threads=2)
    locker = mysql.connector.connect(**db_module.connect_args(mariadb.config))
    try:
        cur = locker.cursor()
        # Every authenticated request reads Rol to load its user; this makes it wait while
        # holding the process's only connection.
        cur.execute("LOCK TABLES Rol WRITE")
        slow = {}
        auth = {"Authorization": f"Bearer {token}"}
        holder = threading.Thread(target=lambda: slow.update(r=call(
            app.url + "/cie10?q=E11", auth, timeout=20)))
        holder.start()
        watcher = mysql.connector.connect(**db_module.connect_args(mariadb.config))
        wcur = watcher.cursor()
        for _ in range(50):
            wcur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                          "WHERE STATE LIKE %s AND DB = %s", ("%metadata lock%", DB_NAME))
            if wcur.fetchone()[0]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("la petición lenta no llegó a esperar el bloqueo")
        watcher.close()

        status, elapsed, body, error = call(app.url + "/health/ready")
        assert error is None
        assert status == 503 and elapsed < 5
        assert body["codigo"] == "servicio_no_disponible"
        cur.execute("UNLOCK TABLES")
        holder.join(20)
        assert slow["r"][0] == 200, slow
        assert call(app.url + "/health/ready")[0] == 200
        assert "Traceback" not in app.log_text()
    finally:
        locker.close()
        app.stop()


class Load:
    """Threads sending a mix of requests in a loop and recording every answer."""

    def __init__(self, targets, threads=4):
        self.targets, self.results, self.stop_flag = targets, [], threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, i):
        n = i
        while not self.stop_flag.is_set():
            url, headers = self.targets[n % len(self.targets)]
            n += 1
            started = time.monotonic()
            status, elapsed, body, error = call(url, headers)
            with self.lock:
                self.results.append((started, status, elapsed, body, error, url))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)


def test_database_restart_under_load(mariadb, token, tmp_path):
    app = servers.start_gunicorn(str(tmp_path), gunicorn_env(mariadb, DB_POOL_SIZE=4),
                                 workers=2)
    try:
        pids_before = app.workers()
        auth = {"Authorization": f"Bearer {token}"}
        targets = [(app.url + "/health/ready", None), (app.url + "/cie10?q=E11", auth)]
        with Load(targets) as load:
            time.sleep(2)
            mariadb.stop(signal.SIGTERM, wait=30)
            down_at = time.monotonic()
            time.sleep(4)
            restart_at = time.monotonic()
            mariadb.start()
            up_at = time.monotonic()
            time.sleep(12)
        results = load.results

        assert app.workers() == pids_before, "un worker murió o fue reemplazado"
        assert [r for r in results if r[4]] == [], "peticiones sin respuesta (cuelgue o corte)"
        assert all(r[2] < 5 for r in results), max(r[2] for r in results)
        statuses = {r[1] for r in results}
        assert statuses <= {200, 503}, statuses
        outage = [r for r in results if down_at < r[0] and r[0] + r[2] < restart_at]
        assert outage and all(r[1] == 503 for r in outage), \
            [(round(r[0] - down_at, 2), r[1], r[5]) for r in outage if r[1] != 503]
        for r in results:
            if r[1] == 503:
                assert r[3]["codigo"] == "servicio_no_disponible"
        before = [r for r in results if r[0] < down_at - 0.5]
        assert before and all(r[1] == 200 for r in before)
        recovered = [r for r in results if r[0] > up_at + 10]
        assert recovered and all(r[1] == 200 for r in recovered), \
            [(round(r[0] - up_at, 1), r[1], r[5]) for r in results if r[0] > up_at and r[1] != 200]
        assert "error no controlado" not in app.log_text()
    finally:
        app.stop()
