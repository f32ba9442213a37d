"""A real gunicorn on the test database, with its own log files, for the tests that need the
wire (chunked bodies, raw headers) or gunicorn's own logs."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`with Gunicorn() as server:` serves app:app with the shipped gunicorn.conf.py on a free
    port; `server.url`, and the app log, access log and error log (stderr) as text."""

    def __init__(self, workers=2, **env):
        self.workers, self.env = workers, env
        self.dir = tempfile.mkdtemp(prefix="historial-gunicorn-")
        self.app_log = os.path.join(self.dir, "app.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")

    def __enter__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr = open(self.error_log, "wb")
        self.proc = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py", "-w", str(self.workers),
             "-b", f"127.0.0.1:{self.port}", "app:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.stderr,
            env={**os.environ, "LOG_FILE": self.app_log, "GUNICORN_ACCESSLOG": self.access_log,
                 **self.env})
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn no arrancó: " + self.text(self.error_log)[-3000:])
            time.sleep(0.2)

    def stop(self):
        """Stop gunicorn (its workers write their last lines) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.stderr.close()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def text(path):
        """A log file's text (bytes decoded as UTF-8, undecodable bytes kept visible)."""
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "backslashreplace")
        except FileNotFoundError:
            return ""

    def logs(self):
        """The three logs, each as text."""
        return {name: self.text(path) for name, path in
                (("app", self.app_log), ("access", self.access_log), ("error", self.error_log))}

    def raw(self, data, timeout=10):
        """Send raw bytes on one connection; the bytes answered until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            chunks = []
            try:
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            except (ConnectionResetError, socket.timeout):
                pass
            return b"".join(chunks)
