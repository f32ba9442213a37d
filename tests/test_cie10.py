"""The CIE-10 catalogue: loading from the `cie` package, search and lookup."""

import re
import time

import pytest

import datos_cie10
from texto import normalize


def test_catalogue_loaded_with_dots_and_without_ranges(app, database):
    n = database.scalar("SELECT COUNT(*) FROM CIE10")
    assert n > 14000
    assert database.scalar("SELECT COUNT(*) FROM CIE10 WHERE Codigo LIKE '%%-%%'") == 0
    assert database.one("SELECT Descripcion, Descripcion_Normalizada FROM CIE10 "
                        "WHERE Codigo = 'E11.9'") == {
        "Descripcion": "Diabetes mellitus no insulinodependiente sin mencion de complicacion",
        "Descripcion_Normalizada": "diabetes mellitus no insulinodependiente sin mencion de "
                                   "complicacion"}
    assert database.scalar("SELECT COUNT(*) FROM CIE10 WHERE Codigo = 'E11'") == 1
    # Every code is a category (3 characters) or category.subcategory.
    assert database.scalar("SELECT COUNT(*) FROM CIE10 WHERE Codigo NOT REGEXP "
                           "'^[A-Z][0-9][0-9A-Z](\\\\.[0-9A-Z]{1,2})?$'") == 0


def test_load_is_idempotent_and_fast(app, database):
    before = database.scalar("SELECT COUNT(*) FROM CIE10")
    with app.app_context():
        started = time.perf_counter()
        assert datos_cie10.load_catalogue() == before
        assert time.perf_counter() - started < 2
    assert database.scalar("SELECT COUNT(*) FROM CIE10") == before


def test_load_fills_missing_codes(app, database):
    database.execute("DELETE FROM CIE10 WHERE Codigo IN ('Z99.9', 'Z99.8')")
    with app.app_context():
        n = datos_cie10.load_catalogue()
    assert database.scalar("SELECT COUNT(*) FROM CIE10") == n
    assert database.scalar("SELECT Descripcion FROM CIE10 WHERE Codigo = 'Z99.9'")


@pytest.fixture
def usuario(make_user):
    return make_user("recepcionista")


def buscar(client, usuario, q):
    r = client.get("/cie10", query_string={"q": q}, headers=usuario.headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["siguiente"] is None
    return r.get_json()["datos"]


def test_search_diabetes_finds_e11(client, usuario):
    datos = buscar(client, usuario, "diabetes")
    codigos = [d["codigo"] for d in datos]
    assert 0 < len(datos) <= 20
    assert "E11" in codigos
    assert all("diabetes" in d["descripcion"].lower() for d in datos)


@pytest.mark.parametrize("q, esperado", [
    ("Diabetes insulinodependiente", "E11"),   # several words, all required
    ("DIABÉTES", "E10"),                       # accents and case do not matter
    ("diab mell", "E10"),                      # word prefixes
    ("asma", "J45"),
    ("neumonía", "J18"),
    ("hipertensión esencial", "I10"),
    ("E11", "E11"),                            # code prefix
    ("e11.9", "E11.9"),
    ("E119", "E11.9"),                          # without the dot
    ("J4", "J40"),
])
def test_search_finds(client, usuario, q, esperado):
    assert esperado in [d["codigo"] for d in buscar(client, usuario, q)]


def test_search_code_prefix_is_ordered_and_capped(client, usuario):
    codigos = [d["codigo"] for d in buscar(client, usuario, "E11")]
    assert codigos[:3] == ["E11", "E11.0", "E11.1"]
    assert all(c.startswith("E11") for c in codigos)
    assert len(buscar(client, usuario, "A")) == 20


@pytest.mark.parametrize("q", [
    "de",                 # InnoDB stopword and shorter than the token size: LIKE fallback
    "ojo de",             # short words narrow the indexed ones
    "vih",
])
def test_search_short_words_fall_back(client, usuario, q):
    datos = buscar(client, usuario, q)
    assert datos
    for palabra in q.split():
        assert all(re.search(rf"(^|\W){palabra}", normalize(d["descripcion"])) for d in datos)


def test_search_words_must_all_match(client, usuario):
    assert buscar(client, usuario, "diabetes xyzzyqq") == []
    # Boolean-mode operators typed by the user are not operators.
    assert buscar(client, usuario, '+"diabetes" -(mellitus)*') != []
    assert buscar(client, usuario, "¿?¡!") == []


@pytest.mark.parametrize("qs", [{}, {"q": ""}, {"q": "x" * 101}])
def test_search_validates_q(client, usuario, qs):
    r = client.get("/cie10", query_string=qs, headers=usuario.headers)
    assert r.status_code == 400
    assert r.get_json()["detalles"][0]["campo"] == "q"


@pytest.mark.parametrize("codigo", ["E11.9", "E119", "e11.9", "E11"])
def test_lookup(client, usuario, codigo):
    r = client.get(f"/cie10/{codigo}", headers=usuario.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert body["codigo"] == ("E11" if codigo == "E11" else "E11.9")
    assert body["descripcion"].startswith("Diabetes mellitus no insulinodependiente")


@pytest.mark.parametrize("codigo", ["E11.99", "ZZZ", "A00-B99", "12345", "E1"])
def test_lookup_unknown_is_404(client, usuario, codigo):
    r = client.get(f"/cie10/{codigo}", headers=usuario.headers)
    assert r.status_code == 404
    assert r.get_json()["codigo"] == "no_encontrado"


@pytest.mark.parametrize("url", ["/cie10?q=diabetes", "/cie10/E11.9"])
def test_requires_authentication(client, url):
    r = client.get(url)
    assert r.status_code == 401
    assert r.get_json()["codigo"] == "no_autenticado"


@pytest.mark.parametrize("rol", ["admin", "medico", "recepcionista", "paciente"])
def test_any_role_may_search(client, make_user, rol):
    r = client.get("/cie10?q=asma", headers=make_user(rol).headers)
    assert r.status_code == 200
