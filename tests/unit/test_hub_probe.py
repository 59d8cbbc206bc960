"""The end-to-end probe of the hub role (hub_lifecycle state=probed; plugins/module_utils/hub_health.py)
against a real TLS server on loopback: the certificate served and the path's status decide, and
through Ansible the action's first attempt (the script on the host) or the module's retries end
the same way."""

import http.server
import json
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import module_ran, run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import hub_health


def certificate(tmp_path, name):
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "30", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the base class's name)
        self.send_response(200 if self.path == "/hub/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def traefik(tmp_path):
    """A TLS server on loopback that answers /hub/health, as traefik in front of a healthy hub."""
    cert, key = certificate(tmp_path, "hub.example.org")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert
    server.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_certificate_and_the_status_decide(traefik, tmp_path):
    port, cert = traefik
    other = certificate(tmp_path, "other.example.org")[0]
    problem, served, status = hub_health.probe("https://hub.example.org/hub/health", port, str(cert))
    assert (problem, status) == (None, 200) and len(served) == 64
    assert "serves a certificate other than" in hub_health.probe("https://hub.example.org/hub/health", port, str(other))[0]
    assert "answered HTTP 404" in hub_health.probe("https://hub.example.org/nope", port, str(cert))[0]
    assert "no answer through traefik on port" in hub_health.probe("https://hub.example.org/hub/health", free_port())[0]


@pytest.mark.parametrize("pipelining", [True, False], ids=["action", "module"])
def test_through_ansible_a_healthy_hub_passes_and_a_wrong_certificate_fails_naming_it(traefik, tmp_path, pipelining):
    port, cert = traefik
    other = certificate(tmp_path, "other.example.org")[0]
    ends = {}
    for name, expected in (("right", cert), ("wrong", other)):
        playbook = tmp_path / f"{name}.yml"
        playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"unopinionated.jupyterhub.hub_lifecycle": {
                "state": "probed", "base_config": str(tmp_path / "jupyterhub_config.py"),
                "backup": str(tmp_path / "previous-config.json"), "url": "https://hub.example.org/hub/health",
                "port": port, "certificate": str(expected), "timeout": 1}}]}]))
        ends[name] = run_playbook(playbook, "-vvv", "-e", f"ansible_pipelining={pipelining}")
    assert ends["right"].returncode == 0, ends["right"].stdout[-3000:]
    assert ("python3 -I -c" in ends["right"].stdout) == pipelining
    assert module_ran(ends["right"].stdout, "hub_lifecycle") == (not pipelining)  # the first attempt answered
    assert ends["wrong"].returncode == 2
    assert "The hub is not reachable as users reach it (https://hub.example.org/hub/health): traefik serves a " \
           f"certificate other than {other}" in ends["wrong"].stdout
