"""Versioned migrations: the schema file equals the migrations' result, databases of earlier
releases are brought forward with every row, two init-db apply once, and a database newer
than the code (or one with a pending migration) is refused."""

import os
import random
import shutil
import threading
import time

import pytest

import cli
import db
import migraciones
from esquema import (BASE_FILE, LEGACY_DIR, app_on, flask_cli, load_sql_file, schema_picture,
                     scratch_database, server_connection, table_contents)


ALL = [m.label for m in migraciones.available()]


def migrated(config, database):
    """init_schema on `database` (the code's path for a fresh or older database)."""
    return cli.init_schema({**config, "DB_NAME": database})


def test_schema_file_equals_all_migrations(app):
    with scratch_database(app.config, "file") as from_file, \
            scratch_database(app.config, "mig") as from_migrations:
        load_sql_file(app.config, from_file, BASE_FILE)
        assert migrated(app.config, from_migrations) == ALL
        file_picture = schema_picture(app.config, from_file)
        assert file_picture == schema_picture(app.config, from_migrations)
        assert ("Tratamiento", "ix_tratamiento_paciente_fecha", 1, 1, "ID_Paciente", None,
                "BTREE", "A") in file_picture["indexes"]


def fill_with_demo_data(app, database):
    """Demo-like rows through the code's own generators, on a database of an older schema."""
    import demo

    cnx = server_connection(app.config, database)
    cur = cnx.cursor()
    cur.execute(f"INSERT INTO CIE10 SELECT * FROM `{app.config['DB_NAME']}`.CIE10")
    cnx.close()
    with app_on(database) as other, other.app_context():
        rng = random.Random(3)
        pools = demo.Pools(3)
        medicos = demo.crear_medicos(5, rng, pools)
        pacientes = demo.crear_pacientes(60, rng, pools)
        n = demo.demo_citas(pacientes, medicos, 80, rng)
        recientes = [dict(r) for r in db.query_all(
            "SELECT ID_Cita AS id_cita, ID_Paciente AS id_paciente, `ID_Médico` AS id_medico, "
            "Fecha AS fecha, Estado AS estado FROM Cita")]
        assert demo.demo_clinico(rng, recientes, proporcion=1) > 0 and n > 0


@pytest.mark.parametrize("release", ["c8583ff", "c482cf6", "3ed0023"])
def test_database_of_an_earlier_release_is_brought_forward_keeping_every_row(app, release):
    with scratch_database(app.config, "old") as old, scratch_database(app.config, "new") as new:
        load_sql_file(app.config, old, os.path.join(LEGACY_DIR, f"{release}.sql"))
        fill_with_demo_data(app, old)
        before = table_contents(app.config, old)
        assert before["Tratamiento"][0] > 0 and before["Paciente_Prefijo"][0] > 0
        if release == "3ed0023":
            assert not any(row[1] == "ix_tratamiento_paciente_fecha"
                           for row in schema_picture(app.config, old)["indexes"])

        result = flask_cli(old, "init-db")
        assert result.returncode == 0, result.stderr
        assert "anterior a las migraciones" in result.stdout

        migrated(app.config, new)
        assert schema_picture(app.config, old) == schema_picture(app.config, new)
        after = table_contents(app.config, old)
        # Every row of every table kept: byte for byte where no migration added a column
        # (Rol gained Nombre_Canonico: same row count); the new tables hold their seed only.
        assert set(after) - set(before) <= {"Generacion_Cache", "Invitacion", "Cerrojo",
                                             "Version_Historia", "Generacion_Sesion"}
        assert {t: v[0] for t, v in after.items() if t in before} == {
            t: v[0] for t, v in before.items()}
        assert {t: v for t, v in after.items() if t in before and t != "Rol"} == {
            t: v for t, v in before.items() if t != "Rol"}
        again = flask_cli(old, "init-db")
        assert again.returncode == 0 and "ya estaba al día" in again.stdout


def test_two_init_db_at_once_apply_each_migration_once(app):
    with scratch_database(app.config, "par") as name:
        holder = server_connection(app.config, name)
        cur = holder.cursor()
        # The test holds the lock first, so both commands are certainly waiting at once.
        lock = migraciones.lock_name(holder)
        cur.execute("SELECT GET_LOCK(%s, 5)", (lock,))
        assert cur.fetchone()[0] == 1
        procs = [flask_cli(name, "init-db", background=True) for _ in range(2)]
        deadline = time.monotonic() + 60
        waiting = 0
        while time.monotonic() < deadline and waiting < 2:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                        "WHERE INFO LIKE 'SELECT GET_LOCK(%%' AND ID <> CONNECTION_ID()")
            waiting = cur.fetchone()[0]
            time.sleep(0.2)
        assert waiting == 2
        cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
        outputs = [p.communicate(timeout=300) for p in procs]
        holder.close()
        assert [p.returncode for p in procs] == [0, 0], outputs
        applied = [out for out, _ in outputs if "aplicadas: " + ", ".join(ALL) in out]
        nothing = [out for out, _ in outputs if "ya estaba al día" in out]
        assert len(applied) == 1 and len(nothing) == 1
        cnx = server_connection(app.config, name)
        cur = cnx.cursor()
        cur.execute("SELECT Version FROM Migracion ORDER BY Version")
        assert cur.fetchall() == [(i,) for i in range(1, len(ALL) + 1)]
        cnx.close()


def test_init_db_refuses_a_database_newer_than_the_code(app):
    with scratch_database(app.config, "nueva") as name:
        migrated(app.config, name)
        cnx = server_connection(app.config, name)
        cur = cnx.cursor()
        cur.execute("INSERT INTO Migracion (Version, Nombre, Suma_SHA256) "
                    "VALUES (70, 'de_una_version_futura', REPEAT('0', 64))")
        before = schema_picture(app.config, name)
        result = flask_cli(name, "init-db")
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "versión 70" in lines[0] and "Traceback" not in result.stderr
        assert schema_picture(app.config, name) == before

        with app_on(name) as other:
            client = other.test_client()
            ready = client.get("/health/ready")
            assert ready.status_code == 503 and "versión 70" in ready.get_json()["error"]
            assert client.get("/health").status_code == 200
        cnx.close()


def test_app_refuses_to_serve_with_a_pending_migration_naming_it(app, monkeypatch):
    with scratch_database(app.config, "pend") as name:
        migrated(app.config, name)
        cnx = server_connection(app.config, name)
        cur = cnx.cursor()
        cur.execute("DELETE FROM Migracion WHERE Version = 1")
        with app_on(name) as other:
            client = other.test_client()
            for path in ("/health/ready", "/medicos", "/auth/login"):
                response = client.get(path)
                assert response.status_code == 503
                body = response.get_json()
                assert body["codigo"] == "servicio_no_disponible"
                assert "0001_esquema_inicial" in body["error"] and "init-db" in body["error"]
            assert client.get("/health").status_code == 200
            assert migrated(app.config, name) == ["0001_esquema_inicial"]
            time.sleep(migraciones.CHECK_EVERY_S)
            assert client.get("/health/ready").status_code == 200
        cnx.close()


def copy_migrations(target):
    for migration in migraciones.available():
        shutil.copy(migration.path, target)
    return len(ALL) + 1


def test_a_dropped_in_numbered_file_is_the_next_migration(app, tmp_path):
    n = copy_migrations(tmp_path)
    (tmp_path / f"{n:04d}_nota_paciente.sql").write_text(
        "-- Un ejemplo de migración 2.\n"
        "ALTER TABLE Paciente ADD COLUMN IF NOT EXISTS Nota VARCHAR(50) NULL AFTER Alergias;\n"
        "UPDATE Paciente SET Nota = 'migrada';\n", encoding="utf-8")
    with scratch_database(app.config, "dos") as name:
        cnx = server_connection(app.config, name)
        new = ALL + [f"{n:04d}_nota_paciente"]
        assert [m.label for m in migraciones.pending(cnx, str(tmp_path))] == new
        assert migraciones.migrate(cnx, str(tmp_path)) == new
        assert migraciones.migrate(cnx, str(tmp_path)) == []
        assert migraciones.pending(cnx, str(tmp_path)) == []
        # The code without the new file now meets a newer database.
        with pytest.raises(migraciones.MigrationError, match=f"versión {n}"):
            migraciones.pending(cnx)
        cnx.close()
    (tmp_path / f"{n + 2:04d}_salto.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(migraciones.MigrationError, match=f"falta la migración {n + 1:04d}"):
        migraciones.available(str(tmp_path))


def test_a_failing_data_migration_leaves_nothing_half_done(app, tmp_path):
    n = copy_migrations(tmp_path)
    (tmp_path / f"{n:04d}_datos.sql").write_text(
        "UPDATE Rol SET Descripcion = 'cambiada' WHERE ID_Rol = 1;\n"
        "INSERT INTO Rol (ID_Rol, Nombre) VALUES (1, 'repetido');\n", encoding="utf-8")
    with scratch_database(app.config, "falla") as name:
        cnx = server_connection(app.config, name)
        with pytest.raises(migraciones.MigrationError, match=f"{n:04d}_datos falló"):
            migraciones.migrate(cnx, str(tmp_path))
        cur = cnx.cursor()
        cur.execute("SELECT Descripcion FROM Rol WHERE ID_Rol = 1")
        assert cur.fetchone()[0] == "Administrador del sistema"
        cur.execute("SELECT Version FROM Migracion ORDER BY Version")
        assert cur.fetchall() == [(i,) for i in range(1, n)]
        cnx.close()


def test_parallel_init_schema_threads_in_one_process(app):
    """The same lock between two connections of one process (threads)."""
    with scratch_database(app.config, "hilos") as name:
        results, errors = [], []

        def run():
            try:
                results.append(migrated(app.config, name))
            except Exception as err:  # noqa: BLE001 - reported by the assertion below
                errors.append(err)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        assert sorted(results, key=len) == [[], ALL]
