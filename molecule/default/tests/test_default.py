"""The default scenario: one Debian 12 host with traefik and the hub."""

import threading
import time
from urllib.parse import quote

import pytest
import requests

from ujh_testlib import (
    BASE, SECRETS, STATE, api, https_session, login, use_api_token, server_status, start_server,
    unit_pid, wait_until,
)


def test_both_units_are_active_and_enabled(host):
    for unit in ("jupyterhub-proxy.service", "jupyterhub.service"):
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit


def test_hub_runs_as_its_own_unprivileged_user(host):
    user = host.check_output("systemctl show -p User --value jupyterhub.service")
    assert user == "jupyterhub"
    pid = unit_pid(host, "jupyterhub.service")
    assert host.check_output(f"ps -o user= -p {pid}") == "jupyterhub"
    assert host.check_output(f"grep ^CapEff /proc/{pid}/status").split()[1] == "0000000000000000"


def test_the_hub_env_leaves_out_jsonschemas_slow_optional_import(host):
    # roles/_common/files/unopinionated_jupyterhub.pth: rfc3987_syntax took 1.8 s of every hub start.
    code = "import sys, jupyter_events.logger; print(sys.modules['rfc3987_syntax'])"
    assert host.check_output(f'{BASE}/env/bin/python -c "{code}"') == "None"


def test_traefik_runs_as_www_data_with_only_net_bind_service(host):
    pid = unit_pid(host, "jupyterhub-proxy.service")
    assert host.check_output(f"ps -o user= -p {pid}") == "www-data"
    # CAP_NET_BIND_SERVICE is bit 10; nothing else, no CAP_DAC_*.
    cap_eff = int(host.check_output(f"grep ^CapEff /proc/{pid}/status").split()[1], 16)
    cap_bnd = int(host.check_output(f"grep ^CapBnd /proc/{pid}/status").split()[1], 16)
    assert cap_eff == 1 << 10
    assert cap_bnd == 1 << 10


def test_traefik_runs_with_the_roles_gc_settings(host):
    # proxy_go_gc_percent, proxy_go_memory_limit_mib (defaults): in the running process, not only the unit.
    pid = unit_pid(host, "jupyterhub-proxy.service")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    assert "GOGC=400" in environ
    assert "GOMEMLIMIT=512MiB" in environ


def test_login_page_answers_through_traefik_over_https(hub_url):
    r = https_session().get(f"{hub_url}/hub/login", timeout=30)
    assert r.status_code == 200
    assert "<form" in r.text


def test_http_redirects_to_https(hub_url):
    http_url = hub_url.replace("https://", "http://")
    r = https_session().get(f"{http_url}/hub/login", allow_redirects=False, timeout=30)
    assert r.status_code in (301, 308)
    assert r.headers["Location"].startswith("https://")


def test_traefik_serves_the_roles_certificate(host, hub_url):
    import ssl
    from urllib.parse import urlsplit

    served = ssl.get_server_certificate((urlsplit(hub_url).hostname, 443))
    on_disk = host.file(f"{BASE}/proxy/tls/cert.pem").content_string
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(on_disk)


def test_traefik_api_listens_on_loopback_only(host, hub_url):
    listeners = host.check_output("ss -Hltn 'sport = :8099'")
    assert "127.0.0.1:8099" in listeners
    assert "0.0.0.0:8099" not in listeners and "*:8099" not in listeners
    ip = hub_url.removeprefix("https://")
    with pytest.raises(requests.exceptions.ConnectionError):
        https_session().get(f"http://{ip}:8099/api/rawdata", timeout=10)
    # On loopback it wants the hub's credentials.
    assert host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8099/api/rawdata").stdout == "401"


def test_secrets_are_private_and_unchanged_by_later_converges(host):
    for name in SECRETS:
        f = host.file(f"{STATE}/{name}")
        assert f.exists, name
        assert f.mode == 0o600, name
        assert f.user == "jupyterhub", name
    # Recorded by molecule/shared/converge.yml after the first converge; the
    # idempotence run converged again since.
    assert host.run("sha256sum -c --quiet /root/first-converge-secrets.sha256").rc == 0
    assert host.file(STATE).mode == 0o700


def test_routes_written_by_the_hub_are_readable_by_traefik_only(host):
    store = f"{BASE}/proxy/routes"
    # rules.yaml, the shards (the hub's own route is in one) and the hub's records of them.
    written = host.check_output(f"find {store}/rules*.yaml {store}/.records -type f").split()
    assert f"{store}/rules.yaml" in written and len(written) >= 3, written
    for path in written:
        routes = host.file(path)
        assert (routes.user, routes.group, routes.mode) == ("jupyterhub", "jupyterhub-routes", 0o640), path
        assert host.run(f"sudo -u www-data -g www-data cat {path}").rc != 0, \
            "www-data alone must not read routes; traefik reads them through its supplementary group"
        assert host.run(f"sudo -u nobody cat {path}").rc != 0
    for directory in (f"{store}/.records", f"{store}/.staging"):
        found = host.file(directory)
        # traefik lists them (it reads the store's subdirectories); setgid is inherited from the store
        assert (found.user, found.group, found.mode & 0o777) == ("jupyterhub", "jupyterhub-routes", 0o770), directory
    assert host.check_output(f"ls -A {store}/.staging") == "", "a temp file left behind"


def test_traefik_reads_its_own_files_and_the_routes_and_nothing_of_the_hub(host):
    # Issue 25: traefik (internet-facing) was in the hub's group, which reads config.d
    # (where sites put OAuth and LDAP secrets) and database.json. Now it is only in the
    # route store's group. As traefik's user with the groups its unit gives it:
    as_traefik = "setpriv --reuid=www-data --regid=www-data --groups=jupyterhub-routes "
    for readable in (f"{BASE}/proxy/routes/rules.yaml", f"{BASE}/proxy/routes/00-proxy.toml",
                     f"{BASE}/proxy/traefik.toml", f"{BASE}/proxy/tls/key.pem"):
        assert host.run(as_traefik + f"cat {readable}").rc == 0, readable
    for private in (f"{BASE}/config.d/10-test-auth.py", f"{BASE}/jupyterhub_config.py", f"{BASE}/hub.env",
                    f"{STATE}/proxy_api_password", f"{STATE}/jupyterhub.sqlite"):
        result = host.run(as_traefik + f"cat {private}")
        assert result.rc != 0 and "Permission denied" in result.stderr, (private, result.stderr)
    groups = host.check_output("systemctl show -p SupplementaryGroups --value jupyterhub-proxy.service")
    assert groups.split() == ["jupyterhub-routes"]


@pytest.fixture(scope="module")
def alice(hub_url):
    session = login(hub_url, "alice")
    start_server(session, hub_url, "alice")
    use_api_token(session, hub_url, "alice")
    return session


def test_a_user_logs_in_and_their_server_answers_through_the_proxy(alice, hub_url):
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(server_status(alice, hub_url, "alice")),
                   timeout=60, what="alice's /api/status through traefik")
    assert "started" in r.json()


def test_hub_restart_keeps_traefik_and_the_users_server(alice, host, hub_url):
    proxy_pid = unit_pid(host, "jupyterhub-proxy.service")
    hub_pid = unit_pid(host, "jupyterhub.service")
    assert server_status(alice, hub_url, "alice").status_code == 200

    failures, answers = [], []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                code = server_status(alice, hub_url, "alice").status_code
            except requests.RequestException as exc:
                code = repr(exc)
            (answers if code == 200 else failures).append(code)
            time.sleep(0.1)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        host.check_output("systemctl restart jupyterhub.service")
        wait_until(lambda: unit_pid(host, "jupyterhub.service") not in (0, hub_pid), what="a new hub process")
        wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0,
                   what="the restarted hub's health")
    finally:
        stop.set()
        poller.join()

    assert unit_pid(host, "jupyterhub-proxy.service") == proxy_pid, "traefik was restarted"
    assert failures == [], f"the server stopped answering during the hub restart: {failures[:5]}"
    assert len(answers) >= 5
    assert server_status(alice, hub_url, "alice").status_code == 200
    # And the hub still knows the server after its restart.
    assert api(alice, hub_url, "GET", "/users/alice").json()["servers"][""]["ready"]


def test_traefik_restart_reloads_routes_from_the_store(alice, host, hub_url):
    # jupyterhub-traefik-proxy #247: a restarted traefik must not lose routes.
    host.check_output("systemctl restart jupyterhub-proxy.service")
    wait_until(lambda: server_status(alice, hub_url, "alice").status_code == 200,
               what="alice's server through the restarted traefik")


# Issue 25: this name made traefik send /hub/login and every other URL to its server;
# "{{" made traefik refuse the whole route file (every route gone after a restart).
HOSTILE_NAMES = ["x`)||pathregexp(`.*", "bob{{ .env.home }}"]  # lower case: JupyterHub lowers names


def test_hostile_user_names_reach_only_their_own_servers_also_after_a_traefik_restart(alice, host, hub_url):
    sessions = {}
    for name in HOSTILE_NAMES:
        sessions[name] = login(hub_url, name)
        start_server(sessions[name], hub_url, quote(name, safe="@~"))
        use_api_token(sessions[name], hub_url, quote(name, safe="@~"))

    def every_url_reaches_its_own_target():
        visitor = https_session()
        # The hub itself answers its API root and login page (a user's server would 404).
        version = visitor.get(f"{hub_url}/hub/api", timeout=30)
        assert version.status_code == 200 and "version" in version.json(), version.text[:200]
        assert 'name="password"' in visitor.get(f"{hub_url}/hub/login", timeout=30).text
        assert server_status(alice, hub_url, "alice").status_code == 200
        for name, session in sessions.items():
            status = session.get(f"{hub_url}/user/{quote(name, safe='@~')}/api/status", timeout=30)
            assert status.status_code == 200 and "started" in status.json(), (name, status.status_code)
        return True

    wait_until(every_url_reaches_its_own_target, timeout=60, what="every route to reach its own target")
    host.check_output("systemctl restart jupyterhub-proxy.service")
    wait_until(every_url_reaches_its_own_target, timeout=60, what="every route after traefik's restart")
    assert "error" not in host.check_output(
        "journalctl -u jupyterhub-proxy.service --since '-2min' -o cat | grep -i 'rules' || true").lower()
    for name, session in sessions.items():
        api(session, hub_url, "DELETE", f"/users/{quote(name, safe='@~')}/server")


def test_a_new_proxy_api_password_reaches_traefik(alice, host, hub_url):
    # The hub writes traefik's API credential (a bcrypt hash) into the route file.
    # Upstream keeps the first hash it ever wrote, so a new password (a site that
    # sets hub_proxy_api_password, or deletes the file to have one generated) locked
    # the hub out of traefik's API: every spawn then failed after 30 s.
    secret = f"{STATE}/proxy_api_password"
    # The file's exact bytes back afterwards (a printf of its repr wrote a literal backslash-n:
    # each run grew the password, until bcrypt's 72 bytes stopped the hub).
    host.check_output(f"cp -p {secret} /root/proxy_api_password.before-test")
    try:
        host.check_output(f"printf 'a-new-proxy-api-password-0123456789\\n' > {secret}")
        host.check_output("systemctl restart jupyterhub.service")
        wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0,
                   what="the hub's health with the new password")
        # Starting a server adds its route, which the hub waits for through traefik's API.
        carol = login(hub_url, "carol")
        start_server(carol, hub_url, "carol", timeout=60)
        assert server_status(alice, hub_url, "alice").status_code == 200
        # 73 bytes: bcrypt reads 72. The hub used to start with traefik's old hash (every spawn then
        # failed on its 401s); it stops, and its journal says why.
        since = host.check_output("date +%s")
        host.check_output(f"printf '%s\\n' {'p' * 73} > {secret}")
        host.run("systemctl restart jupyterhub.service")
        wait_until(lambda: "is 73 bytes: bcrypt, which traefik checks it with, takes 72 at most" in host.check_output(
            f"journalctl -u jupyterhub.service --since @{since} -o cat"), timeout=60, what="the hub to refuse 73 bytes")
        assert host.run("curl -sf http://127.0.0.1:8081/hub/health").rc != 0
    finally:
        host.check_output(f"cp -p /root/proxy_api_password.before-test {secret} && systemctl reset-failed jupyterhub.service && systemctl restart jupyterhub.service")
        wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0,
                   what="the hub's health with its password back")
