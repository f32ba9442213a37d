"""Backup and restore: a gzip SQL dump taken with `mariadb-dump --single-transaction` while the
API serves, and its restore, after which sessions, invitation codes and caches start afresh."""

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import mysql.connector

import db
import migraciones

HEADER = "-- historial-medico respaldo; esquema: {version}\n"
HEADER_PATTERN = re.compile(rb"^-- historial-medico respaldo; esquema: (\d+)\n$")
TABLE_LINE = re.compile(rb"^-- Dumping data for table `([^`]+)`")
# The statements of the dump that the restore leaves out (their rows are integers only, so a
# statement ends at the first line ending in `;`): the generations are written anew.
SKIPPED = (b"INSERT INTO `Generacion_Cache`", b"INSERT INTO `Generacion_Sesion`")
CHUNK = 1 << 20


class RespaldoError(Exception):
    """A backup or restore that cannot go on; the message is one line."""


def _server(config):
    """(host, port) of the node to dump from or restore into: the first of DB_HOST."""
    nodos = config.get("DB_NODOS")
    return nodos[0] if nodos else (config["DB_HOST"], config["DB_PORT"])


@contextmanager
def _client_options(config):
    """A private option file with the credentials, so the password never shows in `ps`."""
    host, port = _server(config)
    fd, path = tempfile.mkstemp(prefix="historial-cliente-", suffix=".cnf")
    try:
        with os.fdopen(fd, "w") as f:
            os.chmod(path, 0o600)
            f.write(f"[client]\nhost={host}\nport={port}\nuser={config['DB_USER']}\n"
                    f"password=\"{config['DB_PASSWORD']}\"\n")
        yield path
    finally:
        os.unlink(path)


def _tool(*names):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RespaldoError(f"falta {names[0]} (paquete Debian mariadb-client)")


def _connect(config, database=True):
    args = db.connect_args(config)
    host, port = _server(config)
    args.update(host=host, port=port)
    if not database:
        args.pop("database")
    try:
        return mysql.connector.connect(**args)
    except mysql.connector.Error as err:
        raise RespaldoError(f"no se puede conectar a la base de datos: {err.msg}") from None


def schema_version(cnx):
    """Highest migration recorded in the connection's database (0 before migrations)."""
    return max(migraciones.applied(cnx), default=0)


def backup(config, salida, progress):
    """Write a consistent gzip dump of the database to `salida`; returns its size in bytes.

    The file appears only when complete (written as `salida.parcial`, then renamed).
    """
    dump = _tool("mariadb-dump", "mysqldump")
    cnx = _connect(config)
    try:
        version = schema_version(cnx)
    finally:
        cnx.close()
    partial = salida + ".parcial"
    started = time.monotonic()
    with _client_options(config) as options, gzip.open(partial, "wb") as out:
        out.write(HEADER.format(version=version).encode())
        proc = subprocess.Popen(
            [dump, f"--defaults-extra-file={options}", "--single-transaction", "--quick",
             "--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces",
             "--skip-dump-date", config["DB_NAME"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in proc.stdout:
            match = TABLE_LINE.match(line)
            if match:
                progress(f"  {match.group(1).decode()}...")
            out.write(line)
        error = proc.stderr.read().decode(errors="replace").strip()
        proc.wait()
    if proc.returncode != 0:
        os.unlink(partial)
        raise RespaldoError(f"mariadb-dump falló: {error.splitlines()[-1] if error else proc.returncode}")
    cnx = _connect(config)
    try:
        if schema_version(cnx) != version:
            os.unlink(partial)
            raise RespaldoError("se aplicó una migración durante el respaldo; repítalo")
    finally:
        cnx.close()
    os.replace(partial, salida)
    size = os.path.getsize(salida)
    progress(f"Respaldo escrito en {salida}: {size / 1e6:.1f} MB, esquema {version}, "
             f"{time.monotonic() - started:.1f} s.")
    return size


def read_version(entrada):
    """Schema version written in a backup's first line; RespaldoError if it is not one."""
    try:
        with gzip.open(entrada, "rb") as f:
            first = f.readline(200)
    except (OSError, EOFError) as err:
        raise RespaldoError(f"{entrada} no es un respaldo gzip legible ({err})") from None
    match = HEADER_PATTERN.match(first)
    if not match:
        raise RespaldoError(f"{entrada} no es un respaldo de `flask --app app respaldar`")
    return int(match.group(1))


GENERACIONES = {table: f"SELECT Generacion FROM {table} WHERE ID = 1"
                for table in ("Generacion_Cache", "Generacion_Sesion")}


def _generation(cur, table="Generacion_Cache"):
    """The generation of the caches (or of the sessions), or None (no table or no row)."""
    try:
        cur.execute(GENERACIONES[table])
    except mysql.connector.ProgrammingError:
        return None
    row = cur.fetchone()
    return None if row is None else row[0]


# Past every generation a process may have seen: more than the changes a restore can race with.
SALTO_SESIONES = 1 << 32


def _new_session_generation(cur, desde=0):
    """Write a session generation above `desde`, the current one and the clock (microseconds):
    above any a process may remember, even after a restore that failed half-way."""
    nueva = max(desde, _generation(cur, "Generacion_Sesion") or 0,
                int(time.time() * 1_000_000)) + SALTO_SESIONES
    cur.execute("INSERT INTO Generacion_Sesion (ID, Generacion) VALUES (1, %s) "
                "ON DUPLICATE KEY UPDATE Generacion = VALUES(Generacion)", (nueva,))
    return nueva


def restore(config, entrada, progress, cache_check_s):
    """Replace the database with the backup `entrada`, migrate it, revoke every session, void
    unused invitations and start a new cache generation; returns the migrations applied.

    `cache_check_s` is how often a serving process re-reads the generation: the restore waits
    that long after emptying it, so that no process still serves from its cache while tables
    are replaced.
    """
    version = read_version(entrada)
    known = len(migraciones.available())
    if version > known:
        raise RespaldoError(f"el respaldo tiene el esquema {version} y este código sólo conoce "
                            f"hasta el {known}: actualice la aplicación (no se ha cambiado nada)")
    mariadb = _tool("mariadb", "mysql")
    name = config["DB_NAME"]
    progress(f"Restaurando {entrada} (esquema {version}) en {name}...")
    server = _connect(config, database=False)
    cur = server.cursor(buffered=True)
    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name.replace('`', '``')}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    server.database = name
    before = _generation(cur)
    # The serving processes stop using the sessions they remember (sesiones.SesionesRecordadas)
    # from now on, and again at the end: each time a generation none of them can have seen.
    sesiones = _new_session_generation(cur) if _generation(cur, "Generacion_Sesion") else 0
    if before is not None:
        cur.execute("DELETE FROM Generacion_Cache")
        progress(f"Cachés desactivadas; esperando {cache_check_s + 0.5:.1f} s a los procesos...")
        time.sleep(cache_check_s + 0.5)
    # Tables the backup does not have (newer than it) must go too: the restored database is
    # the backup's, then migrated, never a mix.
    cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                (name,))
    tables = [row[0] for row in cur.fetchall()]
    if tables:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        cur.execute("DROP TABLE IF EXISTS " + ", ".join(
            f"`{t.replace('`', '``')}`" for t in tables))
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
    started = time.monotonic()
    with _client_options(config) as options, gzip.open(entrada, "rb") as source:
        proc = subprocess.Popen(
            [mariadb, f"--defaults-extra-file={options}", "--default-character-set=utf8mb4",
             "--batch", name], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        table, skipping = None, False
        try:
            for line in source:
                match = TABLE_LINE.match(line)
                if match:
                    table = match.group(1).decode()
                    progress(f"  {table}...")
                if skipping or line.startswith(SKIPPED):
                    skipping = not line.rstrip().endswith(b";")
                    continue
                proc.stdin.write(line)
                # A session of the backup must not work for a moment: revoked as soon as its
                # rows are in (and again at the end).
                if table == "Sesion" and line.startswith(b"UNLOCK TABLES"):
                    proc.stdin.write(b"UPDATE Sesion SET Revocada = TRUE;\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass
        error = proc.stderr.read().decode(errors="replace").strip()
        proc.wait()
    if proc.returncode != 0:
        raise RespaldoError(f"la carga falló: {error.splitlines()[-1] if error else proc.returncode}"
                            " (la base quedó a medias: repita la restauración)")
    progress(f"Datos cargados en {time.monotonic() - started:.1f} s.")
    applied = migraciones.migrate(server, echo=progress)
    cur.execute("UPDATE Sesion SET Revocada = TRUE WHERE Revocada = FALSE")
    progress(f"Sesiones revocadas: {cur.rowcount}.")
    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = 'Invitacion'", (name,))
    if cur.fetchone()[0]:
        cur.execute("UPDATE Invitacion SET Expira_En = UTC_TIMESTAMP() "
                    "WHERE Usada_En IS NULL AND Expira_En > UTC_TIMESTAMP()")
        progress(f"Invitaciones sin usar anuladas: {cur.rowcount}.")
    restored = _generation(cur)
    nueva = max(before or 0, restored or 0) + 1
    cur.execute("INSERT INTO Generacion_Cache (ID, Generacion) VALUES (1, %s) "
                "ON DUPLICATE KEY UPDATE Generacion = VALUES(Generacion)", (nueva,))
    _new_session_generation(cur, sesiones)
    cur.close()
    server.close()
    return applied
