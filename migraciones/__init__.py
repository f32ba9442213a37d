"""Versioned, forward-only schema migrations: numbered SQL files applied in order, recorded in
the table `Migracion`, under a server lock so that two `init-db` never apply one twice.

A migration is a file `NNNN_nombre.sql` in this folder (NNNN = 0001, 0002, ... without gaps).
Its statements end with `;` at the end of a line and run in one transaction with the row that
records it, so a migration of data (INSERT/UPDATE) is applied whole or not at all. MariaDB
commits implicitly around DDL, so DDL is written to be re-runnable (`IF NOT EXISTS`,
`ADD COLUMN IF NOT EXISTS`, `MODIFY` to the final definition...): a migration cut short by a
crash is simply run again. Applied files are never edited; a change is a new file, and
`Base de Datos Final.sql` is updated to match (tests/test_migraciones.py compares both).
"""

import hashlib
import os
import re
import time
from dataclasses import dataclass

from flask import request

import db
from errors import ApiError

DIRECTORY = os.path.dirname(os.path.abspath(__file__))
FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Waits this long for another init-db (a big ALTER can take minutes) before giving up.
LOCK_WAIT_S = 900
# Tables any release of the application has had: their presence without `Migracion` marks a
# database made before migrations existed.
LEGACY_TABLES = {"Paciente", "Rol", "Usuario"}

CREATE_MIGRACION = """
CREATE TABLE IF NOT EXISTS Migracion (
    Version      INT           NOT NULL,
    Nombre       VARCHAR(200)  NOT NULL,
    Suma_SHA256  CHAR(64)      NOT NULL,
    Aplicada_En  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (Version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""


class MigrationError(Exception):
    """The schema cannot be brought to the code's version; the message is one line."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: str

    @property
    def label(self):
        return f"{self.version:04d}_{self.name}"

    @property
    def text(self):
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    @property
    def checksum(self):
        return hashlib.sha256(self.text.encode()).hexdigest()


def available(directory=DIRECTORY):
    """The migrations of the code, in order; a gap or a duplicate number is an error."""
    found = []
    for entry in sorted(os.listdir(directory)):
        match = FILE_PATTERN.match(entry)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2),
                                   os.path.join(directory, entry)))
        elif entry.endswith(".sql"):
            raise MigrationError(f"{entry}: el nombre debe ser NNNN_nombre.sql (minúsculas)")
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"falta la migración {expected:04d} (o está repetida) "
                                 f"antes de {migration.label}")
    return found


def statements(text):
    """The statements of a SQL file: `--` comment lines dropped, each ends with `;` at the end
    of a line (the convention of every schema file here)."""
    result, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            result.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        raise MigrationError("la última sentencia no termina en ';'")
    return result


def _scalar(cur, sql, params=()):
    cur.execute(sql, params)
    row = cur.fetchone()
    return None if row is None else row[0]


def _tables(cur):
    cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
    return {row[0] for row in cur.fetchall()}


def applied(cnx):
    """{version: checksum} of the migrations recorded in the connection's database."""
    cur = cnx.cursor(buffered=True)
    try:
        if "Migracion" not in _tables(cur):
            return {}
        cur.execute("SELECT Version, Suma_SHA256 FROM Migracion")
        return dict(cur.fetchall())
    finally:
        cur.close()


def pending(cnx, directory=DIRECTORY):
    """The migrations still to apply; MigrationError when the database is newer than the code."""
    done = applied(cnx)
    known = available(directory)
    newest = max(done, default=0)
    if newest > len(known):
        raise MigrationError(
            f"la base de datos está en la versión {newest} del esquema y este código sólo conoce "
            f"hasta la {len(known)}: actualice la aplicación (no se ha cambiado nada)")
    return [m for m in known if m.version not in done]


def lock_name(cnx):
    """GET_LOCK name of this database's migrations (64 characters at most)."""
    cur = cnx.cursor(buffered=True)
    name = _scalar(cur, "SELECT DATABASE()")
    cur.close()
    full = f"historial_medico:migraciones:{name}"
    return full if len(full) <= 64 else "historial_medico:migraciones:" + hashlib.sha256(
        name.encode()).hexdigest()[:32]


def migrate(cnx, directory=DIRECTORY, echo=lambda line: None, lock_wait=LOCK_WAIT_S):
    """Apply every pending migration in order, holding the server lock; returns their labels.

    `cnx` is a raw connection (autocommit) already on the database. GET_LOCK is held by this
    session on this server only: on a Galera cluster run init-db against one node.
    """
    cur = cnx.cursor(buffered=True)
    name = lock_name(cnx)
    got = _scalar(cur, "SELECT GET_LOCK(%s, %s)", (name, lock_wait))
    if got != 1:
        raise MigrationError(f"otro init-db lleva más de {lock_wait} s aplicando migraciones "
                             "en esta base de datos; inténtelo más tarde")
    try:
        tables = _tables(cur)
        if tables and "Migracion" not in tables and not LEGACY_TABLES & tables:
            raise MigrationError("la base de datos tiene tablas que no son de esta aplicación; "
                                 "use una base vacía o la de una versión anterior")
        legacy = bool(tables) and "Migracion" not in tables
        cur.execute(CREATE_MIGRACION)
        todo = pending(cnx, directory)
        if legacy and todo:
            echo("Base de datos anterior a las migraciones: se pone al día desde "
                 f"{todo[0].label} sin tocar sus filas.")
        known = {m.version: m for m in available(directory)}
        for version, checksum in sorted(applied(cnx).items()):
            if version in known and known[version].checksum != checksum:
                echo(f"Aviso: {known[version].label} cambió después de aplicarse; no se vuelve "
                     "a aplicar (los cambios van en una migración nueva).")
        for migration in todo:
            _apply(cnx, migration)
            echo(f"Migración {migration.label} aplicada.")
        return [m.label for m in todo]
    finally:
        _scalar(cur, "SELECT RELEASE_LOCK(%s)", (name,))
        cur.close()


def _apply(cnx, migration):
    cur = cnx.cursor(buffered=True)
    cnx.start_transaction()
    try:
        for statement in statements(migration.text):
            cur.execute(statement)
            if cur.with_rows:
                cur.fetchall()
        cur.execute("INSERT INTO Migracion (Version, Nombre, Suma_SHA256) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum))
        cnx.commit()
    except Exception as err:
        if cnx.in_transaction:
            cnx.rollback()
        raise MigrationError(f"{migration.label} falló: {getattr(err, 'msg', err)}") from err
    finally:
        cur.close()


# ---------------------------------------------------------------------------
# Serving: no request is answered on a schema the code does not expect
# ---------------------------------------------------------------------------

CHECK_EVERY_S = 1.0
# Answer without the database, so they work while a migration is pending.
UNCHECKED_PATHS = frozenset({"/health", "/metrics"})


def pending_message(cnx):
    """One line naming what stops serving (pending migration, newer schema), or None."""
    try:
        todo = pending(cnx)
    except MigrationError as err:
        return err.args[0][0].upper() + err.args[0][1:]
    if not todo:
        return None
    return (f"Migración pendiente: {', '.join(m.label for m in todo)}; ejecute "
            "`flask --app app init-db`")


def register(app):
    """Answer 503 naming the pending migration until the schema is the code's; checked once
    per second while it is not, and never again once it is (one flag test per request)."""
    state = {"ok": False, "checked": float("-inf"), "message": None}

    @app.before_request
    def check_schema():
        if state["ok"] or request.path in UNCHECKED_PATHS:
            return None
        now = time.monotonic()
        if now - state["checked"] >= CHECK_EVERY_S:
            state["message"] = pending_message(db.get_db())
            state["checked"] = now
            state["ok"] = state["message"] is None
        if state["message"]:
            raise ApiError(503, "servicio_no_disponible", state["message"],
                           headers={"Retry-After": "5"})
        return None
