"""Helpers of the migration, backup and demo tests: scratch databases on the test server, a
comparable picture of a schema from information_schema, and running the CLI as a process."""

import hashlib
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager

import mysql.connector

import db as db_module
import migraciones

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLASK = os.path.join(ROOT, ".venv", "bin", "flask")
BASE_FILE = os.path.join(ROOT, "Base de Datos Final.sql")
LEGACY_DIR = os.path.join(ROOT, "tests", "esquemas_anteriores")
# Bookkeeping of the migrations themselves, not part of the schema the file describes.
NOT_SCHEMA = ("Migracion",)


def server_connection(config, database=None):
    """A raw autocommit connection to the test server (on `database` if given)."""
    args = db_module.connect_args(config)
    args.pop("database")
    cnx = mysql.connector.connect(**args)
    if database:
        cnx.database = database
    return cnx


@contextmanager
def scratch_database(config, prefix="t"):
    """A new empty database, dropped afterwards; yields its name."""
    name = f"{config['DB_NAME'][:40]}_{prefix}_{uuid.uuid4().hex[:6]}"
    cnx = server_connection(config)
    cur = cnx.cursor()
    cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cnx.close()


def load_sql_file(config, database, path):
    """Run a schema file on `database` the way `mysql < file` would."""
    cnx = server_connection(config, database)
    cur = cnx.cursor()
    with open(path, encoding="utf-8") as f:
        for statement in migraciones.statements(f.read()):
            cur.execute(statement)
    cnx.close()


def schema_picture(config, database):
    """Everything information_schema says about the tables of `database` that a migration can
    change: tables, columns (type, default, nullability, generation, collation), indexes,
    primary/unique/foreign keys with their rules, CHECK clauses and triggers. Migracion left out."""
    cnx = server_connection(config)
    cur = cnx.cursor()
    queries = {
        "tables": "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION, TABLE_TYPE FROM "
                  "information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        "columns": "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, "
                   "COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_KEY, EXTRA, "
                   "GENERATION_EXPRESSION, COLUMN_COMMENT FROM information_schema.COLUMNS "
                   "WHERE TABLE_SCHEMA = %s",
        "indexes": "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, "
                   "SUB_PART, INDEX_TYPE, COLLATION FROM information_schema.STATISTICS "
                   "WHERE TABLE_SCHEMA = %s",
        "constraints": "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM "
                       "information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s",
        "key_columns": "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, "
                       "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM "
                       "information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_SCHEMA = %s",
        "foreign_keys": "SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, "
                        "REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
                        "WHERE CONSTRAINT_SCHEMA = %s",
        "checks": "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM "
                  "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s",
        "triggers": "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, "
                    "ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
    }
    picture = {}
    for kind, sql in queries.items():
        cur.execute(sql, (database,))
        picture[kind] = sorted((tuple(row) for row in cur.fetchall() if row[0] not in NOT_SCHEMA),
                               key=repr)
    cnx.close()
    return picture


def table_contents(config, database):
    """{table: (row count, digest of its rows)} of every table but Migracion."""
    cnx = server_connection(config, database)
    cur = cnx.cursor()
    cur.execute("SHOW TABLES")
    tables = [row[0] for row in cur.fetchall() if row[0] not in NOT_SCHEMA]
    contents = {}
    for table in tables:
        cur.execute(f"SELECT COUNT(*) FROM `{table}`")
        count = cur.fetchone()[0]
        # A digest of the rows themselves: CHECKSUM TABLE of a table with STORED generated
        # columns changes once a trigger is created on it (MariaDB 10.11), rows unchanged.
        cur.execute(f"SELECT * FROM `{table}`")
        rows = sorted(repr(row) for row in cur.fetchall())
        contents[table] = (count, hashlib.sha256("\n".join(rows).encode()).hexdigest())
    cnx.close()
    return contents


def flask_cli(database, *args, env=None, timeout=300, **popen):
    """`flask --app app <args>` on `database` as a separate process; returns CompletedProcess
    (or the Popen when `popen` asks for it)."""
    full_env = dict(os.environ, DB_NAME=database, **(env or {}))
    cmd = [FLASK, "--app", "app", *args]
    if popen.get("background"):
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@contextmanager
def app_on(database, **config):
    """An app of the code on another database (its own pool and cache)."""
    sys.path.insert(0, ROOT)
    import app as app_module

    yield app_module.create_app({"TESTING": True, "DB_NAME": database, **config})
