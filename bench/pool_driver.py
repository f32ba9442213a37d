"""Per-request cost of borrowing a connection and running one primary-key SELECT.

Compares mysql-connector's C extension with pure Python, and mysql-connector's own pool
(with and without pool_reset_session; it also pings on every checkout) with the project's
`db.Pool` (no ping, no reset). Run: .venv/bin/python bench/pool_driver.py [N]
"""

import os
import sys
import time

from dotenv import load_dotenv
from mysql.connector import pooling

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
load_dotenv()
import db  # noqa: E402

SQL = "SELECT ID_Rol AS id_rol, Nombre AS nombre FROM Rol WHERE ID_Rol = %s"


def args(use_pure):
    config = {k: os.environ.get(k) for k in ("DB_HOST", "DB_USER", "DB_PASSWORD", "DB_NAME")}
    config["DB_PORT"] = int(os.environ.get("DB_PORT", 3308))
    a = db.connect_args(config)
    a["use_pure"] = use_pure
    return a


def run_library_pool(use_pure, reset, n):
    pool = pooling.MySQLConnectionPool(pool_size=2, pool_reset_session=reset, **args(use_pure))
    started = time.perf_counter()
    for i in range(n):
        cnx = pool.get_connection()
        cur = cnx.cursor(dictionary=True, buffered=True)
        cur.execute(SQL, (1 + i % 4,))
        cur.fetchone()
        cur.close()
        cnx.close()
    return (time.perf_counter() - started) / n * 1e6


def run_project_pool(use_pure, n):
    pool = db.Pool(2, **args(use_pure))
    started = time.perf_counter()
    for i in range(n):
        cnx = pool.acquire()
        cur = cnx.cursor(dictionary=True, buffered=True)
        cur.execute(SQL, (1 + i % 4,))
        cur.fetchone()
        cur.close()
        pool.release(cnx)
    return (time.perf_counter() - started) / n * 1e6


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rows = []
    for use_pure in (False, True):
        driver = "puro Python" if use_pure else "extensión C"
        rows.append((driver, "pool de mysql-connector, reset_session=True",
                     run_library_pool(use_pure, True, n)))
        rows.append((driver, "pool de mysql-connector, reset_session=False",
                     run_library_pool(use_pure, False, n)))
        rows.append((driver, "db.Pool (sin ping ni reset)", run_project_pool(use_pure, n)))
    base = rows[2][2]
    print(f"{'driver':<12} {'pool':<46} {'µs/petición':>12} {'× db.Pool C':>12}")
    for driver, pool, us in rows:
        print(f"{driver:<12} {pool:<46} {us:>12.0f} {us / base:>12.2f}")
