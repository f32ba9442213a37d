"""The `/cie10` search and lookup in the Spanish CIE-10 catalogue (loaded by datos_cie10)."""

import re

from flask import Blueprint
from pydantic import BaseModel, Field

from api import Lista, Modelo, spec
from auth import autenticado
from datos_cie10 import buscar_codigo
from db import query_all
from errors import no_encontrado
from texto import normalize

bp = Blueprint("cie10", __name__, url_prefix="/cie10")

MAX_RESULTADOS = 20
# A code or the start of one: letter, digit, then up to two more characters, dot optional.
CODIGO = re.compile(r"^[A-Z](?:[0-9][0-9A-Z]?(?:\.?[0-9A-Z]{0,2})?)?$")
# InnoDB's FULLTEXT index skips tokens shorter than innodb_ft_min_token_size (3 by default)
# and the words of its default stopword list; such words are matched with LIKE instead.
MIN_TOKEN = 3
STOPWORDS_INNODB = {
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
}


class Cie10Out(BaseModel):
    """Un código del catálogo."""

    codigo: str = Field(..., examples=["E11.9"])
    descripcion: str = Field(..., examples=["Diabetes mellitus no insulinodependiente sin mencion "
                                            "de complicacion"])


class BusquedaCie10(Modelo):
    """Consulta de la búsqueda en el catálogo."""

    q: str = Field(..., min_length=1, max_length=100,
                   description="Prefijo de código (E11, E11.9 o E119) o palabras de la descripción")


def _buscar_por_codigo(prefijo):
    """Codes starting with `prefijo` (given with or without the dot), in code order."""
    plain = prefijo.upper().replace(".", "")
    like = plain if len(plain) <= 3 else f"{plain[:3]}.{plain[3:]}"
    # `like` holds only letters, digits and a dot (checked by CODIGO): no LIKE wildcards.
    return query_all("SELECT Codigo AS codigo, Descripcion AS descripcion FROM CIE10 "
                     "WHERE Codigo LIKE %s ORDER BY Codigo LIMIT %s", (like + "%", MAX_RESULTADOS))


def _buscar_por_palabras(palabras):
    """Codes whose normalized description has a word starting with each of `palabras`.

    Words the FULLTEXT index holds go to MATCH ... AGAINST in boolean mode (`+palabra*`);
    shorter words and InnoDB stopwords only narrow those matches with a word-start REGEXP (or,
    when there is no indexable word at all, a scan of the 14k-row table that stops at 20).
    """
    indexadas = [p for p in palabras if len(p) >= MIN_TOKEN and p not in STOPWORDS_INNODB]
    resto = [p for p in palabras if p not in indexadas]
    where, params = ["TRUE"], []
    if indexadas:
        where.append("MATCH (Descripcion_Normalizada) AGAINST (%s IN BOOLEAN MODE)")
        params.append(" ".join(f"+{p}*" for p in indexadas))
    for palabra in resto:
        # `palabra` is only [a-z0-9]: the pattern is "a word starts with palabra".
        where.append("Descripcion_Normalizada REGEXP %s")
        params.append(f"(^|[^a-z0-9]){palabra}")
    # Categories (3 characters) before their subcategories, then code order.
    sql = ("SELECT Codigo AS codigo, Descripcion AS descripcion FROM CIE10 WHERE "
           + " AND ".join(where) + " ORDER BY CHAR_LENGTH(Codigo), Codigo LIMIT %s")
    return query_all(sql, params + [MAX_RESULTADOS])


@bp.get("")
@autenticado
@spec(query=BusquedaCie10, responses={200: Lista[Cie10Out]}, tags=["cie10"],
      summary="Buscar en el catálogo CIE-10")
def search_cie10(query):
    """Hasta 20 códigos cuyo código empieza por `q` (con o sin punto) o cuya descripción
    contiene palabras que empiezan por las de `q` (sin distinguir tildes ni mayúsculas)."""
    texto = query.q.strip()
    if CODIGO.match(texto.upper()):
        rows = _buscar_por_codigo(texto)
    else:
        # Only letters and digits reach SQL: boolean-mode operators in `q` are dropped.
        palabras = re.findall(r"[a-z0-9]+", normalize(texto))[:10]
        rows = _buscar_por_palabras(palabras) if palabras else []
    return {"datos": rows, "siguiente": None}


@bp.get("/<codigo>")
@autenticado
@spec(responses={200: Cie10Out}, tags=["cie10"], summary="Consultar un código CIE-10",
      errors=(404,))
def get_cie10(codigo):
    """Un código del catálogo, escrito con o sin punto (`E11.9` o `E119`)."""
    row = buscar_codigo(codigo)
    if row is None:
        raise no_encontrado("Código CIE-10")
    return row

