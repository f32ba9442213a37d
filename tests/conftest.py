"""Shared fixtures: the app on a per-run database of the real server, factories, auth headers."""

import itertools
import os
import sys
import tempfile
import uuid
from datetime import date

import mysql.connector
import pytest
from dotenv import load_dotenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
load_dotenv(os.path.join(ROOT, ".env"))

# Everything below runs against its own database, dropped at the end of the run.
TEST_DB = f"historial_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
LOG_DIR = tempfile.mkdtemp(prefix="historial-test-logs-")
os.environ.update({
    "DB_NAME": TEST_DB,
    "BCRYPT_ROUNDS": "4",
    "LOG_FILE": os.path.join(LOG_DIR, "app.log"),
    "LOG_LEVEL": "INFO",
    "CORS_ORIGINS": os.environ.get("CORS_ORIGINS_TEST", "*"),
})

import app as app_module  # noqa: E402
import cli  # noqa: E402
import db as db_module  # noqa: E402
from texto import normalize  # noqa: E402
from roles import nombre_canonico  # noqa: E402

PASSWORD = "Prueba2024!segura"
_seq = itertools.count(1)


class Database:
    """Direct SQL access to the test database, to check state the API must have left."""

    def __init__(self, config):
        self.args = db_module.connect_args(config)
        self.cnx = mysql.connector.connect(**self.args)

    def _run(self, sql, params):
        if not self.cnx.is_connected():
            self.cnx.reconnect(attempts=5, delay=1)
        cur = self.cnx.cursor(dictionary=True, buffered=True)
        cur.execute(sql, params)
        return cur

    def one(self, sql, params=()):
        cur = self._run(sql, params)
        row = cur.fetchone() if cur.with_rows else None
        cur.close()
        return row

    def all(self, sql, params=()):
        cur = self._run(sql, params)
        rows = cur.fetchall()
        cur.close()
        return rows

    def execute(self, sql, params=()):
        cur = self._run(sql, params)
        result = cur.lastrowid or cur.rowcount
        cur.close()
        return result

    def scalar(self, sql, params=()):
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))


@pytest.fixture(scope="session")
def app():
    application = app_module.create_app({"TESTING": True})
    cli.init_schema(application.config)
    with application.app_context():
        import datos_cie10

        datos_cie10.load_catalogue()
    yield application
    cnx = mysql.connector.connect(**{k: v for k, v in db_module.connect_args(application.config)
                                     .items() if k != "database"})
    cur = cnx.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{TEST_DB}`")
    cnx.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def database(app):
    return Database(app.config)


@pytest.fixture(autouse=True)
def fresh_login_counters(app, database):
    """Every test comes from 127.0.0.1, and login throttling counts failures per address: each
    test starts with none counted, so one test's wrong passwords cannot throttle the next."""
    database.execute("DELETE FROM Intento_Login")
    app.extensions["limite_login"].storage.reset()


def unique(prefix):
    """A value no other test uses (names, e-mails, documents)."""
    return f"{prefix}{next(_seq)}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_paciente(database):
    """Insert a patient (with its Historial) straight into the database; returns its id."""
    def make(**fields):
        nombre = fields.get("nombre", f"Paciente {unique('P')}")
        id_paciente = database.execute(
            "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
            "`Teléfono`, Documento, Correo, Direccion, Tipo_Sangre, Alergias, Activo) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (nombre, normalize(nombre), fields.get("fecha_nacimiento", date(1980, 5, 17)),
             fields.get("genero", "Femenino"), fields.get("telefono", "+34 600 111 222"),
             fields.get("documento"), fields.get("correo"), fields.get("direccion"),
             fields.get("tipo_sangre"), fields.get("alergias"), fields.get("activo", True)))
        words = normalize(nombre).split()
        prefixes = {w[:n] for w in words for n in range(1, min(4, len(w)) + 1)}
        for prefix in prefixes:
            database.execute("INSERT INTO Paciente_Prefijo (Prefijo, Nombre_Normalizado, ID_Paciente)"
                             " VALUES (%s, %s, %s)", (prefix, normalize(nombre), id_paciente))
        database.execute("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                         "VALUES (%s, CURRENT_DATE)", (id_paciente,))
        return id_paciente
    return make


@pytest.fixture
def make_medico(database):
    """Insert a doctor straight into the database; returns its id."""
    def make(**fields):
        nombre = fields.get("nombre", f"Médico {unique('M')}")
        return database.execute(
            "INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, `Teléfono`, Correo, "
            "Licencia, Activo) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (nombre, normalize(nombre), fields.get("especialidad", "Medicina General"),
             fields.get("telefono", "+34 600 333 444"), fields.get("correo"),
             fields.get("licencia"), fields.get("activo", True)))
    return make


ROLES = {"admin": 1, "medico": 2, "recepcionista": 3, "paciente": 4}


class Actor:
    """A user the tests act as: ids, credentials and ready-made auth headers."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.fixture
def make_user(app, database, make_paciente, make_medico):
    """Create a user of a role (a linked patient/doctor for those roles) and log them in.

    `rol` is a built-in role name or an ID_Rol (custom roles). Tokens are issued directly,
    so tests that are not about login do not depend on it or on its throttling.
    """
    from credenciales import hash_password
    from sesiones import issue_tokens

    def make(rol="admin", id_paciente=None, id_medico=None, activo=True, password=PASSWORD):
        id_rol = ROLES.get(rol, rol)
        if id_rol == 4 and id_paciente is None:
            id_paciente = make_paciente()
        if id_rol == 2 and id_medico is None:
            id_medico = make_medico()
        correo = f"{unique('u')}@prueba.local"
        with app.app_context():
            hashed = hash_password(password)
        id_usuario = database.execute(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, ID_Paciente, `ID_Médico`, "
            "Activo) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (f"Usuario {correo}", correo, hashed, id_rol, id_paciente, id_medico, activo))
        rol_nombre = database.scalar("SELECT Nombre FROM Rol WHERE ID_Rol = %s", (id_rol,))
        with app.app_context():
            tokens = issue_tokens({"id_usuario": id_usuario, "rol": rol_nombre})
        return Actor(id_usuario=id_usuario, correo=correo, password=password, rol=rol_nombre,
                     id_rol=id_rol, id_paciente=id_paciente, id_medico=id_medico,
                     token=tokens["token"], refresh_token=tokens["refresh_token"],
                     headers={"Authorization": f"Bearer {tokens['token']}"})
    return make


@pytest.fixture
def make_role(database):
    """Create a custom role with the given permissions; returns its ID_Rol."""
    def make(*permisos):
        nombre = unique("rol")
        id_rol = database.execute("INSERT INTO Rol (Nombre, Nombre_Canonico, Descripcion) "
                                  "VALUES (%s, %s, %s)", (nombre, nombre_canonico(nombre),
                                                          "Rol de prueba"))
        for permiso in permisos:
            database.execute("INSERT INTO Rol_Permiso (ID_Rol, Permiso) VALUES (%s, %s)",
                             (id_rol, permiso))
        return id_rol
    return make


@pytest.fixture
def make_cita(database):
    """Insert a cita straight into the database (state history included); returns its id."""
    def make(id_paciente, id_medico, fecha=None, hora="10:00", duracion_min=30,
             estado="Pendiente", motivo="Revisión"):
        fecha = fecha or date.today().replace(year=date.today().year + 1)
        id_cita = database.execute(
            "INSERT INTO Cita (Fecha, Hora, Duracion_Min, Estado, Motivo, ID_Paciente, `ID_Médico`)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (fecha, hora, duracion_min, estado, motivo, id_paciente, id_medico))
        database.execute("INSERT INTO Cita_Estado (ID_Cita, Estado) VALUES (%s, 'Pendiente')",
                         (id_cita,))
        if estado != "Pendiente":
            database.execute("INSERT INTO Cita_Estado (ID_Cita, Estado) VALUES (%s, %s)",
                             (id_cita, estado))
        return id_cita
    return make


@pytest.fixture
def log_file(app):
    """Path of the log file the app writes during the test run."""
    return app.config["LOG_FILE"]


def pytest_configure(config):
    config.fuzz_summary = []


def pytest_terminal_summary(terminalreporter, config):
    """How many requests schemathesis generated per role (tests/test_fuzz.py)."""
    if config.fuzz_summary:
        terminalreporter.section("schemathesis")
        for line in config.fuzz_summary:
            terminalreporter.write_line(line)
