"""Log lines a request cannot forge, in the app and in gunicorn: one record per line, control
characters escaped, and no data quoted from database or validation errors."""

import logging
import re
import traceback

# Unicode's Cc, Cf, Cs, Zl and Zp (14.0, Python 3.11; tests/test_logs.py checks the list against
# the running Python): control characters, format characters (zero-width, bidi embeddings,
# overrides and isolates, soft hyphen, BOM), lone surrogates, line and paragraph separators.
NO_IMPRIMIBLES = (
    "\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f")
NO_IMPRIMIBLE = re.compile(f"[{NO_IMPRIMIBLES}]")
_NOMBRADOS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match):
    char = match.group()
    n = ord(char)
    return _NOMBRADOS.get(char) or (f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000
                                    else f"\\U{n:08x}")


def escape(text):
    """`text` on one line: every character of NO_IMPRIMIBLES written as a Python escape."""
    # isprintable() is False for every one of them (and for a few harmless others, such as a
    # no-break space): the C-speed check spares the regex on nearly every line.
    return text if text.isprintable() else NO_IMPRIMIBLE.sub(_escape_char, text)


def _mensaje(exc):
    """An exception's message without the values that database and validation errors quote
    (a duplicate national id, the rejected input): those may be patient data."""
    module = type(exc).__module__ or ""
    try:
        if module.startswith("mysql.connector"):
            return (f"{getattr(exc, 'errno', None)} ({getattr(exc, 'sqlstate', None)}): "
                    "mensaje omitido (puede citar datos)")
        if module.startswith("pydantic"):
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}"
                             for e in exc.errors(include_url=False, include_input=False))
        if isinstance(exc, UnicodeError):
            return f"{getattr(exc, 'encoding', '')} {getattr(exc, 'reason', '')}".strip()
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the log line
        return "(mensaje no disponible)"


_CAUSA = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXTO = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_exception(exc):
    """The traceback of `exc` and of its causes, as Python writes it, except that each message
    is escaped onto its line and stripped of quoted data (see `_mensaje`)."""
    chain = []
    while exc is not None and len(chain) < 20 and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    parts = []
    for i, item in enumerate(reversed(chain)):
        if i:
            parts.append(_CAUSA if item.__cause__ is not None else _CONTEXTO)
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        kind = type(item)
        name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else (
            f"{kind.__module__}.{kind.__qualname__}")
        message = escape(_mensaje(item))
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")
    return "".join(parts)


class Formato(logging.Formatter):
    """A log format whose record is exactly one line per message: the message (arguments
    included) escaped; a traceback or stack follows on lines indented by four spaces, so that
    no text of a request can begin a line that reads as a record. Worked out once per record
    and formatter, for every handler that shares the formatter."""

    def format(self, record):
        cached = record.__dict__.get("_linea")
        if cached is not None and cached[0] is self:
            return cached[1]
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and record.exc_info[1] is not None:
            # Kept on the record, as logging does, so that any other formatter reuses it.
            record.exc_text = format_exception(record.exc_info[1])
        extras = [text for text in (record.exc_text,
                                    record.stack_info and self.formatStack(record.stack_info))
                  if text]
        for text in extras:
            line += "".join("\n    " + escape(part) for part in text.rstrip("\n").split("\n"))
        record._linea = (self, line)
        return line


# A path or URL and its query string, as gunicorn quotes them in its error lines.
_CONSULTA = re.compile(r"((?:https?://[^\s/'\"]*)?/[^\s?'\"]*)\?[^\s'\"]*")


class SinConsulta(logging.Filter):
    """Cut the query string off the URIs that gunicorn writes in its error lines ("Error
    handling request /pacientes?q=...", "Invalid HTTP request line: 'GET /pacientes?q=...'"):
    it may hold a search term or a national id. (The shipped access format names none.)"""

    def filter(self, record):
        # Formatted here once; the formatter then finds the message with no arguments left.
        message = record.getMessage()
        record.msg, record.args = _CONSULTA.sub(r"\1", message) if "?" in message else message, None
        return True


def protect_gunicorn():
    """Give gunicorn's own loggers (when this process runs under gunicorn) the escaping
    formatter, in the format gunicorn chose, and its error log the query-string filter. An
    access format that asks for the query (`%(r)s`, `%(q)s`: bench/servers.py) gets it."""
    error = logging.getLogger("gunicorn.error")
    if not any(isinstance(f, SinConsulta) for f in error.filters):
        error.addFilter(SinConsulta())
    for name in ("gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if not isinstance(handler.formatter, Formato):
                base = handler.formatter or logging.Formatter()
                handler.setFormatter(Formato(base._fmt, base.datefmt))
