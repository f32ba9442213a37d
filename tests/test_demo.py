"""`flask --app app demo`: once only (a second run adds nothing and says so), `--reiniciar`
rebuilds it, and each demo login sees real data at once."""

import re

import pytest

from esquema import app_on, flask_cli, scratch_database, server_connection, table_contents

DEMO_PASSWORD = "Demo2024!seguro"


@pytest.fixture
def demo_db(app):
    """A migrated database with the CIE-10 of the test database, and no demo yet."""
    import cli

    with scratch_database(app.config, "demo") as name:
        cli.init_schema({**app.config, "DB_NAME": name})
        cnx = server_connection(app.config, name)
        cnx.cursor().execute(f"INSERT INTO CIE10 SELECT * FROM `{app.config['DB_NAME']}`.CIE10")
        cnx.close()
        yield name


def counts(app, name):
    return {t: n for t, (n, _) in table_contents(app.config, name).items()}


def test_demo_twice_adds_nothing_the_second_time(app, demo_db):
    first = flask_cli(demo_db, "demo", "--pacientes", "40", "--medicos", "4")
    assert first.returncode == 0, first.stderr
    assert "Creados: 42 pacientes" in first.stdout and "paciente@demo.local" in first.stdout
    after_first = table_contents(app.config, demo_db)

    second = flask_cli(demo_db, "demo", "--pacientes", "40", "--medicos", "4")
    assert second.returncode == 0, second.stderr
    assert "no se ha añadido nada" in second.stdout and "42 pacientes" in second.stdout
    assert table_contents(app.config, demo_db) == after_first

    rebuilt = flask_cli(demo_db, "demo", "--reiniciar", "--pacientes", "40", "--medicos", "4")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Datos anteriores borrados" in rebuilt.stdout
    assert counts(app, demo_db)["Paciente"] == 42 and counts(app, demo_db)["Usuario"] == 4
    cnx = server_connection(app.config, demo_db)
    cur = cnx.cursor()
    cur.execute("SELECT MIN(ID_Paciente) FROM Paciente")
    assert cur.fetchone()[0] > 42, "the old rows should be gone, the new ones numbered after"
    cnx.close()


def test_reiniciar_refuses_a_database_with_other_users(app, demo_db):
    assert flask_cli(demo_db, "demo", "--pacientes", "5", "--medicos", "1").returncode == 0
    cnx = server_connection(app.config, demo_db)
    cnx.cursor().execute("INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) "
                         "VALUES ('Real', 'real@clinica.es', 'x', 1)")
    cnx.close()
    before = table_contents(app.config, demo_db)
    result = flask_cli(demo_db, "demo", "--reiniciar")
    assert result.returncode != 0 and "no son de demostración" in result.stderr
    assert table_contents(app.config, demo_db) == before


def test_demo_refuses_a_database_with_patients_but_no_demo(app, demo_db):
    cnx = server_connection(app.config, demo_db)
    cnx.cursor().execute("INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, "
                         "`Género`, `Teléfono`) VALUES ('Real', 'real', '1970-01-01', 'Otro', "
                         "'+34 600 000 000')")
    cnx.close()
    before = table_contents(app.config, demo_db)
    result = flask_cli(demo_db, "demo")
    assert result.returncode != 0 and "no se ha añadido nada" in result.stderr
    assert table_contents(app.config, demo_db) == before


def test_each_demo_login_sees_data_at_once(app, demo_db):
    assert flask_cli(demo_db, "demo", "--pacientes", "20", "--medicos", "2").returncode == 0
    with app_on(demo_db) as demo_app:
        client = demo_app.test_client()

        def login(correo):
            response = client.post("/auth/login", json={"correo": correo,
                                                        "password": DEMO_PASSWORD})
            assert response.status_code == 200, response.get_json()
            return {"Authorization": f"Bearer {response.get_json()['token']}"}, \
                response.get_json()["usuario"]

        headers, usuario = login("paciente@demo.local")
        id_paciente = usuario["id_paciente"]
        historial = client.get(f"/pacientes/{id_paciente}/historial", headers=headers).get_json()
        assert {c["estado"] for c in historial["citas"]} >= {
            "Completada", "No_Asistio", "Cancelada", "Confirmada", "Pendiente"}
        assert len(historial["diagnosticos"]) >= 2
        tratamientos = [t for d in historial["diagnosticos"] for t in d["tratamientos"]]
        assert tratamientos and all(t["medicamentos"] for t in tratamientos)

        headers, usuario = login("medico@demo.local")
        bajo_cuidado = client.get(f"/medicos/{usuario['id_medico']}/pacientes",
                                  headers=headers).get_json()["datos"]
        assert id_paciente in {p["id_paciente"] for p in bajo_cuidado}
        response = client.get(f"/pacientes/{id_paciente}/historial", headers=headers)
        assert response.status_code == 200 and response.get_json()["diagnosticos"]

        headers, _ = login("recepcion@demo.local")
        assert client.get("/citas", headers=headers).get_json()["datos"]
        assert client.get("/pacientes", headers=headers).get_json()["datos"]

        headers, _ = login("admin@demo.local")
        assert len(client.get("/usuarios", headers=headers).get_json()["datos"]) == 4
        assert client.get("/pacientes?q=lucia", headers=headers).get_json()["datos"]


def test_demo_prints_an_invitation_that_signs_up_its_patient_once(app, demo_db):
    result = flask_cli(demo_db, "demo", "--pacientes", "5", "--medicos", "1")
    assert result.returncode == 0, result.stderr
    found = re.search(r'"codigo": "([A-Z0-9-]+)", "fecha_nacimiento": "(\d{4}-\d\d-\d\d)"',
                      result.stdout)
    assert found, result.stdout
    codigo, nacimiento = found.groups()
    with app_on(demo_db) as demo_app:
        client = demo_app.test_client()
        body = {"codigo": codigo, "fecha_nacimiento": nacimiento,
                "correo": "lucia.invitada@demo.local", "password": DEMO_PASSWORD}
        response = client.post("/auth/registro", json=body)
        assert response.status_code == 201, response.get_json()
        usuario = response.get_json()["usuario"]
        assert usuario["rol"] == "paciente"
        again = client.post("/auth/registro", json={**body, "correo": "otra@demo.local"})
        assert again.status_code == 400 and again.get_json()["codigo"] == "codigo_invalido"
    cnx = server_connection(app.config, demo_db)
    cur = cnx.cursor()
    cur.execute("SELECT p.Nombre, COUNT(*) FROM Usuario u JOIN Paciente p USING (ID_Paciente) "
                "WHERE u.Correo LIKE 'lucia.invitada@%' GROUP BY p.Nombre")
    assert cur.fetchall() == [("Lucía Invitada", 1)]
    cur.execute("SELECT COUNT(*) FROM Usuario WHERE Correo = 'otra@demo.local'")
    assert cur.fetchone()[0] == 0
    cnx.close()
