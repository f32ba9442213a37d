"""Login throttling by the canonical address: lookalike spellings share one counter, existing
and unknown accounts answer alike, the pair / account / address counters, and the client
address behind trusted proxies (PROXIES_CONFIABLES)."""

import itertools

import pytest

from conftest import unique

_ips = itertools.count(1)
MALA = "Mala-clave-2025!"


@pytest.fixture
def ip():
    """A client address of its own, so that no other test's failures throttle this one."""
    n = next(_ips)
    return f"10.60.{n // 250}.{n % 250 + 1}"


def login(client, correo, password, ip, headers=None):
    return client.post("/auth/login", json={"correo": correo, "password": password},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def sin_id(response):
    """The body without the request id, which differs on every answer."""
    return {k: v for k, v in response.get_json().items() if k != "id_solicitud"}


@pytest.fixture
def recepcion(make_user, database):
    """A user whose address has letters to disguise: recepcion<n>@demo.local."""
    user = make_user("recepcionista")
    correo = f"recepcion{unique('x')}@demo.local"
    database.execute("UPDATE Usuario SET Correo = %s WHERE ID_Usuario = %s",
                     (correo, user.id_usuario))
    user.correo = correo
    return user


def disfraces(correo):
    """Spellings that the login finds as the same account (API.md §2)."""
    return [
        "r\u00e9" + correo[2:],                     # accent: récepcion
        "\uff52" + correo[1:],                      # full-width first letter
        correo.upper(),                             # upper case
        f"  {correo}\t",                            # surrounding spaces
        "re\u0301" + correo[2:],                    # combining accent
    ]


@pytest.mark.parametrize("n", range(5))
def test_lookalike_spellings_share_one_counter(client, database, recepcion, ip, n):
    """Five failures, each under another spelling, throttle the account for all of them
    (the issue: after 5 failures, `récepcion@` and a full-width letter still logged in)."""
    variantes = disfraces(recepcion.correo)
    orden = variantes[n:] + variantes[:n]
    for correo in orden:
        assert login(client, correo, MALA, ip).status_code == 401
    for correo in [recepcion.correo] + variantes:
        response = login(client, correo, recepcion.password, ip)
        assert response.status_code == 429, correo
        assert response.get_json()["codigo"] == "demasiados_intentos"
    assert database.scalar("SELECT COUNT(DISTINCT Correo) FROM Intento_Login WHERE IP = %s",
                           (ip,)) == 1


def test_each_lookalike_logs_in_as_the_account(client, recepcion, ip):
    """The canonical form is also what is looked up: the counter covers exactly the spellings
    that reach the account."""
    for correo in disfraces(recepcion.correo):
        response = login(client, correo, recepcion.password, ip)
        assert response.status_code == 200, correo
        assert response.get_json()["usuario"]["id_usuario"] == recepcion.id_usuario


def test_answers_are_the_same_for_existing_and_unknown_accounts(client, recepcion, ip):
    desconocido = f"nadie{unique('x')}@demo.local"
    otra_ip = ip.replace("10.60.", "10.61.")
    seen = []
    for correo, direccion in ((recepcion.correo, ip), (desconocido, otra_ip)):
        answers = [login(client, correo, MALA, direccion) for _ in range(6)]
        answers.append(login(client, correo.upper(), MALA, direccion))
        seen.append([(r.status_code, sin_id(r), r.headers.get("WWW-Authenticate"),
                      "Retry-After" in r.headers) for r in answers])
    assert seen[0] == seen[1]
    assert [s for s, *_ in seen[0]] == [401] * 5 + [429, 429]


def test_pair_account_and_address_counters(app, client, database, recepcion, ip):
    """5 from one address throttle that pair only; 50 from all addresses throttle the account
    (even for the right password from a new address); 20 from one address throttle it."""
    for _ in range(5):
        assert login(client, recepcion.correo, MALA, ip).status_code == 401
    assert login(client, recepcion.correo, recepcion.password, ip).status_code == 429
    assert login(client, recepcion.correo, recepcion.password, "10.62.0.1").status_code == 200

    # 45 more failures from nine other addresses (five each: every pair at its limit).
    for n in range(9):
        for _ in range(5):
            assert login(client, recepcion.correo, MALA, f"10.63.0.{n + 1}").status_code == 401
    response = login(client, recepcion.correo, recepcion.password, "10.62.0.2")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    # Another account from a fresh address is not affected.
    otro = f"{unique('otro')}@demo.local"
    assert login(client, otro, MALA, "10.62.0.3").status_code == 401

    # The address counter: 20 failures to twenty accounts from one address.
    direccion = "10.64.0.1"
    for _ in range(20):
        assert login(client, f"{unique('n')}@demo.local", MALA, direccion).status_code == 401
    assert login(client, f"{unique('n')}@demo.local", MALA, direccion).status_code == 429
    assert login(client, otro, MALA, "10.64.0.2").status_code == 401


def test_throttled_pair_stays_throttled_until_the_window_ends(client, database, recepcion, ip):
    for _ in range(5):
        login(client, recepcion.correo, MALA, ip)
    for _ in range(3):
        assert login(client, recepcion.correo, recepcion.password, ip).status_code == 429
    database.execute("UPDATE Intento_Login SET Fecha = Fecha - INTERVAL 14 MINUTE WHERE IP = %s",
                     (ip,))
    assert login(client, recepcion.correo, recepcion.password, ip).status_code == 429
    database.execute("UPDATE Intento_Login SET Fecha = Fecha - INTERVAL 2 MINUTE WHERE IP = %s",
                     (ip,))
    assert login(client, recepcion.correo, recepcion.password, ip).status_code == 200


def test_password_change_uses_the_same_throttle(client, recepcion, ip):
    """PUT /auth/password counts its wrong passwords on the account's canonical key: after
    failures at the login under a lookalike spelling, the token holder is throttled too."""
    for _ in range(4):
        assert login(client, recepcion.correo.upper(), MALA, ip).status_code == 401
    body = {"password_actual": MALA, "password_nueva": "Nueva-clave-2025"}
    first = client.put("/auth/password", json=body, headers=recepcion.headers,
                       environ_base={"REMOTE_ADDR": ip})
    assert first.status_code == 400
    again = client.put("/auth/password", json={**body, "password_actual": recepcion.password},
                       headers=recepcion.headers, environ_base={"REMOTE_ADDR": ip})
    assert again.status_code == 429


@pytest.fixture
def tras_proxy(app):
    """A client of an app behind one trusted proxy (PROXIES_CONFIABLES=1)."""
    import app as app_module

    return app_module.create_app({"TESTING": True, "PROXIES_CONFIABLES": 1}).test_client()


def test_one_trusted_proxy_uses_the_last_forwarded_hop(tras_proxy, database, recepcion):
    proxy = "10.65.0.1"
    for n in range(5):
        # The client writes whatever it likes on the left; the proxy appends the real address.
        headers = {"X-Forwarded-For": f"1.2.3.{n}, 203.0.113.7"}
        response = login(tras_proxy, recepcion.correo, MALA, proxy, headers)
        assert response.status_code == 401
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP = '203.0.113.7'") == 5
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP = %s", (proxy,)) == 0
    audit = database.one("SELECT IP FROM Auditoria WHERE ID_Solicitud = %s",
                         (response.headers["X-Request-ID"],))
    assert audit["IP"] == "203.0.113.7"
    blocked = {"X-Forwarded-For": "203.0.113.7"}
    assert login(tras_proxy, recepcion.correo, recepcion.password, proxy, blocked).status_code == 429
    # Another client behind the same proxy is another pair.
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert login(tras_proxy, recepcion.correo, recepcion.password, proxy, other).status_code == 200
    # A hop that is not an address (a misconfigured proxy) falls back to the socket.
    bogus = login(tras_proxy, f"{unique('n')}@demo.local", MALA, proxy, {"X-Forwarded-For": "x"})
    assert database.scalar("SELECT IP FROM Auditoria WHERE ID_Solicitud = %s",
                           (bogus.headers["X-Request-ID"],)) == proxy


def test_without_trusted_proxies_forwarded_for_is_ignored(client, database, recepcion, ip):
    for n in range(5):
        headers = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        assert login(client, recepcion.correo, MALA, ip, headers).status_code == 401
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP = %s", (ip,)) == 5
    assert database.scalar("SELECT COUNT(*) FROM Intento_Login WHERE IP LIKE '198.51.100.%'") == 0
    # Rotating the header does not make a new pair.
    response = login(client, recepcion.correo, recepcion.password, ip,
                     {"X-Forwarded-For": "198.51.100.99"})
    assert response.status_code == 429
