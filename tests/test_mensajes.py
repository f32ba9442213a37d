"""What a Spanish-speaking reader sees: no English in /openapi.json descriptions, accented
Swagger tags, "no encontrado/a" agreeing with the resource, validation messages in Spanish."""

import glob
import os
import re

import pytest

import errors
from api import opciones

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Common English words that are not Spanish words: one of them in a description means an
# untranslated sentence (text between backticks is code and is not looked at).
ENGLISH = set("""the of and or with for is are to in on by from every each its that this be
not only when which an as at it if any all than has have their who can one body query filters
answer free entry patient doctor appointment treatment diagnosis prescription newest oldest
first user role state history list shared record""".split())


def texts(node, path=""):
    """(path, text) of every description and summary in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield f"{path}/{key}", value
            else:
                yield from texts(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from texts(value, f"{path}[{i}]")


def test_no_english_description_in_openapi(client):
    document = client.get("/openapi.json").get_json()
    english = []
    for path, text in texts(document):
        words = set(re.findall(r"[^\W\d_]+", re.sub(r"`[^`]*`", "", text).lower()))
        if words & ENGLISH:
            english.append(f"{path}: {text[:80]!r} {sorted(words & ENGLISH)}")
    assert not english, "\n".join(english)


def test_the_check_finds_english():
    sample = {"components": {"X": {"description": "Body of POST /x: only the fields."}}}
    found = [t for _, t in texts(sample)
             if set(re.findall(r"[^\W\d_]+", t.lower())) & ENGLISH]
    assert found


def test_swagger_tags_are_written_with_accents(client):
    document = client.get("/openapi.json").get_json()
    tags = {t for ops in document["paths"].values() for op in ops.values() for t in op["tags"]}
    assert {"diagnósticos", "médicos", "operación", "auditoría", "autenticación"} <= tags
    assert not tags & {"diagnosticos", "medicos", "operacion", "auditoria", "auth"}


def test_every_not_found_name_has_a_known_gender():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "*.py")):
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r"no_encontrado\(\s*\"([^\"]+)\"", f.read()))
    assert names, "the search should find the callers"
    unknown = names - errors.FEMENINOS - errors.MASCULINOS
    assert not unknown, f"añada a errors.FEMENINOS o MASCULINOS: {sorted(unknown)}"


@pytest.mark.parametrize("path, message", [
    ("/citas/2000000001", "Cita no encontrada"),
    ("/pacientes/2000000001", "Paciente no encontrado"),
    ("/medicos/2000000001", "Médico no encontrado"),
])
def test_not_found_agrees_with_the_resource(client, make_user, path, message):
    response = client.get(path, headers=make_user("admin").headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == message


def test_enum_choices_are_listed_in_spanish(client, make_user):
    body = {"nombre": "Ana Ruiz", "fecha_nacimiento": "1990-01-01", "genero": "X",
            "telefono": "+34 600 111 222"}
    response = client.post("/pacientes", json=body, headers=make_user("admin").headers)
    assert response.status_code == 400
    mensajes = {d["campo"]: d["mensaje"] for d in response.get_json()["detalles"]}
    assert mensajes["genero"] == "debe ser uno de: Masculino, Femenino u Otro"


@pytest.mark.parametrize("expected, spanish", [
    ("'Masculino', 'Femenino' or 'Otro'", "Masculino, Femenino u Otro"),
    ("'activo', 'resuelto' or 'anulado'", "activo, resuelto o anulado"),
    ("'a' or 'hoja'", "a u hoja"),
    ("'solo'", "solo"),
])
def test_opciones(expected, spanish):
    assert opciones(expected) == spanish
