"""The ephemeral hub: temporary users behind one password, throwaway servers."""

import datetime
import json
import re
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from ephemeral import (
    DYNAMIC_UIDS, GROUP_VARS, MAX_FAILURES, PASSWORD, USER_ENV, WINDOW, access_code, fresh_login_window, hub_users,
    ip_firewall_enforced, logins_from_the_host, network_code, service, stop_server, unit, visit, visitor_with_server,
)
from ujh_testlib import CONFIG_D, STATE, api, exposure, recap, run_in_kernel, run_site, server_status, unit_pid, wait_until


def test_login_page_asks_only_for_the_site_password(hub_url):
    page = service(hub_url).get(f"{hub_url}/hub/login", timeout=30).text
    assert 'name="password"' in page
    assert 'name="username"' not in page
    assert "Start a temporary session" in page


def test_wrong_password_creates_nothing(hub_url):
    before = set(hub_users(hub_url))
    _, r = visit(hub_url, password="not-the-password")
    assert r.status_code == 403 and "Wrong password" in r.text, r.text[:300]
    assert set(hub_users(hub_url)) == before


def test_right_password_makes_a_new_uuid_user_each_time(hub_url):
    before = set(hub_users(hub_url))
    names = []
    for _ in range(2):
        s, r = visit(hub_url)
        assert r.status_code == 302, r.text[:300]
        names.append(api(s, hub_url, "GET", "/user").json()["name"])
    assert names[0] != names[1]
    assert all(str(uuid.UUID(n)) == n for n in names), names
    assert set(hub_users(hub_url)) - before == set(names)


def test_server_runs_as_a_dynamic_user_with_limits(host, hub_url):
    _, name, token = visitor_with_server(hub_url)
    out, error = run_in_kernel(hub_url, name, token,
                               "import os, json; print(json.dumps([os.getuid(), os.getcwd()]))")
    assert error is None
    uid, cwd = json.loads(out)
    assert uid in DYNAMIC_UIDS, uid
    assert cwd in (f"/var/lib/{name}", f"/var/lib/private/{name}")  # DynamicUser's symlink
    assert f":{uid}:" not in host.file("/etc/passwd").content_string

    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            f"systemctl show {unit(name)} -p DynamicUser -p PrivateTmp -p NoNewPrivileges "
            "-p MemoryMax -p CPUQuotaPerSecUSec -p TasksMax -p Slice -p ProtectProc -p ControlGroup"
        ).splitlines()
    )
    assert props["DynamicUser"] == "yes" and props["PrivateTmp"] == "yes"
    assert props["NoNewPrivileges"] == "yes" and props["ProtectProc"] == "invisible"
    assert props["MemoryMax"] == str(1024**3)
    assert props["CPUQuotaPerSecUSec"] == "1s"
    assert props["TasksMax"] == "512"
    assert props["Slice"] == "jupyterhub-users.slice"
    # The kernel enforces the memory limit (not just systemd's bookkeeping).
    cgroup = props["ControlGroup"]
    limit_files = [f"/sys/fs/cgroup{cgroup}/memory.max", f"/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes"]
    limits = [host.file(f).content_string.strip() for f in limit_files if host.file(f).exists]
    assert limits == [str(1024**3)], (limit_files, limits)
    stop_server(host, hub_url, name)


def test_a_server_is_confined_and_still_runs_kernels_pip_and_the_hub_api(host, hub_url):
    _, name, token = visitor_with_server(hub_url)
    props = dict(line.split("=", 1) for line in host.check_output(
        f"systemctl show {unit(name)} -p RestrictNamespaces -p NoNewPrivileges -p SystemCallFilter "
        "-p SystemCallArchitectures -p LockPersonality -p RestrictAddressFamilies -p IPAddressDeny"
    ).splitlines())
    assert props["RestrictNamespaces"] == "yes" and props["NoNewPrivileges"] == "yes", props
    assert props["SystemCallFilter"] and props["SystemCallArchitectures"] == "native", props
    assert props["LockPersonality"] == "yes", props
    assert "169.254.0.0/16" in props["IPAddressDeny"] and "fe80::/10" in props["IPAddressDeny"], props
    # systemd-analyze security: 6.1 MEDIUM before this confinement, 1.4 with it.
    assert exposure(host, unit(name)) <= 3.0
    # From inside the server (a kernel it started, as the user, in the unit's confinement).
    out, error = run_in_kernel(hub_url, name, token, (
        "import json, os, subprocess, sys, urllib.request\n"
        "result = {}\n"
        "p = subprocess.run(['unshare', '-U', '-r', 'id'], capture_output=True, text=True)\n"
        "result['unshare'] = [p.returncode, (p.stdout + p.stderr).strip()]\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        "with opener.open(os.environ['JUPYTERHUB_API_URL'] + '/', timeout=10) as r:\n"
        "    result['hub api'] = [r.status, json.load(r).get('version')]\n"
        "p = subprocess.run([sys.executable, '-m', 'pip', 'install', '--user', '--no-index', '--no-deps',\n"
        "                    '--find-links', '/srv/wheelhouse', 'escapism'], capture_output=True, text=True)\n"
        "result['pip'] = [p.returncode, p.stderr[-500:]]\n"
        "p = subprocess.run([sys.executable, '-c', 'import escapism; print(escapism.__file__)'],\n"
        "                   capture_output=True, text=True)\n"
        "result['import'] = (p.stdout + p.stderr).strip()\n"
        "print(json.dumps(result))\n"
    ), timeout=180)
    assert error is None
    result = json.loads(out)
    print(f"\n[ephemeral] inside a server: {result}")
    assert result["unshare"][0] != 0 and "uid=0" not in result["unshare"][1], result["unshare"]
    assert result["hub api"][0] == 200, result
    assert result["pip"][0] == 0, result["pip"]
    assert result["import"].startswith((f"/var/lib/{name}/.local/", f"/var/lib/private/{name}/.local/")), result
    stop_server(host, hub_url, name)


def test_a_server_reaches_neither_the_metadata_service_nor_the_hosts_private_address(host, hub_url):
    if not ip_firewall_enforced(host):
        pytest.skip("this host's kernel does not enforce systemd's IPAddressDeny= (cgroup BPF): "
                    "the egress rules cannot be checked here")
    own = host.check_output("hostname -I").split()[0]  # the host's address on the test network
    assert own.startswith(("10.", "172.", "192.168.")), own
    _, name, token = visitor_with_server(hub_url)
    out, error = run_in_kernel(hub_url, name, token, network_code(
        udp=["169.254.169.254", own], tcp=[("169.254.169.254", 80), (own, 443), ("127.0.0.1", 443)]))
    assert error is None
    result = json.loads(out)
    print(f"\n[ephemeral] network from a server: {result}")
    # The BPF firewall refuses a datagram at once (EPERM); it drops a TCP SYN, so a connection
    # times out. Loopback stays open (traefik answers there; README: what remains reachable).
    assert result["udp 169.254.169.254"] == result[f"udp {own}"] == "PermissionError", result
    assert result["tcp 169.254.169.254:80"] != "connected" and result[f"tcp {own}:443"] != "connected", result
    assert result["tcp 127.0.0.1:443"] == "connected", result
    stop_server(host, hub_url, name)


def test_visitors_send_no_mail_and_their_listening_sockets_do_not_face_out(host, hub_url):
    # Issue 25: the role's nftables table (visitors-firewall.nft, loaded before every hub
    # start) for systemd's dynamic users, whatever the host firewall does.
    assert "meta skuid 61184-65519" in host.check_output("nft list table inet unopinionated_jupyterhub_visitors")
    own = host.check_output("hostname -I").split()[0]
    listeners = {"ujh-test-mail": "127.0.0.1 465", "ujh-test-root": "0.0.0.0 9998"}
    for unit_name, address_port in listeners.items():
        address, port = address_port.split()
        host.check_output(f"systemd-run --unit {unit_name} --collect python3 -m http.server --bind {address} {port}")
    # A listener of a dynamic user (a visitor's server could start one) on every address.
    host.check_output("systemd-run --unit ujh-test-visitor --collect -p DynamicUser=yes "
                      "python3 -m http.server --bind 0.0.0.0 9999")
    direct = requests.Session()
    direct.trust_env = False  # straight to the host, not through the runner's proxy
    try:
        wait_until(lambda: all(host.run(f"curl -so /dev/null http://127.0.0.1:{port}/").rc == 0
                               for port in (465, 9998, 9999)), what="the test's listeners")
        # Mail: a visitor's kernel is refused a mail port even on loopback; other ports answer.
        _, name, token = visitor_with_server(hub_url)
        out, error = run_in_kernel(hub_url, name, token, network_code(tcp=[("127.0.0.1", 465), ("127.0.0.1", 9998)]))
        assert error is None
        result = json.loads(out)
        assert result == {"tcp 127.0.0.1:465": "ConnectionRefusedError", "tcp 127.0.0.1:9998": "connected"}, result
        stop_server(host, hub_url, name)
        # Facing out: from off the host (this runner), root's listener answers, the dynamic
        # user's does not (its replies are dropped: the connection times out).
        assert direct.get(f"http://{own}:9998/", timeout=10).status_code == 200
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            direct.get(f"http://{own}:9999/", timeout=5)
    finally:
        host.run("systemctl stop " + " ".join(list(listeners) + ["ujh-test-visitor"]))
    counters = re.findall(r"counter packets \d+", host.check_output("nft list table inet unopinionated_jupyterhub_visitors"))
    print(f"\n[ephemeral] the visitors' firewall (mail, facing out): {counters}")


def test_the_users_env_leaves_out_jsonschemas_slow_optional_import(host):
    # roles/_common/files/unopinionated_jupyterhub.pth: rfc3987_syntax took 1.8 s of every server start.
    code = "import sys, jupyter_server.serverapp; print(sys.modules['rfc3987_syntax'])"
    assert host.check_output(f'{USER_ENV}/bin/python -c "{code}"') == "None"


def test_two_visitors_cannot_read_each_others_files(host, hub_url):
    _, a, token_a = visitor_with_server(hub_url)
    _, b, token_b = visitor_with_server(hub_url)
    out, error = run_in_kernel(hub_url, a, token_a, (
        "import os\n"
        "open(os.path.expanduser('~/secret.txt'), 'w').write('a')\n"
        "open('/tmp/secret-a', 'w').write('a')\n"
        "print(os.getuid())"
    ))
    assert error is None
    uid_a = int(out)
    assert host.file(f"/var/lib/private/{a}/secret.txt").exists  # it is there on the host
    paths = [f"/var/lib/{a}/secret.txt", f"/var/lib/private/{a}/secret.txt", "/tmp/secret-a"]
    out, error = run_in_kernel(hub_url, b, token_b, access_code(reads=paths))
    assert error is None
    assert "read" not in json.loads(out).values(), out
    out, error = run_in_kernel(hub_url, b, token_b, (
        "import os\n"
        "foreign = 0\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        foreign += os.stat('/proc/' + p).st_uid != os.getuid()\n"
        "    except FileNotFoundError:  # exited meanwhile\n"
        "        pass\n"
        "print(os.getuid(), foreign)"
    ))
    assert error is None
    uid_b, foreign = map(int, out.split())
    assert uid_b != uid_a
    assert foreign == 0, "another user's (or root's) processes are visible"
    for name in (a, b):
        stop_server(host, hub_url, name)


# A daemon-reload while the server runs (every converge did one): systemd 252 then forgets
# the unit's ExecStopPost (ExecStopPostEx= in the transient unit), and the hub removes the home.
@pytest.mark.parametrize("reload", [False, True], ids=["", "after-a-daemon-reload"])
def test_nothing_the_user_wrote_remains_after_the_server_stops(host, hub_url, reload):
    _, name, token = visitor_with_server(hub_url)
    marker = f"marker-{uuid.uuid4().hex}"
    out, error = run_in_kernel(hub_url, name, token, (
        "import os\n"
        f"for d in [os.path.expanduser('~'), '/tmp', '/var/tmp']:\n"
        f"    open(os.path.join(d, '{marker}'), 'w').write('x' * 1000)\n"
        "print(os.getuid())"
    ))
    assert error is None
    uid = int(out)
    find = f"find / /run /tmp /var/tmp -xdev -name '{marker}*' 2>/dev/null | sort -u"
    assert len(host.run(find).stdout.split()) == 3  # home, private /tmp, private /var/tmp
    if reload:
        host.check_output("systemctl daemon-reload")
    stop_server(host, hub_url, name)
    # the hub's own removal, if any, follows the stop
    wait_until(lambda: host.run(find).stdout.split() == [], timeout=60, what=f"{name}'s files to be removed")
    assert not host.file(f"/var/lib/private/{name}").exists, host.run(f"journalctl -u {unit(name)} -n 20").stdout
    assert not host.file(f"/var/lib/{name}").is_symlink
    # The server's environment file (it held its API token) went with it.
    assert host.run(f"ls -d /run/jupyterhub-spawner/{name} /run/private/jupyterhub-spawner/{name}").rc != 0
    assert host.file("/srv/teaching/README.md").exists  # the shared directory was not touched
    assert host.run(f"getent passwd {uid}").rc != 0
    assert f":{uid}:" not in host.file("/etc/passwd").content_string


def test_shared_directory_is_readable_not_writable(host, hub_url):
    _, name, token = visitor_with_server(hub_url)
    out, error = run_in_kernel(hub_url, name, token, "print(open('teaching/README.md').read(), end='')")
    assert (out, error) == ("Welcome to the course.\n", None)
    out, error = run_in_kernel(hub_url, name, token, access_code(writes=["~/teaching/new.txt", "/srv/teaching/new.txt"]))
    assert error is None
    assert "written" not in json.loads(out).values(), out
    assert not host.file("/srv/teaching/new.txt").exists
    stop_server(host, hub_url, name)


def test_hub_restart_keeps_servers(host, hub_url):
    _, name, token = visitor_with_server(hub_url)
    pid = unit_pid(host, unit(name))
    host.check_output("systemctl restart jupyterhub")
    wait_until(lambda: service(hub_url).get(f"{hub_url}/hub/health", timeout=10).status_code == 200,
               timeout=120, what="the hub to come back")
    assert unit_pid(host, unit(name)) == pid
    s = service(hub_url)
    s.headers["Authorization"] = f"token {token}"
    assert wait_until(lambda: server_status(s, hub_url, name).status_code == 200,
                      timeout=60, what="the server to answer after the hub restart")
    assert hub_users(hub_url)[name]["servers"][""]["ready"]
    stop_server(host, hub_url, name)


def test_a_new_route_moves_from_the_recent_traefik_to_the_main_one_and_survives_their_restarts(host, hub_url):
    # jupyterhub_proxy_recent_tier: a visitor's route is written to the recent tier's store, and
    # moved to the main one within compact_seconds (30 s; checked every 5 s); the hub's own route
    # stays in the recent tier. A local account that connects to the recent traefik reaches nothing.
    _, name, token = visitor_with_server(hub_url)
    s = service(hub_url)
    s.headers["Authorization"] = f"token {token}"

    def stores():
        found = {}
        for tier, records in (("recent", "/opt/jupyterhub/proxy/routes-recent/.records"),
                              ("main", "/opt/jupyterhub/proxy/routes/.records")):
            for text in host.check_output(f"cat {records}/*.json").splitlines():
                for route in json.loads(text)["jupyterhub"]["routes"].values():
                    found.setdefault(route["routespec"], set()).add(tier)
        return found

    wait_until(lambda: stores().get(f"/user/{name}/") == {"main"}, timeout=120,
               what="the visitor's route to move to the main traefik")
    assert stores()["/"] == {"recent"}
    for headers in ("", "-H 'X-Unopinionated-Proxy-Tier: forged' -H 'X-Real-Ip: 203.0.113.9'"):
        code = host.check_output(f"runuser -u nobody -- curl -s -o /dev/null -w '%{{http_code}}' {headers} "
                                 f"http://127.0.0.1:8097/user/{name}/api/status")
        assert code == "404", code
    for restarted in ("jupyterhub-proxy-recent", "jupyterhub-proxy"):  # the main one restarts both
        host.check_output(f"systemctl restart {restarted}")
        wait_until(lambda: server_status(s, hub_url, name).status_code == 200, timeout=60,
                   what=f"the server to answer after {restarted} restarted")
        wait_until(lambda: service(hub_url).get(f"{hub_url}/hub/health", timeout=10).status_code == 200,
                   timeout=60, what=f"the hub to answer after {restarted} restarted")
    stop_server(host, hub_url, name)


def test_a_poll_systemd_does_not_answer_keeps_the_server(host, hub_url):
    """systemd refusing the hub's question (as PID 1 can under load) is not a stopped server."""
    _, name, token = visitor_with_server(hub_url)
    pid = unit_pid(host, unit(name))
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    # The hub is root without CAP_DAC_OVERRIDE: a socket mode of 000 refuses it
    # (and only it; the tests' root keeps the capability). Both of PID 1's
    # sockets: systemctl as root falls back to the D-Bus one (systemd 252 does;
    # 257 does not).
    sockets = "/run/systemd/private /run/dbus/system_bus_socket"
    modes = host.check_output(f"stat -c '%a %n' {sockets}").splitlines()
    host.check_output(f"chmod 000 {sockets}")
    try:
        wait_until(lambda: "did not say whether" in host.check_output(
                       f"journalctl -u jupyterhub --since '{since}' --no-pager -o cat"),
                   timeout=120, what="the hub's next poll of the server")
    finally:
        for line in modes:
            host.check_output(f"chmod {line}")
    assert unit_pid(host, unit(name)) == pid
    assert hub_users(hub_url)[name]["servers"][""]["ready"]
    s = service(hub_url)
    s.headers["Authorization"] = f"token {token}"
    assert server_status(s, hub_url, name).status_code == 200
    stop_server(host, hub_url, name)


def test_hub_runs_as_root_with_every_other_hardening(host):
    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            "systemctl show jupyterhub -p User -p NoNewPrivileges -p CapabilityBoundingSet "
            "-p ProtectSystem -p ProtectHome -p RestrictSUIDSGID -p SystemCallFilter"
        ).splitlines()
    )
    assert props["User"] == "root"
    assert props["NoNewPrivileges"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert props["ProtectSystem"] == "strict" and props["ProtectHome"] == "yes"
    assert props["RestrictSUIDSGID"] == "yes"
    assert props["SystemCallFilter"]  # an allow list is in force
    assert exposure(host, "jupyterhub.service") <= 2.0


def test_one_culler_stops_idle_servers_another_deletes_users_idle_for_30_days(host):
    cullers = host.check_output("ps -eo args | grep '[j]upyterhub_idle_culler'").splitlines()
    servers = [args for args in cullers if "--timeout=3600" in args]
    users = [args for args in cullers if "--timeout=2592000" in args]
    assert len(cullers) == 2 and len(servers) == 1 and len(users) == 1, cullers
    assert "--cull-users=False" in servers[0] and "--cull-users=True" in users[0], cullers


def test_visitors_idle_for_30_days_are_deleted_and_recent_ones_kept(host, hub_url):
    def visitor():
        session, r = visit(hub_url)
        assert r.status_code == 302, r.status_code
        return api(session, hub_url, "GET", "/user").json()["name"]

    fresh_login_window(hub_url)
    old, recent = visitor(), visitor()
    host.check_output("systemctl stop jupyterhub.service")
    for name, days in ((old, 31), (recent, 29)):
        sql = f"update users set last_activity = datetime('now', '-{days} days') where name = '{name}'"
        host.check_output(f'python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); '
                          f'db.execute(sys.argv[2]); db.commit()" {STATE}/jupyterhub.sqlite "{sql}"')
    host.check_output("systemctl start jupyterhub.service")
    # The user culler looks once when the hub starts it, then every culler_every.
    wait_until(lambda: old not in hub_users(hub_url), timeout=120, what=f"{old} (idle 31 days) to be deleted")
    assert recent in hub_users(hub_url)


def test_crash_leftovers_are_removed_at_boot(host):
    leftover = str(uuid.uuid4())
    keep = "not-a-temporary-user"
    host.check_output(f"mkdir -p /var/lib/private/{leftover} /var/lib/private/{keep} "
                      f"&& touch /var/lib/private/{leftover}/notes.txt")
    host.check_output("systemd-tmpfiles --remove --boot /etc/tmpfiles.d/jupyterhub-temporary-users.conf")
    assert not host.file(f"/var/lib/private/{leftover}").exists
    assert host.file(f"/var/lib/private/{keep}").is_directory
    host.check_output(f"rmdir /var/lib/private/{keep}")


def test_a_visitors_api_tokens_expire_with_the_session(hub_url):
    # Issue 25: temporary users' API tokens never expired, so a rotated shared password
    # left every earlier visitor's tokens valid (and cookies for JupyterHub's 14 days).
    hours = GROUP_VARS["systemd_spawner_session_max_hours"]
    s, r = visit(hub_url)
    assert r.status_code == 302, r.status_code
    name = api(s, hub_url, "GET", "/user").json()["name"]
    r = api(s, hub_url, "POST", f"/users/{name}/tokens", json={"note": "no expiry asked for"})
    assert r.status_code in (200, 201), r.text
    expires = datetime.datetime.fromisoformat(r.json()["expires_at"].replace("Z", "+00:00"))
    left = expires - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=hours) - datetime.timedelta(minutes=5) < left <= datetime.timedelta(hours=hours)
    r = api(s, hub_url, "POST", f"/users/{name}/tokens", json={"expires_in": 30 * 86400})
    assert r.status_code == 400 and "must not exceed" in r.text, r.text


def test_wrong_passwords_are_throttled_per_address(host, hub_url):
    fresh_login_window(hub_url)
    before = set(hub_users(hub_url))
    for attempt in range(MAX_FAILURES):
        _, r = visit(hub_url, password=f"wrong-{attempt}")
        assert r.status_code == 403 and "Wrong password" in r.text, (attempt, r.status_code)
    started = time.monotonic()
    _, r = visit(hub_url, password="wrong-again")
    assert r.status_code == 429, r.status_code
    assert "Too many wrong passwords" in r.text
    _, r = visit(hub_url)  # even the right password waits while the address is throttled
    assert r.status_code == 429
    assert set(hub_users(hub_url)) == before
    # Another address is not affected: a visitor on the host itself (via traefik).
    assert logins_from_the_host(host, "https://127.0.0.1", PASSWORD) == ["302"]
    # The window passes and the address may log in again.
    wait_until(lambda: visit(hub_url)[1].status_code == 302, timeout=WINDOW + 30,
               what="the throttle to expire")
    print(f"\n[ephemeral] throttled after {MAX_FAILURES} wrong passwords; released after "
          f"{time.monotonic() - started:.0f} s (window {WINDOW} s)")


def test_a_forged_client_address_locks_nobody_out(host, hub_url):
    # Issue 25: the hub believed X-Real-Ip from any direct client, and users' servers reach
    # it on 127.0.0.1:8081: any of them could lock out any address (a classroom's NAT).
    # After the per-address test: the host's own address ends up throttled here.
    fresh_login_window(hub_url)
    since = host.check_output("date +%s")
    _, r = visit(hub_url, password="wrong-once")  # the hub logs the address traefik saw
    assert r.status_code == 403, r.status_code
    log = lambda: host.check_output(f"journalctl -u jupyterhub.service --since @{since} -o cat")  # noqa: E731
    wait_until(lambda: "Wrong shared password from " in log(), what="the hub to log the wrong password")
    runner = re.search(r"Wrong shared password from (\S+)", log()).group(1)
    # As a local account (what a user's server is), straight to the hub, in the runner's name.
    forged = logins_from_the_host(host, "http://127.0.0.1:8081", "forged", MAX_FAILURES + 1,
                                  {"X-Real-Ip": runner, "X-Forwarded-For": runner}, user="nobody")
    assert forged == ["403"] * MAX_FAILURES + ["429"], forged
    assert log().count("Wrong shared password from 127.0.0.1") == MAX_FAILURES, log()[-2000:]
    # Counted against the local peer, not the forged address: the runner still logs in.
    _, r = visit(hub_url)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    print(f"\n[ephemeral] {MAX_FAILURES + 1} logins forged from the host in the name of {runner}: "
          "counted against 127.0.0.1; that address still logs in")


def unit_story(host, name):
    """What the hub and systemd logged about one user's server (for a failure message)."""
    journal = "journalctl --no-pager -o short-precise"
    return host.run(
        f"{journal} -u jupyterhub | grep -e {name} | tail -20; {journal} -u {unit(name)} | tail -30"
    ).stdout


def _servers_memory(host):
    """Memory (cgroup accounting, bytes) of all users' servers together."""
    out = host.run(
        "for u in $(systemctl list-units --plain --no-legend 'jupyter-*-singleuser.service' | cut -d' ' -f1); "
        "do systemctl show -p MemoryCurrent --value $u; done"
    ).stdout.split()
    return sum(int(v) for v in out if v.isdigit()) if out and all(v.isdigit() for v in out) else None


def test_twenty_visitors_log_in_at_once(host, hub_url):
    count = 20
    fresh_login_window(hub_url)
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            value = _servers_memory(host)
            if value is not None:
                samples.append(value)
            done.wait(1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    since = host.check_output("date +%s")
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(count) as pool:
            visitors = list(pool.map(lambda _: visitor_with_server(hub_url, timeout=300), range(count)))
        all_ready = time.monotonic() - started
        names = [name for _, name, _ in visitors]
        assert len(set(names)) == count
        users = hub_users(hub_url)
        assert all(users[n]["servers"][""]["ready"] for n in names)
        states = host.check_output("systemctl is-active " + " ".join(unit(n) for n in names)).split()
        assert states == ["active"] * count, [
            (n, state, unit_story(host, n)) for n, state in zip(names, states) if state != "active"
        ]
        # More visitors than start slots (twice the CPUs): the later ones queued.
        journal = host.check_output(f"journalctl -u jupyterhub --since @{since} --no-pager")
        queued = re.findall(r"waits for one of (\d+) servers starting now", journal)
        assert queued and int(queued[0]) < count, journal[-3000:]
        done.wait(15)  # sample the idle sessions too
    finally:
        done.set()
        sampler.join()
    assert samples, "the servers report no MemoryCurrent (memory accounting is off)"
    peak = max(samples)
    print(f"\n[ephemeral] {count} concurrent logins -> all servers ready in {all_ready:.1f} s; "
          f"peak memory of all servers {peak / 2**20:.0f} MiB "
          f"({peak / count / 2**20:.0f} MiB per session; median sample {statistics.median(samples) / 2**20:.0f} MiB)")
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda n: stop_server(host, hub_url, n, timeout=180), names))


def test_bad_input_is_refused_before_anything_changes(host):
    fragment = f"{CONFIG_D}/45-systemd-spawner.py"
    before = host.check_output(f"stat -c %Y {fragment}")
    result = run_site("-e", "hub_run_as_root=false")
    assert result.returncode != 0
    assert "needs hub_run_as_root: true" in result.stdout + result.stderr, result.stderr[-2000:]
    assert recap(result).get("changed", 0) == 0
    result = run_site("-e", "systemd_spawner_shared_password=Xq7-pw")
    assert result.returncode != 0
    assert "systemd_spawner_shared_password must be set" in result.stdout + result.stderr, result.stderr[-2000:]
    assert "Xq7-pw" not in result.stdout + result.stderr
    assert recap(result).get("changed", 0) == 0
    assert host.check_output(f"stat -c %Y {fragment}") == before
