"""`make bench-smoke` inside `make test`: every benchmark scenario still runs without errors.

Asserts nothing about speed; it keeps bench/ (loader, wrk script, baseline, runner) from rotting.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_smoke_runs_every_scenario_without_errors():
    env = {k: v for k, v in os.environ.items() if k not in ("DB_NAME", "LOG_FILE")}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "todos los escenarios sin errores" in out.stdout
    for scenario in ("paciente", "buscar", "listar", "citas", "historial_200", "crear_cita",
                     "login"):
        assert f"app       {scenario}" in out.stdout
    # The naive floor of issue 17 (bench/floor.py) answers its one scenario too.
    assert "suelo     paciente" in out.stdout
    # The cluster scenario: the same requests through 3 Galera nodes and through one server.
    for scenario in ("paciente", "crear_cita"):
        assert f"uno       {scenario}" in out.stdout and f"galera    {scenario}" in out.stdout
        assert f"galera/uno {scenario}" in out.stdout
