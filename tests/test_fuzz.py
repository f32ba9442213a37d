"""Schemathesis against the live app, once per role, with all its checks.

Fails on any 5xx, any response that does not match /openapi.json and any undocumented
status code. Prints how many requests were generated.
"""

import os
import re
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
CONFIG = os.path.join(os.path.dirname(__file__), "schemathesis.toml")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "6")
# Ending the fuzzing user's own session would turn the rest of the run into 401s.
SELF_ENDING = ["--exclude-path", "/auth/logout", "--exclude-path", "/auth/password"]


@pytest.fixture(scope="module")
def live_url(app):
    import app as app_module

    api = app_module.create_app({"TESTING": True})
    server = make_server("127.0.0.1", 0, api, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run_schemathesis(url, extra):
    command = [SCHEMATHESIS, "--config-file", CONFIG, "run", f"{url}/openapi.json",
               "--checks", "all", "-n", EXAMPLES,
               "--seed", "20241128", "--workers", "2", "--no-color", "--request-timeout", "10",
               "--suppress-health-check", "all", "--warnings", "off", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    return result.returncode, output


@pytest.mark.parametrize("rol", ["anonimo", "paciente", "medico", "recepcionista", "admin"])
def test_schemathesis_finds_nothing(live_url, make_user, make_cita, rol, pytestconfig):
    extra = []
    if rol != "anonimo":
        user = make_user(rol)
        if rol == "medico":
            # Give the doctor a patient under their care so clinical paths get exercised.
            make_cita(make_user("paciente").id_paciente, user.id_medico)
        extra = ["-H", f"Authorization: Bearer {user.token}", *SELF_ENDING]
    code, output = run_schemathesis(live_url, extra)
    summary = re.findall(r"^.*\d+ generated.*$", output, re.MULTILINE)
    # Shown at the end of `make test` (conftest.pytest_terminal_summary), pass or fail.
    pytestconfig.fuzz_summary.append(f"{rol}: {summary[-1].strip() if summary else '?'}")
    assert code == 0, output[-6000:]
