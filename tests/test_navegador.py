"""A real headless Chromium (Debian's, driven by playwright): Swagger UI and CORS from an SPA."""

import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

SPA_PAGE = """<!doctype html><html><body><script>
window.resultado = (async () => {
  try {
    const r = await fetch(API + "/auth/me", {headers: {"Authorization": "Bearer " + TOKEN}});
    return {estado: r.status, cuerpo: await r.json()};
  } catch (e) { return {error: String(e)}; }
})();
</script></body></html>"""


class Server:
    """A real HTTP server in a thread (werkzeug for the API, http.server for the SPA page)."""

    def __init__(self, server):
        self.server = server
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def spa_origins(tmp_path_factory):
    """Two static page servers on other origins: one allowed by CORS_ORIGINS, one not."""
    root = tmp_path_factory.mktemp("spa")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    servers = [Server(ThreadingHTTPServer(("127.0.0.1", 0), handler)) for _ in range(2)]
    yield root, servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def api_server(app, spa_origins):
    import app as app_module

    _, (allowed, _) = spa_origins
    api = app_module.create_app({"CORS_ORIGINS": [allowed.url], "TESTING": True})
    server = Server(make_server("127.0.0.1", 0, api, threaded=True))
    yield server
    server.stop()


def test_docs_lists_operations_and_try_it_out_login_answers_200(browser, api_server, make_user):
    user = make_user("recepcionista")
    page = browser.new_page()
    page.goto(api_server.url + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 20
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/pacientes" in [s.strip() for s in summaries]

    login = page.locator(".opblock-post", has=page.locator("[data-path='/auth/login']")).first
    login.locator(".opblock-summary").click()
    login.locator("button.try-out__btn").click()
    body = f'{{"correo": "{user.correo}", "password": "{user.password}"}}'
    login.locator("textarea.body-param__text").fill(body)
    login.locator("button.execute").click()
    status = login.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=20_000)
    assert status.inner_text().strip() == "200"
    assert '"token"' in login.locator(".live-responses-table .microlight").first.inner_text()
    page.close()


@pytest.mark.parametrize("which, allowed", [(0, True), (1, False)])
def test_spa_fetch_with_bearer_follows_cors_origins(browser, api_server, spa_origins, make_user,
                                                    which, allowed):
    root, servers = spa_origins
    user = make_user("admin")
    name = f"spa{which}.html"
    (root / name).write_text(SPA_PAGE.replace("API", repr(api_server.url))
                             .replace("TOKEN", repr(user.token)), encoding="utf-8")
    page = browser.new_page()
    page.goto(f"{servers[which].url}/{name}")
    result = page.evaluate("window.resultado")
    page.close()
    if allowed:
        assert result == {"estado": 200, "cuerpo": result["cuerpo"]}
        assert result["cuerpo"]["id_usuario"] == user.id_usuario
    else:
        assert "error" in result and "Failed to fetch" in result["error"]
