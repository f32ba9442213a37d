"""Command-line tasks (`flask --app app ...`): schema migrations, backup and restore, the demo
data, an administrator, and unlocking an account after failed logins."""

import os
import time

import click
import mysql.connector
from flask import current_app

import cache
import db
import migraciones
import respaldo

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Base de Datos Final.sql")


def wait_for_server(args, seconds=30):
    """Connect with retries until the server answers (start-up of a fresh server)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return mysql.connector.connect(**args)
        except mysql.connector.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def init_schema(config, echo=lambda line: None):
    """Create the database if missing and apply every pending migration (safe to re-run);
    returns the labels applied. Raises migraciones.MigrationError (one line) when it cannot."""
    args = db.connect_args(config)
    name = args.pop("database")
    cnx = wait_for_server(args)
    try:
        cur = cnx.cursor()
        # The name comes from configuration, never from a request; quoted as an identifier.
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name.replace('`', '``')}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        cur.close()
        cnx.database = name
        return migraciones.migrate(cnx, echo=echo)
    finally:
        cnx.close()


def _stderr(line):
    click.echo(line, err=True)


def register(app):
    """Attach the commands to the app's CLI."""

    @app.cli.command("init-db")
    def init_db_command():
        """Crea o actualiza el esquema (migraciones), los roles del sistema y el CIE-10."""
        try:
            applied = init_schema(current_app.config, echo=click.echo)
        except migraciones.MigrationError as err:
            raise click.ClickException(str(err)) from None
        import datos_cie10

        n = datos_cie10.load_catalogue()
        estado = (f"aplicadas: {', '.join(applied)}" if applied else "ya estaba al día")
        click.echo(f"Esquema listo en {current_app.config['DB_NAME']} ({estado}); "
                   f"CIE-10: {n} códigos.")

    @app.cli.command("crear-admin")
    @click.option("--correo", required=True)
    @click.option("--password", required=True)
    @click.option("--nombre", default="Administrador")
    def crear_admin_command(correo, password, nombre):
        """Crea un usuario administrador (o reactiva y cambia la contraseña del existente, y
        cierra sus sesiones)."""
        from credenciales import hash_password

        if not 8 <= len(password.encode()) <= 72:
            raise click.BadParameter("debe tener entre 8 y 72 bytes", param_hint="--password")
        correo = correo.strip().lower()
        with db.transaction():
            db.execute(
                "INSERT INTO Usuario (Nombre, Correo, Password_Hash, ID_Rol) "
                "VALUES (%s, %s, %s, 1) ON DUPLICATE KEY UPDATE "
                "Password_Hash = VALUES(Password_Hash), ID_Rol = 1, Activo = TRUE, "
                "Version = Version + 1", (nombre, correo, hash_password(password)))
            # A new password for an existing account: whoever had the old one is out.
            db.execute("UPDATE Sesion SET Revocada = TRUE WHERE Revocada = FALSE AND "
                       "ID_Usuario = (SELECT ID_Usuario FROM Usuario WHERE Correo = %s)",
                       (correo,))
        click.echo(f"Administrador {correo} listo.")

    @app.cli.command("desbloquear")
    @click.option("--correo", required=True, help="Correo de la cuenta bloqueada")
    def desbloquear_command(correo):
        """Olvida los intentos fallidos de una cuenta: vuelve a poder iniciar sesión ya."""
        from credenciales import clave_cuenta

        n = db.execute("DELETE FROM Intento_Login WHERE Correo = %s", (clave_cuenta(correo),))
        click.echo(f"Cuenta {correo.strip().lower()} desbloqueada ({n} intentos olvidados)."
                   if n else f"La cuenta {correo.strip().lower()} no tenía intentos fallidos.")

    @app.cli.command("respaldar")
    @click.option("--salida", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="Archivo .sql.gz a escribir")
    def respaldar_command(salida):
        """Respaldo consistente (SQL comprimido con gzip) mientras la API sigue sirviendo."""
        _stderr(f"Respaldando {current_app.config['DB_NAME']} en {salida}...")
        try:
            respaldo.backup(current_app.config, salida, _stderr)
        except respaldo.RespaldoError as err:
            raise click.ClickException(str(err)) from None

    @app.cli.command("restaurar")
    @click.option("--entrada", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="Respaldo .sql.gz de `respaldar`")
    @click.option("--confirmar", is_flag=True,
                  help="Necesario: reemplaza TODOS los datos de la base por los del respaldo")
    def restaurar_command(entrada, confirmar):
        """Reemplaza la base por un respaldo; revoca sesiones, anula invitaciones y vacía cachés."""
        name = current_app.config["DB_NAME"]
        if not confirmar:
            raise click.ClickException(
                f"restaurar reemplaza todos los datos de {name}; repita con --confirmar "
                "(no se ha cambiado nada)")
        try:
            applied = respaldo.restore(current_app.config, entrada, _stderr,
                                       cache_check_s=cache.GENERATION_CHECK_S)
        except (respaldo.RespaldoError, migraciones.MigrationError) as err:
            raise click.ClickException(str(err)) from None
        if current_app.config["CACHE_TYPE"] == "RedisCache":
            cache.cache.clear()
            _stderr("Caché de Redis vaciada.")
        _stderr(f"Restaurado{' y migrado: ' + ', '.join(applied) if applied else ''}. "
                "Todos deben volver a iniciar sesión.")

    @app.cli.command("demo")
    @click.option("--pacientes", default=200, show_default=True, help="Pacientes a crear")
    @click.option("--medicos", default=20, show_default=True, help="Médicos a crear")
    @click.option("--semilla", default=2024, show_default=True, help="Semilla aleatoria")
    @click.option("--reiniciar", is_flag=True,
                  help="Borra los datos de demostración existentes y los vuelve a crear")
    def demo_command(pacientes, medicos, semilla, reiniciar):
        """Datos de demostración en español y un usuario por rol (se imprimen); una sola vez."""
        import demo

        try:
            demo.run(pacientes=pacientes, medicos=medicos, semilla=semilla, reiniciar=reiniciar)
        except demo.DemoError as err:
            raise click.ClickException(str(err)) from None

