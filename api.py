"""Endpoint declarations: input validation, keyset pages and ETags (openapi.py builds the
OpenAPI document from them).

Each view declares its body and query models once with `@spec(...)`; the same declaration
validates the request and describes the operation in `/openapi.json`.
"""

import base64
import functools
import json
import random
import re
import time as pytime
import typing
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Generic, Optional, TypeVar
from urllib.parse import quote, urlencode

import orjson
from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter
from mysql.connector import errors as db_errors
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import db
import logs
from errors import ApiError, validacion

T = TypeVar("T")


class Modelo(BaseModel):
    """Base of every request model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Pagina(Modelo):
    """Parámetros de consulta comunes a todas las listas."""

    limite: int = Field(20, ge=1, le=100, description="Tamaño de la página (1–100)")
    cursor: Optional[str] = Field(None, max_length=500, pattern=r"^[A-Za-z0-9_-]+$",
                                  description="Cursor opaco de la página anterior (de `siguiente`)")
    total: bool = Field(False, description="Añadir el número total de resultados")


class Lista(BaseModel, Generic[T]):
    """A keyset page: the rows and the cursor of the next page."""

    datos: list[T]
    siguiente: Optional[str]
    total: Optional[int] = None


class Error(BaseModel):
    """La forma de error de toda respuesta que no sea 2xx."""

    class Detalle(BaseModel):
        campo: str
        mensaje: str

    error: str
    codigo: str
    detalles: Optional[list[Detalle]] = None
    id_solicitud: Optional[str] = None


INT_MAX = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` path ids bounded to the INT columns: a larger id is simply not found."""

    def to_python(self, value):
        number = super().to_python(value)
        if number > INT_MAX:
            # Not a ValidationError: Werkzeug would then try the path's other rules and answer
            # 405 for a method they do not allow. No row can have this id, so: 404.
            raise NotFound()
        return number


# ---------------------------------------------------------------------------
# JSON output
# ---------------------------------------------------------------------------

def _hhmm(delta):
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _json_default(o):
    """What orjson does not write by itself: TIME columns (timedelta), DECIMAL, bytes."""
    if isinstance(o, timedelta):
        return _hhmm(o)
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, (bytes, bytearray)):
        return o.decode()
    raise TypeError(f"{type(o).__name__} no es serializable en JSON")


# The driver's DATETIMEs are naive UTC (the session time_zone is +00:00): written with a Z and
# without microseconds. orjson writes an 800-row medical history in an eighth of json's time.
ORJSON_OPTIONS = (orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
                  | orjson.OPT_NON_STR_KEYS)


def dumps_fragment(obj):
    """`obj` as the JSON bytes of the API (for an orjson.Fragment inside a later response)."""
    return orjson.dumps(obj, default=_json_default, option=ORJSON_OPTIONS)


class JSONProvider(DefaultJSONProvider):
    """Dates as YYYY-MM-DD, times as HH:MM, timestamps as UTC ISO 8601 with Z, UTF-8 text."""

    def dumps(self, obj, **kwargs):
        return dumps_fragment(obj).decode()

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(obj, default=_json_default,
                            option=ORJSON_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        return self._app.response_class(body, mimetype=self.mimetype)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

MENSAJES = {
    "missing": "campo obligatorio",
    "extra_forbidden": "campo no permitido",
    "string_type": "debe ser un texto",
    "int_type": "debe ser un número entero",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "bool_type": "debe ser true o false",
    "bool_parsing": "debe ser true o false",
    "date_type": "debe ser una fecha YYYY-MM-DD",
    "date_parsing": "debe ser una fecha YYYY-MM-DD",
    "date_from_datetime_parsing": "debe ser una fecha YYYY-MM-DD",
    "date_from_datetime_inexact": "debe ser una fecha YYYY-MM-DD",
    "time_type": "debe ser una hora HH:MM",
    "time_parsing": "debe ser una hora HH:MM",
    "list_type": "debe ser una lista",
    "model_type": "debe ser un objeto",
    "model_attributes_type": "debe ser un objeto",
    "dict_type": "debe ser un objeto",
    "float_type": "debe ser un número",
    "float_parsing": "debe ser un número",
    "datetime_type": "debe ser una fecha y hora ISO 8601",
    "datetime_parsing": "debe ser una fecha y hora ISO 8601",
    "json_invalid": "no es JSON válido",
}


def opciones(expected):
    """pydantic's "'a', 'b' or 'c'" in Spanish: "a, b o c" ("u" before an o- sound)."""
    items = [i.strip().strip("'") for i in re.split(r",\s*|\s+or\s+", expected) if i.strip()]
    if len(items) < 2:
        return ", ".join(items)
    last = items[-1]
    return f"{', '.join(items[:-1])} {'u' if re.match(r'(?i)h?o', last) else 'o'} {last}"


def _mensaje(error):
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in MENSAJES:
        return MENSAJES[kind]
    if kind == "string_too_short":
        return f"debe tener al menos {ctx.get('min_length')} caracteres"
    if kind == "string_too_long":
        return f"debe tener como máximo {ctx.get('max_length')} caracteres"
    if kind == "too_long":
        return f"debe tener como máximo {ctx.get('max_length')} elementos"
    if kind == "too_short":
        return f"debe tener al menos {ctx.get('min_length')} elementos"
    if kind == "greater_than_equal":
        return f"debe ser mayor o igual que {ctx.get('ge')}"
    if kind == "greater_than":
        return f"debe ser mayor que {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"debe ser menor o igual que {ctx.get('le')}"
    if kind == "less_than":
        return f"debe ser menor que {ctx.get('lt')}"
    if kind in ("literal_error", "enum"):
        return f"debe ser uno de: {opciones(ctx.get('expected', ''))}"
    if kind == "string_pattern_mismatch":
        return "formato no válido"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return "valor no válido"


def validation_error(err, prefix=None):
    """400 `validacion` with one `detalles` entry per bad field."""
    detalles = []
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        campo = ".".join(loc) or (prefix or "cuerpo")
        detalles.append({"campo": campo, "mensaje": _mensaje(e)})
    return ApiError(400, "validacion", "Datos no válidos", detalles=detalles)


def _number(text):
    """JSON numbers with a fraction part: 79.0 is the integer 79, as JSON Schema counts it."""
    value = float(text)
    return int(value) if value.is_integer() else value


# §1 Text. Free-text fields keep line breaks and tabs; every other text is one line. Refused
# everywhere: control characters, zero-width and bidi characters (embeddings, overrides,
# isolates, marks), soft hyphens, line separators and lone surrogates (logs.NO_IMPRIMIBLES).
TEXTO_LIBRE = frozenset({"descripcion", "motivo", "antecedentes", "alergias", "indicaciones",
                         "direccion"})
NOMBRES = frozenset({"nombre"})
# A password is hashed and never shown, logged or compared as text: any character may be part
# of it, except a lone surrogate, which has no UTF-8 bytes to hash.
SECRETOS = frozenset({"password", "password_actual", "password_nueva"})
# An address is compared in canonical form, which drops surrounding blanks: a tab or newline
# pasted around it is not part of it, while one inside it still is refused.
RECORTADOS = frozenset({"correo"})
PROHIBIDO_LINEA = logs.NO_IMPRIMIBLE
PROHIBIDO_LIBRE = re.compile("[" + logs.NO_IMPRIMIBLES.replace("\x00-\x1f", "\x00-\x08\x0b-\x1f", 1)
                             + "]")
SUSTITUTOS = re.compile("[\ud800-\udfff]")
MENSAJE_CARACTERES = ("no puede contener caracteres de control, de ancho cero ni de control de "
                      "la dirección del texto")
MENSAJE_LETRA = "debe contener al menos una letra"


def text_problem(campo, value):
    """Why the text `value` of field `campo` is refused (§1 Text), or None when it is fine."""
    if campo in SECRETOS:
        return "contiene caracteres no válidos" if SUSTITUTOS.search(value) else None
    if campo in RECORTADOS:
        value = value.strip()
    if not value.isprintable():
        prohibido = PROHIBIDO_LIBRE if campo in TEXTO_LIBRE else PROHIBIDO_LINEA
        if prohibido.search(value):
            return MENSAJE_CARACTERES
    if campo in NOMBRES and value.strip() and not any(c.isalpha() for c in value):
        return MENSAJE_LETRA
    return None


def check_texts(data):
    """400 `validacion` naming every text of a parsed JSON body that §1 refuses.

    One pass over the whole document, before the model sees it, so that every model and every
    nested object is covered; a list's items follow the rule of the list's field. Iterative:
    json.loads accepts nesting deeper than the stack left to a recursive walk.
    """
    detalles, pending = [], [((), None, data)]
    while pending:
        path, campo, value = pending.pop()
        if isinstance(value, str):
            problem = text_problem(campo, value)
            if problem:
                detalles.append({"campo": ".".join(path) or "cuerpo", "mensaje": problem})
        elif isinstance(value, dict):
            pending.extend((path + (str(k),), k, v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((path + (str(i),), campo, v) for i, v in enumerate(value))
    if detalles:
        detalles.sort(key=lambda d: d["campo"])
        raise ApiError(400, "validacion", "Datos no válidos", detalles=detalles)


def texto_cabecera(nombre):
    """The text of request header `nombre` as UTF-8, or None when absent; 400 `validacion`
    naming the header when it is not UTF-8 or holds characters §1 refuses in a text.

    WSGI hands header bytes over decoded as latin-1: encoded back, they are the client's bytes.
    """
    value = request.headers.get(nombre)
    if value is None:
        return None
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise validacion(nombre, "debe ser texto UTF-8") from None
    if not value.isprintable() and PROHIBIDO_LINEA.search(value):
        raise validacion(nombre, MENSAJE_CARACTERES)
    return value


def _parse_body(model):
    if not request.mimetype or not (request.mimetype == "application/json"
                                    or request.mimetype.endswith("+json")):
        raise ApiError(415, "tipo_no_soportado", "El cuerpo debe enviarse como application/json")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw, parse_float=_number)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "json_invalido", "El cuerpo no es JSON válido") from None
    if not isinstance(data, dict):
        raise ApiError(400, "validacion", "Datos no válidos",
                       detalles=[{"campo": "cuerpo", "mensaje": "debe ser un objeto JSON"}])
    check_texts(data)
    try:
        # Strict JSON mode: "5" is not an int, "true" not a bool; dates stay ISO strings.
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as err:
        raise validation_error(err) from None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@functools.cache
def _date_fields(model):
    """Names of the date fields of a query model (Optional[date] included)."""
    names = set()
    for name, field in model.model_fields.items():
        kinds = typing.get_args(field.annotation) or (field.annotation,)
        if date in kinds:
            names.add(name)
    return names


def _parse_query(model):
    args = {k: v for k, v in request.args.items()}
    # Query text is one line too (§1 Text): q=, especialidad=, ...
    bad = [{"campo": name, "mensaje": MENSAJE_CARACTERES} for name, value in args.items()
           if not value.isprintable() and PROHIBIDO_LINEA.search(value)]
    if bad:
        raise ApiError(400, "validacion", "Datos no válidos", detalles=bad)
    # Lax parsing would read "0" as a Unix timestamp (1970-01-01); a date must be YYYY-MM-DD.
    bad = [{"campo": name, "mensaje": MENSAJES["date_parsing"]} for name in _date_fields(model)
           if name in args and not _ISO_DATE.fullmatch(args[name])]
    if bad:
        raise ApiError(400, "validacion", "Datos no válidos", detalles=bad)
    try:
        return model.model_validate(args)
    except ValidationError as err:
        raise validation_error(err) from None


REINTENTOS = 6


def run_retrying(view, *args, **kwargs):
    """Run the view; on a deadlock run it again as a whole, up to REINTENTOS times, after a
    random pause that grows with each try (so the parties to the deadlock do not meet again).
    When the tries run out, or a lock wait timed out, the answer is 409 with Retry-After:
    the request was fine, the moment was not."""
    for intento in range(REINTENTOS):
        try:
            return view(*args, **kwargs)
        except db_errors.DatabaseError as err:
            if db.is_lock_timeout(err):
                break
            if not db.is_deadlock(err):
                raise
        if intento < REINTENTOS - 1:
            pytime.sleep(random.uniform(0, 0.01 * 2 ** intento))
    raise ApiError(409, "conflicto", "Operación en conflicto con otra simultánea; inténtelo de "
                   "nuevo", headers={"Retry-After": "1"})


def spec(*, body=None, query=None, responses=None, summary="", description="", tags=None,
         errors=(), status=200):
    """Declare an endpoint: validate body/query into `body=`/`query=` and document it.

    A deadlock (or, on a cluster, a certification conflict) rolls the whole transaction back,
    so the view is run again from the start, a bounded number of times (`run_retrying`).
    """
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if body is not None:
                kwargs["body"] = _parse_body(body)
            if query is not None:
                kwargs["query"] = _parse_query(query)
            return run_retrying(view, *args, **kwargs)

        wrapper._api = {
            "body": body, "query": query, "responses": responses or {status: None},
            "summary": summary, "description": description or (view.__doc__ or "").strip(),
            "tags": tags, "errors": set(errors),
        }
        return wrapper
    return decorator


# ---------------------------------------------------------------------------
# Keyset pagination
# ---------------------------------------------------------------------------

def cursor_kind(key):
    """What a cursor value of row key `key` must be: an id, a date, a time or a sort text."""
    if key.startswith("id_"):
        return "id"
    if key == "fecha" or key.startswith("fecha_"):
        return "fecha"
    if key == "hora":
        return "hora"
    return "texto"


class Orden:
    """A sort order: SQL columns (from a fixed whitelist) and the row keys holding them."""

    def __init__(self, columns, keys, desc=False):
        self.columns, self.keys, self.desc = tuple(columns), tuple(keys), desc
        self.kinds = tuple(cursor_kind(k) for k in self.keys)

    def order_by(self):
        direction = " DESC" if self.desc else ""
        return "ORDER BY " + ", ".join(c + direction for c in self.columns)

    def after(self, cursor):
        """SQL fragment (`AND ...`) and params selecting rows after the cursor."""
        if not cursor:
            return "", []
        values = decode_cursor(cursor, self.kinds)
        op = "<" if self.desc else ">"
        # Expanded instead of a row constructor so that both MySQL and MariaDB use a range scan.
        first = self.columns[0]
        ors, params = [], []
        for i in range(len(self.columns)):
            eqs = [f"{c} = %s" for c in self.columns[:i]]
            ors.append("(" + " AND ".join(eqs + [f"{self.columns[i]} {op} %s"]) + ")")
            params += values[: i + 1]
        sql = f" AND {first} {op}= %s AND ({' OR '.join(ors)})"
        return sql, [values[0]] + params


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode_cursor(values):
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_HORA_CURSOR = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d")


def _cursor_value(kind, value):
    """The SQL parameter for one cursor value of `kind`, or None when it cannot be one."""
    if kind == "id":
        # BIGINT's range: an audit id may outgrow INT.
        ok = type(value) is int and 0 <= value < 2**63
    elif kind == "fecha":
        try:
            return date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
        except (TypeError, ValueError):
            return None
    elif kind == "hora":
        ok = isinstance(value, str) and _HORA_CURSOR.fullmatch(value)
    else:
        ok = (isinstance(value, str) and len(value) <= 200
              and (value.isprintable() or not PROHIBIDO_LINEA.search(value)))
    return value if ok else None


def decode_cursor(cursor, kinds):
    """The cursor's values as SQL parameters of the sort columns' types (`kinds`, from
    `cursor_kind`), or 400 `validacion` when it was not made by this API."""
    values = None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    params = ([_cursor_value(kind, v) for kind, v in zip(kinds, values)]
              if isinstance(values, list) and len(values) == len(kinds) else [None])
    if any(p is None for p in params):
        raise ApiError(400, "validacion", "Datos no válidos",
                       detalles=[{"campo": "cursor", "mensaje": "cursor no válido"}])
    return params


def keyset_sql(select, where, params, orden, cursor, limite, group_by=""):
    """The SQL and params of one keyset page, pure so that a bench can EXPLAIN it.

    `select` is a SELECT ... FROM ... ending before WHERE; `where` its ` AND ...` filters with
    their `params`; `group_by` a ` GROUP BY ...` that comes after the filters. It asks for
    `limite` + 1 rows after `cursor` in the order `orden`: the extra row says there is more.
    """
    after_sql, after_params = orden.after(cursor)
    return (f"{select} WHERE TRUE{where}{after_sql}{group_by} {orden.order_by()} LIMIT %s",
            [*params, *after_params, limite + 1])


def paginate(query, select, where, params, orden, *, count, group_by="", shape=None,
             audit=None):
    """The answer of a list endpoint: one keyset page of `select` (see `keyset_sql`), its
    `total` counted by `count` (a SELECT COUNT(...) AS n FROM ... that the same `where` and
    `params` filter)."""
    sql = keyset_sql(select, where, params, orden, query.cursor, query.limite, group_by)
    return page(query, orden, sql, (count + " WHERE TRUE" + where, params), shape=shape,
                audit=audit)


def page(query, orden, sql, count, shape=None, audit=None):
    """The list answer of a page query `sql` and its `count`, each (text, params): `datos`,
    `siguiente` and a `Link` header when there is more.

    The COUNT runs only when `total` is asked for. `audit` is called with the rows shown,
    after both queries, so that what it writes is not counted or listed in this answer.
    """
    rows = db.query_all(*sql)
    total = db.query_one(*count)["n"] if query.total else None
    more = len(rows) > query.limite
    rows = rows[: query.limite]
    if audit:
        audit(rows)
    siguiente = encode_cursor([rows[-1][k] for k in orden.keys]) if more and rows else None
    datos = [shape(r) for r in rows] if shape else rows
    body = {"datos": datos, "siguiente": siguiente}
    if query.total:
        body["total"] = total
    response = current_app.json.response(body)
    if siguiente:
        args = request.args.to_dict()
        args["cursor"] = siguiente
        # URL_PUBLICA, never the request's Host header (§1 Absolute URLs).
        url = current_app.config["URL_PUBLICA"] + quote(request.path) + "?" + urlencode(args)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response


# ---------------------------------------------------------------------------
# ETags
# ---------------------------------------------------------------------------

def etag_of(row_id, version):
    return f'"{row_id}-{version}"'


def check_if_match(row_id, version):
    """412 when the client's If-Match does not name the current version."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if etag_of(row_id, version) not in tags:
        raise ApiError(412, "version_obsoleta",
                       "El recurso cambió desde que lo leyó (If-Match no coincide)")


def with_etag(response, row_id, version):
    response.headers["ETag"] = etag_of(row_id, version)
    return response
