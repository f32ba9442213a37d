"""The per-process connection pool, the connection lent to each request, and SQL helpers."""

import logging
import os
import queue
import re
import threading
import time
from contextlib import contextmanager

from _mysql_connector import MySQLInterfaceError
from flask import current_app, g
from mysql.connector import errorcode, errors

from config import parse_nodos
from conexion import Conexion
from errors import ApiError, api_error_response, error_interno

log = logging.getLogger("historial.errors")

# Errors meaning the server or the link is gone (not a bad statement): answer 503 and drop
# the connection instead of lending it again.
CONNECTION_ERRNOS = {
    errorcode.CR_CONNECTION_ERROR, errorcode.CR_CONN_HOST_ERROR, errorcode.CR_SERVER_GONE_ERROR,
    errorcode.CR_SERVER_LOST, errorcode.CR_SERVER_LOST_EXTENDED, errorcode.ER_SERVER_SHUTDOWN,
    errorcode.ER_CON_COUNT_ERROR, errorcode.ER_QUERY_INTERRUPTED, 2055,
    # A Galera node outside the primary component, or not yet synced, refuses every query
    # ("WSREP has not yet prepared node for application use"): another node must serve.
    errorcode.ER_UNKNOWN_COM_ERROR,
}
# InnoDB's deadlock and Galera's certification conflict or brute-force abort: the transaction
# was rolled back and may be run again.
DEADLOCK_ERRNOS = {errorcode.ER_LOCK_DEADLOCK}
CHECKOUT_WAIT_S = 2.0
NODO_CAIDO_S = 10.0   # a node that did not answer is tried last for this long
PREFERIR_S = 30.0     # when serving from a later node, try the earlier ones again this often
IDLE_PING_S = 5.0     # a connection idle longer is pinged before it is lent

# What a new connection learns about its server: whether it is a Galera node, and if so
# whether it is synced and part of the primary component (the only state it may serve in).
# @@wsrep_on exists on every MariaDB server built with Galera support (Debian's is), on or off.
ESTADO_NODO = """
    SELECT @@wsrep_on AS galera,
           (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
             WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT') AS estado,
           (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
             WHERE VARIABLE_NAME = 'WSREP_CLUSTER_STATUS') AS componente
"""
# Causal read on a Galera node: the statement waits until the node has applied every
# transaction committed anywhere in the cluster before it started (7 = reads, updates and
# deletes, inserts). One statement, so nothing has to be reset afterwards.
SYNC_PREFIX = "SET STATEMENT wsrep_sync_wait = 7 FOR "

READ = re.compile(r"\s*(?:SELECT|\()", re.IGNORECASE)


class _Unmeasured:
    """Stand-in for a metric while /metrics is off (metricas.py puts the real ones here)."""

    def inc(self, amount=1):
        pass

    def dec(self, amount=1):
        pass

    def labels(self, *values):
        return self


pool_in_use = pool_waiting = db_errors_total = _Unmeasured()


class DatabaseUnavailable(ApiError):
    """The database cannot be reached or the pool has no free connection."""

    def __init__(self):
        super().__init__(503, "servicio_no_disponible",
                         "La base de datos no está disponible; inténtelo de nuevo en unos segundos",
                         headers={"Retry-After": "2"})


class NodoNoDisponible(ApiError):
    """The serving Galera node is not synced or not in the primary component (health check)."""

    def __init__(self, servidor):
        super().__init__(503, "servicio_no_disponible",
                         "El nodo de la base de datos no está sincronizado con el clúster",
                         detalles=[{"campo": "nodo", "mensaje": f"{servidor['nodo']}: "
                                    f"{servidor['estado']}, {servidor['componente']}"}],
                         headers={"Retry-After": "2"})


class Pool:
    """Connections of one process, to one server or to the first usable node of a cluster.

    Lends connections without the ping and session reset that mysql-connector's own pool does
    on every checkout (two extra round trips per request). A connection that failed is closed
    instead of returned, and the failure retires every idle connection of the same generation,
    so the first requests after a database restart do not trip on dead sockets.

    With several nodes (DB_HOST=host[:port],...) new connections go to the serving node; when
    it does not answer, or answers but is not a synced member of the primary component, the
    next nodes are tried in list order and the first usable one serves from then on (the
    generation changes, so connections to the old node are closed as they come back). A node
    that failed is tried last for NODO_CAIDO_S. While a later node serves, the earlier ones are
    tried again every PREFERIR_S: a node that rejoined takes its place back, so every app
    server returns to the first node of its list.
    """

    def __init__(self, size, nodos=None, **connect_args):
        self.size = size
        self.nodos = list(nodos or [(connect_args.pop("host"), connect_args.pop("port"))])
        connect_args.pop("host", None)
        connect_args.pop("port", None)
        self._args = connect_args
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._generation = 0
        self._lock = threading.Lock()
        self.actual = 0                 # index in self.nodos of the serving node
        self._desde = time.monotonic()  # when it started serving
        self._caido = {}                # node index -> monotonic time until it is tried last

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
            if self.actual and time.monotonic() - self._desde > PREFERIR_S:
                cnx = self._prefer_earlier()
                if cnx is not None:
                    return cnx
            while True:
                try:
                    cnx = self._idle.get_nowait()
                except queue.Empty:
                    return self._connect()
                if cnx.generation == self._generation:
                    # Idle for long, its server may have died or closed it since: one ping
                    # (only then) instead of a failed request.
                    if time.monotonic() - cnx.idle_since < IDLE_PING_S or cnx.is_connected():
                        return cnx
                    self._generation += 1
                _close_quietly(cnx)
        except (errors.Error, MySQLInterfaceError):
            self._slots.release()
            pool_in_use.dec()
            db_errors_total.labels("conexion").inc()
            raise DatabaseUnavailable() from None
        except BaseException:
            self._slots.release()
            raise

    def release(self, cnx, broken=False):
        try:
            if broken:
                if cnx.generation == self._generation:
                    self._generation += 1
                _close_quietly(cnx)
            else:
                if cnx.in_transaction:
                    cnx.rollback()
                cnx.idle_since = time.monotonic()
                self._idle.put(cnx)
        except (errors.Error, MySQLInterfaceError):
            _close_quietly(cnx)
        finally:
            self._slots.release()
            pool_in_use.dec()

    def _open(self, i):
        """A new connection to node i if it is usable (its state checked), else None."""
        host, port = self.nodos[i]
        try:
            cnx = Conexion(host=host, port=port, **self._args)
        except (errors.Error, MySQLInterfaceError):
            self._caido[i] = time.monotonic() + NODO_CAIDO_S
            return None
        try:
            estado = estado_nodo(cnx)
        except (errors.Error, MySQLInterfaceError):
            estado = None
        if estado is None or not estado["usable"]:
            _close_quietly(cnx)
            self._caido[i] = time.monotonic() + NODO_CAIDO_S
            return None
        self._caido.pop(i, None)
        # The statement cursors of the connection's life, made now: cnx.cursor() pings (see
        # _cursor and executemany).
        cnx.historial_cursor = cnx.cursor(buffered=True)
        cnx.lote_cursor = cnx.cursor()
        cnx.nodo = f"{host}:{port}"
        cnx.galera = estado["galera"]
        cnx.generation = self._generation
        return cnx

    def _switch(self, i):
        """Node i serves from now on; connections to the previous node are retired."""
        with self._lock:
            if i != self.actual:
                self.actual = i
                self._generation += 1
            self._desde = time.monotonic()

    def _connect(self):
        """A new connection: to the serving node, else to the first usable node in order."""
        actual = self.actual
        now = time.monotonic()
        order = sorted(range(len(self.nodos)),
                       key=lambda i: (i != actual, self._caido.get(i, 0) > now, i))
        for i in order:
            cnx = self._open(i)
            if cnx is not None:
                if i != actual:
                    self._switch(i)
                    cnx.generation = self._generation
                return cnx
        raise DatabaseUnavailable()

    def _prefer_earlier(self):
        """Serving from a later node: a connection to an earlier one that is usable again."""
        with self._lock:
            if time.monotonic() - self._desde <= PREFERIR_S:
                return None   # another thread is trying right now, or has just tried
            self._desde = time.monotonic()
        for i in range(self.actual):
            cnx = self._open(i)
            if cnx is not None:
                self._switch(i)
                cnx.generation = self._generation
                return cnx
        return None


def estado_nodo(cnx):
    """{galera, estado, componente, usable} of the server behind a raw connection.

    A plain server is always usable; a Galera node only when it is a synced member of the
    primary component (wsrep_local_state_comment 'Synced', wsrep_cluster_status 'Primary').
    """
    cur = cnx.cursor()
    try:
        try:
            cur.execute(ESTADO_NODO)
        except errors.ProgrammingError:
            # A server without @@wsrep_on (MySQL, or MariaDB built without Galera).
            return {"galera": False, "estado": None, "componente": None, "usable": True}
        galera, estado, componente = cur.fetchone()
    finally:
        cur.close()
    galera = bool(int(galera or 0)) and componente is not None
    return {"galera": galera, "estado": estado if galera else None,
            "componente": componente if galera else None,
            "usable": not galera or (estado == "Synced" and componente == "Primary")}


def _close_quietly(cnx):
    try:
        cnx.close()
    except (errors.Error, MySQLInterfaceError):
        pass


def estado_servidor():
    """estado_nodo() of the request's connection, plus `nodo` (host:port) it is connected to."""
    cnx = get_db()
    with _driver_errors():
        estado = estado_nodo(cnx)
    return {"nodo": getattr(cnx, "nodo", None), **estado}


def nodos(config):
    """The (host, port) of the server or of each cluster node, in order of preference.

    Read from DB_HOST and DB_PORT as they are in `config` (tests and tools override them),
    with the rules of config.parse_nodos (DB_NODOS holds the same list for the environment).
    """
    return parse_nodos(config["DB_HOST"], int(config.get("DB_PORT") or 3308))


def connect_args(config):
    """mysql-connector arguments from the app config (UTC session, short timeouts), for the
    first node of DB_HOST (init-db, tests and tools connect there; the pool tries them all)."""
    host, port = nodos(config)[0]
    return dict(
        host=host, port=port, user=config["DB_USER"],
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
                pool = _pools[key] = Pool(cfg["DB_POOL_SIZE"], nodos(cfg), **connect_args(cfg))
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


class NoConfirmado(Exception):
    """The value a request's pending condition expected has changed (`confirmar_antes`):
    nothing the request read since was used and nothing it would have written was kept."""


def confirmar_antes(sql, esperado):
    """Make the request's next statement conditional: `sql` (one value) must still give
    `esperado`, or NoConfirmado is raised before any result is used and before any write.

    No round trip of its own when the next statement is a read outside a transaction (sent
    first, in the same round trip) or the audited read of `query_one_after` (a condition of
    its write); before another write, a transaction or an answer that used no statement
    (`confirmar`), one query. On Galera it sees every commit of any node (wsrep_sync_wait).
    """
    g.confirmar = (sql, esperado)


@contextmanager
def _condicion_pendiente():
    """The request's pending condition (or None), taken to be sent with a statement: it stays
    pending unless the block ends well (it held)."""
    pending = g.pop("confirmar", None)
    try:
        yield pending
    except BaseException:
        if pending is not None:
            g.confirmar = pending
        raise


def confirmar():
    """Run the request's pending condition now, if there is one (NoConfirmado if it fails).
    The condition stays pending until it has held: an error leaves it for the next try."""
    with _condicion_pendiente() as pending:
        if pending is not None:
            with sincronizado():
                row = _cursor(pending[0], ()).fetchone()
            if row is None or row[0] != pending[1]:
                raise NoConfirmado()


@contextmanager
def _driver_errors():
    """The driver's errors as mysql.connector exceptions (the C extension raises some raw),
    noted on the request: a lost server drops the connection, metrics count them."""
    try:
        yield
    except MySQLInterfaceError as err:
        raise translate(err) from err
    except errors.Error as err:
        _note_failure(err)
        raise


def _cursor(sql, params):
    cnx = get_db()
    if g.get("confirmar") is not None and (cnx.in_transaction or not READ.match(sql)):
        confirmar()
    # One buffered cursor per connection, for the connection's life: the C extension's
    # cnx.cursor() pings the server first, a round trip per statement.
    cur = getattr(cnx, "historial_cursor", None)
    galera = getattr(cnx, "galera", False)
    with _condicion_pendiente() as pending, _driver_errors():
        if cur is None:
            cur = cnx.historial_cursor = cnx.cursor(buffered=True)
        if g.get("db_sync") and galera:
            sql = SYNC_PREFIX + sql
        if pending is None:
            cur.execute(sql, params)
            return cur
        cur.execute((SYNC_PREFIX if galera else "") + pending[0] + ";\n" + sql, params)
        row = cur.fetchone()
        cur.nextset()
        if row is None or row[0] != pending[1]:
            raise NoConfirmado()
    return cur


def _note_failure(err):
    if is_unavailable(err):
        g.db_broken = True
    db_errors_total.labels("conexion" if is_unavailable(err) else "bloqueo" if is_deadlock(err)
                           else "integridad" if isinstance(err, errors.IntegrityError)
                           else "otro").inc()


# Rows are made dicts here rather than by the driver's dictionary cursor, which rebuilds the
# column names for every row (a large share of the time of a long medical history).

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


def query_one_after(write_sql, write_params, sql, params=()):
    """Run a write, then return the first row of `sql` as a dict (or None): both statements
    sent in one round trip. Without an open transaction the write commits on its own before
    the read runs; if the write fails, the read is not run.

    `write_sql` must end in its WHERE conditions: a pending `confirmar_antes` condition is
    added to them (the write does nothing if it fails), and its value is read last, in the
    same round trip, to tell a failed condition (NoConfirmado) from a read that found nothing.
    """
    cnx = get_db()
    if cnx.in_transaction:
        confirmar()   # as before any write in a transaction: the write carries none
    with _condicion_pendiente() as pending:
        if pending is not None:
            write_sql = ((SYNC_PREFIX if getattr(cnx, "galera", False) else "") + write_sql
                         + " AND (" + pending[0] + ") = %s")
            write_params = (*write_params, pending[1])
            sql += ";\n" + pending[0]   # after the write's wait: no second one
        cur = _cursor(write_sql + ";\n" + sql, (*write_params, *params))
        with _driver_errors():
            cur.nextset()
            names, row = cur.column_names, cur.fetchone()
            if pending is not None:
                cur.nextset()
                value = cur.fetchone()
        if row is None and pending is not None and (value is None or value[0] != pending[1]):
            raise NoConfirmado()
    return None if row is None else dict(zip(names, row))


def execute(sql, params=()):
    """Run one statement; return the new row id for an INSERT, else the affected row count."""
    cur = _cursor(sql, params)
    return cur.lastrowid or cur.rowcount


def executemany(sql, rows):
    """Run one statement for many parameter rows (batched INSERT)."""
    cnx = get_db()
    confirmar()
    # Not cnx.cursor(): it pings first, and on a Galera node the ping of a transaction that a
    # replicated write has just aborted fails, which would read as a lost server (503) instead
    # of the deadlock the next statement reports (and the request retries).
    cur = getattr(cnx, "lote_cursor", None)
    with _driver_errors():
        if cur is None:
            cur = cnx.lote_cursor = cnx.cursor()
        cur.executemany(sql, rows)
        return cur.rowcount


@contextmanager
def transaction():
    """Run the block in one transaction: commit at the end, roll back on any error.

    A failed COMMIT (a Galera certification conflict surfaces there, as a deadlock) is raised
    as the driver's DatabaseError, like a failed statement, so that `is_deadlock` sees it and
    the whole request is retried; the connection is rolled back and stays usable, or is
    dropped when the link is gone.
    """
    cnx = get_db()
    if cnx.in_transaction:
        # Nested use joins the outer transaction.
        yield cnx
        return
    # Before it starts: a condition checked inside would open the transaction's snapshot
    # before the locks its first statements wait for (db.cerrojo).
    confirmar()
    cnx.start_transaction()
    try:
        yield cnx
        with _driver_errors():
            cnx.commit()
    except BaseException:
        try:
            cnx.rollback()
        except (errors.Error, MySQLInterfaceError):
            g.db_broken = True
        raise


def translate(err):
    """The mysql.connector exception for a raw C-extension error (noted on the request)."""
    if getattr(err, "errno", None):
        new = errors.get_mysql_exception(err.errno, msg=err.msg, sqlstate=err.sqlstate)
    else:
        new = errors.InterfaceError(str(err))
    _note_failure(new)
    return new


@contextmanager
def sincronizado():
    """Statements in the block see every write committed on any node of a Galera cluster.

    For reads that guard security or integrity (session validity, login throttling). On a
    Galera node each statement waits (wsrep_sync_wait) until the node has applied everything
    committed in the cluster before it; on a plain server nothing changes and nothing is sent.
    """
    previous = g.get("db_sync", False)
    g.db_sync = True
    try:
        yield
    finally:
        g.db_sync = previous


def cerrojo(*claves):
    """Write the serialisation rows `claves` (Cerrojo table) in the current transaction.

    Two transactions that write one row conflict on every server: on one MariaDB the second
    waits for the row lock; on a Galera cluster, where a `SELECT ... FOR UPDATE` lock stays on
    its node, certification lets only the first to commit through and the other is rolled
    back as a deadlock (and the request retried). Taken first in the transaction, in sorted
    order (no lock-order deadlocks), and as a causal write on Galera, so that the reads that
    follow see every transaction that took one of these rows before, on any node.
    """
    claves = sorted(set(claves))
    with sincronizado():
        execute("INSERT INTO Cerrojo (Clave) VALUES " + ", ".join(["(%s)"] * len(claves))
                + " ON DUPLICATE KEY UPDATE Cambios = Cambios + 1", claves)


def is_deadlock(err):
    """True for a deadlock or a Galera certification conflict: the transaction was rolled
    back and may be retried (a raw C-extension error too, should one get this far)."""
    return (isinstance(err, (errors.DatabaseError, MySQLInterfaceError))
            and getattr(err, "errno", None) in DEADLOCK_ERRNOS)


def is_lock_timeout(err):
    """True when a lock wait timed out (the transaction is rolled back by `transaction()`)."""
    return isinstance(err, errors.DatabaseError) and err.errno == errorcode.ER_LOCK_WAIT_TIMEOUT


def register(app):
    """Answer a database outage with 503 and mark the request's connection as broken."""
    def handle_db_error(err):
        if not is_unavailable(err):
            return error_interno()
        g.db_broken = True
        log.warning("base de datos no disponible: %s", type(err).__name__)
        return api_error_response(DatabaseUnavailable())

    app.register_error_handler(errors.Error, handle_db_error)
    app.register_error_handler(MySQLInterfaceError, handle_db_error)


def is_unavailable(err):
    """True when the error means the database is unreachable (answered with 503)."""
    # OperationalError is the driver's class for a lost or refused link (SQLSTATE 08).
    return isinstance(err, (errors.InterfaceError, errors.OperationalError, errors.PoolError)) or (
        isinstance(err, (errors.Error, MySQLInterfaceError))
        and getattr(err, "errno", None) in CONNECTION_ERRNOS)
