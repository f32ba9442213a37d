"""`flask --app app desbloquear --correo X`: an account locked by failed logins logs in again."""

from esquema import flask_cli


def test_desbloquear_lets_a_locked_account_log_in(app, client, make_user, database):
    user = make_user("recepcionista")
    other = make_user("recepcionista")
    wrong = {"correo": user.correo, "password": "incorrecta-del-todo"}
    for _ in range(app.config["LOGIN_MAX_CUENTA"]):
        assert client.post("/auth/login", json=wrong).status_code == 401
    for victim in (user, other):
        for _ in range(2):
            client.post("/auth/login", json={"correo": victim.correo, "password": "mal-mal-mal"})
    good = {"correo": user.correo, "password": user.password}
    assert client.post("/auth/login", json=good).status_code == 429
    kept = database.scalar("SELECT COUNT(*) FROM Intento_Login")

    result = flask_cli(app.config["DB_NAME"], "desbloquear", "--correo", f"  {user.correo.upper()} ")
    assert result.returncode == 0, result.stderr
    assert "desbloqueada" in result.stdout
    # Only that account's attempts are forgotten.
    assert 0 < database.scalar("SELECT COUNT(*) FROM Intento_Login") < kept
    assert client.post("/auth/login", json=good).status_code == 200

    again = flask_cli(app.config["DB_NAME"], "desbloquear", "--correo", user.correo)
    assert again.returncode == 0 and "no tenía intentos" in again.stdout
