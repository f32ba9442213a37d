"""EXPLAIN every q/orden/filter combination of GET /pacientes and check each uses an index.

    .venv/bin/python bench/explain_busqueda.py            # on DB_NAME from .env
    .venv/bin/python bench/explain_busqueda.py --verbose  # print every plan

Run it after `flask --app app demo --pacientes 100000` for plans that reflect a real table
size. Exits 1 if a plan reads a table without an index or sorts the rows (filesort) instead
of walking an index in the requested order. tests/test_pacientes.py runs `problemas()` too.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from api import encode_cursor  # noqa: E402
from paciente import FiltroPacientes, search_sql  # noqa: E402

CONSULTAS = (None, "m", "mar", "martinez", "jose mar", "garcia lopez", "12345678Z")
ORDENES = ("nombre", "-nombre", "id", "-id")
FILTROS = ({}, {"genero": "Femenino"}, {"activo": True}, {"genero": "Otro", "activo": False})


def combinaciones():
    """(description, FiltroPacientes) for every supported q/orden/filter/cursor combination."""
    for q in CONSULTAS:
        for orden in ORDENES:
            cursor_values = ["marta", 500] if "nombre" in orden else [500]
            for filtros in FILTROS:
                for cursor in (None, encode_cursor(cursor_values)):
                    query = FiltroPacientes(q=q, orden=orden, cursor=cursor, **filtros)
                    yield f"q={q!r} orden={orden} filtros={filtros} cursor={bool(cursor)}", query


def problemas(run_query, verbose=False):
    """Plans that read a table without an index or filesort it; [] when all are good.

    `run_query(sql, params)` returns the EXPLAIN rows as dicts (MariaDB and MySQL 8 both
    name the columns table/type/key/Extra).
    """
    malos = []
    for descripcion, query in combinaciones():
        sql, params, _, _ = search_sql(query)
        plan = run_query("EXPLAIN " + sql, params)
        if verbose:
            print(descripcion)
            for row in plan:
                print("   ", row.get("table"), row.get("type"), row.get("key"), row.get("Extra"))
        for row in plan:
            table, extra = row.get("table"), row.get("Extra") or ""
            # <unionN,M>: the ≤ 2 pages merged by the outer ORDER BY; NULL table: the unique
            # documento lookup found no row already while planning.
            if table is None or table.startswith("<"):
                continue
            if row.get("key") is None or "filesort" in extra:
                malos.append((descripcion, table, row.get("type"), row.get("key"), extra))
    return malos


def main():
    import mysql.connector

    import db
    from config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    cnx = mysql.connector.connect(**db.connect_args(load_config()))

    def run_query(sql, params):
        cur = cnx.cursor(dictionary=True)
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return rows

    malos = problemas(run_query, verbose=args.verbose)
    for m in malos:
        print("SIN ÍNDICE / CON FILESORT:", *m)
    print(f"{len(list(combinaciones()))} planes revisados, {len(malos)} con problemas.")
    return 1 if malos else 0


if __name__ == "__main__":
    sys.exit(main())
