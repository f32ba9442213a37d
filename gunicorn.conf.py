"""gunicorn settings for `gunicorn app:app` (each may be overridden with GUNICORN_* env vars)."""

import multiprocessing
import os
import shutil
import tempfile

from dotenv import load_dotenv

load_dotenv()

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
# Requests mostly wait on MariaDB: two workers per core plus one keeps the cores busy.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
# Longer than the 5 s in which an outage is answered with 503; a stuck worker is recycled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Bounded worker lifetime keeps memory flat over weeks of uptime.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 20000))
max_requests_jitter = 2000
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# The path without its query string (%(U)s, not %(r)s): a query may hold a search term or a
# national id. No referer or user agent. Each worker's app escapes every line of gunicorn's
# logs too (logs.protect_gunicorn), so a path with %0A cannot forge a line.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
# No preload: each worker builds the app and its own connection pool after the fork.
preload_app = False

# /metrics sums every worker's values (prometheus_client multiprocess mode): each worker writes
# its own files here. Set before any worker imports prometheus_client; one directory per
# master, so two gunicorns on one machine never mix their counts.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(
    tempfile.gettempdir(), f"historial-metricas-{os.getpid()}"))


def on_starting(server):
    """Start the metrics from zero (files of an earlier run would be added in); warn when
    per-process caches and limits are used by several workers."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)
    cache = os.environ.get("CACHE_TYPE", "SimpleCache")
    if workers > 1 and cache == "SimpleCache" and not os.environ.get("CACHE_REDIS_URL"):
        server.log.warning("CACHE_TYPE=SimpleCache con %d workers: cada proceso tiene su caché "
                           "(TTL corto); configure CACHE_REDIS_URL para compartirla.", workers)
    if workers > 1 and os.environ.get("RATELIMIT_STORAGE_URI", "memory://") == "memory://":
        server.log.warning("RATELIMIT_STORAGE_URI=memory:// con %d workers: el límite por IP de "
                           "login en memoria es por proceso (los recuentos de la base de datos sí "
                           "son globales); configure redis:// para compartirlo.", workers)


def post_worker_init(worker):
    """Say when a worker has built the app and accepts requests ("Booting worker" comes before
    the import): operators and the tests wait for this line, not for the first."""
    worker.log.info("Worker listo (pid: %s)", worker.pid)


def child_exit(server, worker):
    """A worker that is gone no longer counts in the live gauges (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove this master's metrics directory."""
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
