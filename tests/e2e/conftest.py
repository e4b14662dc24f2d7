"""Browser tests: a real daphne server (websockets, SSE) on a fresh SQLite file, driven by real Chromium.

The server runs as its own process on a migrated temporary database with the demo fixtures (the bank scenario, the
saga presets) loaded; the tests talk to it only as a browser (and, where they check the log, through the JSON API), like a learner would.
Run as a separate pytest invocation (`pytest tests/e2e -m e2e`): Playwright's sync API and pytest-asyncio clash.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate(env: dict) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], check=True, env=env, cwd=ROOT)
    # every registered lab's fixtures and the quiz questions, as `make setup` loads them
    subprocess.run([*manage, "loadlabfixtures", "--verbosity", "0"], check=True, env=env, cwd=ROOT)


def start_daphne(env: dict, log_path: Path) -> tuple[str, subprocess.Popen]:
    """Start daphne on a free port; return its URL once it answers."""
    port = free_port()
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until it ends
    process = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "eventlab.asgi:application"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2)  # noqa: S310 - our own local server
            return url, process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("daphne did not start: " + log_path.read_text()) from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Base URL of a live EventLab (daphne, SQLite, in-memory channel layer) with the demo scenario loaded."""
    folder = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "SQLITE_PATH": str(folder / "eventlab.sqlite3"), "DEBUG": "true"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    migrate(env)
    url, process = start_daphne(env, folder / "daphne.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS) if executable else \
            p.chromium.launch(args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh browser contexts (separate sessions, like two browsers); closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def lab_page(server, new_page):
    """A learner's browser on its own new bank lab (started from the demo scenario), connected live."""
    page = new_page()
    page.goto(server + "/labs/bank/")
    page.wait_for_selector("#live-status[data-state=live]")
    return page


def serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page, in words (what every page's accessibility check asks)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
