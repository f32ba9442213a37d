"""Demo data: realistic Spanish records and one login per role, printed at the end.

Names, streets and cities come from Faker (`es_ES`) once, into small pools; rows are then
combined from the pools with a seeded `random.Random` and written in batches of LOTE rows
(patient, search prefixes and historial of a batch in one transaction), so 100,000 patients
take seconds, not minutes.
"""

import random
from datetime import date, timedelta

import click

import db
from auth import hash_password
from paciente import normalize, prefijos

DEMO_PASSWORD = "Demo2024!seguro"
USUARIOS_DEMO = (
    ("Ana Administradora", "admin@demo.local", 1),
    ("Rosa Recepción", "recepcion@demo.local", 3),
    ("Dr. Mario Médico", "medico@demo.local", 2),
    ("Pablo Paciente", "paciente@demo.local", 4),
)
LOTE = 1000
POOL = 400
LETRAS_DNI = "TRWAGMYFPDXBNJZSQVHLCKE"
ESPECIALIDADES = ("Medicina General", "Pediatría", "Cardiología", "Dermatología", "Ginecología",
                  "Traumatología", "Neurología", "Oftalmología", "Psiquiatría", "Endocrinología",
                  "Neumología", "Digestivo", "Otorrinolaringología", "Urología")
ALERGIAS = ("penicilina", "amoxicilina", "ibuprofeno", "ácido acetilsalicílico", "látex",
            "sulfamidas", "polen", "frutos secos", "marisco")
SANGRE = ("O+", "O+", "O+", "A+", "A+", "A+", "B+", "AB+", "O-", "A-", "B-", "AB-")


def ensure_demo_users():
    """One active user per built-in role; the médico and paciente are linked to records."""
    id_medico = db.query_one("SELECT `ID_Médico` AS id FROM `Médico` WHERE Licencia = 'DEMO-0001'")
    if id_medico is None:
        id_medico = db.execute(
            "INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, `Teléfono`, Correo, "
            "Licencia) VALUES (%s, %s, %s, %s, %s, %s)",
            ("Mario Médico", normalize("Mario Médico"), "Medicina General", "+34 600 000 001",
             "medico@demo.local", "DEMO-0001"))
    else:
        id_medico = id_medico["id"]
    id_paciente = db.query_one(
        "SELECT ID_Paciente AS id FROM Paciente WHERE Documento = 'DEMO-0001'")
    if id_paciente is None:
        with db.transaction():
            id_paciente = db.execute(
                "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
                "`Teléfono`, Documento, Correo, Alergias) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                ("Pablo Paciente", normalize("Pablo Paciente"), "1985-04-12", "Masculino",
                 "+34 600 000 002", "DEMO-0001", "paciente@demo.local", "penicilina"))
            insert_prefijos([(id_paciente, normalize("Pablo Paciente"))])
            db.execute("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                       "VALUES (%s, CURRENT_DATE)", (id_paciente,))
    else:
        id_paciente = id_paciente["id"]
    hashed = hash_password(DEMO_PASSWORD)
    links = {2: (None, id_medico), 4: (id_paciente, None)}
    for nombre, correo, id_rol in USUARIOS_DEMO:
        linked_paciente, linked_medico = links.get(id_rol, (None, None))
        db.execute(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, ID_Paciente, `ID_Médico`) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE Activo = TRUE",
            (nombre, correo, hashed, id_rol, linked_paciente, linked_medico))
    return id_paciente, id_medico


class Pools:
    """Faker values drawn once (Faker per row is the slow part) and recombined at random."""

    def __init__(self, semilla):
        from faker import Faker

        fake = Faker("es_ES")
        fake.seed_instance(semilla)
        self.hombres = sorted({fake.first_name_male() for _ in range(POOL)})
        self.mujeres = sorted({fake.first_name_female() for _ in range(POOL)})
        self.apellidos = sorted({fake.last_name() for _ in range(POOL * 2)})
        self.calles = [fake.street_address() for _ in range(POOL)]
        self.ciudades = [f"{fake.postcode()} {fake.city()}" for _ in range(POOL // 4)]
        self.dominios = ("gmail.com", "hotmail.com", "yahoo.es", "outlook.es", "telefonica.net")


def _ascii(text):
    """Lower-case e-mail-safe form of a name part."""
    return normalize(text).replace(" ", "").replace("'", "")


def fila_paciente(rng, pools, numero):
    """One realistic patient row (INSERT order) with a DNI built from `numero` (unique)."""
    genero = rng.choices(("Masculino", "Femenino", "Otro"), weights=(49, 49, 2))[0]
    nombres = pools.hombres if genero == "Masculino" else pools.mujeres
    if genero == "Otro":
        nombres = rng.choice((pools.hombres, pools.mujeres))
    nombre = rng.choice(nombres)
    apellido1, apellido2 = rng.choice(pools.apellidos), rng.choice(pools.apellidos)
    completo = f"{nombre} {apellido1} {apellido2}"[:100]
    nacimiento = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 94))
    telefono = f"+34 6{rng.randrange(10):d}{rng.randrange(10):d} {rng.randrange(1000):03d} " \
               f"{rng.randrange(1000):03d}"
    dni = f"{numero % 10**8:08d}{LETRAS_DNI[numero % 10**8 % 23]}"
    correo = (f"{_ascii(nombre.split()[0])}.{_ascii(apellido1)}{rng.randrange(100)}@"
              f"{rng.choice(pools.dominios)}") if rng.random() < 0.8 else None
    alergias = ", ".join(rng.sample(ALERGIAS, rng.choice((1, 1, 2)))) if rng.random() < 0.15 \
        else None
    return (completo, normalize(completo)[:100], nacimiento, genero, telefono, dni, correo,
            f"{rng.choice(pools.calles)}, {rng.choice(pools.ciudades)}",
            rng.choice(SANGRE) if rng.random() < 0.7 else None, alergias)


def insert_prefijos(pacientes):
    """The search prefixes of (id_paciente, nombre_normalizado) pairs, in one statement."""
    db.executemany("INSERT INTO Paciente_Prefijo (Prefijo, Nombre_Normalizado, ID_Paciente) "
                   "VALUES (%s, %s, %s)",
                   [(p, nombre, id_paciente) for id_paciente, nombre in pacientes
                    for p in prefijos(nombre)])


def crear_pacientes(n, rng, pools, avance=None):
    """Insert `n` patients with their prefixes and historiales, LOTE per transaction.

    Returns their ids. `avance(k)` is called after each batch (progress bar).
    """
    # DNIs numbered after the highest id: a later run never repeats one of an earlier run.
    base = 10**7 + db.query_one("SELECT COALESCE(MAX(ID_Paciente), 0) AS n FROM Paciente")["n"] + 1
    ids = []
    for inicio in range(0, n, LOTE):
        filas = [fila_paciente(rng, pools, base + i)
                 for i in range(inicio, min(n, inicio + LOTE))]
        with db.transaction():
            db.executemany(
                "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
                "`Teléfono`, Documento, Correo, Direccion, Tipo_Sangre, Alergias) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", filas)
            marks = ", ".join(["%s"] * len(filas))
            creados = db.query_all(
                f"SELECT ID_Paciente AS id, Nombre_Normalizado AS nombre FROM Paciente "
                f"WHERE Documento IN ({marks})", [f[5] for f in filas])
            insert_prefijos([(r["id"], r["nombre"]) for r in creados])
            db.executemany("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                           "VALUES (%s, CURRENT_DATE)", [(r["id"],) for r in creados])
        ids += [r["id"] for r in creados]
        if avance:
            avance(len(filas))
    return ids


def crear_medicos(n, rng, pools):
    """Insert `n` doctors (one statement); returns their ids."""
    antes = db.query_one("SELECT COALESCE(MAX(`ID_Médico`), 0) AS n FROM `Médico`")["n"]
    filas = []
    for i in range(n):
        nombre = (f"{rng.choice(pools.hombres + pools.mujeres)} {rng.choice(pools.apellidos)} "
                  f"{rng.choice(pools.apellidos)}")[:100]
        filas.append((nombre, normalize(nombre)[:100], rng.choice(ESPECIALIDADES),
                      f"+34 91{rng.randrange(10)} {rng.randrange(1000):03d} "
                      f"{rng.randrange(1000):03d}",
                      f"{_ascii(nombre.split()[0])}.{_ascii(nombre.split()[-1])}@clinica.es",
                      f"28/{antes + i + 1:06d}"))
    for inicio in range(0, n, LOTE):
        db.executemany("INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, "
                       "`Teléfono`, Correo, Licencia) VALUES (%s, %s, %s, %s, %s, %s)",
                       filas[inicio:inicio + LOTE])
    return [r["id"] for r in db.query_all(
        "SELECT `ID_Médico` AS id FROM `Médico` WHERE `ID_Médico` > %s ORDER BY `ID_Médico`",
        (antes,))][:n]


def run(pacientes, medicos, semilla):
    """Create the demo data set (patients, doctors, citas, clinical records) and print the
    demo logins."""
    import citas
    import clinico

    rng = random.Random(semilla)
    pools = Pools(semilla)
    id_paciente_demo, id_medico_demo = ensure_demo_users()
    id_medicos = crear_medicos(medicos, rng, pools) + [id_medico_demo]
    with click.progressbar(length=pacientes, label="Pacientes") as barra:
        id_pacientes = crear_pacientes(pacientes, rng, pools, avance=barra.update)
    id_pacientes.append(id_paciente_demo)
    agenda = rng.sample(id_pacientes, min(len(id_pacientes), 5000))
    n_citas = citas.demo_citas(agenda, id_medicos, min(len(agenda) * 2, len(id_medicos) * 120),
                               rng)
    recientes = db.query_all(
        "SELECT ID_Cita AS id_cita, ID_Paciente AS id_paciente, `ID_Médico` AS id_medico, "
        "Fecha AS fecha, Estado AS estado FROM Cita ORDER BY ID_Cita DESC LIMIT %s", (n_citas,))
    n_diagnosticos = clinico.demo_clinico(rng, recientes)
    click.echo(f"Creados: {pacientes} pacientes, {medicos} médicos, {n_citas} citas, "
               f"{n_diagnosticos} diagnósticos.")
    click.echo("Usuarios de demostración (contraseña para todos: %s):" % DEMO_PASSWORD)
    for nombre, correo, id_rol in USUARIOS_DEMO:
        rol = {1: "admin", 2: "medico", 3: "recepcionista", 4: "paciente"}[id_rol]
        click.echo(f"  {rol:<14} {correo}")
