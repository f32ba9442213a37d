"""No double booking under real concurrency: simultaneous requests to a 4-worker gunicorn.

The Flask test client runs one request at a time in one process, so it cannot show a race;
these tests start the real server on the test database and fire requests from 30 threads
released together by a barrier.
"""

import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

import mysql.connector
import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
N = 30
DIA = date.today() + timedelta(days=90)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(app):
    """A 4-worker gunicorn on the test database (the `app` fixture created the schema)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="gunicorn-citas-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [GUNICORN, "-w", "4", "--threads", "1", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT, env={**os.environ, "GUNICORN_ACCESSLOG": "-"}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/health/ready", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gunicorn no arrancó: " + open(log.name).read()[-3000:])
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    os.unlink(log.name)


def at_once(send, payloads):
    """Run `send(payload)` from one thread per payload, all released together; the answers."""
    barrier = threading.Barrier(len(payloads))
    answers = [None] * len(payloads)

    def worker(i):
        barrier.wait()
        r = send(payloads[i])
        answers[i] = (r.status_code, r.json() if r.content else None)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None for a in answers), "alguna petición no terminó"
    return answers


def book_all(server, headers, bodies):
    return at_once(lambda body: requests.post(server + "/citas", json=body, headers=headers,
                                              timeout=30), bodies)


def body(id_paciente, id_medico, hora="10:00", duracion=30, fecha=DIA):
    return {"fecha": fecha.isoformat(), "hora": hora, "id_paciente": id_paciente,
            "id_medico": id_medico, "duracion_min": duracion}


def overlapping_pairs(database, column, value):
    """Pairs of active citas of one doctor or patient that overlap in time (must be 0)."""
    return database.scalar(
        f"SELECT COUNT(*) FROM Cita a JOIN Cita b ON a.{column} = b.{column} "
        "AND a.ID_Cita < b.ID_Cita AND a.Inicio < b.Fin AND a.Fin > b.Inicio "
        f"WHERE a.{column} = %s AND a.Estado <> 'Cancelada' AND b.Estado <> 'Cancelada'",
        (value,))


def active(database, column, value):
    return database.scalar(f"SELECT COUNT(*) FROM Cita WHERE {column} = %s "
                           "AND Estado <> 'Cancelada'", (value,))


def check_outcome(answers, created):
    """`created` answers are 201 and every other one is 409 `horario_ocupado`."""
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * created + [409] * (len(answers) - created), codes
    assert all(b["codigo"] == "horario_ocupado" for code, b in answers if code == 409)


def test_same_doctor_same_slot_one_wins(server, database, make_user, make_paciente,
                                        make_medico):
    staff, id_medico = make_user("recepcionista"), make_medico()
    answers = book_all(server, staff.headers,
                       [body(make_paciente(), id_medico) for _ in range(N)])
    check_outcome(answers, 1)
    assert active(database, "`ID_Médico`", id_medico) == 1
    ganadora = next(b["id_cita"] for code, b in answers if code == 201)
    assert all(f"cita {ganadora} " in b["error"] for code, b in answers if code == 409)


@pytest.mark.parametrize("duraciones", [(30,), (10, 45, 20, 90, 30, 60)],
                         ids=["30min", "variadas"])
def test_staggered_overlapping_starts_never_overlap(server, database, make_user, make_paciente,
                                                    make_medico, duraciones):
    staff, id_medico = make_user("recepcionista"), make_medico()
    inicio = 10 * 60
    horas = [f"{(inicio + 5 * i) // 60:02d}:{(inicio + 5 * i) % 60:02d}" for i in range(N)]
    bodies = [body(make_paciente(), id_medico, hora, duracion)
              for hora, duracion in zip(horas, itertools.cycle(duraciones))]
    answers = book_all(server, staff.headers, bodies)
    created = sum(1 for code, _ in answers if code == 201)
    check_outcome(answers, created)
    assert active(database, "`ID_Médico`", id_medico) == created
    assert overlapping_pairs(database, "`ID_Médico`", id_medico) == 0
    if duraciones == (30,):
        # Starts 10:00…12:25 every 5 min: at most 5 fit; every refused one clashes with an
        # accepted one, so at least 3 (each accepted cita blocks 11 starts).
        assert 3 <= created <= 5


def test_same_patient_with_several_doctors_one_wins(server, database, make_user, make_paciente,
                                                    make_medico):
    staff, id_paciente = make_user("recepcionista"), make_paciente()
    answers = book_all(server, staff.headers,
                       [body(id_paciente, make_medico(), hora="11:00") for _ in range(10)])
    check_outcome(answers, 1)
    assert active(database, "ID_Paciente", id_paciente) == 1
    assert all("el paciente" in b["error"] for code, b in answers if code == 409)


def test_simultaneous_reschedules_into_one_slot_one_wins(server, database, make_user,
                                                         make_paciente, make_medico, make_cita):
    staff, id_medico = make_user("recepcionista"), make_medico()
    ids = [make_cita(make_paciente(), id_medico, fecha=DIA + timedelta(days=1 + i))
           for i in range(N)]
    # Starts 09:00, 09:01, … 09:29 with 30 minutes each: every pair overlaps.
    answers = at_once(lambda i: requests.patch(
        f"{server}/citas/{ids[i]}", json={"fecha": DIA.isoformat(), "hora": f"09:{i:02d}"},
        headers=staff.headers, timeout=30), list(range(N)))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] + [409] * (N - 1), codes
    assert all(b["codigo"] == "horario_ocupado" for code, b in answers if code == 409)
    assert database.scalar("SELECT COUNT(*) FROM Cita WHERE `ID_Médico` = %s AND Fecha = %s",
                           (id_medico, DIA)) == 1
    assert overlapping_pairs(database, "`ID_Médico`", id_medico) == 0


def test_unique_keys_back_the_lock(database, make_paciente, make_medico, make_cita):
    """Even a write that skips the API cannot add a second active cita at the same start."""
    id_medico = make_medico()
    make_cita(make_paciente(), id_medico, fecha=DIA, hora="08:00")
    with pytest.raises(mysql.connector.IntegrityError) as err:
        make_cita(make_paciente(), id_medico, fecha=DIA, hora="08:00")
    assert err.value.errno == 1062
    # Cancelled citas do not hold the slot.
    make_cita(make_paciente(), id_medico, fecha=DIA, hora="09:00", estado="Cancelada")
    make_cita(make_paciente(), id_medico, fecha=DIA, hora="09:00", estado="Cancelada")
    make_cita(make_paciente(), id_medico, fecha=DIA, hora="09:00")
    assert active(database, "`ID_Médico`", id_medico) == 2
