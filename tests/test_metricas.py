"""GET /metrics through a real 3-worker gunicorn: every worker's requests are counted once,
by route template, and nothing in it names or numbers a patient; METRICAS=0 removes it."""

import os
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from esquema import app_on

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))

import servers  # noqa: E402

WORKERS = 3


@pytest.fixture(scope="module")
def cluster(app, tmp_path_factory):
    server = servers.start_gunicorn(str(tmp_path_factory.mktemp("gunicorn-metricas")),
                                    {"DB_NAME": app.config["DB_NAME"]}, workers=WORKERS)
    yield server
    server.stop()


def samples(text, name):
    """{labels tuple: value} of one metric's samples."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_add_up_over_workers_and_hold_no_patient_data(cluster, make_user, make_paciente,
                                                               database):
    # An id no count or timing could spell by chance, so that the text search below means it.
    database.execute("ALTER TABLE Paciente AUTO_INCREMENT = 7654321")
    nombre = "Zacarías Metrológico Quintanilla"
    id_paciente = make_paciente(nombre=nombre, documento="99887766M")
    headers = make_user("admin").headers
    plan = ([f"/pacientes/{id_paciente}"] * 30 + ["/pacientes/987654321"] * 10
            + ["/pacientes?q=zacar&limite=5"] * 10 + ["/no/existe/ruta-inexistente"] * 5)

    def get(path):
        # A new connection each time: gunicorn hands them to different workers.
        return requests.get(cluster.url + path, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = Counter(zip(plan, pool.map(get, plan)))
    assert statuses[(f"/pacientes/{id_paciente}", 200)] == 30
    assert statuses[("/pacientes/987654321", 404)] == 10
    assert statuses[("/pacientes?q=zacar&limite=5", 200)] == 10
    served_by = {int(m.group(1)) for m in re.finditer(r"<(\d+)> \"GET /pacientes",
                                                      cluster.log_text())}
    assert len(served_by) >= 2, "all requests went to one worker; the sum proves nothing"

    response = requests.get(cluster.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    counts = samples(text, "historial_peticiones_total")

    def count(ruta, estado, metodo="GET"):
        return counts.get((("estado", estado), ("metodo", metodo), ("ruta", ruta)), 0)

    assert count("/pacientes/<int:id_paciente>", "200") == 30
    assert count("/pacientes/<int:id_paciente>", "404") == 10
    assert count("/pacientes", "200") == 10
    assert count("sin_ruta", "404") == 5
    latency = samples(text, "historial_peticion_duracion_segundos_count")
    assert latency[(("metodo", "GET"), ("ruta", "/pacientes/<int:id_paciente>"))] == 40
    buckets = samples(text, "historial_peticion_duracion_segundos_bucket")
    assert buckets[(("le", "+Inf"), ("metodo", "GET"), ("ruta", "/pacientes/<int:id_paciente>"))] == 40
    assert samples(text, "historial_bd_conexiones_en_uso") == {(): 0.0}
    assert samples(text, "historial_bd_esperando_conexion") == {(): 0.0}
    errores = samples(text, "historial_bd_errores_total")
    assert {dict(k)["tipo"] for k in errores} >= {"conexion", "bloqueo", "integridad", "otro"}

    labels = {v for family in text_string_to_metric_families(text)
              for s in family.samples for k, v in s.labels.items() if k != "le"}
    for secret in (str(id_paciente), "987654321", "inexistente", "zacar", "Zacar", "99887766M",
                   "Metrol", "q="):
        assert not any(secret in value for value in labels), secret
        assert secret not in text.replace(".0", ""), secret


def test_metricas_0_removes_the_route(app):
    with app_on(app.config["DB_NAME"], METRICAS=False) as other:
        client = other.test_client()
        assert client.get("/metrics").status_code == 404
        assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
    assert app.test_client().get("/metrics").status_code == 200
