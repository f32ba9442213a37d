"""Many workers sharing Redis: throttling, logout and cached reads hold for every process.

A real redis-server (started here on a free port, stopped at the end) and a real 4-worker
gunicorn with the shipped gunicorn.conf.py, on this run's test database. The access log
names the worker pid of every answer, so each test shows that several processes served it.
"""

import os
import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import servers  # noqa: E402

WORKERS = 4


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = servers.start_redis(str(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(app, redis_server, tmp_path_factory):
    """4 gunicorn workers on this run's database, cache and limits in Redis."""
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    server = servers.start_gunicorn(
        str(tmp_path_factory.mktemp("gunicorn")),
        {"DB_NAME": app.config["DB_NAME"], "CACHE_REDIS_URL": url, "RATELIMIT_STORAGE_URI": url,
         "CACHE_TYPE": "RedisCache", "LOGIN_MAX_CUENTA": 5, "GUNICORN_ACCESSLOG": "-"},
        workers=WORKERS)
    server.redis_url = url
    yield server
    server.stop()


def parallel(fn, n, workers=8):
    """Run fn(i) for i in range(n) from several threads: the answers come from several
    gunicorn workers, each request on its own connection."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(n)))


def serving_pids(server, marker):
    """Worker pids of the access-log lines whose request line contains `marker`."""
    return {int(m.group(1)) for m in re.finditer(r"<(\d+)> \"([^\"]*)\"", server.log_text())
            if marker in m.group(2)}


def redis_keys(server, pattern):
    import redis

    return redis.Redis.from_url(server.redis_url).keys(pattern)


def login(cluster, correo, password):
    return requests.post(cluster.url + "/auth/login", json={"correo": correo, "password": password},
                         timeout=10)


def test_cluster_runs_four_workers_without_simplecache_warning(cluster):
    assert len(cluster.workers()) == WORKERS
    log = cluster.log_text()
    assert "SimpleCache con" not in log and "memory:// con" not in log


def test_simplecache_with_many_workers_warns_at_start(app, tmp_path):
    server = servers.start_gunicorn(str(tmp_path), {"DB_NAME": app.config["DB_NAME"],
                                                    "CACHE_TYPE": "SimpleCache",
                                                    "CACHE_REDIS_URL": "",
                                                    "RATELIMIT_STORAGE_URI": "memory://"},
                                    workers=2)
    try:
        log = server.log_text()
    finally:
        server.stop()
    assert "CACHE_TYPE=SimpleCache con 2 workers" in log
    assert "RATELIMIT_STORAGE_URI=memory:// con 2 workers" in log


def test_login_throttling_counts_across_workers(cluster, make_user):
    user = make_user("recepcionista")
    marker = f"throttle-{uuid.uuid4().hex[:8]}"
    fallos = parallel(lambda i: requests.post(
        cluster.url + f"/auth/login?{marker}={i}",
        json={"correo": user.correo, "password": "incorrecta-123"}, timeout=10), 5, workers=5)
    assert [r.status_code for r in fallos] == [401] * 5
    assert len(serving_pids(cluster, marker)) >= 2, "todos los fallos los atendió un solo worker"

    # The right password after five failures, on any worker: still throttled.
    bloqueados = parallel(lambda i: login(cluster, user.correo, user.password), 8)
    assert {r.status_code for r in bloqueados} == {429}
    assert all(r.json()["codigo"] == "demasiados_intentos" and int(r.headers["Retry-After"]) > 0
               for r in bloqueados)
    assert len(serving_pids(cluster, "/auth/login HTTP")) >= 2
    # The per-address counter lives in Redis, shared by every worker.
    assert redis_keys(cluster, "LIMITS*"), "el límite de login no usa el Redis configurado"


def test_logout_holds_across_workers(cluster, make_user):
    user = make_user("medico")
    r = login(cluster, user.correo, user.password)
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    refresh_token = r.json()["refresh_token"]
    before = f"antes-{uuid.uuid4().hex[:8]}"
    ok = parallel(lambda i: requests.get(cluster.url + f"/auth/me?{before}={i}", headers=headers,
                                         timeout=10), 16)
    assert {x.status_code for x in ok} == {200}

    assert requests.post(cluster.url + "/auth/logout", headers=headers, timeout=10).status_code == 204
    after = f"despues-{uuid.uuid4().hex[:8]}"
    revoked = parallel(lambda i: requests.get(cluster.url + f"/auth/me?{after}={i}",
                                              headers=headers, timeout=10), 24)
    assert {x.status_code for x in revoked} == {401}
    assert all(x.json()["codigo"] == "no_autenticado" for x in revoked)
    assert len(serving_pids(cluster, after)) >= 2, "el token revocado sólo se probó en un worker"
    again = requests.post(cluster.url + "/auth/refresh", json={"refresh_token": refresh_token},
                          timeout=10)
    assert again.status_code == 401


def test_cached_read_is_invalidated_on_write_for_every_worker(cluster, make_user, make_medico):
    admin = make_user("admin")
    paciente = make_user("paciente")
    id_medico = make_medico(nombre="Dra. Antes Caché")
    marker = f"cache-{uuid.uuid4().hex[:8]}"

    def read(actor, tag):
        def one(i):
            return requests.get(cluster.url + f"/medicos/{id_medico}?{tag}={i}",
                                headers=actor.headers, timeout=10)
        return one

    first = parallel(read(admin, marker), 16) + parallel(read(paciente, marker), 16)
    assert {r.status_code for r in first} == {200}
    assert {r.json()["nombre"] for r in first} == {"Dra. Antes Caché"}
    # The row is in Redis, under a key of the doctor (in the cache generation that a restore
    # changes), not of the user who read it.
    keys = {k.decode() for k in redis_keys(cluster, "flask_cache_*")}
    assert f"flask_cache_g1:medico:{id_medico}" in keys
    assert all(re.fullmatch(r"flask_cache_g\d+:medico:\d+", k) for k in keys), keys

    r = requests.patch(cluster.url + f"/medicos/{id_medico}", headers=admin.headers,
                       json={"nombre": "Dra. Después Caché"}, timeout=10)
    assert r.status_code == 200
    after = f"tras-{uuid.uuid4().hex[:8]}"
    later = parallel(read(admin, after), 24) + parallel(read(paciente, after), 24)
    assert {x.status_code for x in later} == {200}
    assert {x.json()["nombre"] for x in later} == {"Dra. Después Caché"}
    assert len(serving_pids(cluster, after)) >= 2
