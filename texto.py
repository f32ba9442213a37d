"""Text rules shared by several tables: the normalisation of search, sort keys and the
word-prefix index, and what an e-mail address must look like."""

import re
import unicodedata

CORREO_PATRON = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
# Longest word prefix stored in Paciente_Prefijo (and the longest a search walks).
PREFIJO_MAX = 4


def normalize(text):
    """Lower case without accents: the key that search and sort use."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def prefijos(nombre_normalizado):
    """The distinct 1..4-letter prefixes of every word of a normalised name."""
    return sorted({w[:n] for w in nombre_normalizado.split()
                   for n in range(1, min(PREFIJO_MAX, len(w)) + 1)})


def like_palabra(palabra):
    """A LIKE argument for `% <palabra>%` with the user's % and _ taken literally."""
    return "% " + palabra.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def check_correo(value):
    """Pydantic validator of an account's address: a plausible local@dominio.tld, or
    ValueError in Spanish.

    It is what a login compares: stored trimmed and in lower case, and invisible or control
    characters are refused, since they would make an address that looks like another one.
    """
    if value is None:
        return value
    value = value.strip().lower()
    if not CORREO_PATRON.match(value) or any(unicodedata.category(c) in ("Cc", "Cf")
                                             for c in value):
        raise ValueError("no es un correo electrónico válido")
    return value


def check_correo_contacto(value):
    """Pydantic validator of a patient's or doctor's contact address: kept as typed."""
    if value is not None and not CORREO_PATRON.match(value):
        raise ValueError("no es un correo electrónico válido")
    return value
