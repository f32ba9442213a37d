"""/auditoria: filters, newest-first keyset paging, read-only, and the rows that auth writes."""

from datetime import date, timedelta

import pytest


@pytest.fixture
def auditor(make_user):
    return make_user("admin")


def rows(client, auditor, query):
    response = client.get(f"/auditoria?{query}", headers=auditor.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_login_logout_and_denied_access_are_audited(client, auditor, make_user):
    user = make_user("paciente")
    ok = client.post("/auth/login", json={"correo": user.correo, "password": user.password},
                     environ_base={"REMOTE_ADDR": "10.4.0.1"})
    bad = client.post("/auth/login", json={"correo": user.correo, "password": "Mala-clave-1"},
                      environ_base={"REMOTE_ADDR": "10.4.0.1"})
    denied = client.get("/usuarios", headers=user.headers)
    out = client.post("/auth/logout", headers=user.headers)
    assert (ok.status_code, bad.status_code, denied.status_code, out.status_code) == (
        200, 401, 403, 204)
    datos = rows(client, auditor, f"id_usuario={user.id_usuario}")["datos"]
    assert [d["accion"] for d in datos] == ["logout", "denegado", "login_fallido", "login_ok"]
    assert [d["id_auditoria"] for d in datos] == sorted((d["id_auditoria"] for d in datos),
                                                        reverse=True)
    denegado = datos[1]
    assert denegado["rol"] == "paciente" and denegado["motivo"] == "GET /usuarios"
    assert denegado["id_solicitud"] == denied.headers["X-Request-ID"]
    assert datos[2]["motivo"] == user.correo and datos[2]["ip"] == "10.4.0.1"
    assert all(d["fecha"].endswith("Z") for d in datos)


def test_filters_and_paging(client, database, auditor, make_user, make_paciente):
    user = make_user("recepcionista")
    id_paciente = make_paciente()
    for n in range(5):
        database.execute("INSERT INTO Auditoria (ID_Usuario, Rol, Accion, Recurso, ID_Recurso, "
                         "ID_Paciente) VALUES (%s, 'recepcionista', 'leer', 'paciente', %s, %s)",
                         (user.id_usuario, str(id_paciente), id_paciente))
    database.execute("INSERT INTO Auditoria (ID_Usuario, Accion, Recurso, ID_Paciente, Fecha) "
                     "VALUES (%s, 'actualizar', 'paciente', %s, '2001-02-03 10:00:00')",
                     (user.id_usuario, id_paciente))
    first = rows(client, auditor, f"id_paciente={id_paciente}&limite=2&total=1")
    assert first["total"] == 6 and len(first["datos"]) == 2 and first["siguiente"]
    seen = [d["id_auditoria"] for d in first["datos"]]
    cursor = first["siguiente"]
    while cursor:
        page = rows(client, auditor, f"id_paciente={id_paciente}&limite=2&cursor={cursor}")
        seen += [d["id_auditoria"] for d in page["datos"]]
        cursor = page["siguiente"]
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)
    old = rows(client, auditor, f"id_paciente={id_paciente}&hasta=2001-02-03")["datos"]
    assert [d["accion"] for d in old] == ["actualizar"]
    assert rows(client, auditor, f"id_paciente={id_paciente}&desde=2001-02-04&total=1")["total"] == 5
    hoy = date.today()
    recent = rows(client, auditor, f"id_paciente={id_paciente}&accion=leer&desde="
                                   f"{hoy - timedelta(days=1)}&hasta={hoy + timedelta(days=1)}")
    assert len(recent["datos"]) == 5
    assert rows(client, auditor, f"id_paciente={id_paciente}&accion=logout")["datos"] == []


@pytest.mark.parametrize("query", ["accion=borrar", "desde=2024-13-01", "id_usuario=abc",
                                   "desde=2024-02-02&hasta=2024-02-01", "limite=1000",
                                   "cursor=%%%", "otro=1"])
def test_bad_filters_are_400(client, auditor, query):
    response = client.get(f"/auditoria?{query}", headers=auditor.headers)
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_endpoint_modifies_audit_rows(client, database, auditor, method):
    before = database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion <> 'denegado'")
    for url in ("/auditoria", "/auditoria/1"):
        r = getattr(client, method)(url, headers=auditor.headers, json={})
        assert r.status_code in (404, 405)
    assert database.scalar("SELECT COUNT(*) FROM Auditoria WHERE Accion <> 'denegado'") == before
