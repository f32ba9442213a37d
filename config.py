"""Settings read from the environment (and `.env`), checked once at start-up."""

import logging
import os
import re
from datetime import time

from dotenv import load_dotenv


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


def _text(name, default=None, required=False):
    value = os.environ.get(name, "").strip()
    if not value:
        if required:
            raise ConfigError(f"falta la variable {name}")
        return default
    return value


def _int(name, default, low, high):
    raw = _text(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
        raise ConfigError(f"{name}={raw!r} no es un entero entre {low} y {high}")
    return int(raw)


def _bool(name, default):
    raw = _text(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "si", "sí", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} debe ser 1 o 0")


def _hora(name, default):
    raw = _text(name, default)
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw):
        raise ConfigError(f"{name}={raw!r} debe tener la forma HH:MM")
    return time.fromisoformat(raw)


def _choice(name, default, choices):
    value = _text(name, default)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} debe ser uno de: {', '.join(choices)}")
    return value


def _registro():
    """REGISTRO_PACIENTES: `invitacion` (default), `abierto`, or `0`; the older `1` is `abierto`."""
    raw = _text("REGISTRO_PACIENTES", "invitacion").lower()
    if raw in ("0", "no", "false", "off"):
        return ""
    if raw == "1":
        logging.getLogger("historial.config").warning(
            "REGISTRO_PACIENTES=1 está obsoleto: se lee como 'abierto' (use 'invitacion')")
        return "abierto"
    if raw not in ("invitacion", "abierto"):
        raise ConfigError(f"REGISTRO_PACIENTES={raw!r} debe ser invitacion, abierto o 0")
    return raw


def parse_nodos(raw, default_port):
    """DB_HOST as a list of (host, port): one server, or the nodes of a cluster."""
    nodos = []
    for item in raw.split(","):
        host, _, port = item.strip().rpartition(":") if item.count(":") == 1 else ("", "", "")
        host = host or item.strip()
        if not host or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise ConfigError(f"DB_HOST={item.strip()!r} debe ser host o host:puerto")
        nodos.append((host, int(port) if port else default_port))
    return nodos


def _nodos(default_port):
    return parse_nodos(_text("DB_HOST", required=True), default_port)


def _url(name, default):
    value = _text(name, default).rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#]*)?", value):
        raise ConfigError(f"{name}={value!r} debe ser una URL http(s):// sin consulta")
    return value


def load_config():
    """Read every setting of API.md §12 and return the dict for `app.config`."""
    load_dotenv(override=False)
    secret = os.environ.get("SECRET_KEY", "")
    if len(secret.encode()) < 32:
        raise ConfigError("SECRET_KEY falta o tiene menos de 32 bytes")
    zona = _text("ZONA_HORARIA", "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zona)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"ZONA_HORARIA={zona!r} no es una zona horaria conocida") from None
    config = {
        "SECRET_KEY": secret,
        "DB_HOST": _text("DB_HOST", required=True),
        "DB_PASSWORD": _text("DB_PASSWORD", required=True),
        "DB_PORT": _int("DB_PORT", 3308, 1, 65535),
        "DB_NODOS": _nodos(_int("DB_PORT", 3308, 1, 65535)),
        "DB_USER": _text("DB_USER", "root"),
        "DB_NAME": _text("DB_NAME", "historial_medico"),
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 8, 1, 100),
        "CORS_ORIGINS": [o.strip() for o in _text("CORS_ORIGINS", "*").split(",") if o.strip()],
        "CACHE_TYPE": _choice("CACHE_TYPE", "SimpleCache", ("SimpleCache", "RedisCache", "NullCache")),
        "CACHE_REDIS_URL": _text("CACHE_REDIS_URL"),
        "RATELIMIT_STORAGE_URI": _text("RATELIMIT_STORAGE_URI", "memory://"),
        "LOG_LEVEL": _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        "LOG_FILE": _text("LOG_FILE", "app.log"),
        "JWT_ACCESS_MIN": _int("JWT_ACCESS_MIN", 15, 1, 24 * 60),
        "JWT_REFRESH_DIAS": _int("JWT_REFRESH_DIAS", 7, 1, 365),
        "BCRYPT_ROUNDS": _int("BCRYPT_ROUNDS", 12, 4, 16),
        "REGISTRO_PACIENTES": _registro(),
        "CITAS_MAX_PACIENTE": _int("CITAS_MAX_PACIENTE", 3, 1, 1000),
        "CUIDADO_DIAS": _int("CUIDADO_DIAS", 365, 1, 36500),
        "URL_PUBLICA": _url("URL_PUBLICA", "http://127.0.0.1:5000"),
        "METRICAS": _bool("METRICAS", True),
        "PROXIES_CONFIABLES": _int("PROXIES_CONFIABLES", 0, 0, 10),
        "HORARIO_INICIO": _hora("HORARIO_INICIO", "08:00"),
        "HORARIO_FIN": _hora("HORARIO_FIN", "18:00"),
        "DURACION_CITA_MIN": _int("DURACION_CITA_MIN", 30, 5, 240),
        "ZONA_HORARIA": zona,
        "LOGIN_MAX_CUENTA": _int("LOGIN_MAX_CUENTA", 5, 1, 1000),
        "LOGIN_MAX_CUENTA_TOTAL": _int("LOGIN_MAX_CUENTA_TOTAL", 50, 1, 100000),
        "LOGIN_MAX_IP": _int("LOGIN_MAX_IP", 20, 1, 100000),
        "REGISTRO_MAX_IP": _int("REGISTRO_MAX_IP", 10, 1, 100000),
        "LOGIN_VENTANA_MIN": _int("LOGIN_VENTANA_MIN", 15, 1, 24 * 60),
    }
    if config["HORARIO_INICIO"] >= config["HORARIO_FIN"]:
        raise ConfigError("HORARIO_INICIO debe ser anterior a HORARIO_FIN")
    if config["CACHE_TYPE"] == "RedisCache" and not config["CACHE_REDIS_URL"]:
        raise ConfigError("CACHE_TYPE=RedisCache necesita CACHE_REDIS_URL")
    if config["CACHE_REDIS_URL"] and _text("CACHE_TYPE") is None:
        config["CACHE_TYPE"] = "RedisCache"
    return config
