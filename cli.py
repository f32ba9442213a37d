"""Command-line tasks: `init-db`, `crear-admin` and `demo` (`flask --app app ...`)."""

import os

import click
from flask import current_app

import db

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Base de Datos Final.sql")


def init_schema(config):
    """Create the database if missing, then apply the schema and the seeds (idempotent)."""
    args = db.connect_args(config)
    name = args.pop("database")
    cnx = db.wait_for_server(args)
    try:
        cur = cnx.cursor()
        # The name comes from configuration, never from a request; quoted as an identifier.
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name.replace('`', '``')}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        cur.close()
        cnx.database = name
        db.run_script(cnx, SCHEMA_FILE)
    finally:
        cnx.close()


def register(app):
    """Attach the commands to the app's CLI."""

    @app.cli.command("init-db")
    def init_db_command():
        """Crea o actualiza el esquema, los roles del sistema y el catálogo CIE-10."""
        init_schema(current_app.config)
        import cie10

        n = cie10.load_catalogue()
        click.echo(f"Esquema listo en {current_app.config['DB_NAME']}; CIE-10: {n} códigos.")

    @app.cli.command("crear-admin")
    @click.option("--correo", required=True)
    @click.option("--password", required=True)
    @click.option("--nombre", default="Administrador")
    def crear_admin_command(correo, password, nombre):
        """Crea un usuario administrador (o reactiva y cambia la contraseña del existente)."""
        from auth import hash_password

        if not 8 <= len(password.encode()) <= 72:
            raise click.BadParameter("debe tener entre 8 y 72 bytes", param_hint="--password")
        db.execute(
            "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) VALUES (%s, %s, %s, 1) "
            "ON DUPLICATE KEY UPDATE Password_Hash = VALUES(Password_Hash), ID_Rol = 1, "
            "Activo = TRUE, Version = Version + 1",
            (nombre, correo.strip().lower(), hash_password(password)))
        click.echo(f"Administrador {correo} listo.")

    @app.cli.command("demo")
    @click.option("--pacientes", default=200, show_default=True, help="Pacientes a crear")
    @click.option("--medicos", default=20, show_default=True, help="Médicos a crear")
    @click.option("--semilla", default=2024, show_default=True, help="Semilla aleatoria")
    def demo_command(pacientes, medicos, semilla):
        """Datos de demostración en español y un usuario por rol (se imprimen)."""
        import demo

        demo.run(pacientes=pacientes, medicos=medicos, semilla=semilla)
