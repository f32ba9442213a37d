"""Text normalisation shared by search, sort keys and the word-prefix index."""

import unicodedata

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
