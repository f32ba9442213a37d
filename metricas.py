"""Prometheus metrics at GET /metrics: requests by route template, method and status, their
latency, the connection pool and database errors, summed over every gunicorn worker.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR (emptied at start) and each
worker writes its values to its own files there; /metrics, in whichever worker answers, adds
them all up (prometheus_client's multiprocess mode). Alone (`python app.py`), the process's
own registry is shown. Labels hold route templates (`/pacientes/<int:id_paciente>`), never a
path, id, name or query string, so nothing in here identifies a patient.
"""

import os
import time

from flask import Response, g, request
from prometheus_client import (CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, Counter,
                               Gauge, Histogram, generate_latest, multiprocess)

import api
import db

# Kinds of database error (db._note_failure, db.Pool), shown at 0 before the first one.
DB_ERROR_KINDS = ("conexion", "pool_agotado", "bloqueo", "integridad", "otro")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# From a cached read (~1 ms) to the 30 s gunicorn timeout.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DESCRIPTION = (
    "Métricas en el formato de texto de Prometheus, sumadas sobre todos los workers de "
    "gunicorn: peticiones por plantilla de ruta, método y estado, histograma de duración, "
    "conexiones del pool en uso y en espera, y errores de la base de datos por tipo.\n\n"
    "Quién puede leerla: sin autenticación, para que Prometheus la lea sin credenciales. No "
    "contiene datos de pacientes: las etiquetas son plantillas de ruta (nunca la ruta con "
    "sus ids), métodos, estados y tipos de error, sin nombres ni consultas. Sí revela el "
    "volumen de tráfico: la API escucha en 127.0.0.1 por defecto; si se publica, limite "
    "`/metrics` a la red de monitorización en el proxy. `METRICAS=0` quita la ruta.")


class Metrics:
    """The process's metric objects (one set per process: the registry is global)."""

    def __init__(self):
        self.requests = Counter("historial_peticiones_total", "Peticiones atendidas",
                                ["ruta", "metodo", "estado"])
        self.latency = Histogram("historial_peticion_duracion_segundos",
                                 "Duración de las peticiones, de la primera a la última línea "
                                 "de Flask", ["ruta", "metodo"], buckets=BUCKETS)
        self.pool_in_use = Gauge("historial_bd_conexiones_en_uso",
                                 "Conexiones del pool prestadas a peticiones",
                                 multiprocess_mode="livesum")
        self.pool_waiting = Gauge("historial_bd_esperando_conexion",
                                  "Peticiones esperando una conexión libre del pool",
                                  multiprocess_mode="livesum")
        self.db_errors = Counter("historial_bd_errores_total",
                                 "Errores de la base de datos por tipo", ["tipo"])
        for kind in DB_ERROR_KINDS:
            self.db_errors.labels(kind)
        # Labelled children by their label values: prometheus_client's labels() checks and
        # locks on every call; a dict lookup is all a request pays once a series exists.
        self.children = {}

    def observe(self, ruta, metodo, estado, seconds):
        key = (ruta, metodo, estado)
        pair = self.children.get(key)
        if pair is None:
            pair = self.children[key] = (self.requests.labels(ruta, metodo, estado),
                                         self.latency.labels(ruta, metodo))
        pair[0].inc()
        pair[1].observe(seconds)


_metrics = None


def _process_metrics():
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
        db.pool_in_use, db.pool_waiting = _metrics.pool_in_use, _metrics.pool_waiting
        db.db_errors_total = _metrics.db_errors
    return _metrics


def exposition():
    """The text of /metrics: every worker's files under multiprocess mode, else this process."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def register(app):
    """Count every request and serve /metrics, unless METRICAS=0."""
    if not app.config["METRICAS"]:
        return
    metrics = _process_metrics()

    @app.after_request
    def count_request(response):
        rule = request.url_rule
        method = request.method
        metrics.observe(rule.rule if rule is not None else "sin_ruta",
                        method if method in METHODS else "otro", str(response.status_code),
                        time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.get("/metrics")
    @api.spec(summary="Métricas de Prometheus", description=DESCRIPTION, tags=["operacion"],
              responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics_view():
        return Response(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
