"""The API on a three-node MariaDB Galera cluster: writes through every node, a node lost.

The module starts its own cluster (scripts/galera.sh, on free loopback ports, data in /tmp)
and stops it at the end; nobody else's server is touched. Apps are real gunicorn processes:
one per node for the simultaneous writes, and one given all three nodes for the failover.
"""

import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta

import mysql.connector
import pytest
import requests

import cli
import db as db_module
from texto import normalize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402  (bench/, on the path just above)
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
DB_NAME = "historial_galera"
N = 30
DIA = date.today() + timedelta(days=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster(servers.Galera):
    """The private cluster, with direct SQL access to each node's copy of the database."""

    def connect(self, node):
        return mysql.connector.connect(host="127.0.0.1", port=self.ports[node - 1], user="root",
                                       password=self.password, database=DB_NAME,
                                       autocommit=True, connection_timeout=5)

    def scalar(self, node, sql, params=()):
        cnx = self.connect(node)
        try:
            cur = cnx.cursor()
            cur.execute(sql, params)
            return cur.fetchone()[0]
        finally:
            cnx.close()

    def config(self, hosts):
        return {"DB_HOST": hosts, "DB_PORT": self.ports[0], "DB_USER": "root",
                "DB_PASSWORD": self.password, "DB_NAME": DB_NAME}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(os.environ["DB_PASSWORD"])
    started = time.monotonic()
    try:
        c.run("start")
        c.start_s = time.monotonic() - started
        cli.init_schema(c.config(c.hosts[0]))
        yield c
    finally:
        c.stop()


class Datos:
    """Rows written straight into node 1 (they replicate to the others)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.cnx = cluster.connect(1)

    def insert(self, sql, params):
        cur = self.cnx.cursor()
        cur.execute(sql, params)
        return cur.lastrowid

    def paciente(self):
        nombre = f"Paciente {uuid.uuid4().hex[:8]}"
        id_paciente = self.insert(
            "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
            "`Teléfono`) VALUES (%s, %s, '1980-05-17', 'Femenino', '+34 600 111 222')",
            (nombre, normalize(nombre)))
        self.insert("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                    "VALUES (%s, CURRENT_DATE)", (id_paciente,))
        return id_paciente

    def medico(self):
        nombre = f"Médico {uuid.uuid4().hex[:8]}"
        return self.insert("INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, "
                           "`Teléfono`) VALUES (%s, %s, 'Medicina General', '+34 600 333 444')",
                           (nombre, normalize(nombre)))


@pytest.fixture(scope="module")
def datos(cluster):
    return Datos(cluster)


@pytest.fixture(scope="module")
def tokens(cluster, datos):
    """Auth headers of a receptionist and of a doctor (sessions opened on node 1)."""
    import app as app_module
    from sesiones import issue_tokens

    application = app_module.create_app({**cluster.config(f"127.0.0.1:{cluster.ports[0]}"),
                                         "TESTING": True})
    id_medico = datos.medico()
    headers = {}
    for rol, id_rol, medico in (("recepcionista", 3, None), ("medico", 2, id_medico)):
        id_usuario = datos.insert(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, `ID_Médico`) "
            "VALUES (%s, %s, %s, %s, %s)",
            (f"Usuario {rol}", f"{rol}-{uuid.uuid4().hex[:8]}@prueba.local", "x" * 60, id_rol,
             medico))
        with application.app_context():
            token = issue_tokens({"id_usuario": id_usuario, "rol": rol})["token"]
            db_module.close_db()
        headers[rol] = {"Authorization": f"Bearer {token}"}
    headers["id_medico"] = id_medico
    return headers


class App:
    """One gunicorn (2 workers x 4 threads) on the cluster database."""

    def __init__(self, hosts, logdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(logdir, f"gunicorn-{self.port}.log"), "w")
        env = {**os.environ, "DB_HOST": hosts, "DB_NAME": DB_NAME, "GUNICORN_ACCESSLOG": "-",
               "LOG_FILE": os.path.join(logdir, f"app-{self.port}.log"),
               "RATELIMIT_STORAGE_URI": "memory://", "CACHE_TYPE": "SimpleCache"}
        env.pop("CACHE_REDIS_URL", None)
        self.proc = subprocess.Popen(
            [GUNICORN, "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{self.port}", "app:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=self.log)

    def wait_ready(self):
        deadline = time.monotonic() + 40
        while True:
            try:
                if requests.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.log.flush()
                pytest.fail("gunicorn no arrancó: " + open(self.log.name).read()[-3000:])
            time.sleep(0.2)

    def node(self):
        return requests.get(self.url + "/health/ready", timeout=5).json()["nodo"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def logdir():
    folder = tempfile.mkdtemp(prefix="historial-galera-logs-")
    yield folder
    if not os.environ.get("GALERA_CONSERVAR"):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def apps(cluster, tokens, logdir):
    """One app per node, each given only its node."""
    started = [App(f"127.0.0.1:{port}", logdir) for port in cluster.ports]
    for a in started:
        a.wait_ready()
    yield started
    for a in started:
        a.stop()


def at_once(calls):
    """Run every call from its own thread, all released together; (status, body) of each."""
    barrier = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def worker(i):
        barrier.wait()
        try:
            r = calls[i]()
            answers[i] = (r.status_code, r.json() if r.content else None)
        except requests.RequestException as err:
            answers[i] = (None, repr(err))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(a is not None for a in answers), "alguna petición no terminó"
    return answers


def overlapping_pairs(cluster, node, column, value):
    return cluster.scalar(
        node, f"SELECT COUNT(*) FROM Cita a JOIN Cita b ON a.{column} = b.{column} "
        "AND a.ID_Cita < b.ID_Cita AND a.Inicio < b.Fin AND a.Fin > b.Inicio "
        f"WHERE a.{column} = %s AND a.Estado <> 'Cancelada' AND b.Estado <> 'Cancelada'",
        (value,))


def test_plain_server_ready_names_its_node_and_no_galera_state(app, client):
    host, port = db_module.nodos(app.config)[0]
    r = client.get("/health/ready")
    assert r.status_code == 200
    assert r.get_json() == {"estado": "ok", "base_de_datos": "ok", "nodo": f"{host}:{port}"}


def test_node_list_moves_past_a_node_that_does_not_answer(app):
    import app as app_module

    host, port = db_module.nodos(app.config)[0]
    dead = free_port()
    other = app_module.create_app({"DB_HOST": f"127.0.0.1:{dead},{host}:{port}",
                                   "TESTING": True})
    started = time.monotonic()
    r = other.test_client().get("/health/ready")
    assert r.status_code == 200 and r.get_json()["nodo"] == f"{host}:{port}"
    assert time.monotonic() - started < 5


def test_cluster_is_three_synced_nodes_with_galera_ids(cluster, apps):
    status = cluster.run("status")
    assert status.count("Synced tamaño=3") == 3, status
    assert cluster.start_s < 90, cluster.start_s
    # Galera hands out ids in steps of the cluster size, each node its own offset.
    assert cluster.scalar(2, "SELECT @@auto_increment_increment") == 3
    for a, port in zip(apps, cluster.ports):
        r = requests.get(a.url + "/health/ready", timeout=5)
        assert r.status_code == 200
        assert r.json() == {"estado": "ok", "base_de_datos": "ok", "nodo": f"127.0.0.1:{port}",
                            "galera": {"estado": "Synced", "componente": "Primary"}}


@pytest.mark.parametrize("ronda", range(4))
def test_simultaneous_bookings_through_every_node_never_overlap(cluster, datos, tokens, apps,
                                                               ronda):
    id_medico = datos.medico()
    pacientes = [datos.paciente() for _ in range(N)]
    # Every third request asks for the same 10:00 start; the rest for starts 5 minutes apart,
    # 10:00 … 12:25, with durations that overlap their neighbours.
    horas = ["10:00" if i % 3 == 0 else f"{10 + 5 * i // 60:02d}:{5 * i % 60:02d}"
             for i in range(N)]
    duraciones = itertools.cycle((30, 45, 10, 60, 20))
    fecha = (DIA + timedelta(days=ronda)).isoformat()
    calls = [
        (lambda a, b: lambda: requests.post(a.url + "/citas", json=b,
                                            headers=tokens["recepcionista"], timeout=60))(
            apps[i % 3], {"fecha": fecha, "hora": horas[i], "id_paciente": pacientes[i],
                          "id_medico": id_medico, "duracion_min": next(duraciones)})
        for i in range(N)]
    answers = at_once(calls)
    codes = sorted(code for code, _ in answers)
    assert set(codes) <= {201, 409}, answers
    assert all(b["codigo"] in ("horario_ocupado", "conflicto") for c, b in answers if c == 409)
    created = codes.count(201)
    assert created >= 1
    for node in (1, 2, 3):
        assert overlapping_pairs(cluster, node, "`ID_Médico`", id_medico) == 0
        assert cluster.scalar(node, "SELECT COUNT(*) FROM Cita WHERE `ID_Médico` = %s "
                              "AND Estado <> 'Cancelada'", (id_medico,)) == created


def test_simultaneous_bookings_of_one_patient_with_several_doctors(cluster, datos, tokens, apps):
    id_paciente = datos.paciente()
    medicos = [datos.medico() for _ in range(N)]
    calls = [(lambda a, b: lambda: requests.post(a.url + "/citas", json=b,
                                                 headers=tokens["recepcionista"], timeout=60))(
        apps[i % 3], {"fecha": DIA.isoformat(), "hora": f"15:{i:02d}", "id_paciente": id_paciente,
                      "id_medico": medicos[i], "duracion_min": 30}) for i in range(N)]
    codes = sorted(code for code, _ in at_once(calls))
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, codes
    for node in (1, 2, 3):
        assert overlapping_pairs(cluster, node, "ID_Paciente", id_paciente) == 0


def paciente_body(i):
    return {"nombre": f"Paciente Galera {uuid.uuid4().hex[:6]} {i}", "fecha_nacimiento": "1975-03-02",
            "genero": "Otro", "telefono": "+34 600 000 111"}


def test_parallel_creates_through_every_node_all_succeed(cluster, datos, tokens, apps):
    calls = [(lambda a, i: lambda: requests.post(a.url + "/pacientes", json=paciente_body(i),
                                                 headers=tokens["recepcionista"], timeout=60))(
        apps[i % 3], i) for i in range(N)]
    answers = at_once(calls)
    assert [c for c, _ in answers] == [201] * N, answers
    ids = [b["id_paciente"] for _, b in answers]
    assert len(set(ids)) == N
    marks = ", ".join(["%s"] * N)
    for node in (1, 2, 3):
        assert cluster.scalar(node, f"SELECT COUNT(*) FROM Paciente WHERE ID_Paciente IN ({marks})",
                              ids) == N

    # Diagnoses of 30 citas of one doctor, written through the three nodes at once.
    id_medico = tokens["id_medico"]
    citas = [datos.insert("INSERT INTO Cita (Fecha, Hora, Duracion_Min, ID_Paciente, `ID_Médico`)"
                          " VALUES (%s, %s, 10, %s, %s)",
                          (DIA - timedelta(days=200), f"{8 + i // 6:02d}:{i % 6 * 10:02d}", ids[i],
                           id_medico)) for i in range(N)]
    calls = [(lambda a, c: lambda: requests.post(
        a.url + "/diagnosticos", json={"id_cita": c, "descripcion": "Hipertensión esencial"},
        headers=tokens["medico"], timeout=60))(apps[i % 3], c) for i, c in enumerate(citas)]
    answers = at_once(calls)
    assert [c for c, _ in answers] == [201] * N, answers
    for node in (1, 2, 3):
        assert cluster.scalar(node, "SELECT COUNT(*) FROM `Diagnóstico` WHERE `ID_Médico` = %s",
                              (id_medico,)) == N


class Carga:
    """Threads creating patients through one app; every answer kept with its start time."""

    def __init__(self, app, headers, threads=4):
        self.app, self.headers, self.stop = app, headers, threading.Event()
        self.answers, self.lock = [], threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n):
        for i in itertools.count():
            if self.stop.is_set():
                return
            started = time.monotonic()
            try:
                r = requests.post(self.app.url + "/pacientes", json=paciente_body(f"{n}-{i}"),
                                  headers=self.headers, timeout=10)
                answer = (started, r.status_code, r.json() if r.content else None)
            except requests.RequestException as err:
                answer = (started, None, repr(err))
            with self.lock:
                self.answers.append(answer)
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def check_failover(cluster, carga, killed_at, survivors):
    """From 10 s after the kill every request succeeded; every 201 is on the survivors."""
    late = [a for a in carga.answers if a[0] >= killed_at + 10]
    assert len(late) >= 10, len(late)
    assert all(code == 201 for _, code, _ in late), [a for a in late if a[1] != 201][:5]
    early = [a for a in carga.answers if a[0] < killed_at + 10]
    # Before that, a request may meet the dead link: only 503 (never 500) or success.
    assert {code for _, code, _ in early} <= {201, 503, None}, \
        [a for a in early if a[1] not in (201, 503, None)][:5]
    ids = [body["id_paciente"] for _, code, body in carga.answers if code == 201]
    marks = ", ".join(["%s"] * len(ids))
    for node in survivors:
        assert cluster.scalar(node, f"SELECT COUNT(*) FROM Paciente WHERE ID_Paciente IN ({marks})",
                              ids) == len(ids)


def nuevo_token(cluster, datos, rol="recepcionista", id_rol=3):
    """A new user's access token (session opened on node 1)."""
    import app as app_module
    from sesiones import issue_tokens

    application = app_module.create_app({**cluster.config(f"127.0.0.1:{cluster.ports[0]}"),
                                         "TESTING": True})
    id_usuario = datos.insert(
        "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) VALUES (%s, %s, %s, %s)",
        (f"Usuario {rol}", f"{rol}-{uuid.uuid4().hex[:8]}@prueba.local", "x" * 60, id_rol))
    with application.app_context():
        token = issue_tokens({"id_usuario": id_usuario, "rol": rol})["token"]
        db_module.close_db()
    return id_usuario, {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("como", ["logout", "sql"])
def test_a_revocation_through_one_node_is_refused_at_once_through_every_node(
        cluster, datos, apps, como):
    """Every worker of every app remembers the session (sesiones.SesionesRecordadas); a
    logout through node 1's app, or an UPDATE on node 3 itself, is refused on the very next
    requests through every node: the check of the generation waits for the cluster."""
    id_usuario, headers = nuevo_token(cluster, datos)
    for a in apps * 6:
        assert requests.get(a.url + "/auth/me", headers=headers, timeout=10).status_code == 200
    if como == "logout":
        r = requests.post(apps[0].url + "/auth/logout", headers=headers, timeout=10)
        assert r.status_code == 204
    else:
        cnx = cluster.connect(3)
        try:
            cnx.cursor().execute("UPDATE Sesion SET Revocada = TRUE WHERE ID_Usuario = %s",
                                 (id_usuario,))
        finally:
            cnx.close()
    statuses = [requests.get(a.url + path, headers=headers, timeout=10).status_code
                for a in apps * 4 for path in ("/auth/me", "/pacientes")]
    assert set(statuses) == {401}, statuses


def test_failover_node_lost_under_load_then_rejoins(cluster, tokens, apps, logdir):
    hosts = ",".join(f"127.0.0.1:{port}" for port in cluster.ports)
    app = App(hosts, logdir)
    try:
        app.wait_ready()
        assert app.node() == f"127.0.0.1:{cluster.ports[0]}"

        with Carga(app, tokens["recepcionista"]) as carga:
            time.sleep(2)
            cluster.run("kill", "1")
            killed_at = time.monotonic()
            time.sleep(14)
        check_failover(cluster, carga, killed_at, survivors=(2, 3))
        assert app.node() == f"127.0.0.1:{cluster.ports[1]}"

        # Node 1 rejoins (incremental state transfer) and has every write it missed.
        cluster.run("start", "1")
        assert cluster.scalar(1, "SELECT COUNT(*) FROM Paciente") == \
            cluster.scalar(2, "SELECT COUNT(*) FROM Paciente")

        # A later failure of node 2: the app goes back to node 1, the first of its list.
        with Carga(app, tokens["recepcionista"]) as carga:
            time.sleep(1)
            cluster.run("kill", "2")
            killed_at = time.monotonic()
            time.sleep(12)
        check_failover(cluster, carga, killed_at, survivors=(1, 3))
        assert app.node() == f"127.0.0.1:{cluster.ports[0]}"
        cluster.run("start", "2")
    finally:
        app.stop()
