"""`make bench` and `make bench-smoke`: load the data, serve the app and the baseline under
gunicorn, drive both with wrk over loopback, print the table and write bench/RESULTS.md.

    .venv/bin/python bench/run.py            # 1,000,000 patients; writes bench/RESULTS.md
    .venv/bin/python bench/run.py --smoke    # 2,000 patients, 1 s per scenario, ~1 minute

Both also compare POST /citas and GET /pacientes/<id> through a private 3-node Galera cluster
(scripts/galera.sh) with the same through one server (`cluster_runs`).

The smoke run asserts only that every scenario ran with zero errors and zero non-2xx answers
(exit status 1 otherwise); it loads a database of its own and drops it at the end.
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, ROOT)
os.makedirs(os.path.join(BENCH, "data"), exist_ok=True)
os.environ.setdefault("LOG_FILE", os.path.join(BENCH, "data", "bench-runner.log"))

import load_data  # noqa: E402
import servers  # noqa: E402

LUA = os.path.join(BENCH, "escenario.lua")
TOKEN_MIN = 180
LATENCY = ("buscar", "listar", "citas", "historial_5", "historial_200")
ROUNDS = 5
READS = ("paciente", "buscar", "listar", "citas", "historial_5", "historial_200")
CLUSTER = ("paciente", "crear_cita")
CLUSTER_SIZES = (10_000, 200, 20_000, 5_000)
CLUSTER_SIZES_SMOKE = (2_000, 20, 4_000, 1_000)
TITLES = {
    "paciente": "GET /pacientes/<id>",
    "buscar": "GET /pacientes?q=<prefijo>",
    "listar": "GET /pacientes (primera página por nombre)",
    "citas": "GET /citas?id_medico=&desde=&hasta= (7 días)",
    "historial_5": "GET /historial/paciente/<id> (5 registros)",
    "historial_200": "GET /historial/paciente/<id> (200 registros)",
    "crear_cita": "POST /citas (huecos libres distintos)",
    "login": "POST /auth/login (bcrypt)",
}


def rotated(items, i):
    """`items` starting at its i-th (cyclically): over the rounds of a comparison, every runner
    goes first as often as the others. The first run after another scenario meets the
    server's background work (purge and flushing after the writes before it), so a fixed order
    lowers whoever always goes first."""
    items = list(items)
    k = i % len(items)
    return items[k:] + items[:k]


def epoch(day):
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def issue_token(facts, **config):
    """An access token of the bench admin, issued by the app's own auth code."""
    import app as app_module
    import db
    from sesiones import issue_tokens

    application = app_module.create_app({"DB_NAME": facts["db"], "JWT_ACCESS_MIN": TOKEN_MIN,
                                         **config})
    with application.app_context():
        user = db.query_one("SELECT ID_Usuario AS id_usuario, 'admin' AS rol FROM Usuario "
                            "WHERE Correo = %s", (facts["correo"],))
        last = db.query_one("SELECT MAX(Fecha) AS f FROM Cita")["f"]
        tokens = issue_tokens(user)
    # Bookings of this run go to the first Monday after every existing cita.
    start = max(last, date.today()) + timedelta(days=1)
    facts["nuevas_desde"] = start + timedelta(days=(7 - start.weekday()) % 7)
    facts["token"] = tokens["token"]
    return facts


def wrk_cmd(url, scenario, facts, seconds, connections, threads=1, semanas=0, parte=(0, 1)):
    """The wrk command line of one scenario; bookings start `semanas` weeks later and, for
    `parte` (i, n), use only the i-th of n shares of the doctors and of the patients."""
    id_paciente = {"historial_5": facts["paciente_5"],
                   "historial_200": facts["paciente_200"]}.get(scenario, 1)
    grid_days = -(-facts["citas"] // (facts["medicos"] * load_data.SLOTS_DIA))
    nuevas_desde = facts["nuevas_desde"] + timedelta(weeks=semanas)
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
            "--timeout", "10s", "-s", LUA, url, "--",
            scenario.split("_")[0] if scenario.startswith("historial") else scenario,
            facts["token"], str(facts["pacientes"]), str(facts["medicos"]),
            str(epoch(facts["grid_start"])), str(grid_days), str(id_paciente),
            str(epoch(nuevas_desde)), str(threads), facts["correo"], facts["password"],
            *map(str, parte)]


def wrk_summary(returncode, stdout, stderr):
    """The summary dict escenario.lua printed, or a failed run."""
    lines = [l for l in stdout.splitlines() if l.startswith("{")]
    if returncode != 0 or not lines:
        return {"requests": 0, "rps": 0, "p50_ms": 0, "p99_ms": 0, "non2xx": 0,
                "socket_errors": 1, "non2xx_statuses": stderr.strip()[:200]}
    return json.loads(lines[-1])


def wrk(url, scenario, facts, seconds, connections, threads=1):
    """Run wrk for one scenario; the summary dict printed by escenario.lua."""
    out = subprocess.run(wrk_cmd(url, scenario, facts, seconds, connections, threads),
                         capture_output=True, text=True, timeout=seconds + 60)
    return wrk_summary(out.returncode, out.stdout, out.stderr)


def wrk_many(urls, scenario, facts, seconds, connections):
    """One wrk per app at the same time (connections split among them), added up: requests
    and rps summed, p50 the median of the three, p99 the worst. Each wrk books its own weeks
    (four apart) with its own doctors and patients, so bookings through different apps never
    compete for a slot or an agenda row."""
    each = max(1, connections // len(urls))
    procs = [subprocess.Popen(wrk_cmd(url, scenario, facts, seconds, each, semanas=4 * i,
                                      parte=(i, len(urls))),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, url in enumerate(urls)]
    rs = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 60)
        rs.append(wrk_summary(proc.returncode, out, err))
    p50s = sorted(r["p50_ms"] for r in rs)
    return {"requests": sum(r["requests"] for r in rs), "rps": sum(r["rps"] for r in rs),
            "p50_ms": p50s[len(p50s) // 2], "p99_ms": max(r["p99_ms"] for r in rs),
            "non2xx": sum(r["non2xx"] for r in rs),
            "socket_errors": sum(r["socket_errors"] for r in rs),
            "non2xx_statuses": " ".join(r.get("non2xx_statuses", "") for r in rs).strip()}


def cluster_runs(workdir, sizes, seconds, connections, workers, rounds=1):
    """POST /citas and GET /pacientes/<id> through a 3-node Galera cluster and through one
    server, in one run: the same data set (`sizes`) loaded into both, three apps of `workers`
    workers each (app i with node i first, the other nodes after it for failover) against
    three apps on the single server, driven alike (`wrk_many`), the two alternately in
    `rounds` short runs. The single server's copy is dropped at the end, the cluster removed.
    Returns {("uno" | "galera", escenario): run}."""
    name = f"historial_galera_{os.getpid()}"
    single_config = load_data.bench_config(name)
    runs, apps = {}, []
    cluster = None
    try:
        single = issue_token(load_data.ensure(name, *sizes))
        cluster = servers.start_galera(os.environ["DB_PASSWORD"])
        config = {**single_config, "DB_HOST": cluster.hosts[0]}
        galera = issue_token(load_data.ensure(name, *sizes, config=config),
                             DB_HOST=cluster.hosts[0])
        env = {"DB_NAME": name, "JWT_ACCESS_MIN": TOKEN_MIN, **SIN_REDIS}
        systems = (("uno", single, [single_config["DB_HOST"]] * 3),
                   ("galera", galera, [",".join(cluster.hosts[i:] + cluster.hosts[:i])
                                       for i in range(3)]))
        urls = {}
        for sistema, _, hosts in systems:
            for h in hosts:
                apps.append(servers.start_gunicorn(workdir, {**env, "DB_HOST": h},
                                                   workers=workers))
            urls[sistema] = [a.url for a in apps[-3:]]
        for i in range(rounds):
            for scenario in CLUSTER:
                for sistema, facts, _ in rotated(systems, i):
                    runs.setdefault((sistema, scenario), []).append(
                        wrk_many(urls[sistema], scenario, facts, seconds, connections))
            for _, facts, _ in systems:
                # The next round books the weeks after this one's (three wrk, 4 weeks apart).
                facts["nuevas_desde"] += timedelta(weeks=12)
    finally:
        for a in apps:
            a.stop()
        if cluster is not None:
            cluster.stop()
        load_data.drop_database(single_config)
    return {key: median_run(rs) for key, rs in runs.items()}


def print_cluster_ratios(results):
    """Galera / one server, in req/s and p50, per cluster scenario."""
    for scenario in CLUSTER:
        u, gl = results[("uno", scenario)], results[("galera", scenario)]
        if u["rps"] and u["p50_ms"]:
            print(f"  galera/uno {scenario:<13} req/s {gl['rps'] / u['rps']:.2f}×  "
                  f"p50 {gl['p50_ms'] / u['p50_ms']:.2f}×")


# The app runs with per-process cache and limits, as every earlier make bench measured it
# (SIN_REDIS, so that its figures compare); con_redis() gives the same app cache and limits in
# a shared Redis, as the README deploys several workers, measured beside it for one read.
SIN_REDIS = {"CACHE_REDIS_URL": "", "CACHE_TYPE": "SimpleCache",
             "RATELIMIT_STORAGE_URI": "memory://"}


def con_redis(server):
    """The settings of an app sharing the redis-server `server` for cache and limits."""
    url = f"redis://127.0.0.1:{server.port}/0"
    return {"CACHE_REDIS_URL": url, "CACHE_TYPE": "RedisCache", "RATELIMIT_STORAGE_URI": url}


def start_app(workdir, facts, app="app:app", workers=None, env=None):
    env = {"DB_NAME": facts["db"], "JWT_ACCESS_MIN": TOKEN_MIN, **(env or {})}
    return servers.start_gunicorn(workdir, env, workers=workers or default_workers(), app=app)


def default_workers():
    """The shipped gunicorn.conf.py's default worker count."""
    return int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))


def memory_run(url, server, facts, seconds):
    """Drive GET /pacientes/<id> for `seconds` and sample the workers' RSS every 5 s."""
    proc = subprocess.Popen(
        ["wrk", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--timeout", "10s", "-s", LUA, url,
         "--", "paciente", facts["token"], str(facts["pacientes"]), str(facts["medicos"]),
         "0", "1", "1", "0", "1", "x", "x"], stdout=subprocess.PIPE, text=True)
    samples = []
    started = time.monotonic()
    while proc.poll() is None:
        time.sleep(5)
        pids = server.workers()
        rss = {pid: servers.rss_kib(pid) for pid in pids}
        samples.append((round(time.monotonic() - started), rss))
    out = proc.stdout.read()
    summary = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    return samples, summary


def machine():
    """The facts of the machine and the versions the figures come from."""
    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import gunicorn
    import mysql.connector

    return {
        "cpu": f"{multiprocessing.cpu_count()} × {cpu}", "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": platform.platform(), "python": platform.python_version(),
        "mariadb": version(["mariadbd", "--version"]), "wrk": version(["wrk", "--version"]),
        "gunicorn": gunicorn.__version__, "mysql-connector": mysql.connector.__version__,
        "workers": default_workers(),
    }


def median_run(rs):
    """One result from several short runs: median p50 and p99, summed counts."""
    def median(key):
        return sorted(r[key] for r in rs)[len(rs) // 2]
    return {"requests": sum(r["requests"] for r in rs), "rps": median("rps"),
            "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
            "non2xx": sum(r["non2xx"] for r in rs),
            "socket_errors": sum(r["socket_errors"] for r in rs)}


def fmt(r):
    return (f"{r['rps']:>9.1f} | {r['p50_ms']:>8.2f} | {r['p99_ms']:>8.2f} | "
            f"{r['non2xx'] + r['socket_errors']:>6}")


def full(args):
    big = load_data.ensure("historial_bench", 1_000_000, 200, 2_000_000, 500_000)
    small = load_data.ensure("historial_bench_10k", 10_000, 200, 20_000, 5_000)
    issue_token(big)
    issue_token(small)
    workdir = tempfile.mkdtemp(prefix="run-", dir=os.path.join(BENCH, "data"))
    d, c = args.duracion, args.conexiones
    results = {}
    pool = load_data.warm("historial_bench")
    load_data.warm("historial_bench_10k")
    # App and baseline run side by side (an idle sync worker costs nothing) and each read
    # scenario is measured on one right after the other, so both see the same warm cache.
    shared = servers.start_redis(workdir)
    app = start_app(workdir, big, env=SIN_REDIS)
    app_redis = start_app(workdir, big, env=con_redis(shared))
    base = start_app(workdir, big, app="bench.baseline:application")
    floor = start_app(workdir, big, app="bench.floor:application", env=SIN_REDIS)
    app10 = start_app(workdir, small, env=SIN_REDIS)
    runs = {}
    try:
        print(f"Memoria: {args.memoria} s de GET /pacientes/<id> contra la app...")
        samples, _ = memory_run(app.url, app, big, args.memoria)
        # Reads: ROUNDS short runs per scenario, app and baseline (and, for one patient, the
        # app with Redis and the naive floor) alternately, in an order that turns every
        # round, each figure the median of its rounds (see the latencies below for why).
        for i in range(ROUNDS):
            for scenario in READS:
                runners = [(k, server) for k, server in (
                    ("app", app), ("con_redis", app_redis), ("base", base), ("suelo", floor))
                    if k in ("app", "base") or scenario == "paciente"]
                for key, server in rotated(runners, i):
                    runs.setdefault((key, scenario), []).append(
                        wrk(server.url, scenario, big, max(1, d // ROUNDS), c))
        for key, scenario in list(runs):
            results[(key, scenario)] = r = median_run(runs.pop((key, scenario)))
            print(f"  {key:<9} {scenario:<14} {fmt(r)}")
        for scenario in ("crear_cita", "login"):
            results[("app", scenario)] = r = wrk(app.url, scenario, big, d, c)
            print(f"  app       {scenario:<14} {fmt(r)}")
        base.stop()
        floor.stop()
        app_redis.stop()
        # One connection: the latency of a request alone, without queueing behind others. The
        # ratios compare two p50s, so they are taken in ROUNDS interleaved short runs (1M next
        # to 10k, 5 records next to 200) and each p50 is the median of its rounds: a burst of
        # noise from the rest of the machine then spoils one round, not a whole ratio.
        for i in range(ROUNDS):
            for scenario in rotated(LATENCY, i):
                pair = [("app1", app.url, big), ("app10k", app10.url, small)]
                if scenario not in ("buscar", "listar", "citas"):
                    pair = pair[:1]
                for key, url, facts in rotated(pair, i):
                    runs.setdefault((key, scenario), []).append(
                        wrk(url, scenario, facts, max(1, d // ROUNDS), 1))
        for key, rs in runs.items():
            results[key] = r = median_run(rs)
            print(f"  {key[0]:<9} {key[1]:<14} {fmt(r)}")
    finally:
        for server in (app, app_redis, base, floor, app10, shared):
            server.stop()
        load_data.restore_pool("historial_bench", pool)
    print("Clúster Galera de 3 nodos frente a un servidor (10.000 pacientes)...")
    cluster = cluster_runs(workdir, CLUSTER_SIZES, max(1, d // ROUNDS), c,
                           max(1, default_workers() // 3), rounds=ROUNDS)
    for key, r in cluster.items():
        results[key] = r
        print(f"  {key[0]:<9} {key[1]:<14} {fmt(r)}")
    print_cluster_ratios(cluster)
    report = render(results, samples, machine(), d, c)
    print(report)
    with open(os.path.join(BENCH, "RESULTS.md"), "w", encoding="utf-8") as f:
        f.write(report)
    shutil.rmtree(workdir, ignore_errors=True)


def render(results, samples, info, seconds, connections):
    """RESULTS.md: the table, the targets and the machine."""
    lines = [
        "# Resultados del benchmark", "",
        f"`make bench` del {date.today().isoformat()}: wrk por loopback, {seconds} s por "
        f"escenario, {connections} conexiones, 1 hilo de wrk; gunicorn con el "
        f"`gunicorn.conf.py` distribuido ({info['workers']} workers síncronos) para la app y "
        "para la línea base (`bench/baseline.py`, WSGI sin Flask con el mismo SQL). Datos: "
        "1.000.000 de pacientes, 200 médicos, 2.000.000 de citas, 500.000 diagnósticos con "
        "tratamiento y receta. Antes de medir, el buffer pool de InnoDB se amplía a 4 GiB y se "
        "lee cada índice una vez; la app y la línea base están en marcha a la vez y cada "
        f"escenario de lectura se mide en {ROUNDS} rondas cortas alternando app y línea base; "
        "cada cifra es la mediana de sus rondas.", "",
        "| Escenario | req/s | p50 ms | p99 ms | no-2xx | base req/s | base p50 ms | app/base |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, title in TITLES.items():
        r = results.get(("app", scenario))
        if r is None:
            continue
        b = results.get(("base", scenario))
        ratio = f"{r['rps'] / b['rps']:.2f}×" if b and b["rps"] else "—"
        lines.append(f"| {title} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['non2xx'] + r['socket_errors']} | "
                     f"{b['rps']:.0f} | {b['p50_ms']:.2f} | {ratio} |" if b else
                     f"| {title} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['non2xx'] + r['socket_errors']} | — | — | — |")
    app_p, floor_p = results[("app", "paciente")], results[("suelo", "paciente")]
    base_p, redis_p = results[("base", "paciente")], results[("con_redis", "paciente")]
    lines += ["", "GET /pacientes/<id> frente al suelo ingenuo (`bench/floor.py`: la comprobación "
              "completa del token en cada petición, la consulta de la sesión, el SELECT del "
              "paciente y el INSERT de auditoría con su commit; tres idas y vueltas), en las "
              "mismas rondas alternas. La app recuerda la sesión y confirma que no ha cambiado en "
              "la misma y única ida y vuelta en que escribe la fila de auditoría y lee el "
              "paciente; «app con Redis» es la misma app con caché y límites en un Redis "
              "compartido, como se despliega con varios workers:", "",
              "| | req/s | p50 ms | no-2xx | / suelo |", "|---|---:|---:|---:|---:|"]
    for label, r in (("app", app_p), ("app con Redis", redis_p), ("línea base", base_p),
                     ("suelo ingenuo", floor_p)):
        lines.append(f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                     f"{r['non2xx'] + r['socket_errors']} | "
                     f"{r['rps'] / floor_p['rps'] if floor_p['rps'] else 0:.2f}× |")
    lines += ["", "Latencia de una petición sola (wrk con 1 conexión, sin cola), 1.000.000 frente a "
              f"10.000 pacientes (misma app, misma configuración; mediana de {ROUNDS} rondas intercaladas "
              f"de {max(1, seconds // ROUNDS)} s):", "",
              "| Escenario | p50 ms 1M | p99 ms 1M | p50 ms 10k | p99 ms 10k | p50 1M / 10k |",
              "|---|---:|---:|---:|---:|---:|"]
    for scenario in LATENCY:
        big, r = results[("app1", scenario)], results.get(("app10k", scenario))
        if r:
            lines.append(f"| {TITLES[scenario]} | {big['p50_ms']:.2f} | {big['p99_ms']:.2f} | "
                         f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{big['p50_ms'] / r['p50_ms']:.2f}× |")
        else:
            lines.append(f"| {TITLES[scenario]} | {big['p50_ms']:.2f} | {big['p99_ms']:.2f} | "
                         "— | — | — |")

    if ("galera", "paciente") in results:
        lines += ["", "Clúster Galera de 3 nodos en loopback (`scripts/galera.sh`) frente a un "
                  "servidor, mismos datos (10.000 pacientes) y misma carga: tres apps de "
                  f"{max(1, default_workers() // 3)} workers, cada una con un nodo primero en "
                  "su `DB_HOST`, frente a tres apps sobre el servidor único; tres wrk a la vez "
                  f"(uno por app, {max(1, connections // 3) * 3} conexiones en total), {ROUNDS} rondas "
                  "alternas, mediana. Las reservas de cada wrk van a semanas distintas.", "",
                  "| Escenario | 1 servidor req/s | p50 ms | Galera req/s | p50 ms | no-2xx | "
                  "Galera/1 req/s | Galera/1 p50 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for scenario in CLUSTER:
            u, gl = results[("uno", scenario)], results[("galera", scenario)]
            bad = sum(r["non2xx"] + r["socket_errors"] for r in (u, gl))
            lines.append(f"| {TITLES[scenario]} | {u['rps']:.0f} | {u['p50_ms']:.2f} | "
                         f"{gl['rps']:.0f} | {gl['p50_ms']:.2f} | {bad} | "
                         f"{gl['rps'] / u['rps'] if u['rps'] else 0:.2f}× | "
                         f"{gl['p50_ms'] / u['p50_ms'] if u['p50_ms'] else 0:.2f}× |")

    first, last = samples[0][1], samples[-1][1]
    total_first = sum(v or 0 for v in first.values())
    total_last = sum(v or 0 for v in last.values())
    growth = (total_last - total_first) / total_first if total_first else 0
    lines += ["", f"Memoria de los workers durante {samples[-1][0]} s de GET /pacientes/<id> "
              "(RSS en MiB, muestra cada 5 s):", "",
              "| t (s) | " + " | ".join(f"pid {p}" for p in first) + " | total |",
              "|---:|" + "---:|" * (len(first) + 1)]
    for t, rss in samples:
        lines.append(f"| {t} | " + " | ".join(f"{(rss.get(p) or 0) / 1024:.1f}" for p in first)
                     + f" | {sum(v or 0 for v in rss.values()) / 1024:.1f} |")

    def ok(cond):
        return "cumple" if cond else "**NO cumple**"

    r_pid = app_p["rps"] / base_p["rps"] if base_p["rps"] else 0
    r_floor = app_p["rps"] / floor_p["rps"] if floor_p["rps"] else 0
    r_redis = redis_p["rps"] / floor_p["rps"] if floor_p["rps"] else 0
    r_q = results[("app1", "buscar")]["p50_ms"] / results[("app10k", "buscar")]["p50_ms"]
    r_l = results[("app1", "listar")]["p50_ms"] / results[("app10k", "listar")]["p50_ms"]
    r_h = results[("app1", "historial_200")]["p50_ms"] / results[("app1", "historial_5")]["p50_ms"]
    b_h = results[("base", "historial_200")]["p50_ms"] / results[("base", "historial_5")]["p50_ms"]
    bad = sum(r["non2xx"] + r["socket_errors"] for r in results.values())
    lines += ["", "## Objetivos (issues 8 y 17)", "",
              f"- GET /pacientes/<id> ≥ 0,7× la línea base: {r_pid:.2f}× — {ok(r_pid >= 0.7)}",
              f"- GET /pacientes/<id> ≥ 0,9× el suelo ingenuo (issue 17; la mediana de tres "
              f"`make bench`, ninguna bajo 0,85×): {r_floor:.2f}× en esta — "
              f"{ok(r_floor >= 0.9)} (con Redis: {r_redis:.2f}×)",
              f"- Búsqueda con 1M ≤ 1,5× la de 10k (p50, 1 conexión): {r_q:.2f}× — {ok(r_q <= 1.5)}",
              f"- Lista con 1M ≤ 1,5× la de 10k (p50, 1 conexión): {r_l:.2f}× — {ok(r_l <= 1.5)}",
              f"- Historial de 200 registros ≤ 3× el de 5 (p50, 1 conexión; issue 17: ≤ 2×, la "
              f"mediana de tres `make bench`): {r_h:.2f}× — {ok(r_h <= 2)} (línea base con 8 "
              f"conexiones: {b_h:.2f}×)",
              f"- Cero respuestas no-2xx con peticiones válidas: {bad} — {ok(bad == 0)}",
              f"- Memoria de los workers estable: {growth * 100:+.1f} % entre la primera y la "
              f"última muestra — {ok(abs(growth) <= 0.10)}", "",
              "## Máquina", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    return "\n".join(lines) + "\n"


def smoke(args):
    name = f"historial_smoke_{os.getpid()}"
    # The login scenario should show the endpoint works, not wait on bcrypt's full cost.
    os.environ["BCRYPT_ROUNDS"] = "4"
    facts = load_data.ensure(name, 2_000, 20, 4_000, 1_000)
    workdir = tempfile.mkdtemp(prefix="smoke-")
    failures = []
    shared = servers.start_redis(workdir)
    try:
        issue_token(facts)
        for label, app, scenarios, env in (
                ("app", "app:app", list(TITLES), SIN_REDIS),
                ("con_redis", "app:app", ("paciente",), con_redis(shared)),
                ("baseline", "bench.baseline:application", READS, None),
                ("suelo", "bench.floor:application", ("paciente",), SIN_REDIS)):
            server = start_app(workdir, facts, app=app, workers=2, env=env)
            try:
                for scenario in scenarios:
                    r = wrk(server.url, scenario, facts, args.duracion, 2)
                    print(f"  {label:<9} {scenario:<14} {fmt(r)}")
                    if r["requests"] == 0 or r["non2xx"] or r["socket_errors"]:
                        failures.append(f"{label} {scenario}: {r}")
            finally:
                server.stop()
        cluster = cluster_runs(workdir, CLUSTER_SIZES_SMOKE, args.duracion, 3, 1)
        for key, r in cluster.items():
            print(f"  {key[0]:<9} {key[1]:<14} {fmt(r)}")
            if r["requests"] == 0 or r["non2xx"] or r["socket_errors"]:
                failures.append(f"{key[0]} {key[1]}: {r}")
        print_cluster_ratios(cluster)
    finally:
        shared.stop()
        load_data.drop_database(load_data.bench_config(name))
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("Escenarios con errores:\n  " + "\n  ".join(failures))
        return 1
    print("bench-smoke: todos los escenarios sin errores.")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="datos pequeños, pocos segundos")
    parser.add_argument("--duracion", type=int, default=None, help="segundos por escenario")
    parser.add_argument("--conexiones", type=int, default=8)
    parser.add_argument("--memoria", type=int, default=60, help="segundos de la prueba de memoria")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("Falta wrk: ejecute scripts/system-deps.sh (apt-get install wrk).")
    if args.smoke:
        args.duracion = args.duracion or 1
        return smoke(args)
    args.duracion = args.duracion or 15
    full(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
