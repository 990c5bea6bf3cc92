"""A real JupyterLab 4 server and headless Debian Chromium, driven by Playwright.

The server runs on 127.0.0.1 on a free port with a random token, serves a temporary
copy of ``notebooks/``, and is stopped by its PID. Chromium is launched with every
background-networking feature off, so no request leaves the machine. All waits are
bounded. Where ``CI`` is set, a missing browser fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--disable-dev-shm-usage",
]
# JupyterLab settings: no news or update checks (they would try the internet).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def chromium_path() -> str | None:
    """Debian's Chromium, or ``$CHROMIUM`` if set."""
    candidate = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).is_file() else None


@dataclass
class LabServer:
    """A running JupyterLab server."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen

    def notebook_url(self, name: str) -> str:
        """URL that opens ``name`` alone, in a fresh workspace, authenticated by the token.

        A workspace of its own per page keeps tabs of earlier tests from being restored
        (hidden, with their own explorers) next to this notebook.
        """
        workspace = secrets.token_hex(6)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        """Stop every kernel the server runs (between tests)."""
        headers = {"Authorization": f"token {self.token}"}
        request = urllib.request.Request(f"{self.url}/api/kernels", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            kernels = json.loads(response.read())
        for kernel in kernels:
            delete = urllib.request.Request(f"{self.url}/api/kernels/{kernel['id']}",
                                            headers=headers, method="DELETE")
            urllib.request.urlopen(delete, timeout=30).close()  # noqa: S310 - loopback


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, token: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            request = urllib.request.Request(f"{url}/api/status",
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def browser_executable() -> str:
    path = chromium_path()
    if path is None:
        message = "Debian chromium not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + ": required in CI")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 serving a temporary copy of notebooks/."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("checkpoints"))
    settings = base / "settings"
    for name, values in LAB_SETTINGS.items():
        plugin, file = name.rsplit("/", 1)
        (settings / plugin).mkdir(parents=True, exist_ok=True)
        (settings / plugin / file).write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),  # no restored tabs
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "PYTHONPATH": str(ROOT),
           # These tests test widgets, not the science: the notebooks run at smoke settings
           # (a few images, short loops) whoever starts the tests, and never reach a hub.
           "VIT_NOTEBOOKS_SMOKE": "1", "VIT_NOTEBOOKS_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--allow-root",
               "--ServerApp.port_retries=0", "--LabApp.news_url=None"]
    log = (base / "lab.log").open("w")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, token, process, timeout=90)
        yield LabServer(url, token, root, process)
    finally:
        _stop(process)
        log.close()


@pytest.fixture(scope="session")
def browser(browser_executable: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=browser_executable,
                                              args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; on failure a screenshot lands in build/browser-failures/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        folder = ROOT / "build" / "browser-failures"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
