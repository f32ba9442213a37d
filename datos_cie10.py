"""The CIE10 table: loading the Spanish catalogue from the `cie` package and looking a code up,
for the cie10 blueprint, diagnoses, the FHIR API and `init-db`.

Source: the `cie` package (MIT) ships `cie/data/cie-10.zip`, a CSV of 14,498 rows with the
Spanish descriptions (codes written without the dot, `E119`). Chapter and block ranges
(`A00-B99`, `E10-E14`) are groupings, not codes a diagnosis can carry, so they are skipped;
categories (`E11`) and subcategories (`E11.9`, stored with their dot) are kept.
"""

import csv
import io
import re
import zipfile
from importlib import resources

from db import executemany, query_one, transaction
from texto import normalize


LOTE = 1000


def con_punto(codigo):
    """The catalogue form of a code (`E119` or `e11.9` → `E11.9`), or None if it is not one."""
    if codigo is None:
        return None
    plain = codigo.strip().upper().replace(".", "")
    if not re.fullmatch(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,2}", plain):
        return None
    return plain if len(plain) == 3 else f"{plain[:3]}.{plain[3:]}"


def buscar_codigo(codigo):
    """The catalogue row of a code given with or without its dot, or None."""
    canonical = con_punto(codigo)
    if canonical is None:
        return None
    return query_one("SELECT Codigo AS codigo, Descripcion AS descripcion FROM CIE10 "
                     "WHERE Codigo = %s", (canonical,))


def leer_paquete():
    """The (codigo, descripcion, normalizada) rows of the `cie` package, ranges left out."""
    source = resources.files("cie") / "data" / "cie-10.zip"
    with source.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        text = archive.read("cie-10.csv").decode("utf-8")
    rows = {}
    for record in csv.DictReader(io.StringIO(text)):
        codigo = con_punto(record["code"])
        if codigo is None:
            continue
        descripcion = " ".join(record["description"].replace("–", "-").split())[:400]
        rows[codigo] = (codigo, descripcion, normalize(descripcion))
    return list(rows.values())


def load_catalogue():
    """Load the CIE-10 catalogue into its table (idempotent); returns the number of codes."""
    rows = leer_paquete()
    present = query_one("SELECT COUNT(*) AS n FROM CIE10")["n"]
    if present >= len(rows):
        return len(rows)
    with transaction():
        for start in range(0, len(rows), LOTE):
            executemany("INSERT IGNORE INTO CIE10 (Codigo, Descripcion, Descripcion_Normalizada) "
                        "VALUES (%s, %s, %s)", rows[start:start + LOTE])
    return len(rows)
