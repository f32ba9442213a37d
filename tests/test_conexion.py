"""conexion.Conexion overrides private members of mysql-connector: fail loudly when the
driver changes.

Conexion.get_rows replaces the driver's own loop (see its docstring); it is only correct for
the driver version it was written against, so these tests pin that version, the signature and
the private members it reads, and compare its rows with the driver's on the real server.
"""

import datetime
import decimal
import inspect

import mysql.connector
from mysql.connector.connection_cext import CMySQLConnection

import conexion
import db as db_module


def test_driver_es_la_version_fijada():
    assert mysql.connector.__version__ == "9.7.0", (
        "conexion.Conexion.get_rows se escribió contra mysql-connector 9.7.0: revísela (o quítela "
        "si el bench dice que ya no compensa) antes de cambiar de versión")


def test_get_rows_tiene_la_firma_del_driver():
    ours = list(inspect.signature(conexion.Conexion.get_rows).parameters)
    theirs = list(inspect.signature(CMySQLConnection.get_rows).parameters)
    assert ours == theirs


def test_miembros_privados_que_usa_existen(app):
    cnx = conexion.Conexion(**db_module.connect_args(app.config))
    try:
        for name in ("_raw", "converter", "_columns", "_server_status", "_cmysql",
                     "unread_result", "free_result"):
            assert hasattr(cnx, name), name
        for name in ("fetch_row", "st_warning_count"):
            assert callable(getattr(cnx._cmysql, name)), name
    finally:
        cnx.close()


SQL = """SELECT 1 AS n, 'ñandú' AS t, CAST(2.50 AS DECIMAL(5,2)) AS d,
                DATE '2024-02-29' AS f, NULL AS x
         UNION ALL SELECT 2, '', 0, DATE '1900-01-01', NULL"""


def test_filas_iguales_a_las_del_driver(app):
    rows = {}
    for cls in (conexion.Conexion, CMySQLConnection):
        cnx = cls(**db_module.connect_args(app.config))
        try:
            cur = cnx.cursor(dictionary=True)
            cur.execute(SQL)
            rows[cls] = (cur.fetchall(), cnx._server_status, cur.warning_count)
        finally:
            cnx.close()
    assert rows[conexion.Conexion] == rows[CMySQLConnection]
    first = rows[conexion.Conexion][0][0]
    assert first == {"n": 1, "t": "ñandú", "d": decimal.Decimal("2.50"),
                     "f": datetime.date(2024, 2, 29), "x": None}
