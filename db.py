"""The per-process connection pool, the connection lent to each request, and SQL helpers."""

import os
import queue
import threading
import time
from contextlib import contextmanager

import mysql.connector
from _mysql_connector import MySQLInterfaceError
from flask import current_app, g
import flask_caching
from mysql.connector import errorcode, errors
from mysql.connector.connection_cext import CMySQLConnection
from mysql.connector.constants import FieldType

from errors import ApiError

# Errors meaning the server or the link is gone (not a bad statement): answer 503 and drop
# the connection instead of lending it again.
CONNECTION_ERRNOS = {
    errorcode.CR_CONNECTION_ERROR, errorcode.CR_CONN_HOST_ERROR, errorcode.CR_SERVER_GONE_ERROR,
    errorcode.CR_SERVER_LOST, errorcode.CR_SERVER_LOST_EXTENDED, errorcode.ER_SERVER_SHUTDOWN,
    errorcode.ER_CON_COUNT_ERROR, errorcode.ER_QUERY_INTERRUPTED, 2055,
}
DEADLOCK_ERRNOS = {errorcode.ER_LOCK_DEADLOCK}
CHECKOUT_WAIT_S = 2.0

GENERATION_CHECK_S = 1.0


class Cache(flask_caching.Cache):
    """flask-caching's Cache with its keys under the generation of Generacion_Cache.

    `flask --app app restaurar` deletes the generation while it replaces the data and writes a
    new one when done; each process re-reads it at most once per GENERATION_CHECK_S, uses no
    cache while there is none, and never again reads what it cached under an older one. So a
    restore flushes the per-process SimpleCache of every worker without a query per request.
    """

    def _key(self, key):
        state = current_app.extensions.setdefault("generacion_cache", [None, float("-inf")])
        now = time.monotonic()
        if now - state[1] >= GENERATION_CHECK_S:
            try:
                row = query_one("SELECT Generacion FROM Generacion_Cache WHERE ID = 1")
            except errors.ProgrammingError:
                row = None
            generation = row and row["Generacion"]
            if generation != state[0] and current_app.config["CACHE_TYPE"] == "SimpleCache":
                # Unreachable under the new keys anyway; cleared to free the memory now.
                self.cache.clear()
            state[:] = [generation, now]
        return None if state[0] is None else f"g{state[0]}:{key}"

    def get(self, key):
        key = self._key(key)
        return None if key is None else super().get(key)

    def set(self, key, value, timeout=None):
        key = self._key(key)
        return False if key is None else super().set(key, value, timeout=timeout)

    def delete(self, key):
        key = self._key(key)
        return False if key is None else super().delete(key)


# Rows that every authenticated user may read alike (never a response of one user), kept
# briefly; SimpleCache is per process, so several workers need CACHE_REDIS_URL.
cache = Cache()


class _Unmeasured:
    """Stand-in for a metric while /metrics is off (metricas.py puts the real ones here)."""

    def inc(self, amount=1):
        pass

    def dec(self, amount=1):
        pass

    def labels(self, *values):
        return self


pool_in_use = pool_waiting = db_errors_total = _Unmeasured()


class Conexion(CMySQLConnection):
    """mysql-connector's C-extension connection with a lean loop for whole result sets.

    9.7.0's get_rows() walks every cell of every row in Python to find VECTOR columns, even
    when the result has none: 40 % of the time of an 800-row medical history. When none of
    the columns is a VECTOR (and no converter class, raw mode or partial fetch is asked for),
    the rows the C extension has already converted are taken as they come; anything else
    goes to the driver's own code.
    """

    def get_rows(self, count=None, binary=False, columns=None, raw=None, prep_stmt=None,
                 **kwargs):
        if (count is not None or prep_stmt is not None or raw or self._raw or self.converter
                or not self.unread_result
                or any(c[1] == FieldType.VECTOR for c in self._columns or ())):
            return super().get_rows(count, binary, columns, raw, prep_stmt, **kwargs)
        fetch_row = self._cmysql.fetch_row
        rows = []
        try:
            row = fetch_row()
            while row:
                rows.append(row)
                row = fetch_row()
            # fetch_eof_columns()["eof"] without rebuilding the column list it also returns
            # (the cursor has it already): 19 tuples for a patient row, for nothing.
            eof = {"status_flag": self._server_status,
                   "warning_count": self._cmysql.st_warning_count()}
        except MySQLInterfaceError as err:
            self.free_result()
            if hasattr(err, "errno"):
                raise errors.get_mysql_exception(err.errno, msg=err.msg,
                                                 sqlstate=err.sqlstate) from err
            raise errors.InterfaceError(str(err)) from err
        self.free_result()
        return rows, eof


class DatabaseUnavailable(ApiError):
    """The database cannot be reached or the pool has no free connection."""

    def __init__(self):
        super().__init__(503, "servicio_no_disponible",
                         "La base de datos no está disponible; inténtelo de nuevo en unos segundos",
                         headers={"Retry-After": "2"})


class Pool:
    """Connections of one process.

    Lends connections without the ping and session reset that mysql-connector's own pool does
    on every checkout (two extra round trips per request). A connection that failed is closed
    instead of returned, and the failure retires every idle connection of the same generation,
    so the first requests after a database restart do not trip on dead sockets.
    """

    def __init__(self, size, **connect_args):
        self.size = size
        self._args = connect_args
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._generation = 0

    def acquire(self):
        if not self._slots.acquire(blocking=False):
            pool_waiting.inc()
            try:
                if not self._slots.acquire(timeout=CHECKOUT_WAIT_S):
                    db_errors_total.labels("pool_agotado").inc()
                    raise DatabaseUnavailable()
            finally:
                pool_waiting.dec()
        pool_in_use.inc()
        try:
            while True:
                try:
                    cnx = self._idle.get_nowait()
                except queue.Empty:
                    cnx = Conexion(**self._args)
                    cnx.generation = self._generation
                    return cnx
                if cnx.generation == self._generation:
                    return cnx
                _close_quietly(cnx)
        except errors.Error:
            self._slots.release()
            pool_in_use.dec()
            db_errors_total.labels("conexion").inc()
            raise DatabaseUnavailable() from None

    def release(self, cnx, broken=False):
        try:
            if broken:
                self._generation += 1
                _close_quietly(cnx)
            elif cnx.in_transaction:
                cnx.rollback()
                self._idle.put(cnx)
            else:
                self._idle.put(cnx)
        except errors.Error:
            _close_quietly(cnx)
        finally:
            self._slots.release()
            pool_in_use.dec()


def _close_quietly(cnx):
    try:
        cnx.close()
    except errors.Error:
        pass


def connect_args(config):
    """mysql-connector arguments from the app config (UTC session, short timeouts)."""
    return dict(
        host=config["DB_HOST"], port=config["DB_PORT"], user=config["DB_USER"],
        password=config["DB_PASSWORD"], database=config["DB_NAME"],
        charset="utf8mb4", collation="utf8mb4_unicode_ci", autocommit=True,
        time_zone="+00:00", connection_timeout=3, read_timeout=15, write_timeout=15,
        use_pure=False,
    )


_pools = {}
_pools_lock = threading.Lock()


def get_pool():
    """The pool of this process for this app, created on first use (after gunicorn forks)."""
    key = (os.getpid(), id(current_app._get_current_object()))
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                cfg = current_app.config
                pool = _pools[key] = Pool(cfg["DB_POOL_SIZE"], **connect_args(cfg))
    return pool


def get_db():
    """The connection lent to this request, borrowed on first use."""
    cnx = g.get("db")
    if cnx is None:
        cnx = g.db = get_pool().acquire()
        g.db_broken = False
    return cnx


def close_db(exc=None):
    """Give the request's connection back to the pool (teardown)."""
    cnx = g.pop("db", None)
    if cnx is not None:
        get_pool().release(cnx, broken=g.pop("db_broken", False))


def _cursor(sql, params):
    cnx = get_db()
    # One buffered cursor per connection, for the connection's life: the C extension's
    # cnx.cursor() pings the server first, a round trip per statement.
    cur = getattr(cnx, "historial_cursor", None)
    try:
        if cur is None:
            cur = cnx.historial_cursor = cnx.cursor(buffered=True)
        cur.execute(sql, params)
    except errors.Error as err:
        _note_failure(err)
        raise
    return cur


def _note_failure(err):
    if is_unavailable(err):
        g.db_broken = True
    db_errors_total.labels("conexion" if is_unavailable(err) else "bloqueo" if is_deadlock(err)
                           else "integridad" if isinstance(err, errors.IntegrityError)
                           else "otro").inc()


# Rows are made dicts here rather than by the driver's dictionary cursor, which rebuilds the
# column names for every row (a quarter of the time of a 800-row medical history).

def query_one(sql, params=()):
    """First row of the result as a dict, or None."""
    cur = _cursor(sql, params)
    row = cur.fetchone()
    return None if row is None else dict(zip(cur.column_names, row))


def query_all(sql, params=()):
    """All rows of the result as dicts."""
    cur = _cursor(sql, params)
    names = cur.column_names
    return [dict(zip(names, row)) for row in cur.fetchall()]


def execute(sql, params=()):
    """Run one statement; return the new row id for an INSERT, else the affected row count."""
    cur = _cursor(sql, params)
    return cur.lastrowid or cur.rowcount


def executemany(sql, rows):
    """Run one statement for many parameter rows (batched INSERT)."""
    cnx = get_db()
    cur = cnx.cursor()
    try:
        cur.executemany(sql, rows)
        return cur.rowcount
    except errors.Error as err:
        _note_failure(err)
        raise
    finally:
        cur.close()


@contextmanager
def transaction():
    """Run the block in one transaction: commit at the end, roll back on any error."""
    cnx = get_db()
    if cnx.in_transaction:
        # Nested use joins the outer transaction.
        yield cnx
        return
    cnx.start_transaction()
    try:
        yield cnx
        cnx.commit()
    except BaseException:
        try:
            cnx.rollback()
        except errors.Error:
            g.db_broken = True
        raise


def is_deadlock(err):
    """True for a deadlock: InnoDB rolled the transaction back and it may be retried."""
    return isinstance(err, errors.DatabaseError) and err.errno in DEADLOCK_ERRNOS


def is_lock_timeout(err):
    """True when a lock wait timed out (the transaction is rolled back by `transaction()`)."""
    return isinstance(err, errors.DatabaseError) and err.errno == errorcode.ER_LOCK_WAIT_TIMEOUT


def is_unavailable(err):
    """True when the error means the database is unreachable (answered with 503)."""
    # OperationalError is the driver's class for a lost or refused link (SQLSTATE 08).
    return isinstance(err, (errors.InterfaceError, errors.OperationalError, errors.PoolError)) or (
        isinstance(err, errors.Error) and getattr(err, "errno", None) in CONNECTION_ERRNOS)


def run_script(cnx, path):
    """Execute a SQL file statement by statement on a raw connection (init-db, tests)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    statements, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current))
            current = []
    cur = cnx.cursor()
    for statement in statements:
        cur.execute(statement)
        if cur.with_rows:
            cur.fetchall()
    cur.close()


def wait_for_server(args, seconds=30):
    """Connect with retries until the server answers (start-up of a fresh server)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return mysql.connector.connect(**args)
        except errors.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
