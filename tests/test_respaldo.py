"""`respaldar` and `restaurar`: a consistent backup while a writer is busy, restored into
another database that the API then serves; refusals that change nothing; an older backup is
migrated; after a restore sessions are revoked, invitations voided and caches flushed."""

import gzip
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests

import cli
import cache as cache_module
import migraciones
from conftest import PASSWORD
from esquema import (LEGACY_DIR, ROOT, app_on, flask_cli, load_sql_file, schema_picture,
                     scratch_database, server_connection, table_contents)

sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402


def fresh(app, name, pacientes=30):
    """`name` migrated, with the CIE-10 of the test database and a small demo."""
    import demo

    cli.init_schema({**app.config, "DB_NAME": name})
    cnx = server_connection(app.config, name)
    cnx.cursor().execute(f"INSERT INTO CIE10 SELECT * FROM `{app.config['DB_NAME']}`.CIE10")
    cnx.close()
    with app_on(name) as other, other.app_context():
        demo.run(pacientes=pacientes, medicos=3, semilla=5)


def login(client, correo="admin@demo.local", password="Demo2024!seguro"):
    response = client.post("/auth/login", json={"correo": correo, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


class Writer(threading.Thread):
    """Creates patients (row and historial in one transaction) until stopped."""

    def __init__(self, config, name):
        super().__init__(daemon=True)
        self.cnx = server_connection(config, name)
        self.stop, self.ids = threading.Event(), []

    def run(self):
        cur = self.cnx.cursor()
        n = 0
        while not self.stop.is_set():
            n += 1
            self.cnx.start_transaction()
            cur.execute("INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, "
                        "`Género`, `Teléfono`) VALUES (%s, %s, %s, 'Otro', '+34 600 000 000')",
                        (f"Escritor {n}", f"escritor {n}", date(1990, 1, 1)))
            id_paciente = cur.lastrowid
            cur.execute("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                        "VALUES (%s, CURRENT_DATE)", (id_paciente,))
            self.cnx.commit()
            self.ids.append(id_paciente)
            time.sleep(0.002)


def ids(config, name, sql="SELECT ID_Paciente FROM Paciente"):
    cnx = server_connection(config, name)
    cur = cnx.cursor()
    cur.execute(sql)
    found = {row[0] for row in cur.fetchall()}
    cnx.close()
    return found


def test_backup_while_writing_restores_the_backups_moment_and_serves(app, tmp_path):
    with scratch_database(app.config, "src") as src, scratch_database(app.config, "dst") as dst:
        fresh(app, src)
        with app_on(src) as source_app:
            old_headers = login(source_app.test_client())
        writer = Writer(app.config, src)
        writer.start()
        while len(writer.ids) < 20:
            time.sleep(0.01)
        started_with = len(writer.ids)
        backup = tmp_path / "respaldo.sql.gz"
        result = flask_cli(src, "respaldar", "--salida", str(backup))
        time.sleep(0.2)
        writer.stop.set()
        writer.join(10)
        assert result.returncode == 0, result.stderr
        assert "Respaldo escrito" in result.stderr and "Paciente" in result.stderr
        version = len(migraciones.available())
        assert gzip.open(backup).readline() == \
            f"-- historial-medico respaldo; esquema: {version}\n".encode()

        restored = flask_cli(dst, "restaurar", "--entrada", str(backup), "--confirmar")
        assert restored.returncode == 0, restored.stderr
        source_ids, restored_ids = ids(app.config, src), ids(app.config, dst)
        written_in_backup = set(writer.ids) & restored_ids
        # The writer was caught mid-run: some of its rows are in, the later ones are not...
        assert started_with <= len(written_in_backup) < len(writer.ids)
        # ...and the backup is one moment: every row up to the last one in it, none after.
        assert restored_ids == {i for i in source_ids if i <= max(restored_ids)}
        assert ids(app.config, dst, "SELECT ID_Paciente FROM `Historial_Médico`") == restored_ids
        assert schema_picture(app.config, dst) == schema_picture(app.config, src)

        with app_on(dst) as restored_app:
            client = restored_app.test_client()
            assert client.get("/auth/me", headers=old_headers).status_code == 401
            headers = login(client)
            some = max(written_in_backup)
            response = client.get(f"/pacientes/{some}", headers=headers)
            assert response.status_code == 200
            assert response.get_json()["nombre"].startswith("Escritor")
            assert client.get("/health/ready").status_code == 200


def test_restore_refuses_without_confirmation_or_from_a_newer_schema(app, tmp_path):
    with scratch_database(app.config, "src") as src, scratch_database(app.config, "dst") as dst:
        fresh(app, src, pacientes=5)
        fresh(app, dst, pacientes=8)
        backup = tmp_path / "r.sql.gz"
        assert flask_cli(src, "respaldar", "--salida", str(backup)).returncode == 0
        before = table_contents(app.config, dst)

        result = flask_cli(dst, "restaurar", "--entrada", str(backup))
        assert result.returncode != 0 and "--confirmar" in result.stderr
        assert table_contents(app.config, dst) == before

        newer = tmp_path / "futuro.sql.gz"
        with gzip.open(newer, "wb") as out, gzip.open(backup) as original:
            original.readline()
            out.write(b"-- historial-medico respaldo; esquema: 42\n" + original.read())
        result = flask_cli(dst, "restaurar", "--entrada", str(newer), "--confirmar")
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1 and "esquema 42" in result.stderr
        assert table_contents(app.config, dst) == before

        junk = tmp_path / "otro.sql.gz"
        with gzip.open(junk, "wb") as out:
            out.write(b"DROP TABLE Paciente;\n")
        result = flask_cli(dst, "restaurar", "--entrada", str(junk), "--confirmar")
        assert result.returncode != 0 and "no es un respaldo" in result.stderr
        assert table_contents(app.config, dst) == before


def test_backup_of_an_older_release_is_migrated_after_restoring(app, tmp_path):
    with scratch_database(app.config, "old") as old, scratch_database(app.config, "dst") as dst, \
            scratch_database(app.config, "ref") as ref:
        load_sql_file(app.config, old, os.path.join(LEGACY_DIR, "3ed0023.sql"))
        cnx = server_connection(app.config, old)
        cnx.cursor().execute("INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, "
                             "`Género`, `Teléfono`) VALUES ('Antigua', 'antigua', '1950-01-01', "
                             "'Femenino', '+34 600 000 000')")
        cnx.close()
        backup = tmp_path / "viejo.sql.gz"
        result = flask_cli(old, "respaldar", "--salida", str(backup))
        assert result.returncode == 0, result.stderr
        assert gzip.open(backup).readline().endswith(b"esquema: 0\n")
        result = flask_cli(dst, "restaurar", "--entrada", str(backup), "--confirmar")
        assert result.returncode == 0, result.stderr
        assert "0001_esquema_inicial" in result.stderr
        cli.init_schema({**app.config, "DB_NAME": ref})
        assert schema_picture(app.config, dst) == schema_picture(app.config, ref)
        assert len(ids(app.config, dst)) == 1


def test_restore_revokes_sessions_voids_invitations_and_flushes_every_cache(app, tmp_path):
    with scratch_database(app.config, "vivo") as live:
        fresh(app, live, pacientes=5)
        cnx = server_connection(app.config, live)
        cur = cnx.cursor()
        cur.execute("SELECT MIN(ID_Paciente) FROM Paciente")
        id_paciente = cur.fetchone()[0]
        # The demo issues one invitation of its own; only these two are counted below.
        cur.execute("DELETE FROM Invitacion")
        cur.execute("INSERT INTO Invitacion (ID_Paciente, Codigo_Hash, Expira_En, Usada_En) VALUES "
                    "(%s, REPEAT('a', 64), UTC_TIMESTAMP() + INTERVAL 7 DAY, NULL), "
                    "(%s, REPEAT('b', 64), UTC_TIMESTAMP() + INTERVAL 7 DAY, UTC_TIMESTAMP())",
                    (id_paciente, id_paciente))
        cur.execute("SELECT `ID_Médico` FROM `Médico` WHERE Licencia = 'DEMO-0001'")
        id_medico = cur.fetchone()[0]
        backup = tmp_path / "vivo.sql.gz"
        assert flask_cli(live, "respaldar", "--salida", str(backup)).returncode == 0

        with app_on(live) as serving:
            client = serving.test_client()
            headers = login(client)
            etag = client.get(f"/medicos/{id_medico}", headers=headers).headers["ETag"]
            changed = client.patch(f"/medicos/{id_medico}", json={"nombre": "Nombre Posterior"},
                                   headers={**headers, "If-Match": etag})
            assert changed.status_code == 200
            assert client.get(f"/medicos/{id_medico}",
                              headers=headers).get_json()["nombre"] == "Nombre Posterior"
            with serving.app_context():
                # The row is in this process's SimpleCache now.
                key = cache_module.cache._key(f"medico:{id_medico}")
                assert cache_module.cache.cache.get(key) is not None

            result = flask_cli(live, "restaurar", "--entrada", str(backup), "--confirmar")
            assert result.returncode == 0, result.stderr
            assert "Invitaciones sin usar anuladas: 1" in result.stderr

            assert client.get("/auth/me", headers=headers).status_code == 401
            headers = login(client)
            # The restored doctor, never the cached body of the newer one.
            assert client.get(f"/medicos/{id_medico}",
                              headers=headers).get_json()["nombre"] == "Mario Médico"

        cur.execute("SELECT COUNT(*) FROM Sesion WHERE Revocada = FALSE AND Creado_En < "
                    "UTC_TIMESTAMP() - INTERVAL 1 SECOND")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT Codigo_Hash, Expira_En <= UTC_TIMESTAMP(), Usada_En IS NULL "
                    "FROM Invitacion ORDER BY ID_Invitacion")
        assert cur.fetchall() == [("a" * 64, 1, 1), ("b" * 64, 0, 0)]
        cnx.close()


@pytest.mark.parametrize("missing", ["--salida", "--entrada"])
def test_commands_need_their_file_option(app, missing):
    command = "respaldar" if missing == "--salida" else "restaurar"
    result = flask_cli(app.config["DB_NAME"], command)
    assert result.returncode != 0 and missing in result.stderr


def test_restore_flushes_the_simplecache_of_every_running_worker(app, tmp_path):
    with scratch_database(app.config, "workers") as live:
        fresh(app, live, pacientes=3)
        backup = tmp_path / "w.sql.gz"
        assert flask_cli(live, "respaldar", "--salida", str(backup)).returncode == 0
        cnx = server_connection(app.config, live)
        cur = cnx.cursor()
        cur.execute("SELECT `ID_Médico` FROM `Médico` WHERE Licencia = 'DEMO-0001'")
        id_medico = cur.fetchone()[0]
        # Changed behind the API's back: only the restore can make the workers forget it.
        cur.execute("UPDATE `Médico` SET Nombre = 'Nombre Posterior' WHERE `ID_Médico` = %s",
                    (id_medico,))
        cnx.close()
        server = servers.start_gunicorn(str(tmp_path), {"DB_NAME": live, "CACHE_REDIS_URL": "",
                                                        "CACHE_TYPE": "SimpleCache"}, workers=3)
        try:
            def names(headers, n=30):
                def one(_):
                    return requests.get(f"{server.url}/medicos/{id_medico}", headers=headers,
                                        timeout=10).json()["nombre"]
                with ThreadPoolExecutor(6) as pool:
                    return set(pool.map(one, range(n)))

            def login_http():
                r = requests.post(server.url + "/auth/login", timeout=10,
                                  json={"correo": "admin@demo.local", "password": "Demo2024!seguro"})
                return {"Authorization": f"Bearer {r.json()['token']}"}

            assert names(login_http()) == {"Nombre Posterior"}
            result = flask_cli(live, "restaurar", "--entrada", str(backup), "--confirmar")
            assert result.returncode == 0, result.stderr
            assert names(login_http(), 60) == {"Mario Médico"}
            pids = {int(p) for p in re.findall(r"<(\d+)> \"GET /medicos", server.log_text())}
            assert len(pids) >= 2
        finally:
            server.stop()


def test_restore_ends_the_sessions_every_process_remembers(app, tmp_path):
    """Each process remembers the sessions it served (sesiones.SesionesRecordadas): a restore,
    even of a backup taken at the same session generation, and a crear-admin that resets a
    password must end them for the very next request."""
    with scratch_database(app.config, "recuerda") as live:
        fresh(app, live, pacientes=3)
        with app_on(live) as uno, app_on(live) as otro:
            clients = [uno.test_client(), otro.test_client()]
            headers = login(clients[0])
            for client in clients:
                assert client.get("/auth/me", headers=headers).status_code == 200
                assert client.application.extensions["sesiones_recordadas"].filas
            # Taken now: its Generacion_Sesion is the one these sessions are remembered with.
            backup = tmp_path / "r.sql.gz"
            assert flask_cli(live, "respaldar", "--salida", str(backup)).returncode == 0
            result = flask_cli(live, "restaurar", "--entrada", str(backup), "--confirmar")
            assert result.returncode == 0, result.stderr
            assert [c.get("/auth/me", headers=headers).status_code
                    for c in clients] == [401, 401]

            headers = login(clients[1])
            for client in clients:
                assert client.get("/auth/me", headers=headers).status_code == 200
            result = flask_cli(live, "crear-admin", "--correo", "admin@demo.local",
                               "--password", "Otra-clave-2024")
            assert result.returncode == 0, result.stderr
            assert [c.get("/auth/me", headers=headers).status_code
                    for c in clients] == [401, 401]
