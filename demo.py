"""Demo data: realistic Spanish records and one login per role, printed at the end.

Names, streets and cities come from Faker (`es_ES`) once, into small pools; rows are then
combined from the pools with a seeded `random.Random` and written in batches of LOTE rows
(patient, search prefixes and historial of a batch in one transaction), so 100,000 patients
take seconds, not minutes.
"""

import random
from datetime import date, datetime, time, timedelta

import click
from flask import current_app

import db
from auth import ahora_local
from clinico import alergia_que_choca, hoy
from credenciales import hash_password
from db import execute, executemany, query_all, query_one, transaction
from invitaciones import crear_invitacion
from texto import normalize, prefijos

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


class DemoError(Exception):
    """The demo cannot run on this database; the message is one line."""


def _crear_paciente(nombre, nacimiento, genero, telefono, documento, correo, alergias):
    """One patient with its search prefixes and historial, in one transaction; returns its id."""
    with db.transaction():
        id_paciente = db.execute(
            "INSERT INTO Paciente (Nombre, Nombre_Normalizado, Fecha_Nacimiento, `Género`, "
            "`Teléfono`, Documento, Correo, Alergias) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (nombre, normalize(nombre), nacimiento, genero, telefono, documento, correo, alergias))
        insert_prefijos([(id_paciente, normalize(nombre))])
        db.execute("INSERT INTO `Historial_Médico` (ID_Paciente, Fecha_Creacion) "
                   "VALUES (%s, CURRENT_DATE - INTERVAL 1 YEAR)", (id_paciente,))
    return id_paciente


def _dia_laborable(dias):
    """The weekday `dias` days from today (moved back to Friday from a weekend)."""
    dia = date.today() + timedelta(days=dias)
    return dia - timedelta(days=max(0, dia.weekday() - 4))


# The demo patient's citas with the demo doctor: (days from today, hour offset, state).
CITAS_DEMO = ((-90, 1, "Completada"), (-40, 2, "Completada"), (-12, 1, "No_Asistio"),
              (-5, 3, "Cancelada"), (3, 1, "Confirmada"), (10, 2, "Pendiente"))
# Cases of CASOS_DEMO given to the demo patient's completed citas, in order.
CASOS_PACIENTE_DEMO = ("I10", "J45.9")


def crear_registros_demo(rng):
    """The demo doctor, the demo patient under their care (citas in every state, diagnoses,
    treatments, prescriptions) and a second patient without a user; returns their ids."""
    id_medico = db.execute(
        "INSERT INTO `Médico` (Nombre, Nombre_Normalizado, Especialidad, `Teléfono`, Correo, "
        "Licencia) VALUES (%s, %s, %s, %s, %s, %s)",
        ("Mario Médico", normalize("Mario Médico"), "Medicina General", "+34 600 000 001",
         "medico@demo.local", "DEMO-0001"))
    id_paciente = _crear_paciente("Pablo Paciente", "1985-04-12", "Masculino", "+34 600 000 002",
                                  "DEMO-0001", "paciente@demo.local", "penicilina")
    id_invitado = _crear_paciente("Lucía Invitada", "1992-09-30", "Femenino", "+34 600 000 003",
                                  "DEMO-0002", None, None)
    inicio = datetime.combine(date.today(), current_app.config["HORARIO_INICIO"])
    casos = {c[0]: c for c in CASOS_DEMO}
    completadas = []
    with db.transaction():
        for dias, horas, estado in CITAS_DEMO:
            fecha = _dia_laborable(dias)
            hora = (inicio + timedelta(hours=horas)).time()
            id_cita = db.execute(
                "INSERT INTO Cita (Fecha, Hora, Duracion_Min, Estado, Motivo, ID_Paciente, "
                "`ID_Médico`) VALUES (%s, %s, 30, %s, %s, %s, %s)",
                (fecha, hora, estado, rng.choice(("Revisión", "Control de tensión",
                                                  "Seguimiento")), id_paciente, id_medico))
            historia = ["Pendiente"] + (["Confirmada"] if estado != "Pendiente" else []) + (
                [estado] if estado not in ("Pendiente", "Confirmada") else [])
            db.executemany("INSERT INTO Cita_Estado (ID_Cita, Estado) VALUES (%s, %s)",
                           [(id_cita, e) for e in historia])
            if estado == "Completada":
                completadas.append((id_cita, fecha))
        historial = db.query_one("SELECT ID_Historial AS id FROM `Historial_Médico` "
                                 "WHERE ID_Paciente = %s", (id_paciente,))["id"]
        for (id_cita, fecha), codigo in zip(completadas, CASOS_PACIENTE_DEMO):
            _, diagnostico, tratamiento, farmacos = casos[codigo]
            id_diagnostico = db.execute(
                "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, ID_Historial, "
                "ID_Cita, ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (diagnostico, codigo, fecha, historial, id_cita, id_paciente, id_medico))
            id_tratamiento = db.execute(
                "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, `ID_Diagnóstico`, "
                "ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s)",
                (tratamiento, fecha, id_diagnostico, id_paciente, id_medico))
            db.executemany(
                "INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, Duracion_Dias, "
                "ID_Tratamiento, ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(*f, id_tratamiento, id_paciente, id_medico) for f in farmacos])
        # The second patient has one upcoming cita with the demo doctor (so under their care).
        fecha = _dia_laborable(7)
        id_cita = db.execute(
            "INSERT INTO Cita (Fecha, Hora, Duracion_Min, Estado, Motivo, ID_Paciente, "
            "`ID_Médico`) VALUES (%s, %s, 30, 'Pendiente', 'Primera visita', %s, %s)",
            (fecha, (inicio + timedelta(hours=4)).time(), id_invitado, id_medico))
        db.execute("INSERT INTO Cita_Estado (ID_Cita, Estado) VALUES (%s, 'Pendiente')",
                   (id_cita,))
    return id_paciente, id_medico, id_invitado


def crear_usuarios_demo(id_paciente, id_medico):
    """One active user per built-in role; the médico and paciente are linked to records.
    Written last: their presence marks a complete demo."""
    hashed = hash_password(DEMO_PASSWORD)
    links = {2: (None, id_medico), 4: (id_paciente, None)}
    for nombre, correo, id_rol in USUARIOS_DEMO:
        linked_paciente, linked_medico = links.get(id_rol, (None, None))
        db.execute(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol, ID_Paciente, `ID_Médico`) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE Activo = TRUE",
            (nombre, correo, hashed, id_rol, linked_paciente, linked_medico))


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


# Rows that `--reiniciar` keeps: the schema's seeds, the catalogue and the bookkeeping (history
# versions only grow, so no cached history body can match a rebuilt patient).
TABLAS_CONSERVADAS = {"Rol", "Rol_Permiso", "CIE10", "Migracion", "Generacion_Cache",
                      "Generacion_Sesion", "Version_Historia"}


def contar():
    """(pacientes, médicos, citas) in the database."""
    row = db.query_one("SELECT (SELECT COUNT(*) FROM Paciente) AS p, (SELECT COUNT(*) FROM "
                       "`Médico`) AS m, (SELECT COUNT(*) FROM Cita) AS c")
    return row["p"], row["m"], row["c"]


def borrar_todo():
    """Empty every data table (the demo's and anything else), keeping TABLAS_CONSERVADAS."""
    tablas = [r["t"] for r in db.query_all(
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_TYPE = 'BASE TABLE'") if r["t"] not in TABLAS_CONSERVADAS]
    # Session setting of this connection only, for the order-free deletes.
    db.execute("SET FOREIGN_KEY_CHECKS = 0")
    try:
        for tabla in tablas:
            # Names from information_schema of this database, quoted as identifiers.
            db.execute(f"DELETE FROM `{tabla.replace('`', '``')}`")
    finally:
        db.execute("SET FOREIGN_KEY_CHECKS = 1")


def run(pacientes, medicos, semilla, reiniciar=False):
    """Create the demo data set once (patients, doctors, citas, clinical records) and print
    the demo logins; a second run adds nothing, `reiniciar` empties the data and rebuilds it."""
    correos = [correo for _, correo, _ in USUARIOS_DEMO]
    marks = ", ".join(["%s"] * len(correos))
    completa = db.query_one(f"SELECT COUNT(*) AS n FROM Usuario WHERE Correo IN ({marks})",
                            correos)["n"] == len(correos)
    if reiniciar:
        ajenos = db.query_one(f"SELECT COUNT(*) AS n FROM Usuario WHERE Correo NOT IN ({marks})",
                              correos)["n"]
        if ajenos:
            raise DemoError(f"--reiniciar borra todos los datos, y esta base tiene {ajenos} "
                            "usuarios que no son de demostración: no se ha borrado nada")
        borrar_todo()
        click.echo("Datos anteriores borrados.")
    elif completa:
        n_pacientes, n_medicos, n_citas = contar()
        click.echo(f"Los datos de demostración ya están ({n_pacientes} pacientes, {n_medicos} "
                   f"médicos, {n_citas} citas): no se ha añadido nada (--reiniciar los rehace).")
        imprimir_usuarios()
        return
    elif contar()[0]:
        raise DemoError("la base tiene pacientes pero no los usuarios de demostración (una "
                        "demo interrumpida o datos reales): no se ha añadido nada; en una base "
                        "de pruebas, use --reiniciar")

    rng = random.Random(semilla)
    pools = Pools(semilla)
    id_paciente_demo, id_medico_demo, id_invitado = crear_registros_demo(rng)
    id_medicos = crear_medicos(medicos, rng, pools) + [id_medico_demo]
    with click.progressbar(length=pacientes, label="Pacientes") as barra:
        id_pacientes = crear_pacientes(pacientes, rng, pools, avance=barra.update)
    agenda = rng.sample(id_pacientes, min(len(id_pacientes), 5000))
    n_citas = demo_citas(agenda, id_medicos, min(len(agenda) * 2, len(id_medicos) * 120),
                               rng) if agenda else 0
    recientes = db.query_all(
        "SELECT ID_Cita AS id_cita, ID_Paciente AS id_paciente, `ID_Médico` AS id_medico, "
        "Fecha AS fecha, Estado AS estado FROM Cita ORDER BY ID_Cita DESC LIMIT %s", (n_citas,))
    n_diagnosticos = demo_clinico(rng, recientes) if recientes else 0
    crear_usuarios_demo(id_paciente_demo, id_medico_demo)
    n_pacientes, n_medicos, n_total = contar()
    click.echo(f"Creados: {n_pacientes} pacientes, {n_medicos} médicos, {n_total} citas, "
               f"{n_diagnosticos + len(CASOS_PACIENTE_DEMO)} diagnósticos.")
    imprimir_usuarios()
    # Only the hash of a code is stored, so it can be shown once: here, when it is issued.
    codigo, expira = crear_invitacion(id_invitado)
    click.echo(f"Invitación de Lucía Invitada (paciente {id_invitado}, todavía sin usuario): "
               f"código {codigo}, válido hasta {expira:%Y-%m-%d %H:%M} UTC.")
    click.echo('  Se canjea con POST /auth/registro {"codigo": "%s", "fecha_nacimiento": '
               '"1992-09-30", "correo": ..., "password": ...}; otra invitación: '
               'POST /pacientes/%s/invitacion como recepcionista.' % (codigo, id_invitado))


def imprimir_usuarios():
    """The demo logins, one per role."""
    click.echo("Usuarios de demostración (contraseña para todos: %s):" % DEMO_PASSWORD)
    for nombre, correo, id_rol in USUARIOS_DEMO:
        rol = {1: "admin", 2: "medico", 3: "recepcionista", 4: "paciente"}[id_rol]
        click.echo(f"  {rol:<14} {correo}")


def demo_citas(id_pacientes, id_medicos, n, rng):
    """About `n` realistic citas over the last 60 and next 30 days, in every state, with their
    state history, never overlapping for a doctor or a patient; inserted in batches.

    Works on a grid of DURACION_CITA_MIN slots inside clinic hours on weekdays, so overlap is
    a matter of set membership (citas already in the database occupy their slots too).
    Returns how many citas were inserted.
    """
    cfg = current_app.config
    paso = cfg["DURACION_CITA_MIN"]
    dia_inicio = datetime.combine(date.today(), cfg["HORARIO_INICIO"])
    slots_dia = int((datetime.combine(date.today(), cfg["HORARIO_FIN"]) - dia_inicio)
                    .total_seconds() // 60 // paso)
    dias = [date.today() + timedelta(days=d) for d in range(-60, 31)
            if (date.today() + timedelta(days=d)).weekday() < 5]
    ocupado, filas = set(), []
    for r in query_all("SELECT `ID_Médico` AS m, ID_Paciente AS p, Fecha AS dia, Hora AS hora, "
                       "Duracion_Min AS d FROM Cita WHERE Estado <> 'Cancelada' "
                       "AND Fecha BETWEEN %s AND %s", (dias[0], dias[-1])):
        desde = (datetime.combine(r["dia"], time()) + r["hora"] - datetime.combine(
            r["dia"], cfg["HORARIO_INICIO"])).total_seconds() // 60
        for s in range(int(desde // paso), int(-(-(desde + r["d"]) // paso))):
            ocupado |= {(("m", r["m"]), r["dia"], s), (("p", r["p"]), r["dia"], s)}
    ahora = ahora_local()
    motivos = ("Revisión", "Control de tensión", "Dolor de espalda", "Resultados de análisis",
               "Vacunación", "Consulta general", "Renovación de receta", "Seguimiento")
    for _ in range(n * 3):
        if len(filas) >= n:
            break
        dia, slot = rng.choice(dias), rng.randrange(slots_dia)
        largo = min(rng.choice((1, 1, 1, 2)), slots_dia - slot)
        id_medico, id_paciente = rng.choice(id_medicos), rng.choice(id_pacientes)
        claves = {(quien, dia, s) for quien in (("m", id_medico), ("p", id_paciente))
                  for s in range(slot, slot + largo)}
        if claves & ocupado:
            continue
        ocupado |= claves
        inicio = datetime.combine(dia, cfg["HORARIO_INICIO"]) + timedelta(minutes=slot * paso)
        estados = (("Completada",) * 6 + ("No_Asistio", "Cancelada") if inicio < ahora
                   else ("Pendiente",) * 3 + ("Confirmada",) * 3 + ("Cancelada",))
        filas.append((dia, inicio.time(), largo * paso, rng.choice(estados), rng.choice(motivos),
                      id_paciente, id_medico))
    antes = query_one("SELECT COALESCE(MAX(ID_Cita), 0) AS n FROM Cita")["n"]
    for i in range(0, len(filas), 500):
        executemany("INSERT INTO Cita (Fecha, Hora, Duracion_Min, Estado, Motivo, ID_Paciente, "
                    "`ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s)", filas[i:i + 500])
    # The history every cita would have had: created, confirmed, then its final state.
    pasos = (("'Pendiente'", "LEAST(Inicio - INTERVAL 7 DAY, UTC_TIMESTAMP())", "TRUE"),
             ("'Confirmada'", "LEAST(Inicio - INTERVAL 1 DAY, UTC_TIMESTAMP())",
              "Estado IN ('Confirmada', 'Completada', 'No_Asistio')"),
             ("Estado", "LEAST(Inicio - INTERVAL 2 DAY, UTC_TIMESTAMP())", "Estado = 'Cancelada'"),
             ("Estado", "Fin", "Estado IN ('Completada', 'No_Asistio')"))
    for estado, fecha, condicion in pasos:
        execute(f"INSERT INTO Cita_Estado (ID_Cita, Estado, Fecha) SELECT ID_Cita, {estado}, "
                f"{fecha} FROM Cita WHERE ID_Cita > %s AND {condicion}", (antes,))
    return len(filas)


# (CIE-10 code, diagnosis, treatment, [(drug, dose, frequency, route, days)]).
CASOS_DEMO = (
    ("E11.9", "Diabetes mellitus tipo 2 sin complicaciones", "Dieta, ejercicio y metformina",
     [("Metformina", "850 mg", "cada 12 horas", "oral", 90)]),
    ("I10", "Hipertensión arterial esencial", "Control de la tensión arterial",
     [("Enalapril", "10 mg", "cada 24 horas", "oral", 90)]),
    ("J45.9", "Asma bronquial", "Broncodilatador a demanda y corticoide inhalado",
     [("Salbutamol", "100 mcg, 2 inhalaciones", "cada 6 horas si precisa", "inhalada", 30),
      ("Budesonida", "200 mcg", "cada 12 horas", "inhalada", 90)]),
    ("J02.9", "Faringitis aguda", "Tratamiento sintomático",
     [("Paracetamol", "1 g", "cada 8 horas", "oral", 5)]),
    ("J01.9", "Sinusitis aguda", "Antibioterapia empírica",
     [("Amoxicilina", "500 mg", "cada 8 horas", "oral", 7)]),
    ("N39.0", "Infección urinaria", "Antibiótico y abundante hidratación",
     [("Fosfomicina", "3 g", "dosis única", "oral", 1)]),
    ("M54.5", "Lumbalgia mecánica", "Analgesia y fisioterapia",
     [("Ibuprofeno", "600 mg", "cada 8 horas", "oral", 7)]),
    ("K21.9", "Enfermedad por reflujo gastroesofágico", "Medidas higiénico-dietéticas e IBP",
     [("Omeprazol", "20 mg", "cada 24 horas", "oral", 28)]),
    ("F41.1", "Trastorno de ansiedad generalizada", "Psicoterapia y seguimiento",
     [("Sertralina", "50 mg", "cada 24 horas", "oral", 180)]),
    ("E78.0", "Hipercolesterolemia pura", "Dieta y estatina",
     [("Atorvastatina", "20 mg", "cada 24 horas", "oral", 180)]),
    ("L20.9", "Dermatitis atópica", "Emolientes y corticoide tópico",
     [("Hidrocortisona crema 1 %", "capa fina", "cada 12 horas", "topica", 10)]),
    ("A09", "Gastroenteritis aguda", "Rehidratación oral",
     [("Suero oral", "200 ml", "tras cada deposición", "oral", 3)]),
)


def demo_clinico(rng, citas, proporcion=0.6):
    """Diagnoses with real CIE-10 codes, treatments and prescriptions for the demo.

    `citas` are dicts with id_cita, id_paciente, id_medico, fecha and estado; a share of the
    non-cancelled ones up to today get one case. Drugs named in the patient's allergies are
    left out. Citas that already have a diagnosis are skipped, so it can run again.
    Returns the number of diagnoses created.
    """
    hoy_ = hoy()
    elegidas = [c for c in citas if c["estado"] != "Cancelada" and c["fecha"] <= hoy_
                and rng.random() < proporcion]
    if not elegidas:
        return 0
    pacientes = sorted({c["id_paciente"] for c in elegidas})
    marks = ", ".join(["%s"] * len(pacientes))
    datos = {r["id"]: r for r in query_all(
        f"SELECT p.ID_Paciente AS id, p.Alergias AS alergias, h.ID_Historial AS historial "
        f"FROM Paciente p JOIN `Historial_Médico` h ON h.ID_Paciente = p.ID_Paciente "
        f"WHERE p.ID_Paciente IN ({marks})", pacientes)}
    hechas = {r["ID_Cita"] for r in query_all(
        f"SELECT DISTINCT ID_Cita FROM `Diagnóstico` WHERE ID_Paciente IN ({marks})", pacientes)}
    creados = 0
    with transaction():
        for cita in elegidas:
            paciente = datos.get(cita["id_paciente"])
            if paciente is None or cita["id_cita"] in hechas:
                continue
            codigo, diagnostico, tratamiento, farmacos = rng.choice(CASOS_DEMO)
            estado = "resuelto" if (hoy_ - cita["fecha"]).days > 60 else "activo"
            id_diagnostico = execute(
                "INSERT INTO `Diagnóstico` (`Descripción`, Codigo_CIE10, Fecha, Estado, "
                "ID_Historial, ID_Cita, ID_Paciente, `ID_Médico`) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (diagnostico, codigo, cita["fecha"], estado, paciente["historial"],
                 cita["id_cita"], cita["id_paciente"], cita["id_medico"]))
            dias = max(d for *_, d in farmacos)
            fin = cita["fecha"] + timedelta(days=dias)
            id_tratamiento = execute(
                "INSERT INTO Tratamiento (`Descripción`, Fecha_Inicio, Fecha_Fin, Estado, "
                "`ID_Diagnóstico`, ID_Paciente, `ID_Médico`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (tratamiento, cita["fecha"], fin, "finalizado" if fin < hoy_ else "activo",
                 id_diagnostico, cita["id_paciente"], cita["id_medico"]))
            for nombre, dosis, frecuencia, via, duracion in farmacos:
                if alergia_que_choca(paciente["alergias"], nombre):
                    continue
                execute("INSERT INTO Medicamento (Nombre, Dosis, Frecuencia, Via, Duracion_Dias, "
                        "ID_Tratamiento, ID_Paciente, `ID_Médico`) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (nombre, dosis, frecuencia, via, duracion, id_tratamiento,
                         cita["id_paciente"], cita["id_medico"]))
            creados += 1
    return creados
