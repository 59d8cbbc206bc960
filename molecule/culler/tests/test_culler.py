"""The idle culler: stops idle servers, keeps busy ones, holds only its scopes."""

import json
import time
from datetime import datetime, timezone

from ujh_testlib import (
    BASE, https_session, login, run_site, scenario_group_vars, start_server,
    unit_pid, use_api_token, wait_until,
)

SETTINGS = scenario_group_vars("culler")
TIMEOUT = SETTINGS["culler_timeout"]
EVERY = SETTINGS["culler_every"]


def culler_token(host):
    """The token the hub gave its managed culler service (read as root from /proc).

    The pattern [j]upyter... keeps pgrep from matching the shell that runs it.
    """
    pid = wait_until(
        lambda: host.run("pgrep -f -n '[j]upyterhub_idle_culler'").stdout.strip(), what="the culler process"
    )
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return next(line.split("=", 1)[1] for line in environ.splitlines() if line.startswith("JUPYTERHUB_API_TOKEN="))


def hub_api_as(token, hub_url, method, path, **kwargs):
    s = https_session()
    return s.request(method, f"{hub_url}/hub/api{path}", headers={"Authorization": f"token {token}"},
                     timeout=30, **kwargs)


def user_names(token, hub_url):
    r = hub_api_as(token, hub_url, "GET", "/users")
    r.raise_for_status()
    return {u["name"] for u in r.json()}


def server_running(token, hub_url, name):
    users = {u["name"]: u for u in hub_api_as(token, hub_url, "GET", "/users").json()}
    return bool(users.get(name, {}).get("servers", {}).get(""))


def test_the_culler_runs_as_a_hub_managed_service(host):
    assert host.file(f"{BASE}/config.d/50-idle-culler.py").exists
    hub_pid = unit_pid(host, "jupyterhub.service")
    culler_pid = int(wait_until(lambda: host.run("pgrep -f -n '[j]upyterhub_idle_culler'").stdout.strip(),
                                what="the culler process"))
    assert int(host.check_output(f"ps -o ppid= -p {culler_pid}")) == hub_pid
    assert host.check_output(f"ps -o user= -p {culler_pid}") == "jupyterhub"
    args = host.check_output(f"tr '\\0' ' ' < /proc/{culler_pid}/cmdline")
    assert f"--timeout={TIMEOUT}" in args and "--cull-users=False" in args


def test_the_culler_token_holds_only_its_scopes(host, hub_url):
    token = culler_token(host)
    assert hub_api_as(token, hub_url, "GET", "/users").status_code == 200
    assert hub_api_as(token, hub_url, "POST", "/users/mallory").status_code == 403
    assert hub_api_as(token, hub_url, "DELETE", "/users/nobody-here").status_code in (403, 404)
    scopes = set(hub_api_as(token, hub_url, "GET", "/user").json()["scopes"])
    assert "admin:users" not in scopes and "admin:servers" not in scopes
    assert {"list:users", "read:users:activity", "read:servers", "delete:servers"} <= scopes


def test_an_idle_server_is_stopped_and_a_busy_one_is_kept(host, hub_url):
    token = culler_token(host)
    idle = login(hub_url, "idle")
    busy = use_api_token(login(hub_url, "busy"), hub_url, "busy")
    start_server(idle, hub_url, "idle")
    start_server(busy, hub_url, "busy")
    started = time.monotonic()

    idle_since = None  # the idle server's last activity, as the hub reports it
    stopped_at = None
    # Keep "busy" active through the proxy until three culler runs past the
    # timeout, and note when "idle" goes.
    while time.monotonic() < started + TIMEOUT + 3 * EVERY + 20:
        r = busy.get(f"{hub_url}/user/busy/api/contents", timeout=30)
        assert r.status_code == 200, r.status_code
        if stopped_at is None:
            users = {u["name"]: u for u in hub_api_as(token, hub_url, "GET", "/users").json()}
            server = users["idle"]["servers"].get("")
            if server:
                idle_since = datetime.fromisoformat(server["last_activity"].replace("Z", "+00:00"))
            else:
                stopped_at = datetime.now(timezone.utc)
        time.sleep(2)

    assert stopped_at is not None, "the idle server was never culled"
    idle_for = (stopped_at - idle_since).total_seconds()
    print(f"idle server stopped after {idle_for:.0f}s without activity: {idle_for - TIMEOUT:.0f}s after the"
          f" {TIMEOUT}s timeout (culler runs every {EVERY}s; +2s polling resolution)")
    assert TIMEOUT <= idle_for <= TIMEOUT + EVERY + 20
    assert server_running(token, hub_url, "busy"), "the busy server was culled"
    # With culler_users off the user stays.
    assert "idle" in user_names(token, hub_url)


def test_with_culler_users_on_an_idle_user_is_removed(host, hub_url):
    result = run_site("-e", json.dumps({"culler_users": True}), "--tags", "culler")
    assert result.returncode == 0, result.stdout[-3000:]
    token = culler_token(host)
    assert "admin:users" in set(hub_api_as(token, hub_url, "GET", "/user").json()["scopes"])
    session = login(hub_url, "passerby")
    start_server(session, hub_url, "passerby")
    wait_until(lambda: "passerby" not in user_names(culler_token(host), hub_url),
               timeout=TIMEOUT + 3 * EVERY + 60, interval=2, what="the idle user to be removed")


def test_disabling_the_culler_removes_it_cleanly(host, hub_url):
    # A complete run (no --tags): only that sees every role's part and removes the rest.
    result = run_site("-e", json.dumps({"culler_enabled": False}))
    assert result.returncode == 0, result.stdout[-3000:]
    assert not host.file(f"{BASE}/config.d/50-idle-culler.py").exists
    assert not host.file(f"{BASE}/unopinionated_jupyterhub_idle_culler.py").exists
    assert host.run("pgrep -f '[j]upyterhub_idle_culler'").rc != 0
    assert https_session().get(f"{hub_url}/hub/api/", timeout=30).status_code == 200
    # Converging back to the scenario's settings brings it back.
    result = run_site("--tags", "culler")
    assert result.returncode == 0, result.stdout[-3000:]
    assert host.file(f"{BASE}/config.d/50-idle-culler.py").exists
    assert host.file(f"{BASE}/unopinionated_jupyterhub_idle_culler.py").mode == 0o644


def test_the_sites_extra_ca_certificate_is_trusted(host):
    pem = host.file("/usr/local/share/ca-certificates/jupyterhub-test-ca.crt")
    assert pem.exists and pem.mode == 0o644
    body = "".join(line for line in pem.content_string.splitlines() if "-----" not in line)
    bundle = "".join(host.file("/etc/ssl/certs/ca-certificates.crt").content_string.splitlines())
    assert body in bundle


def test_the_hub_and_proxy_envs_came_from_the_local_wheelhouse(host):
    # The scenario points pip's index at an empty local directory: every package
    # had to come from the wheelhouse, PyPI was never asked.
    assert host.file("/srv/wheelhouse/empty-index").is_directory
    assert host.run("ls /srv/wheelhouse/empty-index | wc -l").stdout.strip() == "0"
    freeze = host.check_output(f"{BASE}/env/bin/pip freeze")
    for line in ("jupyterhub==6.1.1", "jupyterhub-idle-culler==2.0.0"):
        assert line in freeze.splitlines()
        name, version = line.split("==")
        assert host.run(f"ls /srv/wheelhouse | grep -i '^{name.replace('-', '_')}-{version}-'").rc == 0
    assert host.file(f"{BASE}/proxy/env/bin/traefik").exists
