"""Fixtures and helpers shared by the molecule scenarios' testinfra tests.

Tests talk to the hosts through testinfra's podman connection (fast) and to
the hub over HTTPS from the controller, as a user's browser would.
"""

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests
import testinfra
import urllib3

import yaml

REPO = Path(__file__).resolve().parents[3]
# The collection's one reader of the lock grammar (the roles run it on the hosts).
_spec = importlib.util.spec_from_file_location("venv_check", REPO / "roles/_common/files/venv_check.py")
VENV_CHECK = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(VENV_CHECK)
SITE = REPO / "playbooks" / "site.yml"
UNINSTALL = REPO / "playbooks" / "uninstall.yml"
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")


def scenario_group_vars(scenario=SCENARIO):
    """The hub hosts' variables as Ansible sees them: the shared config's `all`, each one
    replaced as a whole by the scenario's `jupyterhub_hosts` (never merged)."""
    shared = yaml.safe_load((REPO / ".config" / "molecule" / "config.yml").read_text())
    config = yaml.safe_load((REPO / "molecule" / scenario / "molecule.yml").read_text()) or {}
    group_vars = config.get("provisioner", {}).get("inventory", {}).get("group_vars", {})
    return {**shared["provisioner"]["inventory"]["group_vars"]["all"], **group_vars.get("jupyterhub_hosts", {})}


def collection_default(name):
    defaults = yaml.safe_load((REPO / "roles" / "_common" / "defaults" / "main.yml").read_text())
    return defaults[name]


# The scenario's base directory, as its inventory sets it (or the collection's default).
BASE = scenario_group_vars().get("jupyterhub_base_dir", collection_default("jupyterhub_base_dir"))
STATE = f"{BASE}/state"
CONFIG_D = f"{BASE}/config.d"
DROPIN_DIR = "/etc/systemd/system/jupyterhub.service.d"
SECRETS = ["jupyterhub_cookie_secret", "crypt_key.env", "proxy_api_password"]


def wait_until(predicate, timeout=120, interval=0.5, what="condition"):
    """Poll predicate() until it returns a truthy value or timeout expires."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # keep polling; report the last error
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: last={last!r}")


def container_ip(name):
    out = subprocess.run(
        ["podman", "inspect", "-f", "{{json .NetworkSettings}}", name],
        check=True, capture_output=True, text=True,
    ).stdout
    settings = json.loads(out)
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if net.get("IPAddress"):
            return net["IPAddress"]
    raise AssertionError(f"no IP address for container {name}")


@pytest.fixture(scope="session")
def hub_host_name():
    # Each scenario names its (first) host ujh-<scenario>.
    return f"ujh-{SCENARIO}"


@pytest.fixture(scope="session")
def host(hub_host_name):
    return testinfra.get_host(f"podman://{hub_host_name}")


@pytest.fixture(scope="session")
def hub_url(hub_host_name):
    return f"https://{container_ip(hub_host_name)}"


def https_session():
    """A client for the hub's self-signed test certificate.

    Verification is off because the certificate names the container, not its IP;
    test_tls checks separately that traefik serves the role's certificate.
    """
    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
    s = requests.Session()
    s.verify = False
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxy to test hosts
    return s


def login(hub_url, username, password="any-password"):
    """Log in through the proxy with the login form, as a browser does."""
    s = https_session()
    r = s.get(f"{hub_url}/hub/login", timeout=30)
    r.raise_for_status()
    xsrf = next((c.value for c in s.cookies if c.name == "_xsrf"), "")
    r = s.post(
        f"{hub_url}/hub/login",
        data={"username": username, "password": password, "_xsrf": xsrf},
        timeout=60,
        allow_redirects=False,
    )
    assert r.status_code == 302, f"login failed: {r.status_code} {r.text[:300]}"
    assert s.cookies.get("jupyterhub-session-id") or any(
        c.name.startswith("jupyterhub-hub-login") for c in s.cookies
    ), "login did not set the hub cookie"
    return s


def api(session, hub_url, method, path, **kwargs):
    """Call the hub REST API with the logged-in session (XSRF header included)."""
    xsrf = next((c.value for c in session.cookies if c.name == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf}
    kwargs.setdefault("timeout", 60)
    return session.request(method, f"{hub_url}/hub/api{path}", headers=headers, **kwargs)


def start_server(session, hub_url, username, timeout=120):
    r = api(session, hub_url, "POST", f"/users/{username}/server")
    assert r.status_code in (201, 202, 400), r.text  # 400: already running
    return wait_until(
        lambda: api(session, hub_url, "GET", f"/users/{username}").json()["servers"].get("", {}).get("ready"),
        timeout=timeout,
        what=f"{username}'s server to be ready",
    )


def use_api_token(session, hub_url, username):
    """Give the session an API token of the user, as a script or client would use."""
    r = api(session, hub_url, "POST", f"/users/{username}/tokens", json={"note": "molecule test"})
    assert r.status_code in (200, 201), r.text
    session.headers["Authorization"] = f"token {r.json()['token']}"
    return session


def server_status(session, hub_url, username):
    """GET /user/<name>/api/status through the proxy (follows the OAuth dance)."""
    return session.get(f"{hub_url}/user/{username}/api/status", timeout=30)


def unit_pid(host, unit):
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def exposure(host, unit):
    """systemd-analyze security's overall exposure score of a unit (0.0 safest .. 10.0)."""
    last = host.check_output(f"systemd-analyze security {unit} --no-pager | tail -1")
    print(f"\n[exposure] {last}")
    return float(last.split(":")[1].split()[0])


def run_site(*args, inventory=None, cwd=None, timeout=900, playbook=SITE, collections=None):
    """Run playbooks/site.yml (or another playbook) against the scenario's hosts, as a site would.

    inventory: another inventory file (default: molecule's); cwd: the working directory;
    collections: the ANSIBLE_COLLECTIONS_PATH to run with (default: the scenario's).
    """
    env = dict(os.environ)
    if collections:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory or os.environ["MOLECULE_INVENTORY_FILE"]), str(playbook), *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def converge(*args, **kwargs):
    """run_site that must succeed; the run's result (its output ends the failure's message)."""
    result = run_site(*args, **kwargs)
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def recap(result):
    """The PLAY RECAP counters of a run, e.g. {"ok": 12, "changed": 0, "failed": 1}."""
    import re

    counts = {}
    for key, value in re.findall(r"\b(ok|changed|unreachable|failed|skipped)=(\d+)", result.stdout):
        counts[key] = counts.get(key, 0) + int(value)
    return counts


def run_in_kernel(hub_url, username, token, code, timeout=60):
    """Run code in a new kernel of the user's server; return (stdout, error name or None).

    Goes through the proxy with a user API token, over the kernel's websocket,
    as JupyterLab does. The kernel is shut down afterwards.
    """
    import ssl
    import uuid

    import websocket

    s = https_session()
    s.headers["Authorization"] = f"token {token}"
    base = f"{hub_url}/user/{username}/api/kernels"
    r = s.post(base, json={"name": "python3"}, timeout=60)
    assert r.status_code == 201, f"kernel start: {r.status_code} {r.text[:300]}"
    kernel_id = r.json()["id"]
    ws_url = base.replace("https://", "wss://", 1) + f"/{kernel_id}/channels"
    host = hub_url.split("://", 1)[1]
    ws = websocket.create_connection(
        ws_url,
        header=[f"Authorization: token {token}"],
        sslopt={"cert_reqs": ssl.CERT_NONE},
        http_no_proxy=[host],
        timeout=timeout,
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": username,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        out, error = [], None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = msg["content"]["ename"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out), error
        raise AssertionError(f"no reply from the kernel within {timeout}s; output so far {out!r}")
    finally:
        ws.close()
        s.delete(f"{base}/{kernel_id}", timeout=30)


def hub_health_through_traefik(hub_url):
    """The status of /hub/health as a user reaches it: HTTPS through traefik (0: no answer)."""
    try:
        return https_session().get(f"{hub_url}/hub/health", timeout=10).status_code
    except requests.RequestException:
        return 0


HOST_INVENTORY = REPO / "molecule" / "shared" / "lib" / "host-inventory"
BEFORE_FIRST_CONVERGE = "/root/before-first-converge"  # taken by molecule/shared/converge.yml


def host_record(container, path):
    """Run host-inventory on the host now: {section: set of lines} (the file stays at path)."""
    subprocess.run(["podman", "exec", "-i", container, "bash", "-s", "--", path],
                   input=HOST_INVENTORY.read_text(), text=True, check=True, capture_output=True)
    return read_host_record(container, path)


def read_host_record(container, path):
    text = subprocess.run(["podman", "exec", container, "cat", path],
                          check=True, capture_output=True, text=True).stdout
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:], set())
        elif line:
            current.add(line)
    return sections


def host_changes_since_first_converge(container):
    """{section: (lines added, lines gone)} between the record before the first converge and now."""
    before = read_host_record(container, BEFORE_FIRST_CONVERGE)
    now = host_record(container, "/root/after-uninstall")
    return {name: (sorted(now.get(name, set()) - lines), sorted(lines - now.get(name, set())))
            for name, lines in before.items()}


# Everywhere the collection or the servers it starts write (base directory, units, drop-ins,
# sudoers, tmpfiles, CA files, temporary homes, backups). What appears elsewhere was made by
# the OS packages the uninstall leaves on purpose (README, "Uninstall") and is only listed.
OURS = re.compile(r"^(/etc/|/opt/|/srv/|/home/|/usr/local/|/var/lib/|/var/backups/)")
NOT_OURS = [
    "/var/lib/private",  # systemd's parent of DynamicUser state directories, kept by systemd
    "/etc/networks",  # netbase's maintainer script (a package the roles' packages pull in)
    "/var/lib/systemd/",  # systemd's own state (package maintainer scripts, timers)
]


# Issue 25: what a root task must never follow. The canaries are root's; the links to
# them are planted by the hub's user with the groups its unit gives it.
CANARIES = "/root/ujh-canary-file /root/ujh-canary-dir /root/ujh-canary-dir/kept /etc/shadow /etc/passwd"
AS_HUB_USER = "setpriv --reuid=jupyterhub --regid=jupyterhub --groups=jupyterhub,jupyterhub-routes "


def canary_stats(host):
    """Owner, mode, size and mtime of every canary: equal before and after means untouched."""
    return host.check_output(f"stat -c '%n %U:%G %a %s %Y' {CANARIES}")


def plant_links(host, plants):
    """Make root's canaries, then as the hub's user replace each PLANTS path by a link to its
    target. Returns canary_stats from before the planting."""
    host.check_output("install -d -m 0700 /root/ujh-canary-dir && umask 077 && echo canary > /root/ujh-canary-file "
                      "&& echo kept > /root/ujh-canary-dir/kept")
    before = canary_stats(host)
    for link, target in plants.items():
        host.check_output(AS_HUB_USER + f"ln -sfn {target} {link}.new")
        host.check_output(AS_HUB_USER + f"mv -T {link}.new {link}")
    return before


def assert_nothing_of_ours_left(container, allowed=(), quiet=()):
    """After uninstall.yml: the host matches its record from before the first converge.

    Files the collection or its servers could have made (OURS), but for NOT_OURS and allowed;
    users, groups, unit files; units named jupyter*; processes (only this test's and
    Ansible's commands may be new). Prints every difference (but files under quiet) and
    returns them as {section: (added, gone)}.
    """
    changes = host_changes_since_first_converge(container)
    for section, (added, gone) in changes.items():
        print(f"\n[uninstall] {section}: {len(added)} added, {len(gone)} gone")
        for line in added if section != "files" else [f for f in added if not f.startswith(tuple(quiet) or "\0")]:
            print(f"  + {line}")
        for line in gone:
            print(f"  - {line}")
    files_added, files_gone = changes["files"]
    left = [f for f in files_added if OURS.match(f + "/") and not f.startswith(tuple(NOT_OURS) + tuple(allowed))]
    assert not left, left
    assert not files_gone, files_gone
    for section in ("users", "groups"):
        assert changes[section] == ([], []), (section, changes[section])
    # OS packages stay (the README says so), and with them the unit files they ship
    # (nftables.service with systemd_spawner): nothing else may be new.
    units_added, units_gone = changes["unit files"]
    shipped = set()
    if changes["packages"][0]:
        listing = subprocess.run(["podman", "exec", container, "dpkg", "-L", *changes["packages"][0]],
                                 capture_output=True, text=True, check=True).stdout
        shipped = {os.path.basename(path) for path in listing.split() if "/systemd/system/" in path}
    assert [line for line in units_added if line.split()[0] not in shipped] == [] and units_gone == [], \
        changes["unit files"]
    assert not [u for u in changes["units"][0] if "jupyter" in u], changes["units"]
    new_processes = [p for p in changes["processes"][0]
                     if p.split()[1] not in ("bash", "sh", "ps", "sort", "awk", "sshd", "python3", "sleep")]
    assert not new_processes, new_processes
    print(f"\n[uninstall] OS packages left: {' '.join(changes['packages'][0])}")
    return changes


def lock_entries(text):
    """{normalized name: (version, sorted sha256 hashes)} of a pip requirements text, read by
    the collection's own lock reader (roles/_common/files/venv_check.py)."""
    return {name: (version, sorted(h.split(":", 1)[1] for h in hashes))
            for name, (version, hashes) in VENV_CHECK.pins(text).items()}


# Playwright's wait for a browser step: generous (a spawn on a loaded CI machine), never a sleep.
BROWSER_TIMEOUT_MS = 180_000


def browser_context(browser, timeout_ms=BROWSER_TIMEOUT_MS):
    """A fresh browser profile (cookies of its own) that accepts the test hosts' self-signed certificates."""
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(timeout_ms)
    return context


@contextlib.contextmanager
def debian_chromium(*args):
    """Debian's chromium, driven by Playwright (whose own browser download cannot work here).

    args: more chromium switches (e.g. --host-resolver-rules: the test hosts by name).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-proxy-server", *args])
        try:
            yield browser
        finally:
            browser.close()
