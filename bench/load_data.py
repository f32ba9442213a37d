"""Bulk data for the benchmark: patients, doctors, citas and clinical records via LOAD DATA.

Run: .venv/bin/python bench/load_data.py [--db historial_bench] [--pacientes 1000000] ...
Reuses the database when its row counts and its schema (a hash of the SQL file, stored in
Bench_Esquema) still match: a new index in the schema means a fresh load, never a stale bench. Citas lie on a grid (one slot of
30 minutes per doctor, the patients of one slot all different), so no doctor and no patient
has two overlapping citas. Two extra patients carry 5 and 200 clinical records.
"""

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta

import bcrypt
import mysql.connector

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from dotenv import load_dotenv  # noqa: E402

load_dotenv(os.path.join(ROOT, ".env"))
import cli  # noqa: E402
import db  # noqa: E402
from texto import normalize  # noqa: E402

BENCH_CORREO = "bench-admin@bench.local"
BENCH_PASSWORD = "BenchPassword2024!"
SLOTS_DIA = 20  # 08:00 .. 17:30, 30 minutes each
CHUNK = 200_000

NOMBRES = ("José María Lucía Ángel Sofía Martín Inés Raúl Begoña Íñigo Carmen Pablo Elena "
           "Sergio Nuria Andrés Marta Jesús Rocío Álvaro Lorena Óscar Beatriz Adrián Pilar "
           "Rubén Teresa Víctor Noelia Hugo Alba Iván Sara Diego Clara Jorge Irene Mario Julia "
           "Tomás Eva Gonzalo Ana Ramón Laura Miguel Paula Fernando Cristina Joaquín").split()
APELLIDOS = ("García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín "
             "Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro "
             "Torres Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Molina Morales Suárez "
             "Ortega Delgado Castro Ortiz Rubio Marín Sanz Núñez Iglesias Medina Garrido Cortés "
             "Castillo Santos Lozano Guerrero Cano Prieto Méndez Cruz Calvo Gallego Vidal León "
             "Márquez Herrera Peña Flores Cabrera Campos Vega Fuentes Carrasco Diez Caballero "
             "Reyes Nieto Aguilar Pascual Santana Herrero Lorenzo Montero Hidalgo Giménez Ibáñez "
             "Ferrer Durán Santiago Benítez Mora Vicente Vargas Arias Carmona Crespo Román Pastor "
             "Soto Sáez Velasco Moya Soler Parra Esteban Bravo Gallardo Rojas").split()
ESPECIALIDADES = ("Medicina General", "Cardiología", "Pediatría", "Dermatología", "Neurología",
                  "Traumatología", "Ginecología", "Oftalmología")
GENEROS = ("Masculino", "Femenino", "Otro")
SANGRE = ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label, total):
        self.label, self.total, self.done, self.started = label, max(total, 1), 0, time.time()
        self.draw()

    def add(self, n):
        self.done += n
        self.draw()

    def draw(self):
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r  {self.label:<18} [{bar:<30}] {self.done:>10,}/{self.total:,} "
                         f"{time.time() - self.started:6.1f}s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def tsv_value(v):
    """A value in LOAD DATA's default text format (tab-separated, \\N for NULL)."""
    if v is None:
        return "\\N"
    return str(v)


class Loader:
    """LOAD DATA LOCAL INFILE in chunks through one connection, with checks off for speed."""

    def __init__(self, config, workdir):
        args = db.connect_args(config)
        args.update(allow_local_infile=True, allow_local_infile_in_path=workdir,
                    read_timeout=3600, write_timeout=3600)
        self.cnx = mysql.connector.connect(**args)
        self.workdir = workdir
        cur = self.cnx.cursor()
        cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
        cur.close()

    def load(self, table, columns, rows, total, label=None):
        """Write `rows` (an iterable of tuples) into `table` chunk by chunk."""
        progress = Progress(label or table, total)
        path = os.path.join(self.workdir, "chunk.tsv")
        batch = []
        for row in rows:
            batch.append("\t".join(tsv_value(v) for v in row))
            if len(batch) >= CHUNK:
                self._flush(table, columns, path, batch)
                progress.add(len(batch))
                batch = []
        if batch:
            self._flush(table, columns, path, batch)
            progress.add(len(batch))

    def _flush(self, table, columns, path, lines):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
            f.write("\n")
        cur = self.cnx.cursor()
        # Table and column names are constants of this module, never outside input.
        cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                    f"({', '.join(columns)})", (path,))
        cur.close()

    def scalar(self, sql, params=()):
        cur = self.cnx.cursor()
        cur.execute(sql, params)
        row = cur.fetchone()
        cur.close()
        return None if row is None else row[0]

    def execute(self, sql, params=()):
        cur = self.cnx.cursor(buffered=True)
        cur.execute(sql, params)
        cur.close()


def plan(pacientes, medicos, citas, diagnosticos):
    """Expected row counts of a complete load (the two extra patients included)."""
    return {"Paciente": pacientes + 2, "`Médico`": medicos, "Cita": citas + 205,
            "`Diagnóstico`": diagnosticos + 205}


def existing_counts(config, expected):
    """Row counts of the bench database, or None when it does not exist."""
    args = db.connect_args(config)
    name = args.pop("database")
    cnx = mysql.connector.connect(**args)
    cur = cnx.cursor()
    cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
    exists = cur.fetchone()[0]
    counts = None
    if exists:
        cnx.database = name
        counts = {}
        for table in expected:
            try:
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                counts[table] = cur.fetchone()[0]
            except mysql.connector.Error:
                counts[table] = -1
        cur.execute("SELECT COUNT(*) FROM Usuario WHERE Correo = %s", (BENCH_CORREO,))
        counts["usuario"] = cur.fetchone()[0]
        try:
            cur.execute("SELECT Huella FROM Bench_Esquema")
            counts["esquema"] = cur.fetchone()[0]
        except mysql.connector.Error:
            counts["esquema"] = None
    cnx.close()
    return counts


def schema_hash():
    """sha256 of the schema file the data was loaded with."""
    with open(cli.SCHEMA_FILE, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def drop_database(config):
    args = db.connect_args(config)
    name = args.pop("database")
    cnx = mysql.connector.connect(**args)
    cur = cnx.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cnx.close()


def grid_start(citas, medicos):
    """First day of the cita grid: four fifths of it lie in the past."""
    days = -(-citas // (medicos * SLOTS_DIA))
    return date.today() - timedelta(days=int(days * 0.8) + 1)


def slot_of(i, medicos, start):
    """(fecha, hora, id_medico) of grid cita number i (0-based)."""
    t, d = divmod(i, medicos)
    day, slot = divmod(t, SLOTS_DIA)
    minutes = 8 * 60 + slot * 30
    return start + timedelta(days=day), f"{minutes // 60:02d}:{minutes % 60:02d}:00", d + 1


def generate(config, pacientes, medicos, citas, diagnosticos, seed=2024):
    """Create the schema and load every table."""
    rnd = random.Random(seed)
    cli.init_schema(config)
    # Under bench/data/ (git-ignored); the server reads nothing from it, the client sends it.
    os.makedirs(os.path.join(ROOT, "bench", "data"), exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="load-", dir=os.path.join(ROOT, "bench", "data"))
    loader = Loader(config, workdir)
    today = date.today()
    start = grid_start(citas, medicos)
    total_p = pacientes + 2

    names = []
    for _ in range(total_p):
        n = rnd.choice(NOMBRES)
        if rnd.random() < 0.2:
            n += " " + rnd.choice(NOMBRES)
        names.append(f"{n} {rnd.choice(APELLIDOS)} {rnd.choice(APELLIDOS)}")
    norm_cache = {}

    def norm(word):
        v = norm_cache.get(word)
        if v is None:
            v = norm_cache[word] = normalize(word)
        return v

    normalized = [" ".join(norm(w) for w in name.split()) for name in names]

    def paciente_rows():
        for i, (name, nn) in enumerate(zip(names, normalized), start=1):
            yield (i, name, nn, date(1930 + i % 90, 1 + i % 12, 1 + i % 28), GENEROS[i % 3],
                   f"+34 6{i:08d}", f"B{i:08d}", None, None, SANGRE[i % 8], None)

    loader.load("Paciente", ("ID_Paciente", "Nombre", "Nombre_Normalizado", "Fecha_Nacimiento",
                             "`Género`", "`Teléfono`", "Documento", "Correo", "Direccion",
                             "Tipo_Sangre", "Alergias"), paciente_rows(), total_p)

    prefix_cache = {}
    prefijos = []
    for i, nn in enumerate(normalized, start=1):
        words = tuple(nn.split())
        prefixes = prefix_cache.get(words)
        if prefixes is None:
            prefixes = prefix_cache[words] = sorted(
                {w[:n] for w in words for n in range(1, min(4, len(w)) + 1)})
        for p in prefixes:
            prefijos.append((p, nn, i))
    # In primary-key order: InnoDB appends instead of splitting pages at random.
    prefijos.sort()
    loader.load("Paciente_Prefijo", ("Prefijo", "Nombre_Normalizado", "ID_Paciente"),
                prefijos, len(prefijos))
    del prefijos

    loader.load("`Historial_Médico`", ("ID_Historial", "ID_Paciente", "Fecha_Creacion"),
                ((i, i, today) for i in range(1, total_p + 1)), total_p, "Historial_Médico")

    def medico_rows():
        for i in range(1, medicos + 1):
            name = f"{NOMBRES[i % len(NOMBRES)]} {APELLIDOS[i % len(APELLIDOS)]} {i}"
            yield (i, name, normalize(name), ESPECIALIDADES[i % len(ESPECIALIDADES)],
                   f"+34 9{i:08d}", f"medico{i}@bench.local", f"LIC-{i:06d}")

    loader.load("`Médico`", ("`ID_Médico`", "Nombre", "Nombre_Normalizado", "Especialidad",
                             "`Teléfono`", "Correo", "Licencia"), medico_rows(), medicos, "Médico")

    # The extra patients' citas lie on days before the grid, at hours no grid cita uses twice.
    especiales = [(pacientes + 1, 5, "09:00:00"), (pacientes + 2, 200, "11:00:00")]

    def cita_rows():
        for i in range(citas):
            fecha, hora, id_medico = slot_of(i, medicos, start)
            estado = "Completada" if fecha < today else "Pendiente"
            yield (i + 1, fecha, hora, 30, estado, "Revisión", i % pacientes + 1, id_medico)
        n = citas
        for id_paciente, k, hora in especiales:
            for j in range(k):
                n += 1
                yield (n, start - timedelta(days=j + 1), hora, 30, "Completada", "Control",
                       id_paciente, j % medicos + 1)

    loader.load("Cita", ("ID_Cita", "Fecha", "Hora", "Duracion_Min", "Estado", "Motivo",
                         "ID_Paciente", "`ID_Médico`"), cita_rows(), citas + 205)

    def clinical():
        """(id, fecha, id_cita, id_paciente, id_medico) of every diagnosis."""
        for i in range(diagnosticos):
            fecha, _, id_medico = slot_of(i, medicos, start)
            yield i + 1, fecha, i + 1, i % pacientes + 1, id_medico
        n, id_cita = diagnosticos, citas
        for id_paciente, k, _ in especiales:
            for j in range(k):
                n += 1
                id_cita += 1
                yield n, start - timedelta(days=j + 1), id_cita, id_paciente, j % medicos + 1

    total_d = diagnosticos + 205
    loader.load("`Diagnóstico`", ("`ID_Diagnóstico`", "`Descripción`", "Codigo_CIE10", "Fecha",
                                  "Estado", "ID_Historial", "ID_Cita", "ID_Paciente", "`ID_Médico`"),
                ((i, f"Diagnóstico de control {i}", None, f, "activo", p, c, p, m)
                 for i, f, c, p, m in clinical()), total_d, "Diagnóstico")
    loader.load("Tratamiento", ("ID_Tratamiento", "`Descripción`", "Fecha_Inicio", "Fecha_Fin",
                                "Estado", "`ID_Diagnóstico`", "ID_Paciente", "`ID_Médico`"),
                ((i, f"Tratamiento {i}", f, f + timedelta(days=10), "finalizado", i, p, m)
                 for i, f, c, p, m in clinical()), total_d)
    loader.load("Medicamento", ("ID_Medicamento", "Nombre", "Dosis", "Frecuencia", "Via",
                                "Duracion_Dias", "Estado", "ID_Tratamiento", "ID_Paciente",
                                "`ID_Médico`"),
                ((i, "Paracetamol", "1 g", "cada 8 horas", "oral", 10, "activo", i, p, m)
                 for i, f, c, p, m in clinical()), total_d)

    hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(config["BCRYPT_ROUNDS"])).decode()
    loader.execute("INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) "
                   "VALUES ('Admin de benchmark', %s, %s, 1)", (BENCH_CORREO, hashed))
    loader.execute("ANALYZE TABLE Paciente, Paciente_Prefijo, Cita, `Diagnóstico`, Tratamiento, "
                   "Medicamento")
    # Written last: a load cut short has no hash and is loaded again.
    loader.execute("CREATE TABLE Bench_Esquema (Huella CHAR(64) NOT NULL)")
    loader.execute("INSERT INTO Bench_Esquema VALUES (%s)", (schema_hash(),))
    loader.cnx.close()
    os.remove(os.path.join(workdir, "chunk.tsv"))
    os.rmdir(workdir)


def bench_config(name):
    """The app configuration of the bench database `name` (from .env otherwise)."""
    from config import load_config

    config = load_config()
    config["DB_NAME"] = name
    return config


def ensure(name, pacientes, medicos, citas, diagnosticos, config=None):
    """Load the data set into `name` unless it is already there; returns its facts.

    `config` (from bench_config) points the load at another server, such as a cluster node.
    """
    config = config or bench_config(name)
    expected = plan(pacientes, medicos, citas, diagnosticos)
    counts = existing_counts(config, expected)
    # POST /citas of earlier runs adds citas after the loaded ones: more is fine, fewer is not.
    if (counts and all(counts[t] == n or (t == "Cita" and counts[t] > n)
                       for t, n in expected.items()) and counts["usuario"] == 1
            and counts["esquema"] == schema_hash()):
        print(f"{name}: datos ya cargados ({pacientes:,} pacientes), se reutilizan.")
    else:
        if counts is not None:
            print(f"{name}: recuento o esquema distinto del esperado; se vuelve a cargar.")
            drop_database(config)
        print(f"{name}: cargando {pacientes:,} pacientes, {medicos} médicos, {citas:,} citas, "
              f"{diagnosticos:,} diagnósticos...")
        started = time.time()
        generate(config, pacientes, medicos, citas, diagnosticos)
        print(f"{name}: cargado en {time.time() - started:.0f} s.")
    return {
        "db": name, "pacientes": pacientes, "medicos": medicos, "citas": citas,
        "paciente_5": pacientes + 1, "paciente_200": pacientes + 2,
        "grid_start": grid_start(citas, medicos), "correo": BENCH_CORREO,
        "password": BENCH_PASSWORD,
    }


def main():
    """Command line: load (or reuse) the benchmark database of the given sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="historial_bench")
    parser.add_argument("--pacientes", type=int, default=1_000_000)
    parser.add_argument("--medicos", type=int, default=200)
    parser.add_argument("--citas", type=int, default=2_000_000)
    parser.add_argument("--diagnosticos", type=int, default=500_000)
    a = parser.parse_args()
    ensure(a.db, a.pacientes, a.medicos, a.citas, a.diagnosticos)


def warm(name, pool_mib=4096):
    """Give InnoDB room for the whole data set and read every index of it once, so that no
    measurement pays for cold pages another one did not. Returns the old buffer pool size
    (restore it with `restore_pool`), or None where the server does not allow the change."""
    config = bench_config(name)
    cnx = mysql.connector.connect(**db.connect_args(config))
    cur = cnx.cursor()
    cur.execute("SELECT @@innodb_buffer_pool_size")
    old = cur.fetchone()[0]
    try:
        if old < pool_mib * 1024 * 1024:
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {pool_mib * 1024 * 1024}")
            time.sleep(3)  # the resize runs in the background
    except mysql.connector.Error as err:
        print(f"{name}: no se pudo ampliar el buffer pool ({err.msg}); se mide sin ampliarlo.")
        old = None
    cur.execute("SELECT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s GROUP BY TABLE_NAME, INDEX_NAME", (config["DB_NAME"],))
    indexes = [(t, i) for t, i in cur.fetchall() if i != "FULLTEXT" and not i.startswith("ft_")]
    started = time.time()
    for table, index in indexes:
        try:
            cur.execute(f"SELECT COUNT(*) FROM `{table}` FORCE INDEX (`{index}`)")
            cur.fetchall()
        except mysql.connector.Error:
            pass  # FULLTEXT and other indexes that cannot be scanned this way
    print(f"{name}: {len(indexes)} índices leídos en {time.time() - started:.0f} s.")
    cnx.close()
    return old


def restore_pool(name, size):
    """Put back the buffer pool size `warm` changed (nothing when it could not)."""
    if size is None:
        return
    cnx = mysql.connector.connect(**db.connect_args(bench_config(name)))
    cnx.cursor().execute(f"SET GLOBAL innodb_buffer_pool_size = {int(size)}")
    cnx.close()


if __name__ == "__main__":
    main()
