"""Processes the benchmark and the multi-process tests start: gunicorn, redis-server, MariaDB.

Each helper starts a real server on a free loopback port with its files in a directory of
the caller, waits until it answers, and stops it by its own process id.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    """Process ids of the direct children of `pid`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except FileNotFoundError:
        return []


def rss_kib(pid):
    """Resident memory of a process in KiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def http_status(url, timeout=2.0):
    """Status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


class Process:
    """A started server: its Popen, port, log paths; `stop()` ends it by pid."""

    def __init__(self, popen, port, logs):
        self.popen, self.port, self.logs = popen, port, logs

    @property
    def pid(self):
        return self.popen.pid

    def log_text(self):
        text = ""
        for path in self.logs:
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f.read()
        return text

    def stop(self, sig=signal.SIGTERM, wait=20):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


class Gunicorn(Process):
    """gunicorn with the shipped gunicorn.conf.py."""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def workers(self):
        return children(self.pid)


def start_gunicorn(workdir, env, workers=2, threads=1, app="app:app", extra_args=(),
                   wait=30):
    """Start `gunicorn -c gunicorn.conf.py app` and wait until every worker has booted.

    `env` is added to a copy of this process's environment (DB_NAME, CACHE_REDIS_URL...).
    Output goes to workdir/gunicorn.log; the access log names the worker pid (`%(p)s`).
    """
    port = free_port()
    log = os.path.join(workdir, f"gunicorn-{port}.log")
    full_env = dict(os.environ)
    full_env.update({"GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads),
                     "LOG_FILE": os.path.join(workdir, f"app-{port}.log")})
    full_env.update({k: str(v) for k, v in env.items()})
    cmd = [os.path.join(VENV_BIN, "gunicorn"), "-c", os.path.join(ROOT, "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", "--chdir", ROOT,
           "--access-logformat", '%(p)s "%(r)s" %(s)s %(M)sms', *extra_args, app]
    with open(log, "wb") as out:
        popen = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    server = Gunicorn(popen, port, [log])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"gunicorn terminó al arrancar:\n{server.log_text()[-3000:]}")
        if len(server.workers()) >= workers and http_status(server.url + "/health") == 200:
            # Every worker has loaded the app (gunicorn.conf.py's post_worker_init): until then
            # the first one takes every connection.
            if server.log_text().count("Worker listo") >= workers:
                return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn no arrancó en {wait} s:\n{server.log_text()[-3000:]}")


def start_redis(workdir, wait=10):
    """A redis-server on a free port, without persistence, files in workdir."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("falta redis-server (scripts/system-deps.sh lo instala)")
    port = free_port()
    log = os.path.join(workdir, f"redis-{port}.log")
    popen = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--appendonly", "no", "--logfile", log, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    server = Process(popen, port, [log])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("redis-server no arrancó")


class MariaDB(Process):
    """A throwaway MariaDB server (its own datadir) that can be stopped and started again."""

    def __init__(self, datadir, port, password):
        self.datadir, self.password = datadir, password
        self.socket = os.path.join(datadir, "s.sock")
        super().__init__(None, port, [os.path.join(datadir, "error.log")])

    def start(self, wait=30):
        cmd = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
               "--bind-address=127.0.0.1", f"--socket={self.socket}",
               f"--pid-file={os.path.join(self.datadir, 'mysqld.pid')}",
               f"--log-error={self.logs[0]}", "--innodb-buffer-pool-size=64M",
               "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=2",
               "--skip-name-resolve", "--max-connections=200",
               "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"]
        if os.getuid() == 0:
            cmd.append("--user=root")
        self.popen = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"mariadbd terminó al arrancar:\n{self.log_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("mariadbd no arrancó")


def start_mariadb(workdir, password):
    """Install a fresh datadir in workdir and start a server with root/`password` over TCP."""
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        raise RuntimeError("falta mariadb-server")
    datadir = os.path.join(workdir, "mariadb")
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                    "--auth-root-authentication-method=normal", "--skip-test-db",
                    *(["--user=root"] if os.getuid() == 0 else [])],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDB(datadir, free_port(), password).start()
    try:
        subprocess.run(["mariadb", "--no-defaults", "-S", server.socket, "-uroot", "-e",
                        f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
                        f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"],
                       check=True, stdout=subprocess.DEVNULL)
    except BaseException:
        server.stop()
        raise
    return server


class Galera:
    """A private three-node Galera cluster (scripts/galera.sh) on free loopback ports.

    Its data lives in a folder under /tmp the `mysql` user can reach (the nodes run as that
    user); `stop()` stops the nodes and removes it. `run("kill", "1")` and friends drive the
    script's other commands.
    """

    SCRIPT = os.path.join(ROOT, "scripts", "galera.sh")

    def __init__(self, password):
        import tempfile

        self.folder = tempfile.mkdtemp(prefix="historial-galera-")
        self.base = galera_base()
        self.password = password
        self.ports = [self.base + n for n in (1, 2, 3)]
        self.hosts = [f"127.0.0.1:{port}" for port in self.ports]
        self.env = {**os.environ, "GALERA_DIR": self.folder, "GALERA_PUERTO": str(self.base),
                    "DB_PASSWORD": password}

    def run(self, *args, timeout=150):
        done = subprocess.run([self.SCRIPT, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"galera.sh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def stop(self):
        subprocess.run([self.SCRIPT, "stop"], env=self.env, capture_output=True, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)


def galera_base():
    """A base port whose node ports (base + 1..3, +11..13, +21..23, +31..33) are all free."""
    def free(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    for base in range(21000, 60000, 100 + os.getpid() % 50):
        if all(free(base + off + n) for off in (0, 10, 20, 30) for n in (1, 2, 3)):
            return base
    raise RuntimeError("no hay puertos libres para el clúster Galera")


def start_galera(password):
    """Start the cluster (three synced nodes) and return it."""
    cluster = Galera(password)
    try:
        cluster.run("start")
    except BaseException:
        cluster.stop()
        raise
    return cluster


if __name__ == "__main__":
    sys.exit("módulo de apoyo; véase bench/run.py")
