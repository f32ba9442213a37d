"""Passwords and login throttling: bcrypt hashes, the password rule, the canonical account
address and the attempt counters of Intento_Login and the `limits` store.

Login throttling, within LOGIN_VENTANA_MIN minutes: LOGIN_MAX_CUENTA failures of one account
from one client address, LOGIN_MAX_CUENTA_TOTAL of one account from all, LOGIN_MAX_IP from one
address. The account is its canonical address (`correo_canonico`, keyed by `clave_cuenta`),
alike for existing and unknown accounts, so lookalike spellings share a counter and the answers
reveal nothing. Each attempt is first written to Intento_Login and then counted, so concurrent
attempts cannot slip past the limit; a successful or refused (429) attempt deletes its own row
again, so only failures count. The per-address limit is also kept in a `limits` store
(RATELIMIT_STORAGE_URI: memory:// per process, redis:// shared), as is the sign-up limit.
"""

import secrets
import time
import unicodedata

import bcrypt
from flask import current_app, g
from limits import parse as parse_limit

from auditoria import direccion_cliente
from db import execute, query_one, sincronizado
from errors import ApiError, validacion


PASSWORD_MIN_BYTES, PASSWORD_MAX_BYTES = 8, 72


# Failures (and the attempt being judged) in the window: of the pair (account, address), of
# the account from every address, and of the address to every account.
INTENTOS_RECIENTES = """
    SELECT (SELECT COUNT(*) FROM Intento_Login
             WHERE Correo = %s AND IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS par,
           (SELECT COUNT(*) FROM Intento_Login
             WHERE Correo = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS cuenta,
           (SELECT COUNT(*) FROM Intento_Login
             WHERE IP = %s AND Fecha > NOW(6) - INTERVAL %s MINUTE) AS ip
"""


# Seconds until enough old failures of one counter leave the window for one more attempt
# (OFFSET = excess). Fixed SQL per counter; only values are parameters.
_ESPERA = """
    SELECT TIMESTAMPDIFF(SECOND, NOW(6), Fecha + INTERVAL %s MINUTE) + 1 AS s
      FROM Intento_Login
     WHERE {} AND Fecha > NOW(6) - INTERVAL %s MINUTE AND ID_Intento <> %s
     ORDER BY Fecha LIMIT 1 OFFSET %s
"""


ESPERA = {"par": _ESPERA.format("Correo = %s AND IP = %s"),
          "cuenta": _ESPERA.format("Correo = %s"),
          "ip": _ESPERA.format("IP = %s")}


# The account key: a digest of the collation weight of the canonical address. The weight is
# what `Usuario.Correo = %s` compares, so every spelling that finds one account (and every
# spelling of an unknown one) lands on one key; the digest keeps the typed text, which may be
# a password typed into the wrong field, out of the table.
CLAVE_CUENTA = ("SELECT SHA2(HEX(WEIGHT_STRING(%s COLLATE utf8mb4_unicode_ci)), 256) AS clave")


def credenciales_invalidas():
    """The one answer of every failed login, whatever the reason."""
    return ApiError(401, "credenciales_invalidas", "Correo o contraseña incorrectos")


def hash_password(password):
    """bcrypt hash at BCRYPT_ROUNDS."""
    salt = bcrypt.gensalt(rounds=current_app.config["BCRYPT_ROUNDS"])
    return bcrypt.hashpw(password.encode(), salt).decode()


def check_password(password, hashed):
    """True when the password matches; one longer than bcrypt's 72 bytes never does."""
    raw = password.encode()
    if len(raw) > PASSWORD_MAX_BYTES:
        bcrypt.checkpw(raw[:PASSWORD_MAX_BYTES], hashed.encode())  # same cost as a real check
        return False
    return bcrypt.checkpw(raw, hashed.encode())


_dummy_hashes = {}


def dummy_hash():
    """A hash of a random password at BCRYPT_ROUNDS, checked for unknown accounts so that a
    failed login takes the same time whether or not the account exists."""
    rounds = current_app.config["BCRYPT_ROUNDS"]
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(secrets.token_hex(16).encode(),
                                              bcrypt.gensalt(rounds=rounds)).decode()
    return _dummy_hashes[rounds]


def check_password_nueva(value):
    """Pydantic validator: 8 to 72 bytes (bcrypt's limit); None passes (optional fields)."""
    if value is not None and not PASSWORD_MIN_BYTES <= len(value.encode()) <= PASSWORD_MAX_BYTES:
        raise ValueError(f"debe tener entre {PASSWORD_MIN_BYTES} y {PASSWORD_MAX_BYTES} bytes")
    return value


def correo_canonico(correo):
    """An address as the throttle and the login lookup see it: NFKC, case-folded, without
    accents or invisible characters, trimmed (`récepcion`, `ｒecepcion`, ` Recepcion ` alike)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", correo).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)
                   and unicodedata.category(c) not in ("Cc", "Cf"))
    return unicodedata.normalize("NFKC", text).strip()


def clave_cuenta(correo):
    """What Intento_Login stores for an account, existing or not (see CLAVE_CUENTA)."""
    return query_one(CLAVE_CUENTA, (correo_canonico(correo),))["clave"]


def demasiados_intentos(segundos):
    """429 `demasiados_intentos` with Retry-After."""
    return ApiError(429, "demasiados_intentos",
                    "Demasiados intentos; espere antes de volver a intentarlo",
                    headers={"Retry-After": str(max(1, int(segundos)))})


def _limite(maximo):
    """The app's `limits` strategy and an item of `maximo` per LOGIN_VENTANA_MIN minutes."""
    return (current_app.extensions["limite_login"],
            parse_limit(f"{maximo} per {current_app.config['LOGIN_VENTANA_MIN']} minute"))


def abrir_intento(correo):
    """Record an attempt on `correo` from this address, or 429 (with Retry-After) when the
    pair, the account or the address has used up its failures. Returns the attempt's row id.

    The pair (account, address) allows LOGIN_MAX_CUENTA failures, the account from every
    address LOGIN_MAX_CUENTA_TOTAL, the address to every account LOGIN_MAX_IP: a stranger's
    five guesses elsewhere do not lock the owner out, and a botnet still meets the account's.
    """
    cfg, ip = current_app.config, direccion_cliente() or "-"
    clave, ventana = clave_cuenta(correo), cfg["LOGIN_VENTANA_MIN"]
    id_intento = execute("INSERT INTO Intento_Login (Correo, IP) VALUES (%s, %s)", (clave, ip))
    # The count waits for every attempt committed through any node of a cluster.
    with sincronizado():
        n = query_one(INTENTOS_RECIENTES, (clave, ip, ventana, clave, ventana, ip, ventana))
    esperas = []
    for contador, maximo, valores in (("par", cfg["LOGIN_MAX_CUENTA"], (clave, ip)),
                                      ("cuenta", cfg["LOGIN_MAX_CUENTA_TOTAL"], (clave,)),
                                      ("ip", cfg["LOGIN_MAX_IP"], (ip,))):
        if n[contador] > maximo:
            row = query_one(ESPERA[contador], (ventana, *valores, ventana, id_intento,
                                               n[contador] - 1 - maximo))
            esperas.append(row["s"] if row else 1)
    strategy, item = _limite(cfg["LOGIN_MAX_IP"])
    if not strategy.test(item, "login_fallido", ip):
        reset = strategy.get_window_stats(item, "login_fallido", ip).reset_time
        esperas.append(int(reset - time.time()) + 1)
    if esperas:
        cerrar_intento(id_intento)
        raise demasiados_intentos(max(esperas))
    return id_intento


def cerrar_intento(id_intento):
    """Forget an attempt that was not a failure (success, or refused before checking)."""
    execute("DELETE FROM Intento_Login WHERE ID_Intento = %s", (id_intento,))


def fallo_intento():
    """Count a failure in the `limits` store too (its row in Intento_Login stays) and prune
    rows that no window looks at any more."""
    strategy, item = _limite(current_app.config["LOGIN_MAX_IP"])
    strategy.hit(item, "login_fallido", direccion_cliente() or "-")
    execute("DELETE FROM Intento_Login WHERE Fecha < NOW(6) - INTERVAL 1 DAY LIMIT 100")


def check_password_actual(password_actual):
    """The current user's own password, checked under the login throttle: wrong → 400 (and a
    failed attempt, so a stolen token cannot guess it), throttled → 429."""
    id_intento = abrir_intento(g.usuario["correo"])
    actual = query_one("SELECT Password_Hash AS h FROM Usuario WHERE ID_Usuario = %s",
                       (g.usuario["id_usuario"],))
    if not check_password(password_actual, actual["h"]):
        fallo_intento()
        raise validacion("password_actual", "la contraseña actual no es correcta")
    cerrar_intento(id_intento)


def contar_registro():
    """Count one sign-up attempt of this address (successful or not); 429 past REGISTRO_MAX_IP
    in the window. `hit` is atomic in every `limits` store, so parallel attempts cannot pass."""
    strategy, item = _limite(current_app.config["REGISTRO_MAX_IP"])
    ip = direccion_cliente() or "-"
    if not strategy.hit(item, "registro", ip):
        reset = strategy.get_window_stats(item, "registro", ip).reset_time
        raise demasiados_intentos(reset - time.time() + 1)
